"""Export a run's model to ONNX (`model.onnx` in the run folder), checked against Keras before it is kept.

The graph is the stream form of the model: inputs `noisy_logmel` (batch, frames, inputs) and one state input
per stateful layer, outputs the gains (batch, frames, n_mels) and the new states, in the same order. From
the zero state it is the offline model; with one frame at a time it is the streaming step. Causal runs (no
lookahead) also get `step.onnx`: the same graph with its input fixed to one frame (batch 1), for runtimes
that want a fixed-shape step model; it is checked, frame by frame, against model.onnx. Exporting needs
TensorFlow, tf2onnx and onnx (requirements.txt); running the result needs only onnxruntime. Export runs on
the CPU (a cuDNN GRU does not convert).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from .audio import atomic_output
from .engines import KERAS_SHA_KEY, ONNX_FILE, STEP_FILE, OnnxEngine, file_sha256
from .errors import DenoiserError
from .runs import MODEL_FILE, Run, load_run

CHECK_LENGTHS = (7, 403)  # frames: Keras and ONNX Runtime must agree at both
TOLERANCE = 1e-4


def export_onnx(run: Run | str | Path) -> Path:
    """Write run/model.onnx (replacing an older one only once the new one has passed the check)."""
    if not isinstance(run, Run):
        run = load_run(run, backend="keras")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # a GPU GRU (cuDNN) does not convert
    try:
        import onnx
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # tf2onnx's own numpy deprecation notices
            import keras.src.export.tf2onnx_lib  # noqa: F401
            import tf2onnx  # noqa: F401  (what keras uses to convert)
    except ImportError as e:
        raise DenoiserError(f"exporting to ONNX needs tf2onnx and onnx ({e.name} is missing): "
                            f"pip install -r requirements.txt") from None
    out = atomic_output(run.path / ONNX_FILE)
    try:
        if run.model_type == 3:
            graph = recurrent_graph(run)
        else:
            _keras_export(run, out.tmp)
            graph = onnx.load(str(out.tmp))
        onnx.helper.set_model_props(graph, {KERAS_SHA_KEY: file_sha256(run.path / MODEL_FILE),
                                            "ddae_run": run.name, "ddae_inputs": "noisy_logmel, then the states"})
        onnx.save(graph, str(out.tmp))
        check_export(run, out.tmp)
        out.commit()
    except BaseException:
        out.discard()
        raise
    if run.arch["future"] == 0:
        export_step(run)
    return run.path / ONNX_FILE


def export_step(run: Run) -> Path:
    """Write run/step.onnx: model.onnx with its input fixed to (1, 1, inputs), checked frame by frame."""
    import onnx

    graph = onnx.load(str(run.path / ONNX_FILE))
    for value in [graph.graph.input[0], graph.graph.output[0]]:
        dims = value.type.tensor_type.shape.dim
        dims[0].dim_value, dims[1].dim_value = 1, 1
    onnx.checker.check_model(graph)
    out = atomic_output(run.path / STEP_FILE)
    try:
        onnx.save(graph, str(out.tmp))
        whole = OnnxEngine(run.path, run.norm.n_features, run.settings.n_mels, None, threads=1)
        step = OnnxEngine(run.path, run.norm.n_features, run.settings.n_mels, None, threads=1, file=out.tmp)
        x = np.random.default_rng(1).standard_normal((1, 25, run.norm.n_features)).astype(np.float32)
        expected, state = whole(x, whole.initial_state())[0], step.initial_state()
        for t in range(x.shape[1]):
            g, state = step(x[:, t:t + 1], state)
            if np.max(np.abs(g - expected[:, t:t + 1])) > TOLERANCE:
                raise DenoiserError(f"{run.path}: step.onnx differs from model.onnx at frame {t}; not written")
        out.commit()
    except BaseException:
        out.discard()
        raise
    return run.path / STEP_FILE


def _keras_export(run: Run, path: Path) -> None:
    """Types 1 and 2: Keras's own exporter (tf2onnx) on the stream model."""
    from .models import stream_model

    stream, shapes = stream_model(run.model, run.arch)
    zeros = [np.zeros((1, *s), np.float32) for s in shapes]
    stream([np.zeros((1, 2, run.norm.n_features), np.float32), *zeros])  # keras exports only a model it has called
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # tf2onnx's own numpy deprecation notices
            stream.export(str(path), format="onnx", verbose=False)
    except Exception as e:
        raise DenoiserError(f"{run.path}: ONNX export failed ({str(e).splitlines()[0][:200]})") from None


def recurrent_graph(run: Run):
    """Type 3 written out as ONNX operators, with ONNX's own GRU (tf2onnx turns a Keras GRU into a Loop that
    runs the cell as a subgraph per frame: several times slower). Keras's GRU (reset_after=True, gates z, r, h)
    is ONNX's GRU with linear_before_reset=1; check_export confirms the two agree."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from .models import BAND_KERNEL, FRONT_KERNEL, band_filters, band_outputs, gru_layers

    m, arch = run.model, run.arch
    units, n_in, n_mels = int(arch["units"]), run.norm.n_features, run.settings.n_mels
    k = FRONT_KERNEL - 1
    nodes, inits = [], []

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op, ins, outs, **attrs):
        nodes.append(helper.make_node(op, ins, outs, name=outs[0], **attrs))
        return outs[0]

    inputs = [helper.make_tensor_value_info("noisy_logmel", TensorProto.FLOAT, ["batch", "frames", n_in])]
    outputs = [helper.make_tensor_value_info("gains", TensorProto.FLOAT, ["batch", "frames", n_mels])]

    def with_past(x, frames, width, name):
        """x with the `frames` frames carried from the last call (a state input) in front; its last `frames`
        frames become the state output (models.py's _Wiring.causal)."""
        inputs.append(helper.make_tensor_value_info(f"{name}_state", TensorProto.FLOAT, ["batch", frames, width]))
        joined = node("Concat", [f"{name}_state", x], [f"{name}_joined"], axis=1)
        outputs.append(helper.make_tensor_value_info(f"{name}_state_out", TensorProto.FLOAT, ["batch", frames, width]))
        node("Slice", [joined, const(f"{name}_from", [-frames]), const(f"{name}_to", [2 ** 62]),
                       const(f"{name}_axis", [1])], [f"{name}_state_out"])
        return joined

    h, width, feats = "noisy_logmel", n_in, []
    if band_filters(arch):  # per frame, no state: frames as the batch of a (channels, 1, n_mels) image
        ch, pad = int(arch.get("channels", 1)), BAND_KERNEL // 2
        b = node("Reshape", [h, const("bands_image_shape", np.array([-1, ch, 1, n_mels], np.int64))], ["bands_image"])
        for i, stride in enumerate((1, 2)):
            kernel, bias = m.get_layer(f"bands_{i}").get_weights()  # (1, k, in, out), (out,)
            b = node("Tanh", [node("Conv", [b, const(f"bands_{i}_w", kernel.transpose(3, 2, 0, 1).astype(np.float32)),
                                            const(f"bands_{i}_b", bias.astype(np.float32))], [f"bands_{i}_conv"],
                                   pads=[0, pad, 0, pad], strides=[1, stride])], [f"bands_{i}_tanh"])
        b = node("Transpose", [b], ["bands_last"], perm=[0, 2, 3, 1])  # (frames, 1, bands, filters), as Keras
        lead = node("Slice", [node("Shape", [h], ["frames_shape"]), const("lead_from", [0]), const("lead_to", [2]),
                              const("lead_axis", [0])], ["frames_lead"])
        shape = node("Concat", [lead, const("bands_width", np.array([band_outputs(arch)], np.int64))],
                     ["bands_flat_shape"], axis=0)
        b = node("Reshape", [b, shape], ["bands_flat"])
        h = node("Concat", [h, b], ["frames_and_bands"], axis=2)
        width = n_in + band_outputs(arch)
    for i in range(2):  # causal Conv1D: the carried frames, then this call's frames
        kernel, bias = m.get_layer(f"front_{i}").get_weights()  # (k + 1, in, out), (out,)
        joined = with_past(h, k, width, f"front_{i}")
        chans = node("Transpose", [joined], [f"front_{i}_chans"], perm=[0, 2, 1])
        conv = node("Conv", [chans, const(f"front_{i}_w", kernel.transpose(2, 1, 0).astype(np.float32)),
                             const(f"front_{i}_b", bias.astype(np.float32))], [f"front_{i}_conv"])
        act = node("Tanh", [conv], [f"front_{i}_tanh"])
        h = node("Transpose", [act], [f"front_{i}_out"], perm=[0, 2, 1])
        width = kernel.shape[2]
    feats.append(h)
    front = h
    seq = node("Transpose", [h], ["gru_in"], perm=[1, 0, 2])  # ONNX GRU: (frames, batch, inputs)
    for i in range(gru_layers(arch)):
        kernel, rec, bias = m.get_layer(f"gru_{i}").get_weights()  # (in, 3u), (u, 3u), (2, 3u): gates z, r, h
        inputs.append(helper.make_tensor_value_info(f"gru_{i}_state", TensorProto.FLOAT, ["batch", units]))
        h0 = node("Unsqueeze", [f"gru_{i}_state", const(f"gru_{i}_axis0", [0])], [f"gru_{i}_h0"])
        node("GRU", [seq, const(f"gru_{i}_W", kernel.T[None].astype(np.float32)),
                     const(f"gru_{i}_R", rec.T[None].astype(np.float32)),
                     const(f"gru_{i}_B", bias.reshape(1, -1).astype(np.float32)), "", h0],
             [f"gru_{i}_y", f"gru_{i}_hT"], hidden_size=units, linear_before_reset=1)
        seq = node("Squeeze", [f"gru_{i}_y", const(f"gru_{i}_axis1", [1])], [f"gru_{i}_seq"])  # (frames, batch, u)
        outputs.append(helper.make_tensor_value_info(f"gru_{i}_state_out", TensorProto.FLOAT, ["batch", units]))
        node("Squeeze", [f"gru_{i}_hT", const(f"gru_{i}_axis0b", [0])], [f"gru_{i}_state_out"])
        feats.append(node("Transpose", [seq], [f"gru_{i}_out"], perm=[1, 0, 2]))
    d = arch["future"] if arch.get("skip") else 0
    if d:  # the front-end output of the gained frame: `d` carried frames, then this call's, less the last d
        joined = with_past(front, d, width, "gained_frame")
        feats.insert(3, node("Slice", [joined, const("gained_frame_start", [0]), const("gained_frame_end", [-d]),
                                       const("gained_frame_axis2", [1])], ["gained_frame_delayed"]))
    both = node("Concat", feats, ["features_and_state"], axis=2)
    w, b = m.get_layer("gains").get_weights()
    lin = node("Add", [node("MatMul", [both, const("gains_w", w.astype(np.float32))], ["gains_mm"]),
                       const("gains_b", b.astype(np.float32))], ["gains_lin"])
    node("Sigmoid", [lin], ["gains"])
    # outputs in the stream model's order: gains, then the new states in the order of the state inputs
    by_name = {o.name: o for o in outputs[1:]}
    outputs = [outputs[0]] + [by_name[i.name + "_out"] for i in inputs[1:]]
    graph = helper.make_graph(nodes, f"{run.name}_stream", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="ddae")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def check_export(run: Run, onnx_path: Path) -> float:
    """Largest difference between Keras and ONNX Runtime gains and states, at two lengths from random states."""
    engine = OnnxEngine(run.path, run.norm.n_features, run.settings.n_mels, None, threads=1, file=onnx_path)
    from .engines import KerasEngine

    keras_engine = KerasEngine(run.model, run.arch)
    rng = np.random.default_rng(0)
    worst = 0.0
    for n in CHECK_LENGTHS:
        x = rng.standard_normal((1, n, run.norm.n_features)).astype(np.float32)
        state = [rng.standard_normal(s.shape).astype(np.float32) * 0.5 for s in keras_engine.initial_state()]
        (g1, s1), (g2, s2) = keras_engine(x, state), engine(x, state)
        for a, b in zip([g1, *s1], [g2, *s2]):
            worst = max(worst, float(np.max(np.abs(np.asarray(a) - np.asarray(b)))))
    if worst > TOLERANCE:
        raise DenoiserError(f"{run.path}: the ONNX export differs from the Keras model by {worst:.2e} (> {TOLERANCE}); "
                            f"model.onnx was not written")
    return worst
