"""The development set: a fixed, seeded recipe over ../shared/data using held-out speakers and noise files.

Held out (never used for training or validation): VCC2016 speakers SF1 and SM1, every 10th LibriSpeech
reader (sorted by id), VCTK p225 and p226, and every 5th file (sorted) of every noise source. 150 pairs,
30 at each SNR in -5, 0, 5, 10, 15 dB, speech cropped to at most 6 s. Anyone with the same material
rebuilds it bit for bit: `python evaluate.py --make_devset true`.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .audio import atomic_folder, read_audio, write_audio
from .errors import DenoiserError
from .synth import mix_at_snr, noise_excerpt, random_crop

SNRS = (-5, 0, 5, 10, 15)
HELD_OUT_VCC = ("vcc2016:SF1", "vcc2016:SM1")
HELD_OUT_VCTK = ("vctk:p225", "vctk:p226")
SEED = 20131025  # the date of Lu et al.'s Interspeech 2013 talk, as a fixed seed
MAX_SECONDS = 6.0


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def held_out(shared: Path) -> tuple[list[dict], list[dict], list[dict], list[dict]]:
    """(dev speech rows, train speech rows, dev noise rows, train noise rows) from the shared CSVs."""
    shared = Path(shared)
    if not (shared / "speech.csv").is_file() or not (shared / "noise.csv").is_file():
        raise DenoiserError(f"{shared}: speech.csv / noise.csv not found (the training material folder)")
    speech, noise = _rows(shared / "speech.csv"), _rows(shared / "noise.csv")
    libri = sorted({r["speaker"] for r in speech if r["corpus"] == "librispeech"}, key=lambda s: int(s.split(":")[1]))
    dev_speakers = set(HELD_OUT_VCC) | set(HELD_OUT_VCTK) | set(libri[::10])
    dev_noise = set()
    for source in sorted({r["source"] for r in noise}):
        files = sorted(r["path"] for r in noise if r["source"] == source)
        dev_noise |= set(files[::5])
    return ([r for r in speech if r["speaker"] in dev_speakers], [r for r in speech if r["speaker"] not in dev_speakers],
            [r for r in noise if r["path"] in dev_noise], [r for r in noise if r["path"] not in dev_noise])


def build_devset(shared, out_dir, n_pairs: int = 150, sample_rate: int = 16000) -> Path:
    shared, out_dir = Path(shared), Path(out_dir)
    dev_speech, _, dev_noise, _ = held_out(shared)
    rng = np.random.default_rng(SEED)
    speech_rows = sorted(dev_speech, key=lambda r: r["path"])
    noise_rows = sorted(dev_noise, key=lambda r: r["path"])
    picks = rng.permutation(len(speech_rows))
    with atomic_folder(out_dir) as tmp:
        rows = []
        from tqdm import tqdm

        for i in tqdm(range(n_pairs), desc="building dev set", unit="pair", disable=None):
            sp = speech_rows[picks[i % len(picks)]]
            nz = noise_rows[int(rng.integers(len(noise_rows)))]
            snr = SNRS[i % len(SNRS)]
            clean, _ = read_audio(shared / sp["path"], sample_rate)
            clean = random_crop(clean, int(MAX_SECONDS * sample_rate), rng)
            noise, _ = read_audio(shared / nz["path"], sample_rate)
            noise = noise_excerpt(noise, len(clean), rng)
            level = 10 ** (rng.uniform(-33, -20) / 20) / (np.sqrt(np.mean(clean ** 2)) + 1e-12)
            clean = (clean * level).astype(np.float32)
            noisy = mix_at_snr(clean, noise, snr)
            peak = np.max(np.abs(noisy))
            if peak > 0.99:
                clean, noisy = clean * 0.99 / peak, noisy * 0.99 / peak
            name = f"dev{i:03d}.wav"
            write_audio(tmp / "clean" / name, clean, sample_rate)
            write_audio(tmp / "noisy" / name, noisy, sample_rate)
            rows.append({"file": name, "snr_db": snr, "noise": nz["source"], "noise_file": nz["path"],
                         "speech_file": sp["path"], "speaker": sp["speaker"], "gender": sp["gender"]})
        with open(tmp / "pairs.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["clean", "noisy"] + list(rows[0]))
            w.writeheader()
            for r in rows:
                w.writerow({"clean": f"clean/{r['file']}", "noisy": f"noisy/{r['file']}", **r})
    return out_dir
