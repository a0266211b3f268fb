"""Augmentations that cover what real recordings do: level, EQ, rooms, telephone band, clipping, quantisation.

Pure numpy/scipy functions of a random generator, so a mixture is deterministic from its seed.
"""

from __future__ import annotations

import numpy as np

TELEPHONE_BAND_HZ = (300.0, 3400.0)
EARLY_REFLECTIONS_S = 0.05  # the reverberant target keeps the direct path and the first 50 ms


def rms(x) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)))


def highpass(x: np.ndarray, sample_rate: int, cutoff_hz: float = 20.0) -> np.ndarray:
    """4th-order Butterworth high-pass: removes DC offsets and infrasound (some noise recordings carry more
    energy below 20 Hz than above it, which would make their SNR meaningless)."""
    from scipy.signal import butter, sosfilt

    return sosfilt(butter(4, cutoff_hz, btype="highpass", fs=sample_rate, output="sos"), np.asarray(x, np.float64))


def random_eq(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random second-order filter (RNNoise's recipe): zeros and poles with coefficients in [-3/8, 3/8],
    which gives tilts, bumps and dips of a few dB up to about 10 dB."""
    from scipy.signal import lfilter

    b = np.array([1.0, *rng.uniform(-0.375, 0.375, 2)])
    a = np.array([1.0, *rng.uniform(-0.375, 0.375, 2)])
    return lfilter(b, a, x)


SPEEDS = (0.85, 0.9, 0.95, 1.05, 1.1, 1.15)  # speed perturbation factors (Kaldi's 0.9/1.1, a little wider)


def speed(x: np.ndarray, factor: float) -> np.ndarray:
    """x played `factor` times faster, tempo and pitch together (sox's `speed`, Kaldi's speed perturbation):
    band-limited resampling by a ratio of small integers, so the result is 1/factor as long and its
    formants and pitch move by `factor`: a new voice from the same speaker, a new noise from the same file."""
    from fractions import Fraction

    from scipy.signal import resample_poly

    r = Fraction(1 / factor).limit_denominator(40)
    return resample_poly(np.asarray(x, np.float64), r.numerator, r.denominator)


TONAL_STYLES = ("chirps", "beeps", "whine")
# the whines (a low tone with overtones, vibrato and drift: what a voice looks like) replaced by 'whistle'
# (one tone of 1-7 kHz, vibrato and drift, at most a faint octave)
WHISTLE_STYLES = ("chirps", "beeps", "whistle")


def tonal_noise(n: int, sample_rate: int, rng: np.random.Generator, style: str = "",
                styles: tuple = TONAL_STYLES) -> np.ndarray:
    """Tonal noise that pitched speech could be taken for, normalised to RMS 1: 'chirps' (bird song and
    whistles: sweeps of 30-400 ms between 1 and 7 kHz with gaps), 'beeps' (one or two steady tones of 0.4-4 kHz
    switched on and off: alarms, phones, appliances) or 'whine' (a tone of 0.3-7 kHz with up to two overtones,
    slow vibrato and drift: kettles, motors, feedback) or 'whistle' (a whine of 1-7 kHz with at most a faint
    octave: kettles, feedback, electronics). Without `style`, one drawn from `styles`. All below 0.45 of the rate."""
    style = style or styles[int(rng.integers(len(styles)))]
    top = 0.45 * sample_rate
    f = np.zeros(n)  # instantaneous frequency (Hz), 0 = silent
    if style == "chirps":
        i = int(rng.integers(0, max(1, int(0.2 * sample_rate))))
        while i < n:
            m = int(rng.uniform(0.03, 0.4) * sample_rate)
            a, b = rng.uniform(1000.0, min(7000.0, top), 2)
            f[i:i + m] = np.geomspace(a, b, m)[: n - i]
            i += m + int(rng.uniform(0.02, 0.5) * sample_rate)
        partials = [(1.0, 1.0)] + ([(2.0, rng.uniform(0.1, 0.5))] if rng.random() < 0.5 else [])
    elif style == "beeps":
        on, off = rng.uniform(0.05, 0.8), rng.uniform(0.05, 0.8)
        t = np.arange(n) / sample_rate
        f[(t % (on + off)) < on] = rng.uniform(400.0, min(4000.0, top))
        partials = [(1.0, 1.0)] + ([(rng.uniform(1.1, 1.6), 1.0)] if rng.random() < 0.5 else [])
    else:  # 'whine' or 'whistle': one steady tone with slow vibrato and drift
        t = np.arange(n) / sample_rate
        f0 = rng.uniform(1000.0 if style == "whistle" else 300.0, min(7000.0, top))
        f[:] = f0 * (1 + rng.uniform(0, 0.03) * np.sin(2 * np.pi * rng.uniform(2, 12) * t)
                     + rng.uniform(-0.1, 0.1) * t / max(t[-1], 1e-9))
        if style == "whistle":  # at most a faint octave
            partials = [(1.0, 1.0)] + ([(2.0, rng.uniform(0.05, 0.3))] if rng.random() < 0.5 else [])
        else:  # up to two overtones
            partials = [(1.0, 1.0)] + [(k, rng.uniform(0.05, 0.5)) for k in (2.0, 3.0)[: int(rng.integers(0, 3))]]
    on = f > 0
    phase = 2 * np.pi * np.cumsum(f) / sample_rate
    x = np.zeros(n)
    for k, amp in partials:
        x += np.where(on & (k * f < top), amp * np.sin(k * phase), 0.0)
    edge = int(0.005 * sample_rate)  # 5 ms fades at every on/off edge: no clicks
    if edge > 1:
        env = np.convolve(on.astype(np.float64), np.ones(edge) / edge, mode="same")
        x *= np.minimum(env, 1.0)
    return x / (rms(x) + 1e-12) if rms(x) > 0 else x


def synthetic_rir(sample_rate: int, rng: np.random.Generator, rt60_s=(0.15, 1.0), drr_db=(0.0, 12.0),
                  bands: bool = False, max_seconds: float = 1.0) -> np.ndarray:
    """An impulse response: a direct path, then exponentially decaying noise (RT60 drawn from `rt60_s`; by
    default 0.15-1.0 s, a small or medium room) whose onset is spread over the first few ms, at a
    direct-to-reverberant ratio drawn from `drr_db`, cut at `max_seconds`. With `bands`, the tail decays
    faster above a crossover (500-3000 Hz; RT60 there 40-90 % of the one below), as air and walls absorb high
    frequencies in real rooms."""
    rt60 = rng.uniform(*rt60_s)
    n = int(min(1.2 * rt60, max_seconds) * sample_rate)
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    if bands:
        from scipy.signal import butter, sosfilt

        crossover = rng.uniform(500.0, 3000.0)
        high = rng.standard_normal(n) * np.exp(-6.9 * t / (rt60 * rng.uniform(0.4, 0.9)))
        tail = (sosfilt(butter(4, crossover, btype="lowpass", fs=sample_rate, output="sos"), tail)
                + sosfilt(butter(4, crossover, btype="highpass", fs=sample_rate, output="sos"), high))
    onset = int(rng.uniform(0.002, 0.01) * sample_rate)
    tail[:onset] = 0.0
    h = tail * 10 ** (rng.uniform(-drr_db[1], -drr_db[0]) / 20) / (np.sqrt(np.sum(tail ** 2)) + 1e-12)
    h[0] = 1.0
    return h


def reverberate(speech: np.ndarray, rir: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(target, reverberant): speech through the direct path and early reflections, and through the whole
    response. The response is aligned so its peak (the direct path) comes first; both keep speech's length."""
    from scipy.signal import fftconvolve

    peak = int(np.argmax(np.abs(rir)))
    h = rir[peak:] / (abs(rir[peak]) + 1e-12)
    early = h[: int(EARLY_REFLECTIONS_S * sample_rate)]
    n = len(speech)
    return fftconvolve(speech, early)[:n], fftconvolve(speech, h)[:n]


def telephone(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """A handset channel: band-pass 300-3400 Hz (4th-order Butterworth) and a trip through 8 kHz."""
    from scipy.signal import butter, sosfilt

    from .audio import resample

    sos = butter(4, TELEPHONE_BAND_HZ, btype="bandpass", fs=sample_rate, output="sos")
    y = sosfilt(sos, x)
    if sample_rate != 8000:
        y = resample(resample(y.astype(np.float32), sample_rate, 8000), 8000, sample_rate)[: len(x)]
    return np.asarray(y, np.float64)


def clip(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Hard clipping at 30-90 % of the peak, as an overdriven input does."""
    level = rng.uniform(0.3, 0.9) * np.max(np.abs(x))
    return np.clip(x, -level, level)


def quantise16(x: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(x) * 32767.0) / 32767.0
