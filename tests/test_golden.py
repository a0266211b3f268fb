"""Golden regression test: the shipped models' scores on a small set the project generates (eSpeak NG speech in
generated noises, at 16 and 8 kHz) stay within PESQ +-0.02 and SI-SDR +-0.1 dB of tests/golden_pretrained.json,
so a change that degrades (or silently alters) the shipped models fails. After a deliberate change of the
shipped models, regenerate the file with `python tests/test_golden.py` and say why in the commit."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden_pretrained.json"
MODELS = ("ddae", "ddae_causal")
PESQ_TOL, SI_SDR_TOL = 0.02, 0.1


def golden_scores() -> dict:
    """{model: {file: {"pesq": ..., "si_sdr": ...}}} on the generated set (deterministic from its seed)."""
    sys.path.insert(0, str(HERE.parent))
    from ddae import Denoiser
    from ddae.audio import resample
    from ddae.metrics import all_metrics
    from ddae.synth import sample_pairs

    files = {}
    for i, (name, clean, noisy, _) in enumerate(sample_pairs(4, 16000, seed=21, snr_range=(0.0, 10.0))):
        files[f"{name} @16k"] = (clean, noisy, 16000)
        if i < 2:  # and the first two at 8 kHz
            files[f"{name} @8k"] = (resample(clean, 16000, 8000), resample(noisy, 16000, 8000), 8000)
    out = {}
    for model in MODELS:
        d = Denoiser.load("causal" if model == "ddae_causal" else "default")
        assert d.name == model
        out[model] = {}
        for key, (clean, noisy, sr) in files.items():
            m = all_metrics(clean, d.denoise(noisy, sr), sr)
            out[model][key] = {"pesq": round(float(m["pesq"]), 4), "si_sdr": round(float(m["si_sdr"]), 4)}
    return out


def test_shipped_models_keep_their_scores():
    golden = json.loads(GOLDEN.read_text())
    # in a fresh process: eSpeak NG's output depends slightly on what it synthesised earlier in the same process
    r = subprocess.run([sys.executable, __file__, "--print"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    now = json.loads(r.stdout)
    assert set(now) == set(golden) and all(set(now[m]) == set(golden[m]) for m in golden)
    for model, files in golden.items():
        for key, ref in files.items():
            assert np.isfinite(now[model][key]["pesq"])
            assert now[model][key]["pesq"] == pytest.approx(ref["pesq"], abs=PESQ_TOL), (model, key)
            assert now[model][key]["si_sdr"] == pytest.approx(ref["si_sdr"], abs=SI_SDR_TOL), (model, key)


if __name__ == "__main__":
    if "--print" in sys.argv:
        print(json.dumps(golden_scores()))
    else:
        GOLDEN.write_text(json.dumps(golden_scores(), indent=1) + "\n")
        print(f"wrote {GOLDEN}")
