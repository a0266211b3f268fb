"""From a trained run to denoised audio: band gains applied to the noisy STFT, offline or streaming.

Every path (whole file, blocks of a long file, small real-time chunks) goes through `StreamingDenoiser`, and
every model is run through `Run.gains` with its state carried from call to call, so all paths give the same
output. For each STFT frame the model gives an amplitude gain per mel band, clipped to [floor, 1], spread
onto FFT bins through the normalised transposed mel filterbank and applied to the noisy STFT (noisy phase),
after a pitch filter on that STFT (ddae.pitch) in voiced frames; weighted overlap-add gives the output. With
all gains at 1 the output equals the input.
"""

from __future__ import annotations

import numpy as np

from .errors import DenoiserError
from .features import framing_for, frames_of
from .pitch import DEFAULT_PITCH_FILTER, check_strength, max_period, pitch_filter
from .runs import Run

DEFAULT_MAX_ATTENUATION_DB = 30.0  # measured on dev sets v1 and v2 against 20 and 40 dB (README)


class GainEstimator:
    """Band gains for a stream of noisy log-mel frames: normalisation state, model state and lookahead.

    `push(logmel)` returns the gains of as many frames as are ready (the model's lookahead holds back
    `run.delay` frames); `finish()` returns the rest, feeding the model zero frames for the lookahead.
    """

    def __init__(self, run: Run):
        self.run = run
        self._norm_state = run.norm.start()
        self._state = run.initial_state()
        self._skip = run.delay  # the first outputs belong to frames before the start
        self._priming = [] if run.norm.prime_frames else None  # frames held back until the normaliser is primed
        self._scene = 0  # frames of the current scene so far (since the start or the last fresh start)
        self._changed = 0  # risen or fallen frames on end (ddae.normalise, 'Scene changes')
        self._recent = np.zeros((0, run.settings.n_mels))  # the last frames, to start a new scene where it began
        self._floors = np.zeros((0, run.settings.n_mels))  # their tracked floors ('running+floor')
        self._frames = 0  # frames through the model so far
        self.scene_starts = []  # frames where a new scene was found to begin (a rise or a fall, not a silence)

    def push(self, logmel: np.ndarray) -> np.ndarray:
        logmel = np.asarray(logmel)
        if self._priming is not None:
            self._priming.append(logmel)
            if sum(len(p) for p in self._priming) < self.run.norm.prime_frames:
                return np.zeros((0, self.run.settings.n_mels))
            return self._release()
        restarts = self.run.norm.restarts(logmel, self._norm_state)
        if restarts:  # after a long digital silence: everything starts afresh, as on a new file (priming too)
            before = self.push(logmel[: restarts[0]])
            self._afresh()
            return np.concatenate([before, self.push(logmel[restarts[0]:])])
        x, state = self.run.norm.apply(logmel, self._norm_state)
        at = self._change_complete(logmel, x)
        if at is not None:  # a new scene, which began change_frames - 1 frames before `at`
            before = self.push(logmel[:at]) if at else np.zeros((0, self.run.settings.n_mels))
            back = self._recent[max(0, len(self._recent) - (self.run.norm.change_frames - 1)):]
            self._afresh()
            self._skip, self._frames = len(back), self._frames - len(back)  # their gains were given already
            self.scene_starts.append(self._frames)
            return np.concatenate([before, self.push(np.concatenate([back, logmel[at:]]))])
        self._norm_state = state
        self._scene, self._frames = self._scene + len(logmel), self._frames + len(logmel)
        self._recent = np.concatenate([self._recent, logmel])[-self.run.norm.change_frames:]
        if self.run.norm.mode == "running+floor":
            self._floors = np.concatenate([self._floors, self.run.norm.floors(logmel, x)])[-self.run.norm.fall_window:]
        return self._run(x)

    def _change_complete(self, logmel: np.ndarray, x: np.ndarray):
        """The first frame of `logmel` that completes change_frames risen or fallen frames on end, in a scene at
        least change_after frames old (None if none; the count of such frames on end is then carried over)."""
        norm = self.run.norm
        changed = norm.risen(logmel, x, self._norm_state) | norm.fallen(logmel, x, self._floors)
        changed &= self._scene + np.arange(len(logmel)) >= norm.change_after
        if not changed.any():
            self._changed = 0 if len(changed) else self._changed
            return None
        t = np.arange(len(changed))
        last_not = np.maximum.accumulate(np.where(changed, -1, t))
        on_end = np.where(last_not >= 0, t - last_not, t + 1 + self._changed)
        done = np.flatnonzero(on_end >= norm.change_frames)
        if len(done):
            return int(done[0])
        self._changed = int(on_end[-1])
        return None

    def _afresh(self) -> None:
        """Normaliser, model and priming start afresh, as on a new file."""
        self._state, self._norm_state = self.run.initial_state(), self.run.norm.start()
        self._scene = self._changed = 0
        self._recent = self._recent[:0]
        self._floors = self._floors[:0]
        if self.run.norm.prime_frames:
            self._priming = []

    def _release(self) -> np.ndarray:
        held = np.concatenate(self._priming) if self._priming else np.zeros((0, self.run.settings.n_mels))
        self._priming = None
        self._norm_state = self.run.norm.prime(held[: self.run.norm.prime_frames])
        return self.push(held)

    def finish(self) -> np.ndarray:
        first = self._release() if self._priming is not None else np.zeros((0, self.run.settings.n_mels))
        return np.concatenate([first, self._run(np.zeros((self.run.delay, self.run.norm.n_features), np.float32))])

    def _run(self, x: np.ndarray) -> np.ndarray:
        g, self._state = self.run.gains(x, self._state)
        drop = min(self._skip, len(g))
        self._skip -= drop
        return g[drop:].astype(np.float64)


class OracleEstimator:
    """Gains from the true clean log-mel (the ceiling of band-gain denoising): sqrt(clean / noisy power)."""

    def __init__(self, clean_logmel: np.ndarray):
        self.clean = clean_logmel
        self.done = 0

    def push(self, logmel: np.ndarray) -> np.ndarray:
        c = self.clean[self.done:self.done + len(logmel)]
        self.done += len(logmel)
        return np.clip(np.exp(0.5 * (c.astype(np.float64) - logmel)), 0.0, 1.0)

    def finish(self) -> np.ndarray:
        return np.zeros((0, self.clean.shape[1]))


class StreamingDenoiser:
    """Feed successive chunks of one channel to `process`, then call `flush` once; outputs concatenate to
    exactly as many samples as went in.

    Algorithmic latency: `latency_samples` (n_fft + lookahead frames * hop at the stream's rate): 32 ms for
    a causal model at 16 kHz with the default settings, plus whatever chunk size the caller uses.
    `estimator` replaces the model's gains (evaluation uses it for the oracle); `pitch_filter` is the strength
    of the pitch filter (ddae.pitch; 0 = band gains only).
    """

    def __init__(self, run: Run, sample_rate: int | None = None,
                 max_attenuation_db: float = DEFAULT_MAX_ATTENUATION_DB, mix: float = 1.0, estimator=None,
                 pitch_filter: float = DEFAULT_PITCH_FILTER):
        s = run.settings
        if not 0.0 <= mix <= 1.0:
            raise DenoiserError(f"mix must be between 0 (dry) and 1 (fully denoised), got {mix}")
        if max_attenuation_db < 0:
            raise DenoiserError(f"max_attenuation_db must be >= 0, got {max_attenuation_db}")
        self.pitch_strength = check_strength(pitch_filter)
        self.settings = s
        self.sample_rate = int(sample_rate or s.sample_rate)
        if not 4000 <= self.sample_rate <= 192000:
            raise DenoiserError(f"sample rate {self.sample_rate} Hz is outside the supported 4-192 kHz")
        self.f = framing_for(s, self.sample_rate)
        self.estimator = estimator if estimator is not None else GainEstimator(run)
        self.min_gain = 10.0 ** (-max_attenuation_db / 20.0)
        self.mix = float(mix)
        self.latency_samples = self.f.n_fft + s.context_future * self.f.hop
        self._buf = np.zeros(self.f.pad, np.float32)  # input not yet framed, in padded coordinates (float32 throughout)
        self._n_in = self._n_out = 0
        self._frames_made = 0  # frames computed so far
        self._frames_done = 0  # frames whose gains were applied
        self._pending = []  # spectra of frames made but not yet given gains
        self._num = np.zeros(self.f.n_fft)  # overlap-add accumulators starting at padded sample _ola_start
        self._den = np.zeros(self.f.n_fft)
        self._ola_start = 0
        # framed input kept for the pitch filter, which reads up to one pitch period before a frame: padded
        # positions from _past_start on (zeros before the signal), up to where _buf begins
        self._past_start = -max_period(self.sample_rate)
        self._past = np.zeros(-self._past_start, np.float32)
        self._flushed = False
        self.last_gains = None

    # -- public -----------------------------------------------------------------------------------
    def process(self, chunk: np.ndarray) -> np.ndarray:
        if self._flushed:
            raise DenoiserError("this stream was flushed; make a new StreamingDenoiser")
        chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
        if not np.all(np.isfinite(chunk)):
            raise DenoiserError("input contains NaN or infinite samples")
        self._n_in += len(chunk)
        self._buf = np.concatenate([self._buf, chunk])
        self._apply(self._make_frames())
        return self._emit(self._frames_done * self.f.hop, final=False)

    def flush(self) -> np.ndarray:
        if self._flushed:
            return np.zeros(0, np.float32)
        self._flushed = True
        total = self.f.n_frames(self._n_in)
        needed = (total - self._frames_made - 1) * self.f.hop + self.f.n_fft
        if needed > len(self._buf):
            self._buf = np.concatenate([self._buf, np.zeros(needed - len(self._buf), np.float32)])
        self._apply(self._make_frames(limit=total))
        self._apply(self.estimator.finish())
        return self._emit(self._ola_start + len(self._num), final=True)

    # -- internals --------------------------------------------------------------------------------
    def _make_frames(self, limit: int | None = None) -> np.ndarray:
        """Frame the buffered input; returns the gains the estimator has ready."""
        f = self.f
        frames = frames_of(self._buf, f.n_fft, f.hop)
        if limit is not None:
            frames = frames[: max(0, limit - self._frames_made)]
        if len(frames) == 0:
            return np.zeros((0, self.settings.n_mels))
        if self.pitch_strength:
            self._past = np.concatenate([self._past, self._buf[:len(frames) * f.hop]])
        self._buf = self._buf[len(frames) * f.hop:]
        spec = f.spectra(frames)
        self._frames_made += len(frames)
        self._pending.append(spec)
        return self.estimator.push(f.logmel(spec, self.settings.log_floor))

    def _apply(self, gains: np.ndarray) -> None:
        m = len(gains)
        if m == 0:
            return
        spec = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        if m > len(spec):
            raise DenoiserError("internal error: more gains than frames")
        self._pending = [spec[m:]]
        gains = np.clip(gains, self.min_gain, 1.0)
        self.last_gains = gains
        spec = spec[:m]
        wet = spec
        if self.pitch_strength:
            hop = self.f.hop
            first = self._frames_done * hop - self._past_start
            wet = pitch_filter(spec, gains, np.concatenate([self._past, self._buf]), first, self.f, self.sample_rate,
                               self.pitch_strength)
            drop = (self._frames_done + m) * hop - max_period(self.sample_rate) - self._past_start
            if drop > 0:
                self._past, self._past_start = self._past[drop:], self._past_start + drop
        bin_gains = gains.astype(np.float32) @ self.f.spread32_t
        out = wet * bin_gains
        if self.mix < 1.0:
            out = np.float32(self.mix) * out + np.float32(1.0 - self.mix) * spec
        y = np.fft.irfft(out, self.f.n_fft, axis=-1) * self.f.window32
        self._overlap_add(y)
        self._frames_done += m

    def _overlap_add(self, y: np.ndarray) -> None:
        f = self.f
        first = self._frames_done * f.hop - self._ola_start
        need = first + (len(y) - 1) * f.hop + f.n_fft
        if need > len(self._num):
            self._num = np.concatenate([self._num, np.zeros(need - len(self._num))])
            self._den = np.concatenate([self._den, np.zeros(need - len(self._den))])
        # frame k lands at first + k * hop: add the frames' hop-long pieces j = 0, 1, ... as whole rows
        w2, n, hop = f.window ** 2, len(y), f.hop
        for j in range(0, f.n_fft, hop):
            width = min(hop, f.n_fft - j)
            at = first + j
            rows = self._num[at:at + n * hop].reshape(n, hop) if width == hop else None
            if rows is not None:
                rows += y[:, j:j + hop]
                self._den[at:at + n * hop].reshape(n, hop)[:] += w2[j:j + hop]
            else:  # the last, shorter piece
                idx = at + np.arange(n)[:, None] * hop + np.arange(width)[None, :]
                self._num[idx] += y[:, j:j + width]
                self._den[idx] += w2[j:j + width]

    def _emit(self, ready_until: int, final: bool) -> np.ndarray:
        """Return final samples before padded position `ready_until`, minus the leading padding."""
        n = max(0, ready_until - self._ola_start)
        num, den = self._num[:n], self._den[:n]
        out = np.where(den > 1e-10, num / np.maximum(den, 1e-10), 0.0)
        self._num, self._den = self._num[n:], self._den[n:]
        start = self._ola_start
        self._ola_start += n
        out = out[max(0, self.f.pad - start):]  # padded samples before the signal
        out = out[: self._n_in - self._n_out]
        self._n_out += len(out)
        if final and self._n_out < self._n_in:  # cannot happen with consistent framing; keep lengths exact
            out = np.concatenate([out, np.zeros(self._n_in - self._n_out)])
            self._n_out = self._n_in
        return out.astype(np.float32)


def denoise_array(run: Run, x: np.ndarray, sample_rate: int | None = None, block_seconds: float = 30.0,
                  max_attenuation_db: float = DEFAULT_MAX_ATTENUATION_DB, mix: float = 1.0,
                  estimator=None, pitch_filter: float = DEFAULT_PITCH_FILTER) -> np.ndarray:
    """Denoise a (n,) or (n, channels) array channel by channel, in blocks; same shape out.

    `estimator` (one channel only) replaces the model's gains, as the oracle does."""
    x = np.asarray(x)
    if x.ndim not in (1, 2):
        raise DenoiserError(f"expected a 1-D or (samples, channels) array, got shape {x.shape}")
    chans = x[:, None] if x.ndim == 1 else x
    if estimator is not None and chans.shape[1] != 1:
        raise DenoiserError("a custom gain estimator works on one channel")
    out = np.zeros(chans.shape, np.float32)
    sr = sample_rate or run.settings.sample_rate
    block = max(1, int(block_seconds * sr))
    for c in range(chans.shape[1]):
        stream = StreamingDenoiser(run, sr, max_attenuation_db, mix, estimator, pitch_filter)
        pieces = [stream.process(chans[i:i + block, c]) for i in range(0, len(chans), block)]
        pieces.append(stream.flush())
        out[:, c] = np.concatenate(pieces)
    return out[:, 0] if x.ndim == 1 else out


def predict_gains(run: Run, noisy_logmel: np.ndarray) -> np.ndarray:
    """The model's band gains (frames x bands) for a whole utterance's noisy log-mel."""
    s = run.settings
    if noisy_logmel.ndim != 2 or noisy_logmel.shape[1] != s.n_mels:
        raise DenoiserError(f"expected (frames, {s.n_mels}) features, got shape {noisy_logmel.shape}")
    est = GainEstimator(run)
    g = np.concatenate([est.push(noisy_logmel), est.finish()])
    return g[: len(noisy_logmel)]


def predict_logmel(run: Run, noisy_logmel: np.ndarray,
                   max_attenuation_db: float = DEFAULT_MAX_ATTENUATION_DB) -> np.ndarray:
    """The model's clean log-mel estimate: the noisy log-mel with its band gains applied, floored at
    -max_attenuation_db as denoise.py floors them."""
    g = np.clip(predict_gains(run, noisy_logmel), 10.0 ** (-max_attenuation_db / 20.0), 1.0)
    return (noisy_logmel + 2.0 * np.log(g)).astype(np.float32)
