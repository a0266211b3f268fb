"""ONNX export (ddae/export.py) and the ONNX engine (ddae/engines.py): same gains as Keras, streaming step
equals the sequence, and every way a model.onnx can be wrong is refused with one line."""

import shutil

import numpy as np
import pytest

from ddae.engines import KERAS_SHA_KEY, ONNX_FILE, OnnxEngine, file_sha256
from ddae.errors import DenoiserError
from ddae.export import export_onnx
from ddae.inference import denoise_array, predict_gains
from ddae.runs import load_run

from conftest import tone_in_noise

KINDS = ["dense", "conv", "causal", "recurrent", "recurrent_ahead", "recurrent_skip"]


@pytest.mark.parametrize("kind", KINDS)
def test_training_exports_onnx_that_gives_kerass_gains(runs, kind, rng):
    assert (runs[kind] / ONNX_FILE).is_file()
    k, o = load_run(runs[kind], backend="keras"), load_run(runs[kind], backend="onnx")
    assert (k.backend, o.backend) == ("keras", "onnx") and load_run(runs[kind]).backend == "onnx"
    for n in (9, 250):  # two lengths, through the whole pipeline (normaliser, lookahead, priming)
        logmel = rng.normal(-8.0, 3.0, (n, k.settings.n_mels)).astype(np.float32)
        np.testing.assert_allclose(predict_gains(o, logmel), predict_gains(k, logmel), atol=1e-4)
    x = tone_in_noise(0.7)[1]
    np.testing.assert_allclose(denoise_array(o, x), denoise_array(k, x), atol=1e-4)


@pytest.mark.parametrize("kind", ["recurrent", "causal"])
def test_onnx_frame_by_frame_equals_the_whole_sequence(runs, kind, rng):
    run = load_run(runs[kind], backend="onnx")
    x = rng.standard_normal((1, 40, run.norm.n_features)).astype(np.float32)
    whole, whole_state = run.engine(x, run.initial_state())
    state, steps = run.initial_state(), []
    for t in range(x.shape[1]):
        g, state = run.engine(x[:, t:t + 1], state)
        steps.append(g)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), whole, atol=1e-5)
    for a, b in zip(state, whole_state):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_causal_runs_get_a_one_frame_step_model(runs, rng):
    import onnx

    from ddae.engines import STEP_FILE, OnnxEngine

    assert not (runs["recurrent_ahead"] / STEP_FILE).exists()  # lookahead: no step model
    for kind in ("causal", "recurrent"):
        run = load_run(runs[kind], backend="onnx")
        dims = onnx.load(str(run.path / STEP_FILE)).graph.input[0].type.tensor_type.shape.dim
        assert [d.dim_value for d in dims] == [1, 1, run.norm.n_features]
        step = OnnxEngine(run.path, run.norm.n_features, run.settings.n_mels, None, threads=1, file=run.path / STEP_FILE)
        x = rng.standard_normal((1, 30, run.norm.n_features)).astype(np.float32)
        whole, _ = run.engine(x, run.initial_state())
        state, steps = step.initial_state(), []
        for t in range(x.shape[1]):
            g, state = step(x[:, t:t + 1], state)
            steps.append(g)
        np.testing.assert_allclose(np.concatenate(steps, axis=1), whole, atol=1e-5)
        with pytest.raises(Exception):
            step(x[:, :2], step.initial_state())  # fixed to one frame


def test_missing_corrupt_stale_and_mismatched_onnx_are_refused(runs, tmp_path):
    bad = tmp_path / "run"
    shutil.copytree(runs["dense"], bad)
    (bad / ONNX_FILE).unlink()
    assert load_run(bad).backend == "keras"  # auto falls back
    with pytest.raises(DenoiserError, match="has no model.onnx: python export_model.py --model"):
        load_run(bad, backend="onnx")
    (bad / ONNX_FILE).write_bytes(b"not a model")
    with pytest.raises(DenoiserError, match="not a valid ONNX model"):
        load_run(bad)
    shutil.copy(runs["causal"] / ONNX_FILE, bad / ONNX_FILE)  # another run's export
    with pytest.raises(DenoiserError, match="not exported from this run's model.keras"):
        load_run(bad)
    import onnx

    graph = onnx.load(str(runs["recurrent"] / ONNX_FILE))  # 128 inputs (floor features) where the run has 64
    onnx.helper.set_model_props(graph, {KERAS_SHA_KEY: file_sha256(bad / "model.keras")})
    onnx.save(graph, str(bad / ONNX_FILE))
    with pytest.raises(DenoiserError, match="do not match the run's settings"):
        load_run(bad, backend="onnx")
    with pytest.raises(DenoiserError, match="backend must be one of"):
        load_run(bad, backend="torch")


def test_export_replaces_only_after_the_check(runs, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    shutil.copytree(runs["recurrent"], run_dir)
    (run_dir / ONNX_FILE).unlink()
    assert export_onnx(run_dir) == run_dir / ONNX_FILE
    OnnxEngine(run_dir, 128, 64, file_sha256(run_dir / "model.keras"))  # loads, and belongs to this model.keras
    before = (run_dir / ONNX_FILE).read_bytes()
    import ddae.export

    monkeypatch.setattr(ddae.export, "TOLERANCE", -1.0)  # every export now fails its check
    with pytest.raises(DenoiserError, match="differs from the Keras model"):
        export_onnx(run_dir)
    assert (run_dir / ONNX_FILE).read_bytes() == before
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(p.name for p in runs["recurrent"].iterdir())
