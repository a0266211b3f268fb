"""The one-call API (ddae/api.py): shapes, rates, streaming, files, bad input, and no TensorFlow."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from ddae import Denoiser
from ddae.errors import DenoiserError
from ddae.inference import denoise_array

from conftest import ROOT, tone_in_noise


@pytest.fixture(scope="module")
def default():
    return Denoiser.load()


def test_load_picks_the_shipped_models_on_onnx(default, runs):
    assert default.name == "ddae" and default.backend == "onnx"
    assert Denoiser.load("causal").name == "ddae_causal"
    assert Denoiser.load(runs["dense"], backend="keras").backend == "keras"
    assert default.latency_seconds(16000) == pytest.approx((512 + 3 * 160) / 16000)


@pytest.mark.parametrize("sr, shape", [(16000, (8000,)), (8000, (4000, 2)), (44100, (22050, 3))])
def test_denoise_keeps_shape_at_any_rate(default, sr, shape, rng):
    x = (0.1 * rng.standard_normal(shape)).astype(np.float32)
    y = default.denoise(x, sr)
    assert y.shape == x.shape and y.dtype == np.float32 and np.all(np.isfinite(y))
    assert np.sum(y ** 2) < 0.1 * np.sum(x ** 2)  # white noise alone: over 10 dB of it taken away


def test_stream_gives_the_offline_result(default):
    x = tone_in_noise(1.3)[1]
    s = default.stream(16000)
    y = np.concatenate([s.process(x[i:i + 700]) for i in range(0, len(x), 700)] + [s.flush()])
    np.testing.assert_allclose(y, denoise_array(default.run, x, 16000), atol=1e-6)


def test_scene_changes_can_be_switched_off(default):
    """Speech in noise after 4 s of faint hiss: the shipped model's stream starts afresh where it rose, unless
    told not to (`scene_changes=False`, denoise.py --scene_changes false)."""
    hiss = (np.random.default_rng(3).standard_normal(16000 * 4) * 10 ** (-70 / 20)).astype(np.float32)
    x = np.concatenate([hiss, tone_in_noise(2.0, snr_db=5.0, seed=8)[1]])
    found = []
    for d in (default, Denoiser.load(scene_changes=False)):
        s = d.stream(16000)
        s.process(x)
        s.flush()
        found.append(s.estimator.scene_starts)
    assert len(found[0]) == 1 and abs(found[0][0] - 400) <= 2 and found[1] == []
    assert default.run.norm.scene_changes


def test_the_pitch_filter_can_be_switched_off_everywhere(default, tmp_path):
    """`pitch_filter=0` (denoise.py --pitch_filter 0): band gains only, in arrays, streams and files alike."""
    x = tone_in_noise(1.0, snr_db=0.0, seed=6)[1]
    plain = Denoiser.load(pitch_filter=0.0)
    off = denoise_array(default.run, x, 16000, pitch_filter=0.0)
    np.testing.assert_allclose(plain.denoise(x, 16000), off, atol=1e-6)
    s = plain.stream(16000)
    np.testing.assert_allclose(np.concatenate([s.process(x), s.flush()]), off, atol=1e-6)
    sf.write(tmp_path / "in.wav", x, 16000, subtype="FLOAT")
    plain.denoise_file(tmp_path / "in.wav", tmp_path / "out.wav")
    np.testing.assert_allclose(sf.read(tmp_path / "out.wav", dtype="float32")[0], off, atol=1e-6)
    assert np.max(np.abs(default.denoise(x, 16000) - off)) > 1e-3  # on by default, and it does something here
    with pytest.raises(DenoiserError, match="pitch_filter must be between 0"):
        Denoiser.load(pitch_filter=2.0)


def test_denoise_file_equals_denoise_of_the_array(default, tmp_path):
    clean, noisy = tone_in_noise(1.0, sr=22050)
    sf.write(tmp_path / "in.wav", np.stack([noisy, 0.5 * noisy], 1), 22050, subtype="PCM_16")
    default.denoise_file(tmp_path / "in.wav", tmp_path / "out.wav")
    written, sr = sf.read(tmp_path / "out.wav", dtype="float32")
    x, _ = sf.read(tmp_path / "in.wav", dtype="float32")
    assert sr == 22050 and written.shape == x.shape
    assert np.max(np.abs(written - default.denoise(x, sr))) <= 1.0 / 32768 + 1e-6
    with pytest.raises(DenoiserError, match="overwrite the input"):
        default.denoise_file(tmp_path / "in.wav", tmp_path / "in.wav")


@pytest.mark.parametrize("x, sr, message", [
    (np.zeros((10, 2, 2)), 16000, "expected a 1-D or"),
    (np.zeros(100), 4000, "outside the supported 8-48 kHz"),
    (np.array([0.0, np.nan, 0.0]), 16000, "NaN or infinite"),
])
def test_bad_arrays_are_refused(default, x, sr, message):
    with pytest.raises(DenoiserError, match=message):
        default.denoise(x, sr)


def test_bad_settings_and_models_are_refused(tmp_path):
    with pytest.raises(DenoiserError, match="mix must be between"):
        Denoiser.load(mix=1.5)
    with pytest.raises(DenoiserError, match="no such model run"):
        Denoiser.load(tmp_path / "nope")


def test_denoising_with_the_default_model_never_imports_tensorflow(tmp_path):
    sf.write(tmp_path / "in.wav", tone_in_noise(0.5)[1], 16000)
    code = ("import sys, json; from ddae import Denoiser; d = Denoiser.load(); "
            f"d.denoise_file({str(tmp_path / 'in.wav')!r}, {str(tmp_path / 'out.wav')!r}); "
            "print(json.dumps([d.backend, sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))]))")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == ["onnx", []]
    assert (tmp_path / "out.wav").is_file()


def test_threads_also_hold_numpys_blas_to_that_many(tmp_path):
    code = ("import json; from threadpoolctl import threadpool_info; from ddae import Denoiser; "
            "before = max(p['num_threads'] for p in threadpool_info()); Denoiser.load(threads=1); "
            "print(json.dumps([before, [p['num_threads'] for p in threadpool_info()]]))")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    before, after = json.loads(r.stdout.strip().splitlines()[-1])
    assert after and set(after) == {1}
    if (os.cpu_count() or 1) > 1:
        assert before > 1  # without the limit, the pool would use more than one thread here
