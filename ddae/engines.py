"""What runs a trained model: Keras (TensorFlow) or ONNX Runtime, behind one interface.

Both run the stream form of the model (see models.py): (frames (1, T, inputs), *state) -> (gains (1, T,
n_mels), *new state). Offline processing starts from the zero state, so one graph serves whole files, blocks
of long files and frame-by-frame streaming (T = 1). `model.onnx` in a run folder is that graph, exported by
export.py; the ONNX engine never imports TensorFlow.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .errors import DenoiserError

ONNX_FILE = "model.onnx"
STEP_FILE = "step.onnx"  # causal runs: the same graph with its input fixed to one frame (see export.py)
KERAS_SHA_KEY = "ddae_model_keras_sha256"  # ONNX metadata: which model.keras the graph was exported from
BACKENDS = ("auto", "onnx", "keras")


def limit_native_threads(threads: int) -> None:
    """With threads > 0, hold numpy's BLAS (and any OpenMP pool) in this process to that many threads.
    Without it, OpenBLAS runs the mel projection on a second thread that spins: `--threads 1` then used two
    cores' CPU time for no gain, and two such processes side by side ran 6x slower (measured)."""
    if threads > 0:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def pick_backend(backend: str, run_dir: Path) -> str:
    """'auto' -> 'onnx' when the run has model.onnx and onnxruntime is installed, else 'keras'."""
    if backend not in BACKENDS:
        raise DenoiserError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "auto":
        return "onnx" if (Path(run_dir) / ONNX_FILE).is_file() and onnxruntime_available() else "keras"
    return backend


class KerasEngine:
    name = "keras"

    def __init__(self, model, arch: dict):
        import tensorflow as tf

        from .models import stream_model

        stream, self.shapes = stream_model(model, arch)
        n_in = model.input_shape[-1]
        specs = [tf.TensorSpec([None, None, n_in], tf.float32)] + [tf.TensorSpec([None, *s], tf.float32) for s in self.shapes]
        self._step = tf.function(lambda *a: stream(list(a), training=False), input_signature=specs)

    def initial_state(self, batch: int = 1) -> list[np.ndarray]:
        return [np.zeros((batch, *s), np.float32) for s in self.shapes]

    def __call__(self, frames: np.ndarray, state: list[np.ndarray]):
        out = self._step(frames, *state)
        return np.asarray(out[0]), [np.asarray(s) for s in out[1:]]


class OnnxEngine:
    name = "onnx"

    def __init__(self, run_dir: Path, n_inputs: int, n_mels: int, keras_sha: str | None, threads: int = 0,
                 file: Path | None = None):
        path = Path(file) if file is not None else Path(run_dir) / ONNX_FILE
        if not path.is_file():
            raise DenoiserError(f"{run_dir} has no {ONNX_FILE}: python export_model.py --model {run_dir} makes it")
        try:
            import onnxruntime as ort
        except ImportError:
            raise DenoiserError("the onnx backend needs onnxruntime: pip install onnxruntime") from None
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads > 0:
            opts.intra_op_num_threads = opts.inter_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise DenoiserError(f"{path}: not a valid ONNX model ({str(e).splitlines()[0][:160]}); "
                                f"python export_model.py --model {run_dir} makes it again") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if keras_sha is not None and meta.get(KERAS_SHA_KEY) != keras_sha:
            raise DenoiserError(f"{path} was not exported from this run's model.keras: "
                                f"python export_model.py --model {run_dir} makes it again")
        ins, outs = self.session.get_inputs(), self.session.get_outputs()
        self.names = [i.name for i in ins]
        ok = (len(ins) == len(outs) and len(ins[0].shape) == 3 and ins[0].shape[2] == n_inputs
              and len(outs[0].shape) == 3 and outs[0].shape[2] == n_mels
              and all(all(isinstance(d, int) for d in i.shape[1:]) for i in ins[1:]))
        if not ok:
            raise DenoiserError(f"{path}: inputs {[i.shape for i in ins]} and outputs {[o.shape for o in outs]} do not "
                                f"match the run's settings ((batch, frames, {n_inputs}) in, (batch, frames, {n_mels}) out, "
                                f"one state output per state input); python export_model.py --model {run_dir} makes it again")
        self.shapes = [tuple(i.shape[1:]) for i in ins[1:]]

    def initial_state(self, batch: int = 1) -> list[np.ndarray]:
        return [np.zeros((batch, *s), np.float32) for s in self.shapes]

    def __call__(self, frames: np.ndarray, state: list[np.ndarray]):
        out = self.session.run(None, dict(zip(self.names, [frames, *state])))
        return out[0], out[1:]
