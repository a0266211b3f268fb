"""The shipped models in models/pretrained/: they load, are what 'default' picks, improve generated noisy speech
at any level and through a telephone channel."""

import numpy as np
import pytest

from ddae.audio import resample
from ddae.augment import telephone
from ddae.inference import denoise_array
from ddae.metrics import si_sdr
from ddae.runs import PRETRAINED_DIR, load_run, pretrained_runs, resolve_run_path
from ddae.synth import sample_pairs

from conftest import ROOT

MODELS = ROOT / "models"


def test_a_default_and_a_causal_recurrent_model_are_shipped():
    runs = {p.name: load_run(p) for p in pretrained_runs(MODELS)}
    assert set(runs) == {"ddae", "ddae_causal"}
    assert runs["ddae"].model_type == runs["ddae_causal"].model_type == 3
    assert not runs["ddae"].settings.causal and runs["ddae_causal"].settings.causal
    assert runs["ddae_causal"].norm.prime_frames == 0  # nothing held back: fit for live audio
    import onnx
    from onnx import numpy_helper

    for r in runs.values():
        assert (r.path / "MODEL_CARD.md").is_file()
        weights = 4 * sum(numpy_helper.to_array(t).size for t in onnx.load(str(r.path / "model.onnx")).graph.initializer)
        for f in r.path.iterdir():  # float32 weights only: no optimizer state (Adam's would triple a file)
            if f.suffix in (".keras", ".onnx"):
                assert f.stat().st_size < 1.05 * weights + 2 ** 16, f"{f}: {f.stat().st_size} bytes for {weights} of weights"
        size = sum(f.stat().st_size for f in r.path.iterdir())
        assert size < 16 * 2 ** 20, f"{r.path} is {size / 2 ** 20:.1f} MiB"  # what pip install and a clone carry
    default = resolve_run_path("default", MODELS)
    assert default.parent.name == PRETRAINED_DIR and default.name == "ddae"
    assert resolve_run_path("pretrained", MODELS, causal=True).name == "ddae_causal"


@pytest.fixture(scope="module")
def generated_pairs():
    """eSpeak NG speech in generated noise (white, pink, brown, babble, hum, modulated) at 0-10 dB SNR."""
    return [(clean, noisy) for _, clean, noisy, _ in sample_pairs(6, 16000, seed=11, snr_range=(0.0, 10.0))]


def _improvements(run, pairs, gain_db=0.0, sr=16000):
    g = 10 ** (gain_db / 20)
    out = []
    for clean, noisy in pairs:
        y = denoise_array(run, noisy * g, sr)
        assert y.shape == noisy.shape and np.all(np.isfinite(y))
        out.append(si_sdr(clean, y) - si_sdr(clean, noisy))
    return np.array(out)


@pytest.mark.parametrize("name", ["ddae", "ddae_causal"])
def test_pretrained_improves_generated_noisy_speech_at_any_level(generated_pairs, name):
    run = load_run(MODELS / PRETRAINED_DIR / name)
    base = _improvements(run, generated_pairs)
    assert base.mean() > 2.0 and (base > 0).sum() >= 5, base
    for gain_db in (-25.0, 10.0):  # the same files 25 dB quieter and 10 dB louder
        assert abs(_improvements(run, generated_pairs, gain_db).mean() - base.mean()) < 0.5


def test_pretrained_improves_telephone_band_speech(generated_pairs):
    """Speech and noise through the handset channel separately, mixed after it at the pair's own SNR (brown
    noise or hum through the channel alone would leave a nearly clean input)."""
    run = load_run(MODELS / PRETRAINED_DIR / "ddae")
    pairs = []
    for clean, noisy in generated_pairs:
        c, n = (resample(telephone(x, 16000).astype(np.float32), 16000, 8000) for x in (clean, noisy - clean))
        snr = 10 * np.log10(np.sum(clean ** 2) / np.sum((noisy - clean) ** 2))
        n *= np.sqrt(np.sum(c ** 2) / np.sum(n ** 2) / 10 ** (snr / 10))
        pairs.append((c, c + n))
    imp = _improvements(run, pairs, sr=8000)
    assert imp.mean() > 1.0 and (imp > 0).sum() >= 5, imp
