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

Digital silence (every band within a factor of 10 of the log floor, as exact zeros give: a muted, gated or
zero-padded stretch, set by `silent_below`) leaves the running mean and the floor where they were: followed down
into it, they would take seconds to come back when sound returns, and the frames after a silent stretch would
be normalised as no training segment is (benchmarks/bench_longform.py). Its own frames are normalised against
themselves (zeros: what the trackers followed into silence gave). After RESET_SILENCE_S of it, the sound that
follows starts from a fresh state, as a new file does (a stretch that long may end one recording or scene and
start another), from its second frame: the first holds only the few samples at the end of its window.

Scene changes (`risen`, `fallen`; 'running+floor' only): sound far above where the trackers stand, as when
speech in noise follows a much quieter stretch that is not digital silence (a microphone's hiss, a hold, a quiet
room), or far below it, as when a loud noise stops, would be normalised against the stretch before for seconds
(the running mean takes seconds to follow), and no training segment looks like that. A frame has risen when at
least CHANGE_SHARE of its bands stand RISE_FLOOR_DB above their floor and RISE_MEAN_DB above their running mean,
both as tracked up to the frame before (the second condition keeps it from firing inside speech in its own
noise: the running mean holds the speech too); it has fallen when the floor of that share of its bands lies
FALL_DB below where it stood FALL_WINDOW_S before (the floor follows a band down at once but climbs at most 4
dB/s, so inside speech it drops that far only after seconds without a dip). Levels relative to the trackers, so
it is as level-independent as the features. The denoiser (ddae.inference) takes CHANGE_SECONDS of such frames on
end, in a scene at least CHANGE_AFTER_S old, as a new scene that began where they began: it starts afresh from
there as it does after a long silence (benchmarks/bench_longform.py, README "Long recordings").

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
RESET_SILENCE_S = 1.0  # digital silence this long (or longer) ends a scene: the next sound starts afresh
RISE_FLOOR_DB = 10.0  # a band has risen when it stands this far above its floor ...
RISE_MEAN_DB = 15.0  # ... and this far above its running mean
FALL_DB = 15.0  # a band has fallen when its floor lies this far below ...
FALL_WINDOW_S = 0.5  # ... where it stood this long before
CHANGE_SHARE = 0.6  # a frame has risen (fallen) when this share of its bands has
CHANGE_SECONDS = 0.2  # risen or fallen frames on end that make a new scene (it starts afresh where they began) ...
CHANGE_AFTER_S = 3.0  # ... in a scene at least this old (a new scene's first seconds are not compared with it)
_RESTART = -1  # the state's silence count once a long silence has ended: start afresh at the next sound frame


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


def _longer(quiet: int, frames: int) -> int:
    """The silence count after `frames` more silent frames (a pending fresh start stays pending)."""
    return quiet if quiet == _RESTART else quiet + frames


def _runs(flags: np.ndarray):
    """(start, end, flag) of each run of equal values in a boolean array."""
    if not len(flags):
        return []
    edges = np.flatnonzero(np.diff(flags.astype(np.int8))) + 1
    return [(int(a), int(b), bool(flags[a])) for a, b in zip(np.r_[0, edges], np.r_[edges, len(flags)])]


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
        self.silent_below = -np.inf  # log-mel level of digital silence (set from the feature settings' log floor)
        self.scene_changes = True  # False: no frame has risen or fallen (the denoiser never starts afresh on them)
        self._frame_rate(100.0)  # the 10 ms hop, until hold_on_silence says otherwise

    def hold_on_silence(self, log_floor: float, frames_per_s: float = 100.0) -> "Normaliser":
        """Leave the state as it is on frames of digital silence (see above), for features with this log floor
        and frame rate (which also sets how many frames make a scene change)."""
        self.silent_below = float(np.log(10.0 * log_floor))
        self._frame_rate(frames_per_s)
        return self

    def _frame_rate(self, frames_per_s: float) -> None:
        self.reset_silence = int(round(RESET_SILENCE_S * frames_per_s))
        self.change_frames = max(1, int(round(CHANGE_SECONDS * frames_per_s)))
        self.change_after = int(round(CHANGE_AFTER_S * frames_per_s))
        self.fall_window = max(1, int(round(FALL_WINDOW_S * frames_per_s)))

    def _silent(self, x: np.ndarray) -> np.ndarray:
        return np.all(x <= self.silent_below, axis=1) if len(x) else np.zeros(0, bool)

    @property
    def channels(self) -> int:
        return 2 if self.mode == "running+floor" else 1

    @property
    def n_features(self) -> int:
        """Inputs per frame the model gets."""
        return len(self.std)

    def start(self):
        """The state before the first frame: (running mean, frames seen, smoothed frame, floor, silent frames
        since the last frame with sound)."""
        n = self.n_mels
        return (np.zeros(n, np.float64), 0, np.zeros(n), np.zeros(n), 0)

    def prime(self, logmel: np.ndarray):
        """The state to start a file from, estimated on its first frames (see 'Priming')."""
        x = np.asarray(logmel, np.float64)
        if self.mode != "global":
            x = x[~self._silent(x)]
        if self.mode == "global" or len(x) == 0:
            return self.start()
        smooth, lowest = x[0].copy(), x[0].copy()
        if self.mode == "running+floor" and len(x) > 1:
            lowest = np.minimum(lowest, ema(x[1:], smooth, FLOOR_SMOOTH).min(axis=0))
        return (x.mean(axis=0), len(x), x[0].copy(), lowest, 0)

    def apply_primed(self, logmel: np.ndarray) -> np.ndarray:
        """Normalised frames of a whole utterance, primed on its start when the normaliser primes."""
        state = self.prime(logmel[: self.prime_frames]) if self.prime_frames else None
        return self.apply(logmel, state)[0]

    def apply(self, logmel: np.ndarray, state=None):
        """(normalised frames, new state) for frames (T, n_mels) that follow `state`."""
        x = np.asarray(logmel, np.float64)
        if self.mode == "global":
            return ((x - self.mean) / self.std).astype(np.float32), state
        state = state if state is not None else self.start()
        silent = self._silent(x)
        if not silent.any() and state[4] == 0:  # (the common case: no silence, none pending)
            means, floors, state = self._track(x, state)
        else:
            means, floors, state = self._track_around_silence(x, silent, state)
        feats = x - means
        if self.mode == "running+floor":
            feats = np.concatenate([feats, x - floors], axis=1)
        return (feats / self.std).astype(np.float32), state

    def _track_around_silence(self, x: np.ndarray, silent: np.ndarray, state):
        """_track over the frames with sound only, as `_plan` says; a silent frame is normalised against itself
        (zeros, as the trackers followed into silence used to give)."""
        means, floors = np.empty_like(x), np.empty_like(x)
        plan, quiet = self._plan(silent, state[4])
        for a, b, kind in plan:
            if kind == "silent":
                means[a:b] = floors[a:b] = x[a:b]
                continue
            if kind == "fresh":
                state = self.start()
            means[a:b], floors[a:b], state = self._track(x[a:b], state)
        return means, floors, (*state[:4], quiet)

    def _plan(self, silent: np.ndarray, quiet: int):
        """([(start, end, 'silent' | 'sound' | 'fresh')], silence count after them) for frames that follow
        `quiet` silent ones. After `reset_silence` frames of silence the sound starts from a fresh state, as a
        new file does, from its second frame: the first (taken as silent) holds only the few samples at the end
        of its window, where a file's first frame holds half a window."""
        plan = []
        for a, b, is_quiet in _runs(silent):
            if is_quiet:
                plan.append((a, b, "silent"))
                quiet = _longer(quiet, b - a)
                continue
            if quiet >= self.reset_silence:  # the onset frame
                plan.append((a, a + 1, "silent"))
                quiet, a = _RESTART, a + 1
            if a < b:
                plan.append((a, b, "fresh" if quiet == _RESTART else "sound"))
                quiet = 0
        return plan, quiet

    def restarts(self, logmel: np.ndarray, state) -> list[int]:
        """Frames of `logmel` (following `state`) where the normaliser starts afresh after a long silence
        (see `_plan`): the model's own state should start afresh at them too."""
        if self.mode == "global":
            return []
        plan, _ = self._plan(self._silent(np.asarray(logmel)), state[4] if state is not None else 0)
        return [a for a, _, kind in plan if kind == "fresh"]

    def risen(self, logmel: np.ndarray, feats: np.ndarray, state) -> np.ndarray:
        """Per frame of `logmel` (following `state`; `feats` = apply's output): has it risen far above the
        trackers as they stood before it (see 'Scene changes')? Never in a mode without the floor tracker, with
        `scene_changes` off, on digital silence, or on the first frame of a fresh state."""
        x = np.asarray(logmel, np.float64)
        if self.mode != "running+floor" or not self.scene_changes or not len(x):
            return np.zeros(len(x), bool)
        n = self.n_mels
        means, floors = x - feats[:, :n] * self.std[:n].astype(np.float64), self.floors(x, feats)
        silent = self._silent(x)
        idx = np.arange(len(x))
        before = np.r_[-1, np.maximum.accumulate(np.where(silent, -1, idx))[:-1]]  # last frame with sound before each
        had = before[:, None] >= 0
        mean = np.where(had, means[np.maximum(before, 0)], state[0])
        floor = np.where(had, floors[np.maximum(before, 0)], state[3])

        def above(ref, db):
            return np.mean(x - ref > db * np.log(10.0) / 10.0, axis=1) >= CHANGE_SHARE

        out = above(floor, RISE_FLOOR_DB) & above(mean, RISE_MEAN_DB) & ~silent
        if state[1] == 0:
            out[0] = False
        return out

    def floors(self, logmel: np.ndarray, feats: np.ndarray) -> np.ndarray:
        """The tracked floor of each frame, from apply's output."""
        n = self.n_mels
        return np.asarray(logmel, np.float64) - feats[:, n:] * self.std[n:].astype(np.float64)

    def fallen(self, logmel: np.ndarray, feats: np.ndarray, floors_before: np.ndarray) -> np.ndarray:
        """Per frame of `logmel` (`feats` = apply's output): has the floor of most bands dropped far below where it
        stood fall_window frames before (see 'Scene changes')? `floors_before`: the floors of the frames before
        these (any number; a frame with too few before it has not fallen). Never on digital silence."""
        x = np.asarray(logmel, np.float64)
        if self.mode != "running+floor" or not self.scene_changes or not len(x):
            return np.zeros(len(x), bool)
        floors = self.floors(x, feats)
        before = len(floors_before) + np.arange(len(x)) - self.fall_window
        ago = np.vstack([floors_before, floors])[np.maximum(before, 0)]
        out = np.mean(floors < ago - FALL_DB * np.log(10.0) / 10.0, axis=1) >= CHANGE_SHARE
        return out & (before >= 0) & ~self._silent(x)

    def _track(self, x: np.ndarray, state):
        """Per-frame running means and floors of frames (T, n_mels) that follow `state`, and the new state."""
        mu, seen, smooth, floor, _ = state
        means = np.empty_like(x)
        warm = max(0, min(len(x), int(round(1 / self.alpha)) - seen))  # frames still in the cumulative warm-up
        if warm:
            counts = seen + 1 + np.arange(warm)
            means[:warm] = (mu * seen + np.cumsum(x[:warm], axis=0)) / counts[:, None]
            mu = means[warm - 1]
        if warm < len(x):
            means[warm:] = ema(x[warm:], mu, self.alpha)
            mu = means[-1]
        floors = means
        if self.mode == "running+floor":
            rest = x
            if seen == 0 and len(x):  # the first frame starts both trackers
                smooth, floor, rest = x[0].copy(), x[0].copy(), x[1:]
            smooths = ema(rest, smooth, FLOOR_SMOOTH)
            floors = np.concatenate([x[:len(x) - len(rest)], floor_track(smooths, floor)])
            if len(rest):
                smooth, floor = smooths[-1], floors[-1]
        return means, floors, (mu, seen + len(x), smooth, floor, 0)

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
