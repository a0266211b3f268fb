"""Development sets: held-out material never enters training; v2 is balanced over its conditions."""

import csv

import numpy as np
import soundfile as sf

from ddae.devset import DEV_RIRS, SNRS, V2_CONDITIONS, build_devset_v2, held_out
from ddae.material import split_entries


def test_dev_speakers_noise_files_and_rooms_never_reach_training(shared):
    dev_speech, train_speech, dev_noise, train_noise = held_out(shared)
    assert {r["corpus"] for r in dev_speech} == {"vcc2016", "vctk", "librispeech", "speechocean762"}
    assert {r["source"] for r in dev_noise} == {"cafe", "street", "berlin"}
    parts = split_entries(shared)
    used_speakers = {s for split in ("train", "val") for s, _ in parts[split][0]}
    used_noise = {p for split in ("train", "val") for _, p in parts[split][1]}
    assert not used_speakers & {r["speaker"] for r in dev_speech}
    assert not used_noise & {shared / r["path"] for r in dev_noise}
    assert [p.stem for p in parts["rirs"]] == ["room"] and not set(DEV_RIRS) & {p.stem for p in parts["rirs"]}
    # validation holds out whole speakers and noise files of its own
    assert not {s for s, _ in parts["train"][0]} & {s for s, _ in parts["val"][0]}
    assert not {p for _, p in parts["train"][1]} & {p for _, p in parts["val"][1]}
    assert parts["val"][0] and parts["val"][1]


def test_v2_is_balanced_seeded_and_has_its_conditions(shared, tmp_path):
    out = build_devset_v2(shared, tmp_path / "dev2")
    with open(out / "pairs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    sources = sorted({r["noise"] for r in rows})
    assert len(rows) == len(V2_CONDITIONS) * len(SNRS) * len(sources)
    cells = {(r["condition"], int(r["snr_db"]), r["noise"]) for r in rows}
    assert len(cells) == len(rows)  # one pair per (condition, SNR, source)
    for r in rows:
        clean, sr = sf.read(out / r["clean"])
        noisy, sr_n = sf.read(out / r["noisy"])
        assert sr == sr_n == int(r["sample_rate"]) and len(clean) == len(noisy)
        if r["condition"] == "telephone 8k":
            assert sr == 8000
            spec = np.abs(np.fft.rfft(noisy)) ** 2
            f = np.fft.rfftfreq(len(noisy), 1 / sr)
            assert spec[(f < 80)].sum() < 0.01 * spec.sum()  # the handset band-pass
        elif r["condition"].startswith("16k"):
            level = 20 * np.log10(np.sqrt(np.mean(clean ** 2)))
            nominal = float(r["condition"].split()[1])
            assert abs(level - float(r["level_dbfs"])) < 0.1  # the level column says what the file has
            assert abs(level - nominal) < 0.1 or (level < nominal and np.max(np.abs(noisy)) > 0.98)  # or as loud as fits
        else:
            assert r["room"] in DEV_RIRS
    again = build_devset_v2(shared, tmp_path / "again")
    first = rows[5]["noisy"]
    assert np.array_equal(sf.read(out / first)[0], sf.read(again / first)[0])
