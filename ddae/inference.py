"""From a trained run to denoised audio: band gains applied to the noisy STFT, offline or streaming.

Every path (whole file, overlapping blocks of a long file, small real-time chunks) goes through
`StreamingDenoiser`, so they give the same output. For each STFT frame the model predicts the clean
log-mel from the noisy log-mel and its context (or the band mask directly); exp((clean - noisy) / 2),
clipped to [floor, 1], is the amplitude gain per mel band, spread onto FFT bins through the normalised
transposed mel filterbank and applied to the noisy STFT (noisy phase); weighted overlap-add gives the output. With all gains at 1 the
output equals the input.
"""

from __future__ import annotations

import numpy as np

from .errors import DenoiserError
from .features import context_windows, framing_for, frames_of
from .models import Run

DEFAULT_MAX_ATTENUATION_DB = 20.0


def predict_logmel(run: Run, noisy_logmel: np.ndarray) -> np.ndarray:
    """The model's clean log-mel estimate (frames x bands) for a whole utterance's noisy log-mel."""
    s = run.settings
    if noisy_logmel.ndim != 2 or noisy_logmel.shape[1] != s.n_mels:
        raise DenoiserError(f"expected (frames, {s.n_mels}) features, got shape {noisy_logmel.shape}")
    if len(noisy_logmel) == 0:
        return noisy_logmel.copy()
    windows = context_windows(run.stats.norm_noisy(noisy_logmel), s.context_past, s.context_future)
    return run.clean_logmel(windows, noisy_logmel)


class StreamingDenoiser:
    """Feed successive chunks of one channel to `process`, then call `flush` once; outputs concatenate to
    exactly as many samples as went in.

    Algorithmic latency: `latency_samples` (n_fft + context_future * hop at the stream's rate): 32 ms for
    a causal model at 16 kHz with the default settings, plus whatever chunk size the caller uses.
    Gains can come from the model (default) or from a callable `gain_fn(noisy_logmel) -> band gains`,
    which evaluation uses for the oracle.
    """

    def __init__(self, run: Run, sample_rate: int | None = None,
                 max_attenuation_db: float = DEFAULT_MAX_ATTENUATION_DB, mix: float = 1.0):
        s = run.settings
        if not 0.0 <= mix <= 1.0:
            raise DenoiserError(f"mix must be between 0 (dry) and 1 (fully denoised), got {mix}")
        if max_attenuation_db < 0:
            raise DenoiserError(f"max_attenuation_db must be >= 0, got {max_attenuation_db}")
        self.run, self.settings = run, s
        self.sample_rate = int(sample_rate or s.sample_rate)
        if not 4000 <= self.sample_rate <= 192000:
            raise DenoiserError(f"sample rate {self.sample_rate} Hz is outside the supported 4-192 kHz")
        self.f = framing_for(s, self.sample_rate)
        self.min_gain = 10.0 ** (-max_attenuation_db / 20.0)
        self.mix = float(mix)
        self.latency_samples = self.f.n_fft + s.context_future * self.f.hop
        n_fft, n_bins = self.f.n_fft, self.f.n_fft // 2 + 1
        self._buf = np.zeros(self.f.pad)  # input not yet framed, in padded coordinates
        self._n_in = 0
        self._n_out = 0
        self._frames_made = 0  # frames computed so far
        self._frames_done = 0  # frames whose gains were applied
        self._hist = np.zeros((0, s.n_mels), np.float32)  # normalised features from frame _frames_done - past on
        self._pend_spec = np.zeros((0, n_bins), np.complex128)
        self._pend_logmel = np.zeros((0, s.n_mels), np.float32)
        self._num = np.zeros(n_fft)  # overlap-add accumulators starting at padded sample _ola_start
        self._den = np.zeros(n_fft)
        self._ola_start = 0
        self._flushed = False
        self.last_gains = None

    # -- public -----------------------------------------------------------------------------------
    def process(self, chunk: np.ndarray) -> np.ndarray:
        if self._flushed:
            raise DenoiserError("this stream was flushed; make a new StreamingDenoiser")
        chunk = np.asarray(chunk, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(chunk)):
            raise DenoiserError("input contains NaN or infinite samples")
        self._n_in += len(chunk)
        self._buf = np.concatenate([self._buf, chunk])
        self._make_frames()
        return self._apply(self._frames_made - self.settings.context_future, final=False)

    def flush(self) -> np.ndarray:
        if self._flushed:
            return np.zeros(0)
        self._flushed = True
        total = self.f.n_frames(self._n_in)
        needed = (total - self._frames_made - 1) * self.f.hop + self.f.n_fft
        if needed > len(self._buf):
            self._buf = np.concatenate([self._buf, np.zeros(needed - len(self._buf))])
        self._make_frames(limit=total)
        if len(self._hist):
            self._hist = np.concatenate([self._hist, np.repeat(self._hist[-1:], self.settings.context_future, 0)])
        return self._apply(total, final=True)

    # -- internals --------------------------------------------------------------------------------
    def _make_frames(self, limit: int | None = None) -> None:
        f, s = self.f, self.settings
        frames = frames_of(self._buf, f.n_fft, f.hop)
        if limit is not None:
            frames = frames[: max(0, limit - self._frames_made)]
        if len(frames) == 0:
            return
        self._buf = self._buf[len(frames) * f.hop:]
        spec = f.spectra(frames)
        logmel = f.logmel(spec, s.log_floor)
        feats = self.run.stats.norm_noisy(logmel).astype(np.float32)
        if self._frames_made == 0:
            feats = np.concatenate([np.repeat(feats[:1], s.context_past, 0), feats])
        self._frames_made += len(frames)
        self._hist = np.concatenate([self._hist, feats])
        self._pend_spec = np.concatenate([self._pend_spec, spec])
        self._pend_logmel = np.concatenate([self._pend_logmel, logmel])

    def _gains(self, logmel: np.ndarray, windows: np.ndarray) -> np.ndarray:
        return self.run.band_gains(windows, logmel, self.min_gain)

    def _apply(self, upto: int, final: bool) -> np.ndarray:
        s, f = self.settings, self.f
        m = min(upto, self._frames_made) - self._frames_done
        if m > 0:
            ctx = s.context
            win = np.lib.stride_tricks.sliding_window_view(self._hist[: m + ctx - 1], ctx, axis=0).transpose(0, 2, 1)
            gains = self._gains(self._pend_logmel[:m], np.ascontiguousarray(win))
            self.last_gains = gains
            bin_gains = gains @ f.spread.T
            if self.mix < 1.0:
                bin_gains = self.mix * bin_gains + (1.0 - self.mix)
            y = np.fft.irfft(self._pend_spec[:m] * bin_gains, f.n_fft, axis=-1) * f.window
            self._overlap_add(y)
            self._frames_done += m
            self._hist = self._hist[m:]
            self._pend_spec, self._pend_logmel = self._pend_spec[m:], self._pend_logmel[m:]
        ready = (self._frames_done * f.hop) if not final else self._ola_start + len(self._num)
        return self._emit(ready, final)

    def _overlap_add(self, y: np.ndarray) -> None:
        f = self.f
        first = self._frames_done * f.hop - self._ola_start
        need = first + (len(y) - 1) * f.hop + f.n_fft
        if need > len(self._num):
            self._num = np.concatenate([self._num, np.zeros(need - len(self._num))])
            self._den = np.concatenate([self._den, np.zeros(need - len(self._den))])
        w2 = f.window ** 2
        for k in range(len(y)):
            at = first + k * f.hop
            self._num[at:at + f.n_fft] += y[k]
            self._den[at:at + f.n_fft] += w2

    def _emit(self, ready_until: int, final: bool) -> np.ndarray:
        """Return final samples before padded position `ready_until`, minus the leading padding."""
        n = max(0, ready_until - self._ola_start)
        num, den = self._num[:n], self._den[:n]
        out = np.where(den > 1e-10, num / np.maximum(den, 1e-10), 0.0)
        self._num, self._den = self._num[n:], self._den[n:]
        start = self._ola_start
        self._ola_start += n
        drop = max(0, self.f.pad - start)  # padded samples before the signal
        out = out[drop:]
        remaining = self._n_in - self._n_out
        out = out[:remaining]
        self._n_out += len(out)
        if final and self._n_out < self._n_in:  # cannot happen with consistent framing; keep lengths exact
            out = np.concatenate([out, np.zeros(self._n_in - self._n_out)])
            self._n_out = self._n_in
        return out.astype(np.float32)


class _GainStream(StreamingDenoiser):
    """A StreamingDenoiser whose gains come from a function of (frame index, noisy log-mel)."""

    def __init__(self, run, gain_fn, sample_rate=None, max_attenuation_db=DEFAULT_MAX_ATTENUATION_DB, mix=1.0):
        super().__init__(run, sample_rate, max_attenuation_db, mix)
        self._gain_fn = gain_fn

    def _gains(self, logmel, windows):
        start = self._frames_done
        return np.clip(self._gain_fn(start, logmel), self.min_gain, 1.0)


def denoise_array(run: Run, x: np.ndarray, sample_rate: int | None = None, block_seconds: float = 30.0,
                  max_attenuation_db: float = DEFAULT_MAX_ATTENUATION_DB, mix: float = 1.0,
                  gain_fn=None) -> np.ndarray:
    """Denoise a (n,) or (n, channels) array channel by channel, in blocks; same shape out."""
    x = np.asarray(x)
    if x.ndim not in (1, 2):
        raise DenoiserError(f"expected a 1-D or (samples, channels) array, got shape {x.shape}")
    chans = x[:, None] if x.ndim == 1 else x
    out = np.zeros(chans.shape, np.float32)
    sr = sample_rate or run.settings.sample_rate
    block = max(1, int(block_seconds * sr))
    for c in range(chans.shape[1]):
        if gain_fn is None:
            stream = StreamingDenoiser(run, sr, max_attenuation_db, mix)
        else:
            stream = _GainStream(run, gain_fn, sr, max_attenuation_db, mix)
        pieces = [stream.process(chans[i:i + block, c]) for i in range(0, len(chans), block)]
        pieces.append(stream.flush())
        out[:, c] = np.concatenate(pieces) if pieces else np.zeros(0)
    return out[:, 0] if x.ndim == 1 else out
