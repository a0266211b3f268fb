"""Development sets: fixed, seeded recipes over ../shared/data from held-out speakers, noise files and rooms.

Held out (never used for training or validation): VCC2016 speakers SF1 and SM1, every 10th LibriSpeech reader
and every 10th speechocean762 speaker (sorted by id), VCTK p225 and p226, every 5th file (sorted) of every
noise source, and the impulse responses in DEV_RIRS. Anyone with the same material rebuilds a set bit for bit.

- v1 (`build_devset`): 150 pairs at 16 kHz, 30 at each SNR in -5..15 dB, speech at -33..-20 dBFS. It draws
  only on the material the first models were trained on (no speechocean762, no Berlin noise), so it stays
  the set behind the earlier results.
- v2 (`build_devset_v2`): 210 pairs balanced over 6 conditions x 5 SNRs x 7 noise sources, one pair per cell,
  speech drawn from each corpus in turn (VCC2016, LibriSpeech, VCTK, speechocean762 with its children):
  16 kHz speech at -45, -35, -25 and -15 dBFS (or as loud as fits without clipping: the level_dbfs column has the
  level of each file), a telephone channel (300-3400 Hz band-pass, 8 kHz files) and
  reverberant rooms (held-out measured responses; the reference keeps the direct path and the first 50 ms).
  Speech and noise are high-passed at 20 Hz first: one held-out noise file carries a DC offset 21 dB above its
  sound, which would make its SNR meaningless.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .audio import atomic_folder, read_audio, resample, write_audio
from .augment import highpass, reverberate, rms, telephone
from .errors import DenoiserError
from .synth import mix_at_snr, noise_excerpt, random_crop

SNRS = (-5, 0, 5, 10, 15)
HELD_OUT_VCC = ("vcc2016:SF1", "vcc2016:SM1")
HELD_OUT_VCTK = ("vctk:p225", "vctk:p226")
DEV_RIRS = ("openair_medium_chamber", "seminar_room_clap_cc0")
V1_CORPORA = ("vcc2016", "librispeech", "vctk")  # the material of the first models and of dev set v1
V1_NOISE_EXCLUDED = ("berlin",)
SEED = 20131025  # the date of Lu et al.'s Interspeech 2013 talk, as a fixed seed
SEED_V2 = 20261125
MAX_SECONDS = 6.0
V2_CONDITIONS = ("16k -45 dBFS", "16k -35 dBFS", "16k -25 dBFS", "16k -15 dBFS", "telephone 8k", "reverberant")


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def held_out(shared, material: str = "all") -> tuple[list[dict], list[dict], list[dict], list[dict]]:
    """(dev speech rows, train speech rows, dev noise rows, train noise rows) from the shared CSVs.

    material 'v1' keeps only what the first models saw (VCC2016, LibriSpeech, VCTK; no Berlin noise)."""
    shared = Path(shared)
    if not (shared / "speech.csv").is_file() or not (shared / "noise.csv").is_file():
        raise DenoiserError(f"{shared}: speech.csv / noise.csv not found (the training material folder)")
    speech, noise = _rows(shared / "speech.csv"), _rows(shared / "noise.csv")
    if material == "v1":
        speech = [r for r in speech if r["corpus"] in V1_CORPORA]
        noise = [r for r in noise if r["source"] not in V1_NOISE_EXCLUDED]
    dev_speakers = set(HELD_OUT_VCC) | set(HELD_OUT_VCTK)
    for corpus in ("librispeech", "speechocean762"):
        ids = sorted({r["speaker"] for r in speech if r["corpus"] == corpus}, key=_speaker_key)
        dev_speakers |= set(ids[::10])
    dev_noise = set()
    for source in sorted({r["source"] for r in noise}):
        files = sorted(r["path"] for r in noise if r["source"] == source)
        dev_noise |= set(files[::5])
    return ([r for r in speech if r["speaker"] in dev_speakers], [r for r in speech if r["speaker"] not in dev_speakers],
            [r for r in noise if r["path"] in dev_noise], [r for r in noise if r["path"] not in dev_noise])


def _speaker_key(speaker: str):
    tail = speaker.split(":")[-1]
    return (0, int(tail), "") if tail.isdigit() else (1, 0, tail)


def build_devset(shared, out_dir, n_pairs: int = 150, sample_rate: int = 16000) -> Path:
    """Dev set v1 (see the module docstring)."""
    shared, out_dir = Path(shared), Path(out_dir)
    dev_speech, _, dev_noise, _ = held_out(shared, "v1")
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
        _write_pairs(tmp, rows)
    return out_dir


def _write_pairs(folder: Path, rows: list[dict]) -> None:
    with open(folder / "pairs.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["clean", "noisy"] + list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({"clean": f"clean/{r['file']}", "noisy": f"noisy/{r['file']}", **r})


def dev_rirs(shared) -> list[Path]:
    return [p for p in sorted((Path(shared) / "rir").glob("*.flac")) if p.stem in DEV_RIRS]


def build_devset_v2(shared, out_dir, sample_rate: int = 16000) -> Path:
    """Dev set v2 (see the module docstring): one pair per (condition, SNR, noise source)."""
    shared, out_dir = Path(shared), Path(out_dir)
    dev_speech, _, dev_noise, _ = held_out(shared)
    rirs = dev_rirs(shared)
    if not dev_speech or not dev_noise or not rirs:
        raise DenoiserError(f"{shared}: the held-out speech, noise or impulse responses are missing")
    rng = np.random.default_rng(SEED_V2)
    speech_rows = sorted(dev_speech, key=lambda r: r["path"])
    sources = sorted({r["source"] for r in dev_noise})
    by_source = {s: sorted((r for r in dev_noise if r["source"] == s), key=lambda r: r["path"]) for s in sources}
    cells = [(c, snr, s) for c in V2_CONDITIONS for snr in SNRS for s in sources]
    corpora = sorted({r["corpus"] for r in speech_rows})  # speech drawn from each corpus in turn
    by_corpus = {c: [speech_rows[k] for k in rng.permutation(len(speech_rows)) if speech_rows[k]["corpus"] == c]
                 for c in corpora}
    from tqdm import tqdm

    with atomic_folder(out_dir) as tmp:
        rows = []
        for i, (cond, snr, source) in enumerate(tqdm(cells, desc="building dev set v2", unit="pair", disable=None)):
            utts = by_corpus[corpora[i % len(corpora)]]
            sp = utts[(i // len(corpora)) % len(utts)]
            nz = by_source[source][int(rng.integers(len(by_source[source])))]
            clean, _ = read_audio(shared / sp["path"], sample_rate)
            clean = highpass(random_crop(clean, int(MAX_SECONDS * sample_rate), rng), sample_rate)
            noise, _ = read_audio(shared / nz["path"], sample_rate)
            noise = noise_excerpt(highpass(noise, sample_rate), len(clean), rng)  # SNR of what can be heard: no DC
            speech, rir_name = clean, ""
            if cond == "reverberant":
                rir = rirs[i % len(rirs)]
                clean, speech = reverberate(clean, read_audio(rir, sample_rate)[0].astype(np.float64), sample_rate)
                rir_name = rir.stem
            level_db = float(cond.split()[1]) if cond.startswith("16k") else float(np.round(rng.uniform(-35, -20), 1))
            gain = 10 ** (level_db / 20) / (rms(clean) + 1e-12)
            clean, speech = clean * gain, speech * gain
            noisy = speech + noise * rms(speech) / (rms(noise) + 1e-12) * 10 ** (-snr / 20)
            rate = sample_rate
            if cond.startswith("telephone"):
                clean, noisy = telephone(clean, sample_rate), telephone(noisy, sample_rate)
                clean, noisy = (resample(x.astype(np.float32), sample_rate, 8000) for x in (clean, noisy))
                rate = 8000
            peak = max(np.max(np.abs(noisy)), np.max(np.abs(clean)))
            if peak > 0.99:  # as loud as fits without clipping; the level column says what the file has
                clean, noisy = clean * 0.99 / peak, noisy * 0.99 / peak
                level_db = float(np.round(20 * np.log10(rms(clean) + 1e-12), 1))
            name = f"dev2_{i:03d}.wav"
            write_audio(tmp / "clean" / name, clean, rate)
            write_audio(tmp / "noisy" / name, noisy, rate)
            rows.append({"file": name, "condition": cond, "snr_db": snr, "noise": source, "noise_file": nz["path"],
                         "room": rir_name, "level_dbfs": level_db, "sample_rate": rate, "speech_file": sp["path"],
                         "speaker": sp["speaker"], "corpus": sp["corpus"], "gender": sp["gender"]})
        _write_pairs(tmp, rows)
    return out_dir
