"""A pitch filter on the noisy spectrum before the band gains (the one RNNoise uses: Valin, "A hybrid
DSP/deep learning approach to real-time full-band speech enhancement", 2018).

Band gains cannot remove noise that lies between the harmonics of a voice inside one band: above about
1 kHz one mel band holds several harmonics. A comb at the pitch period can. In each voiced frame, every band
gets the input one pitch period earlier added to it, weighted by how well the two correlate in that band and
by how much of the band the gain removes (RNNoise's rule: none where the gain is 1, fully where the
correlation exceeds the gain), and then the band's energy is set back to what it was (up to the blending of
neighbouring bands' corrections on the bins they share), so the model's gains apply as before; only the balance
within the band moves towards the harmonics.

The period (80-400 Hz) comes from the autocorrelation of the frame with the model's gains applied, so it is
found in the denoised speech rather than in the noise. The filter reads only past input: it adds no
latency, streaming equals offline, and with every gain at 1 it changes nothing.
"""

from __future__ import annotations

import numpy as np

from .errors import DenoiserError

DEFAULT_PITCH_FILTER = 0.5  # strength (0 = off, 1 = RNNoise's); measured on dev set v2 against 0 and 1 (README)
FMIN_HZ, FMAX_HZ = 80.0, 400.0  # pitch range searched (a period twice too long still passes every harmonic)
VOICED = 0.3  # autocorrelation at the period (share of the frame's energy) below which a frame is left alone


def check_strength(strength: float) -> float:
    if not 0.0 <= strength <= 1.0:
        raise DenoiserError(f"pitch_filter must be between 0 (off) and 1, got {strength}")
    return float(strength)


def max_period(sample_rate: int) -> int:
    """The longest pitch period searched, in samples: how much input before a frame the filter reads."""
    return int(sample_rate / FMIN_HZ)


def periods(spec: np.ndarray, bin_gains: np.ndarray, n_fft: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Pitch period (samples) of each frame and its normalised autocorrelation there, from the denoised frame."""
    lo, hi = int(sample_rate / FMAX_HZ), max_period(sample_rate)
    frames = np.fft.irfft(spec * bin_gains, n_fft, axis=-1)  # windowed and denoised
    power = np.abs(np.fft.rfft(frames, 2 * n_fft, axis=-1)) ** 2
    ac = np.fft.irfft(power, 2 * n_fft, axis=-1)[:, :hi + 1]
    r = ac[:, lo:] / np.maximum(ac[:, :1], 1e-30)
    best = np.argmax(r, axis=1)
    return lo + best, r[np.arange(len(r)), best]


def pitch_filter(spec: np.ndarray, gains: np.ndarray, signal: np.ndarray, first: int, framing, sample_rate: int,
                 strength: float = DEFAULT_PITCH_FILTER) -> np.ndarray:
    """Filtered copy of `spec` ((frames, bins), the STFT of frames k = 0.. that start at `signal[first + k * hop]`);
    `gains` (frames, bands) are the band gains about to be applied; `signal` must hold `max_period` samples
    before the first frame."""
    f = framing
    if strength == 0.0 or len(spec) == 0:
        return spec
    if first < max_period(sample_rate):
        raise DenoiserError("internal error: the pitch filter needs input before the first frame")
    mel_t, spread_t = f.mel32_t, f.spread32_t
    period, r = periods(spec, gains.astype(np.float32) @ spread_t, f.n_fft, sample_rate)
    voiced = np.flatnonzero(r > VOICED)
    if len(voiced) == 0:
        return spec
    x, g = spec[voiced], np.clip(gains[voiced], 1e-3, 1.0).astype(np.float32)
    starts = first + voiced * f.hop - period[voiced]
    delayed = signal[starts[:, None] + np.arange(f.n_fft)[None, :]]
    p = np.fft.rfft(delayed * f.window32, axis=-1).astype(spec.dtype)
    ex, ep = np.abs(x) ** 2 @ mel_t, np.abs(p) ** 2 @ mel_t
    corr = np.clip(((x * np.conj(p)).real @ mel_t) / np.sqrt(ex * ep + 1e-30), 0.0, 1.0)
    # RNNoise's weight (pitch_filter in its denoise.c), times the strength: 1 where the correlation exceeds the
    # gain, smaller as the gain nears 1, 0 at a gain of 1 (nothing to remove); P scaled to the band's energy
    w = np.where(corr > g, 1.0, corr ** 2 * (1 - g ** 2) / (1e-3 + g ** 2 * (1 - corr ** 2)))
    w = strength * np.sqrt(np.clip(w, 0.0, 1.0)) * np.sqrt(ex / (ep + 1e-30))
    y = x + (w.astype(np.float32) @ spread_t) * p
    ey = np.abs(y) ** 2 @ mel_t
    keep = np.where(w > 0, np.sqrt(ex / (ey + 1e-30)), 1.0).astype(np.float32)  # each band's energy as it was
    out = spec.copy()
    out[voiced] = y * (keep @ spread_t)
    return out
