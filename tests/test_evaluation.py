import csv
from pathlib import Path

import numpy as np
import pytest

from ddae.audio import write_audio
from ddae.baseline import istft, stft, wiener_denoise
from ddae.errors import DenoiserError
from ddae.evaluation import evaluate, mean_ci, oracle_denoise, read_pairs, summary_markdown
from ddae.metrics import si_sdr
from ddae.settings import FeatureSettings

from conftest import tone_in_noise


def test_stft_round_trip_is_exact(rng):
    x = rng.standard_normal(12345)
    f, spec = stft(x, FeatureSettings(), 16000)
    assert np.max(np.abs(istft(spec, f, len(x)) - x)) < 1e-5


def test_oracle_and_baseline_beat_the_noisy_input():
    clean, noisy = tone_in_noise(3.0, snr_db=0.0)
    s = FeatureSettings()
    assert si_sdr(clean, oracle_denoise(clean, noisy, 16000, s, 30.0)) > si_sdr(clean, noisy) + 3
    assert si_sdr(clean, wiener_denoise(noisy, 16000)) > si_sdr(clean, noisy)


def test_mean_ci():
    mu, ci, n = mean_ci([1.0, 2.0, 3.0, float("nan")])
    assert mu == pytest.approx(2.0) and n == 3 and ci == pytest.approx(2.484, abs=1e-3)


def test_evaluate_folders_and_csv(tmp_path):
    rows = []
    for i, snr in enumerate((0, 0, 10, 10)):
        clean, noisy = tone_in_noise(2.0, snr_db=snr, seed=i)
        write_audio(tmp_path / "clean" / f"f{i}.wav", clean, 16000)
        write_audio(tmp_path / "noisy" / f"f{i}.wav", noisy, 16000)
        write_audio(tmp_path / "enh" / f"noisy/f{i}.wav", clean, 16000)  # a perfect 'enhanced' folder
        rows.append({"clean": f"clean/f{i}.wav", "noisy": f"noisy/f{i}.wav", "snr_db": snr})
    with open(tmp_path / "pairs.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["clean", "noisy", "snr_db"])
        w.writeheader()
        w.writerows(rows)
    pairs = read_pairs("", "", str(tmp_path / "pairs.csv"))
    assert len(pairs) == 4 and pairs[0]["snr_db"] == "0"
    out = evaluate(pairs, [], [str(tmp_path / "enh")], baseline=True, oracle=True, max_att=30.0)
    systems = {r["system"] for r in out}
    assert systems == {"noisy", "enhanced:enh", "wiener (baseline)", "oracle band gain"}
    perfect = [r for r in out if r["system"] == "enhanced:enh"]
    assert all(r["si_sdr_imp"] > 10 and r["pesq"] > r["input_pesq"] for r in perfect)
    assert all(r["si_sdr_imp"] == 0 for r in out if r["system"] == "noisy")
    text = summary_markdown(out)
    assert "## snr_db = 0" in text and "## snr_db = 10" in text and "oracle band gain" in text


def test_peers_are_scored_beside_the_rest(tmp_path):
    from ddae.peers import LABELS, available

    clean, noisy = tone_in_noise(2.0, snr_db=0, seed=3)
    write_audio(tmp_path / "clean" / "a.wav", clean, 16000)
    write_audio(tmp_path / "noisy" / "a.wav", noisy, 16000)
    peers, _ = available(["rnnoise", "webrtc", "logmmse", "noisereduce"])
    out = evaluate(read_pairs(str(tmp_path / "clean"), str(tmp_path / "noisy"), ""), [], [], baseline=False,
                   oracle=False, max_att=20.0, peers=peers)
    assert {r["system"] for r in out} == {"noisy"} | {LABELS[p] for p in peers}
    assert all(np.isfinite(r["si_sdr"]) for r in out)


def test_input_gain_scales_the_files_and_is_a_condition(tmp_path):
    clean, noisy = tone_in_noise(2.0, snr_db=5, seed=4)
    write_audio(tmp_path / "clean" / "a.wav", clean, 16000)
    write_audio(tmp_path / "noisy" / "a.wav", noisy, 16000)
    pairs = read_pairs(str(tmp_path / "clean"), str(tmp_path / "noisy"), "")
    base = evaluate(pairs, [], [], baseline=True, oracle=False, max_att=20.0)
    quiet = evaluate(pairs, [], [], baseline=True, oracle=False, max_att=20.0, input_gain_db=[-25])
    assert all(r["input_gain_db"] == -25 for r in quiet)
    assert quiet[0]["si_sdr"] == pytest.approx(base[0]["si_sdr"], abs=1e-3)  # the scaled input, as scaled
    assert quiet[1]["si_sdr"] == pytest.approx(base[1]["si_sdr"], abs=0.05)  # Wiener does not depend on level


def test_pairing_errors_are_clear(tmp_path):
    with pytest.raises(DenoiserError, match="--pairs"):
        read_pairs("", "", "")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DenoiserError, match="'clean' and 'noisy'"):
        read_pairs("", "", str(tmp_path / "bad.csv"))


def test_script_scores_the_good_pairs_and_lists_the_bad_ones(tmp_path):
    import os
    import subprocess
    import sys

    from conftest import ROOT

    for i in range(2):
        clean, noisy = tone_in_noise(1.0, snr_db=5, seed=i)
        write_audio(tmp_path / "clean" / f"f{i}.wav", clean, 16000)
        write_audio(tmp_path / "noisy" / f"f{i}.wav", noisy, 16000)
    (tmp_path / "noisy" / "f1.wav").write_bytes(b"")  # a broken noisy file
    r = subprocess.run([sys.executable, str(ROOT / "evaluate.py"), "--clean_dir", str(tmp_path / "clean"),
                        "--noisy_dir", str(tmp_path / "noisy"), "--out_dir", str(tmp_path / "res"), "--oracle", "false",
                        "--peers", "noisereduce"],
                       cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 1 and "f1.wav: empty file" in r.stderr and "Traceback" not in r.stderr
    with open(tmp_path / "res" / "per_file.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {Path(row["noisy"]).name for row in rows} == {"f0.wav"}
    assert {row["system"] for row in rows} == {"noisy", "wiener (baseline)", "noisereduce"}
