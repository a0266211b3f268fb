"""Training mixtures from the real recordings in ../shared/data, deterministic from a seed.

Only training material is used: the speakers and noise files of the development set (`devset.held_out`)
never appear. Each pass mixes every training utterance once with a fresh noise:
- SNR uniform in [MIN_SNR, MAX_SNR] dB, speech level uniform in -40..-15 dBFS (RMS);
- noise: a recorded noise file (60 %), babble built from 3 to 8 other training utterances (15 %) or a
  generated stationary noise: white, pink, brown or low rumble (25 %); 30 % also get a faint white floor;
- 15 % reverberated with a room impulse response (the target is the reverberant speech: this is a
  denoiser, not a dereverberator); 15 % band-limited to telephone bandwidth by resampling through 8 kHz.
Files go to OUT_DIR/clean/<speaker>/<name>.wav and OUT_DIR/noisy/<speaker>/<name>.wav, so a feature set
can be split by speaker folder; OUT_DIR/pairs.csv lists the conditions of every pair.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .audio import atomic_folder, read_audio, resample, write_audio
from .devset import held_out
from .errors import DenoiserError
from .synth import coloured_noise, mix_at_snr, noise_excerpt, random_crop

MIN_SNR, MAX_SNR = -5.0, 20.0
MAX_SECONDS = 10.0
GENERATED = ("white", "pink", "brown", "rumble")


def generated_noise(kind: str, n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "rumble":  # brown noise low-passed around 100-300 Hz: engines, ventilation, handling
        spec = np.fft.rfft(coloured_noise(n, 2.0, rng))
        cutoff = rng.uniform(100, 300)
        f = np.fft.rfftfreq(n, 1 / sample_rate)
        x = np.fft.irfft(spec / np.sqrt(1 + (f / cutoff) ** 8), n)
        return (x / (np.sqrt(np.mean(x ** 2)) + 1e-12)).astype(np.float32)
    return coloured_noise(n, {"white": 0.0, "pink": 1.0, "brown": 2.0}[kind], rng)


def _rms(x) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)))


class _Material:
    """The training rows, with noise and impulse responses read once and kept in memory."""

    def __init__(self, shared: Path, sample_rate: int, progress=None):
        _, speech, _, noise = held_out(shared, "v1")  # the recipe of the first pretrained models
        if not speech or not noise:
            raise DenoiserError(f"{shared}: no training speech or noise left after holding out the dev set")
        self.shared, self.sr = shared, sample_rate
        self.speech = sorted(speech, key=lambda r: r["path"])
        self.noise_rows = sorted(noise, key=lambda r: r["path"])
        rows = progress(self.noise_rows, "reading noise") if progress else self.noise_rows
        self.noise = [read_audio(shared / r["path"], sample_rate)[0] for r in rows]
        rirs = sorted((shared / "rir").glob("*.flac")) if (shared / "rir").is_dir() else []
        self.rirs = [(p.stem, self._rir(p)) for p in rirs]

    def _rir(self, path: Path) -> np.ndarray:
        h, _ = read_audio(path, self.sr)
        peak = int(np.argmax(np.abs(h)))
        h = h[max(0, peak - int(0.002 * self.sr)):]  # drop the propagation delay so speech stays aligned
        return (h / (np.sqrt(np.sum(h.astype(np.float64) ** 2)) + 1e-12)).astype(np.float32)

    def utterance(self, i: int) -> np.ndarray:
        return read_audio(self.shared / self.speech[i]["path"], self.sr)[0]


def make_mixture(m: _Material, i: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    """(clean target, noisy mixture, conditions) for training utterance i."""
    from scipy.signal import fftconvolve

    sr = m.sr
    clean = random_crop(m.utterance(i), int(MAX_SECONDS * sr), rng).astype(np.float64)
    n = len(clean)
    info = {"speaker": m.speech[i]["speaker"], "speech_file": m.speech[i]["path"], "reverb": "", "telephone": 0}
    if m.rirs and rng.random() < 0.15:
        name, h = m.rirs[int(rng.integers(len(m.rirs)))]
        wet = fftconvolve(clean, h)[:n]
        clean = wet * _rms(clean) / (_rms(wet) + 1e-12)
        info["reverb"] = name
    u = rng.random()
    if u < 0.60:
        k = int(rng.integers(len(m.noise)))
        noise = noise_excerpt(m.noise[k], n, rng)
        info.update(noise=m.noise_rows[k]["source"], noise_file=m.noise_rows[k]["path"])
    elif u < 0.75:
        noise = np.zeros(n)
        talkers = int(rng.integers(3, 9))
        for _ in range(talkers):
            j = int(rng.integers(len(m.speech)))
            if m.speech[j]["speaker"] == m.speech[i]["speaker"]:
                continue
            t = m.utterance(j)
            noise += noise_excerpt(t, n, rng) / (_rms(t) + 1e-12)
        info.update(noise="built babble", noise_file=f"{talkers} training talkers")
    else:
        kind = GENERATED[int(rng.integers(len(GENERATED)))]
        noise = generated_noise(kind, n, sr, rng)
        info.update(noise=kind, noise_file="generated")
    if _rms(noise) < 1e-6:  # a babble of skipped talkers, or a silent excerpt: fall back to pink noise
        noise = generated_noise("pink", n, sr, rng)
        info.update(noise="pink", noise_file="generated")
    snr = float(rng.uniform(MIN_SNR, MAX_SNR))
    level = 10 ** (rng.uniform(-40, -15) / 20) / (_rms(clean) + 1e-12)
    clean = clean * level
    noisy = mix_at_snr(clean, noise, snr).astype(np.float64)
    if rng.random() < 0.3:  # a faint microphone/preamp floor
        noisy = noisy + generated_noise("white", n, sr, rng) * _rms(clean) * 10 ** (-rng.uniform(25, 45) / 20)
    if rng.random() < 0.15:
        clean, noisy = (resample(resample(x.astype(np.float32), sr, 8000), 8000, sr)[:n] for x in (clean, noisy))
        info["telephone"] = 1
    peak = max(np.max(np.abs(noisy)), np.max(np.abs(clean)))
    if peak > 0.99:
        clean, noisy = clean * 0.99 / peak, noisy * 0.99 / peak
    info["snr_db"] = round(snr, 2)
    return clean.astype(np.float32), noisy.astype(np.float32), info


def build_training_set(shared, out_dir, passes: int = 2, seed: int = 0, sample_rate: int = 16000,
                       progress=None) -> dict:
    """Write `passes` mixtures of every training utterance to out_dir (atomically); returns a summary."""
    shared, out_dir = Path(shared), Path(out_dir)
    if passes < 1:
        raise DenoiserError(f"passes must be at least 1, got {passes}")
    m = _Material(shared, sample_rate, progress)
    jobs = [(p, i) for p in range(passes) for i in range(len(m.speech))]
    rows, seconds = [], 0.0
    with atomic_folder(out_dir) as tmp:
        for p, i in (progress(jobs, "mixing") if progress else jobs):
            rng = np.random.default_rng([seed, p, i])
            clean, noisy, info = make_mixture(m, i, rng)
            rel = f"{info['speaker'].replace(':', '_')}/p{p}_{i:05d}.wav"
            write_audio(tmp / "clean" / rel, clean, sample_rate)
            write_audio(tmp / "noisy" / rel, noisy, sample_rate)
            rows.append({"clean": f"clean/{rel}", "noisy": f"noisy/{rel}", **info})
            seconds += len(clean) / sample_rate
        fields = ["clean", "noisy", "snr_db", "noise", "noise_file", "reverb", "telephone", "speaker", "speech_file"]
        with open(tmp / "pairs.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)
    return {"pairs": len(rows), "hours": seconds / 3600, "speakers": len({r["speaker"] for r in rows}),
            "noise_files": len(m.noise_rows), "rirs": len(m.rirs)}
