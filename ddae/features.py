"""Log-mel filterbank features and mel-band gains.

Training, evaluation and denoising all call these functions, so features are defined once.
The STFT frames a signal like librosa's `center=True` with zero padding: frame t is centred on
sample t * hop, and there are 1 + len(x) // hop frames.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .errors import DenoiserError
from .settings import FeatureSettings

class Framing:
    """STFT geometry at one sample rate, scaled from the settings' geometry at the model rate."""

    def __init__(self, s: FeatureSettings, sample_rate: int | None = None):
        sr = s.sample_rate if sample_rate is None else int(sample_rate)
        ratio = sr / s.sample_rate
        self.sample_rate = sr
        self.n_fft = max(8, int(round(s.n_fft * ratio)))
        self.hop = max(1, int(round(s.hop_length * ratio)))
        win = min(self.n_fft, max(self.hop, int(round(s.win_length * ratio))))
        w = np.zeros(self.n_fft)
        start = (self.n_fft - win) // 2
        w[start:start + win] = np.hanning(win + 1)[:-1] if win > 1 else 1.0  # periodic Hann
        self.window = w
        self.pad = self.n_fft // 2
        # power normalisation: a band-limited signal gives the same band energies at every rate
        self.power_scale = 1.0 / float(w.sum()) ** 2
        self.mel = mel_matrix(s, sr, self.n_fft)
        self.spread = spread_matrix(self.mel)
        # float32 copies for the denoiser (half the work of float64; features for training stay float64)
        self.window32, self.mel32_t = w.astype(np.float32), self.mel.T.astype(np.float32)
        self.spread32_t = self.spread.T.astype(np.float32)

    def n_frames(self, n_samples: int) -> int:
        return 1 + n_samples // self.hop

    def end_padding(self, n_samples: int) -> int:
        """Zeros appended after the signal so the last frame is complete."""
        return (self.n_frames(n_samples) - 1) * self.hop + self.n_fft - self.pad - n_samples

    def frames(self, x: np.ndarray) -> np.ndarray:
        """(n_frames, n_fft) frames of a 1-D signal, zero-padded at both ends."""
        x = np.asarray(x, dtype=np.float64)
        padded = np.concatenate([np.zeros(self.pad), x, np.zeros(self.end_padding(len(x)))])
        return frames_of(padded, self.n_fft, self.hop)

    def spectra(self, frames: np.ndarray) -> np.ndarray:
        """rfft of the windowed frames: complex64 for float32 frames, complex128 otherwise."""
        if frames.dtype == np.float32:
            return np.fft.rfft(frames * self.window32, axis=-1)
        return np.fft.rfft(frames * self.window, axis=-1)

    def logmel(self, spectra: np.ndarray, log_floor: float) -> np.ndarray:
        power = (spectra.real ** 2 + spectra.imag ** 2) * self.power_scale
        if power.dtype == np.float32:
            return np.log(power @ self.mel32_t + np.float32(log_floor))
        return np.log(power @ self.mel.T + log_floor).astype(np.float32)


def frames_of(padded: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    n = 1 + (len(padded) - n_fft) // hop if len(padded) >= n_fft else 0
    if n == 0:
        return np.zeros((0, n_fft))
    return np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:n]


def mel_matrix(s: FeatureSettings, sample_rate: int, n_fft: int) -> np.ndarray:
    """(n_mels, n_fft//2+1) triangular mel filters over the settings' fmin..fmax, at any rate.

    At a rate other than the model's, each filter is rescaled for the different bin density so that a
    band-limited signal gives the same band energies as at the model's rate.
    """
    return _mel_cached(s.n_mels, s.fmin, s.fmax, s.sample_rate, s.n_fft, int(sample_rate), int(n_fft)).copy()


_F_SP, _MIN_LOG_HZ, _MIN_LOG_MEL, _LOGSTEP = 200.0 / 3, 1000.0, 15.0, np.log(6.4) / 27.0  # Slaney's mel scale


def mel_frequencies(n: int, fmin: float, fmax: float) -> np.ndarray:
    """n frequencies (Hz) evenly spaced on Slaney's mel scale (librosa's default, htk=False)."""
    def to_mel(f):
        return f / _F_SP if f < _MIN_LOG_HZ else _MIN_LOG_MEL + np.log(f / _MIN_LOG_HZ) / _LOGSTEP

    mels = np.linspace(to_mel(float(fmin)), to_mel(float(fmax)), n)
    return np.where(mels < _MIN_LOG_MEL, _F_SP * mels, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mels - _MIN_LOG_MEL)))


@lru_cache(maxsize=16)
def _mel_cached(n_mels, fmin, fmax, model_sr, model_fft, sr, n_fft):
    top = min(fmax, sr / 2)
    mel_hz = mel_frequencies(n_mels + 2, fmin, fmax)
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    m = np.zeros((n_mels, len(freqs)))
    for b in range(n_mels):
        lo, centre, hi = mel_hz[b:b + 3]
        up = (freqs - lo) / max(centre - lo, 1e-9)
        down = (hi - freqs) / max(hi - centre, 1e-9)
        m[b] = np.maximum(0.0, np.minimum(up, down))
        if m[b].sum() == 0 and centre <= top:  # a band narrower than one bin: take the nearest bin
            m[b, int(np.argmin(np.abs(freqs - centre)))] = 1.0
    density = (model_fft / model_sr) / (n_fft / sr)
    return m * density


def spread_matrix(mel: np.ndarray) -> np.ndarray:
    """(n_bins, n_mels) weights that turn band gains into bin gains; each row sums to 1.

    A bin outside every filter (above fmax, say) takes the gain of the nearest band, so gains of 1
    everywhere give bin gains of exactly 1.
    """
    w = mel.T.copy()
    sums = w.sum(axis=1)
    covered = np.flatnonzero(sums > 0)
    if len(covered) == 0:
        raise DenoiserError("the mel filterbank covers no FFT bin")
    for k in np.flatnonzero(sums == 0):
        nearest = covered[np.argmin(np.abs(covered - k))]
        w[k] = w[nearest]
    return w / w.sum(axis=1, keepdims=True)


def compute_logmel(x: np.ndarray, s: FeatureSettings) -> np.ndarray:
    """(n_frames, n_mels) float32 log-mel features of a mono signal at the settings' sample rate."""
    f = framing_for(s)
    return f.logmel(f.spectra(f.frames(x)), s.log_floor)


@lru_cache(maxsize=8)
def framing_for(s: FeatureSettings, sample_rate: int | None = None) -> Framing:
    return Framing(s, sample_rate)


def band_gains(clean_logmel: np.ndarray, noisy_logmel: np.ndarray, min_gain: float) -> np.ndarray:
    """Amplitude gain per band: sqrt(clean / noisy power), clipped to [min_gain, 1]."""
    return np.clip(np.exp(0.5 * (clean_logmel.astype(np.float64) - noisy_logmel)), min_gain, 1.0)
