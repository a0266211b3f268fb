"""How log-mel frames are normalised before the model: global statistics, or a causal running mean per band.

'global': (x - mean) / std with per-band statistics of the training inputs (Lu et al.'s recipe). The model
then sees absolute levels: it only knows the levels and channels it was trained on.
'running': x minus a causal running mean of each band (cumulative over the first `tau` seconds, then
exponential with time constant `tau`), divided by a per-band scale fitted on training inputs. A gain or a
fixed EQ on the input shifts every frame of a band by the same amount and so cancels out: the features do
not depend on level or channel (down to the log floor). The running mean is part of the streaming state.
'running+floor': the 'running' features and, beside them, each band minus a causal floor tracker (the band,
smoothed over a few frames, followed down at once and up at no more than FLOOR_RISE per frame: a noise-floor
estimate, as minimum-statistics estimators make). They say how far each band stands above the noise, and
they too are level-independent. The model then gets 2 x n_mels inputs per frame.

Priming (`prime_frames` > 0, for offline models): the running mean starts from the mean of the first
`prime_frames` frames and the floor from their smoothed minimum, instead of from the first frame alone, so
the first seconds of a file are normalised as well as the rest. The denoiser then holds back its first output
until it has that many frames (or the whole file, if shorter). Training primes every segment the same way.
"""

from __future__ import annotations

import numpy as np

from .errors import DenoiserError

MODES = ("global", "running", "running+floor")
_EMA_CHUNK = 128
DEFAULT_TAU_S = 3.0
FLOOR_RISE = 0.01  # nats per frame: about 4 dB per second at a 10 ms hop
FLOOR_SMOOTH = 0.3  # weight of the new frame in the smoothing before the floor tracker


def ema(x: np.ndarray, start: np.ndarray, a: float) -> np.ndarray:
    """y[t] = y[t-1] + a (x[t] - y[t-1]) along axis 0, from y[-1] = start; in chunks of matrix products
    (no Python loop over frames, and no scipy: the denoiser's start-up stays light)."""
    x = np.asarray(x, np.float64)
    out = np.empty_like(x)
    y = np.asarray(start, np.float64)
    for i in range(0, len(x), _EMA_CHUNK):
        xs = x[i:i + _EMA_CHUNK]
        w, decay = _ema_weights(float(a), len(xs))
        out[i:i + len(xs)] = w @ xs + decay[:, None] * y
        y = out[i + len(xs) - 1]
    return out


_EMA_CACHE: dict = {}


def _ema_weights(a: float, n: int):
    key = (a, n)
    if key not in _EMA_CACHE:
        t = np.arange(n)
        lag = t[:, None] - t[None, :]
        w = np.where(lag >= 0, a * (1.0 - a) ** np.maximum(lag, 0), 0.0)
        _EMA_CACHE[key] = (w, (1.0 - a) ** (t + 1))
    return _EMA_CACHE[key]


def floor_track(smooth: np.ndarray, start: np.ndarray) -> np.ndarray:
    """floor[t] = min(smooth[t], floor[t-1] + FLOOR_RISE) from floor[-1] = start: a running minimum of
    smooth[k] + FLOOR_RISE (t - k), computed with np.minimum.accumulate."""
    if len(smooth) == 0:
        return np.zeros((0,) + np.shape(start))
    t = np.arange(len(smooth))[:, None]
    lowest = np.minimum.accumulate(np.vstack([np.asarray(start)[None] + FLOOR_RISE, smooth - FLOOR_RISE * t]), axis=0)
    return lowest[1:] + FLOOR_RISE * t


class Normaliser:
    def __init__(self, mode: str, mean, std, tau_frames: float = 1.0, prime_frames: int = 0):
        if mode not in MODES:
            raise DenoiserError(f"normalisation must be one of {', '.join(MODES)}, got {mode!r}")
        if prime_frames < 0:
            raise DenoiserError(f"prime_frames must be >= 0, got {prime_frames}")
        self.mode = mode
        self.prime_frames = int(prime_frames) if mode != "global" else 0
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.alpha = 1.0 / max(1.0, float(tau_frames))

    @property
    def channels(self) -> int:
        return 2 if self.mode == "running+floor" else 1

    @property
    def n_features(self) -> int:
        """Inputs per frame the model gets."""
        return len(self.std)

    def start(self):
        """The state before the first frame: (running mean, frames seen, smoothed frame, floor)."""
        n = self.n_mels
        return (np.zeros(n, np.float64), 0, np.zeros(n), np.zeros(n))

    def prime(self, logmel: np.ndarray):
        """The state to start a file from, estimated on its first frames (see 'Priming')."""
        x = np.asarray(logmel, np.float64)
        if self.mode == "global" or len(x) == 0:
            return self.start()
        smooth, lowest = x[0].copy(), x[0].copy()
        if self.mode == "running+floor" and len(x) > 1:
            lowest = np.minimum(lowest, ema(x[1:], smooth, FLOOR_SMOOTH).min(axis=0))
        return (x.mean(axis=0), len(x), x[0].copy(), lowest)

    def apply_primed(self, logmel: np.ndarray) -> np.ndarray:
        """Normalised frames of a whole utterance, primed on its start when the normaliser primes."""
        state = self.prime(logmel[: self.prime_frames]) if self.prime_frames else None
        return self.apply(logmel, state)[0]

    def apply(self, logmel: np.ndarray, state=None):
        """(normalised frames, new state) for frames (T, n_mels) that follow `state`."""
        x = np.asarray(logmel, np.float64)
        if self.mode == "global":
            return ((x - self.mean) / self.std).astype(np.float32), state
        mu, seen, smooth, floor = state if state is not None else self.start()
        means = np.empty_like(x)
        warm = max(0, min(len(x), int(round(1 / self.alpha)) - seen))  # frames still in the cumulative warm-up
        if warm:
            counts = seen + 1 + np.arange(warm)
            means[:warm] = (mu * seen + np.cumsum(x[:warm], axis=0)) / counts[:, None]
            mu = means[warm - 1]
        if warm < len(x):
            means[warm:] = ema(x[warm:], mu, self.alpha)
            mu = means[-1]
        feats = x - means
        if self.mode == "running+floor":
            rest = x
            if seen == 0 and len(x):  # the first frame starts both trackers
                smooth, floor, rest = x[0].copy(), x[0].copy(), x[1:]
            smooths = ema(rest, smooth, FLOOR_SMOOTH)
            floors = np.concatenate([x[:len(x) - len(rest)], floor_track(smooths, floor)])
            if len(rest):
                smooth, floor = smooths[-1], floors[-1]
            feats = np.concatenate([feats, x - floors], axis=1)
        return (feats / self.std).astype(np.float32), (mu, seen + len(x), smooth, floor)

    def fit_scale(self, logmels: list[np.ndarray]) -> "Normaliser":
        """Per-band mean and standard deviation of normalisation-ready inputs (one array per utterance)."""
        if not logmels:
            raise DenoiserError("cannot fit normalisation statistics on an empty training set")
        x = np.concatenate(logmels).astype(np.float64)
        if self.mode == "global":
            self.mean, self.std = x.mean(0).astype(np.float32), np.maximum(x.std(0), 1e-3).astype(np.float32)
            return self
        self.mean = np.zeros(x.shape[1] * self.channels, np.float32)
        self.std = np.ones(x.shape[1] * self.channels, np.float32)
        resid = np.concatenate([self.apply_primed(u) for u in logmels]).astype(np.float64)
        self.std = np.maximum(np.sqrt(np.mean(resid ** 2, axis=0)), 1e-3).astype(np.float32)
        return self

    # -- saved with every run ------------------------------------------------------------------------
    FILE = "norm_stats.npz"

    def save(self, folder) -> None:
        from pathlib import Path

        np.savez(Path(folder) / self.FILE, mode=np.array(self.mode), mean=self.mean, std=self.std,
                 tau_frames=np.array(1.0 / self.alpha), prime_frames=np.array(self.prime_frames))

    @classmethod
    def load(cls, folder) -> "Normaliser":
        from pathlib import Path

        path = Path(folder) / cls.FILE
        if not path.is_file():
            raise DenoiserError(f"{path} is missing: {folder} has no normalisation statistics")
        try:
            with np.load(path) as z:
                prime = int(z["prime_frames"]) if "prime_frames" in z.files else 0
                norm = cls(str(z["mode"]), z["mean"], z["std"], float(z["tau_frames"]), prime)
        except DenoiserError:
            raise
        except Exception as e:
            raise DenoiserError(f"{path} is not valid normalisation statistics ({type(e).__name__}: {e}); "
                                f"a run saved by an older version must be retrained") from None
        if norm.mean.shape != norm.std.shape or norm.mean.ndim != 1 or not (
                np.all(np.isfinite(norm.mean)) and np.all(np.isfinite(norm.std)) and np.all(norm.std > 0)):
            raise DenoiserError(f"{path}: inconsistent or non-finite statistics")
        return norm

    @property
    def n_mels(self) -> int:
        return len(self.std) // self.channels
