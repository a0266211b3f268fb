"""The shipped models in models/pretrained/: they load, are what 'default' picks, and improve SI-SDR."""

import numpy as np
import pytest

from ddae.inference import denoise_array
from ddae.metrics import si_sdr
from ddae.models import PRETRAINED_DIR, load_run, pretrained_runs, resolve_run_path
from ddae.synth import sample_pairs

from conftest import ROOT

MODELS = ROOT / "models"


def test_a_full_band_and_a_causal_model_are_shipped():
    runs = [load_run(p) for p in pretrained_runs(MODELS)]
    assert sorted(r.settings.causal for r in runs) == [False, True]
    for r in runs:
        assert (r.path / "MODEL_CARD.md").is_file()
        size = sum(f.stat().st_size for f in r.path.iterdir())
        assert size < 8 * 2 ** 20, f"{r.path} is {size / 2 ** 20:.1f} MiB"
    default = resolve_run_path("default", MODELS)
    assert default.parent.name == PRETRAINED_DIR and not load_run(default).settings.causal
    assert load_run(resolve_run_path("pretrained", MODELS, causal=True)).settings.causal


@pytest.fixture(scope="module")
def generated_pairs():
    """eSpeak NG speech in generated noise (white, pink, brown, babble, hum, modulated) at 0-10 dB SNR."""
    return [(clean, noisy) for _, clean, noisy, _ in sample_pairs(6, 16000, seed=11, snr_range=(0.0, 10.0))]


@pytest.mark.parametrize("causal", [False, True])
def test_pretrained_improves_si_sdr_on_generated_noisy_speech(generated_pairs, causal):
    run = load_run(resolve_run_path("pretrained", MODELS, causal=causal))
    gains = []
    for clean, noisy in generated_pairs:
        out = denoise_array(run, noisy)
        assert out.shape == noisy.shape and np.all(np.isfinite(out))
        gains.append(si_sdr(clean, out) - si_sdr(clean, noisy))
    assert np.mean(gains) > 2.0, gains
    assert sum(g > 0 for g in gains) >= 5, gains
