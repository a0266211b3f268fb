"""Training mixtures: dev-set speakers and noise files stay out, the recipe is seeded, levels are sane."""

import csv

import numpy as np
import pytest
import soundfile as sf

from ddae.devset import held_out
from ddae.errors import DenoiserError
from ddae.mixtures import build_training_set, generated_noise
from ddae.synth import coloured_noise

SR = 16000


def _rows(folder):
    with open(folder / "pairs.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_dev_material_never_enters_training(shared, tmp_path):
    out = tmp_path / "mix"
    summary = build_training_set(shared, out, passes=3, seed=1)
    dev_speech, train_speech, dev_noise, _ = held_out(shared, "v1")
    rows = _rows(out)
    assert summary["pairs"] == len(rows) == 3 * len(train_speech)
    # the recipe of the first models: only the material they saw (no speechocean762, no Berlin noise)
    assert not {r["speaker"] for r in rows if r["speaker"].startswith("speechocean762")}
    assert not {r["noise_file"] for r in rows if "berlin" in r["noise_file"]}
    assert not {r["speaker"] for r in rows} & {r["speaker"] for r in held_out(shared)[0]}
    assert not {r["speaker"] for r in rows} & {r["speaker"] for r in dev_speech}
    assert not {r["speech_file"] for r in rows} & {r["path"] for r in dev_speech}
    assert not {r["noise_file"] for r in rows} & {r["path"] for r in dev_noise}
    snrs = np.array([float(r["snr_db"]) for r in rows])
    assert snrs.min() >= -5 and snrs.max() <= 20


def test_pairs_are_aligned_finite_and_below_full_scale(shared, tmp_path):
    out = tmp_path / "mix"
    build_training_set(shared, out, passes=2, seed=2)
    for r in _rows(out):
        clean, sr = sf.read(out / r["clean"])
        noisy, _ = sf.read(out / r["noisy"])
        assert sr == SR and len(clean) == len(noisy) > 0
        assert np.all(np.isfinite(noisy)) and np.max(np.abs(noisy)) <= 0.99 + 1e-4
        assert np.mean((noisy - clean) ** 2) > 0  # noise was added


def test_same_seed_same_files_other_seed_other_files(shared, tmp_path):
    a, b, c = (build_training_set(shared, tmp_path / n, passes=1, seed=s) and tmp_path / n
               for n, s in (("a", 7), ("b", 7), ("c", 8)))
    ra, rb, rc = _rows(a), _rows(b), _rows(c)
    assert ra == rb and ra != rc
    first = ra[0]["noisy"]
    assert np.array_equal(sf.read(a / first)[0], sf.read(b / first)[0])


def test_generated_noises_are_unit_rms_and_rumble_is_low_frequency(rng):
    for kind in ("white", "pink", "brown", "rumble"):
        x = generated_noise(kind, SR * 2, SR, rng)
        assert np.sqrt(np.mean(x ** 2)) == pytest.approx(1.0, rel=1e-3)
    spec = np.abs(np.fft.rfft(generated_noise("rumble", SR * 2, SR, rng))) ** 2
    f = np.fft.rfftfreq(SR * 2, 1 / SR)
    assert spec[f < 400].sum() / spec.sum() > 0.95


def test_missing_material_is_a_clear_error(tmp_path):
    with pytest.raises(DenoiserError, match="speech.csv"):
        build_training_set(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
