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
        write_audio(tmp_path / "enh" / f"f{i}.wav", clean, 16000)  # a perfect 'enhanced' folder, as denoise.py noisy/ -o enh makes it
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


def _pairs_csv(tmp_path, n=3):
    rows = []
    for i in range(n):
        clean, noisy = tone_in_noise(1.0, snr_db=5, seed=10 + i)
        write_audio(tmp_path / "set" / "clean" / f"f{i}.wav", clean, 16000)
        write_audio(tmp_path / "set" / "noisy" / f"f{i}.wav", noisy, 16000)
        rows.append({"clean": f"clean/f{i}.wav", "noisy": f"noisy/f{i}.wav"})
    with open(tmp_path / "set" / "pairs.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["clean", "noisy"])
        w.writeheader()
        w.writerows(rows)
    return read_pairs("", "", str(tmp_path / "set" / "pairs.csv"))


def test_enhanced_dir_is_where_denoise_py_writes_and_a_missing_or_unprocessed_file_is_reported(tmp_path, runs):
    from ddae.api import Denoiser

    pairs = _pairs_csv(tmp_path)
    d = Denoiser.load(runs["dense"])
    for p in pairs:  # what `denoise.py set/noisy -o enh` writes: enh/f0.wav, not enh/noisy/f0.wav
        d.denoise_file(p["noisy"], tmp_path / "enh" / p["noisy"].name)
    out = evaluate(pairs, [], [str(tmp_path / "enh")], baseline=False, oracle=False, max_att=20.0)
    assert len([r for r in out if r["system"] == "enhanced:enh"]) == 3
    (tmp_path / "enh" / "f1.wav").unlink()
    import shutil

    shutil.copy(pairs[2]["noisy"], tmp_path / "enh" / "f2.wav")  # 'enhanced' = the input, untouched
    failures = []
    out = evaluate(pairs, [], [str(tmp_path / "enh")], baseline=False, oracle=False, max_att=20.0, failures=failures)
    assert {Path(r["noisy"]).name for r in out} == {"f0.wav"}  # never scored as the input
    assert any("f1.wav: no enhanced file" in f for f in failures)
    assert any("f2.wav: identical to its noisy input" in f for f in failures)


def test_a_failed_metric_leaves_every_system_averaged_over_the_same_files(tmp_path, monkeypatch):
    import ddae.evaluation as ev

    pairs = _pairs_csv(tmp_path)
    real = ev.all_metrics
    calls = {"n": 0}

    def flaky(clean, est, sr):  # PESQ fails for the Wiener output of the second file only
        calls["n"] += 1
        m = real(clean, est, sr)
        if calls["n"] == 4:  # file 2: noisy (3), wiener (4)
            m["pesq"], m["error"] = float("nan"), "simulated PESQ failure"
        return m

    monkeypatch.setattr(ev, "all_metrics", flaky)
    rows = evaluate(pairs, [], [], baseline=True, oracle=False, max_att=20.0)
    text = summary_markdown(rows)
    assert "PESQ failed on 1 file(s) for at least one system" in text
    kept = [r for r in rows if Path(r["noisy"]).name != "f1.wav"]
    for name in ("noisy", "wiener (baseline)"):
        expected = np.mean([r["pesq"] for r in kept if r["system"] == name])
        line = next(l for l in text.split("## All files")[1].splitlines() if l.startswith(f"| {name} |"))
        assert line.split("|")[3].strip().startswith(f"{expected:.3f}"), line


def test_results_are_written_atomically(tmp_path, monkeypatch):
    import ddae.evaluation as ev

    rows = evaluate(_pairs_csv(tmp_path, 1), [], [], baseline=True, oracle=False, max_att=20.0)
    ev.write_per_file(rows, tmp_path / "per_file.csv")
    before = (tmp_path / "per_file.csv").read_text()

    class Broken:
        def __init__(self, f, fieldnames):
            self.f = f

        def writeheader(self):
            self.f.write("partial")

        def writerows(self, rows):
            raise OSError("disk full")

    monkeypatch.setattr(ev.csv, "DictWriter", Broken)
    with pytest.raises(OSError):
        ev.write_per_file(rows, tmp_path / "per_file.csv")
    assert (tmp_path / "per_file.csv").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["per_file.csv", "set"]


def _scored(system: str, file: str, snr: str, pesq_imp: float, stoi_imp: float = 0.0) -> dict:
    from ddae.metrics import METRICS

    row = {"noisy": f"noisy/{file}", "system": system, "snr_db": snr, "error": ""}
    for m in METRICS:
        row[f"input_{m}"], row[m], row[f"{m}_imp"] = 1.0, 1.0, 0.0
    row["pesq"], row["pesq_imp"] = 1.0 + pesq_imp, pesq_imp
    row["stoi"], row["stoi_imp"] = 1.0 + stoi_imp, stoi_imp
    return row


def test_paired_tables_give_the_difference_file_by_file():
    from ddae.evaluation import paired_tables

    rng = np.random.default_rng(0)
    rows, diffs = [], []
    for i in range(8):
        level = rng.normal(0.5, 0.4)  # files differ a lot; the two systems differ by 0.02 +- 0.001
        d = 0.02 + 0.001 * (i % 2)
        diffs.append(d)
        snr = "0" if i < 4 else "10"
        rows += [_scored("a", f"f{i}.wav", snr, level), _scored("b", f"f{i}.wav", snr, level + d, stoi_imp=-0.01)]
    rows.append(_scored("b", "only_b.wav", "0", 5.0))  # scored by one system only: not paired
    text = "\n".join(paired_tables(rows, "a", "b"))
    mu, ci, _ = mean_ci(diffs)
    assert "b minus a, paired over 8 files" in text
    assert f"| all | 8 | {mu:+.3f} ± {ci:.3f} | -0.0100 ± 0.0000 |" in text
    assert "| 100 % / 0 % / 0 % |" in text  # b higher in PESQ on every file, lower in STOI, equal in SI-SDR
    assert "| snr_db = 0 | 4 |" in text and "| snr_db = 10 | 4 |" in text
    assert ci < 0.001  # far narrower than the spread of either system over the files
    with pytest.raises(DenoiserError, match="no system 'c' in these results"):
        paired_tables(rows, "a", "c")


def test_paired_tables_show_when_a_mean_is_carried_by_few_files():
    from ddae.evaluation import paired_tables

    # b loses 0.01 PESQ on 9 files and wins 0.5 on one: the mean favours b, the typical file does not
    rows = []
    for i in range(10):
        d = 0.5 if i == 0 else -0.01
        rows += [_scored("a", f"f{i}.wav", "0", 0.3), _scored("b", f"f{i}.wav", "0", 0.3 + d)]
    line = next(x for x in paired_tables(rows, "a", "b") if x.startswith("| all |"))
    assert line.startswith("| all | 10 | +0.041 ± ") and line.endswith("| 10 % / 0 % / 0 % |")
