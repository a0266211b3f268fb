"""A classic denoiser for comparison: decision-directed Wiener filter (Scalart & Filho 1996) with a
minimum-statistics-style noise estimate (smoothed periodogram, running minimum over 1.5 s, bias 1.5),
so it needs no clean signal and no speech-free start. Its gain floor is 20 dB, where it scores best (on dev set
v1: PESQ +0.12 at 20 dB, +0.08 at 30 dB)."""

from __future__ import annotations

import numpy as np

from .features import framing_for
from .settings import FeatureSettings


def stft(x: np.ndarray, s: FeatureSettings, sample_rate: int):
    f = framing_for(s, sample_rate)
    return f, f.spectra(f.frames(x))


def istft(spec: np.ndarray, f, n: int) -> np.ndarray:
    """Weighted overlap-add inverse of Framing.spectra/frames (exact for unmodified spectra)."""
    frames = np.fft.irfft(spec, f.n_fft, axis=-1) * f.window
    total = (len(frames) - 1) * f.hop + f.n_fft
    num, den = np.zeros(total), np.zeros(total)
    w2 = f.window ** 2
    for t, fr in enumerate(frames):
        num[t * f.hop:t * f.hop + f.n_fft] += fr
        den[t * f.hop:t * f.hop + f.n_fft] += w2
    y = np.where(den > 1e-10, num / np.maximum(den, 1e-10), 0.0)
    return y[f.pad:f.pad + n].astype(np.float32)


def wiener_denoise(x: np.ndarray, sample_rate: int, s: FeatureSettings | None = None,
                   max_attenuation_db: float = 20.0, alpha: float = 0.98) -> np.ndarray:
    from scipy.ndimage import minimum_filter1d

    s = s or FeatureSettings()
    f, spec = stft(np.asarray(x, np.float64), s, sample_rate)
    power = np.abs(spec) ** 2
    smooth = np.empty_like(power)
    acc = power[0]
    for t in range(len(power)):
        acc = 0.8 * acc + 0.2 * power[t]
        smooth[t] = acc
    span = max(3, int(round(1.5 * sample_rate / f.hop)))
    noise = np.maximum(minimum_filter1d(smooth, span, axis=0, mode="nearest") * 1.5, 1e-20)
    g_min = 10 ** (-max_attenuation_db / 20)
    gains = np.empty_like(power)
    prev = np.zeros(power.shape[1])
    for t in range(len(power)):
        gamma = power[t] / noise[t]
        xi = alpha * prev + (1 - alpha) * np.maximum(gamma - 1, 0)
        g = np.maximum(xi / (1 + xi), g_min)
        gains[t] = g
        prev = (g ** 2) * gamma
    return istft(spec * gains, f, len(x))
