"""The free denoisers people would pick instead, run for comparison in evaluate.py (`requirements-peers.txt`).

- RNNoise (`pyrnnoise`, its C library): 48 kHz, 10 ms frames; input resampled to 48 kHz and back.
- WebRTC noise suppression (`webrtc-noise-gain`): 16 kHz, 10 ms frames, suppression level WEBRTC_LEVEL (1-4),
  automatic gain off; other rates resampled.
- log-MMSE (`logmmse`, Ephraim & Malah 1985), at the file's rate; it takes its noise estimate from the first
  6 frames.
- noisereduce (spectral gating, non-stationary mode, its defaults), at the file's rate.
Each output is aligned with the input (the peers' algorithmic delays are removed) and has its length, so
that SI-SDR compares like with like.
"""

from __future__ import annotations

import ctypes

import numpy as np

from .audio import resample
from .errors import DenoiserError

RNNOISE_DELAY_48K = 960  # samples: measured on speech by cross-correlation (tests/test_peers.py checks it)
WEBRTC_DELAY_16K = 96
WEBRTC_LEVEL = 2
PEERS = ("rnnoise", "webrtc", "logmmse", "noisereduce")
_INSTALL = "pip install -r requirements-peers.txt"


def _fit(y: np.ndarray, n: int, delay: int = 0) -> np.ndarray:
    y = np.asarray(y, np.float64)[delay:]
    return np.pad(y, (0, max(0, n - len(y))))[:n].astype(np.float32)


def rnnoise_denoise(x: np.ndarray, sample_rate: int) -> np.ndarray:
    try:
        from pyrnnoise.rnnoise import FRAME_SIZE, create, destroy, lib
    except ImportError:
        raise DenoiserError(f"RNNoise is not installed: {_INSTALL}") from None
    y = resample(np.asarray(x, np.float32), sample_rate, 48000).astype(np.float64)
    padded = np.pad(y, (0, RNNOISE_DELAY_48K + FRAME_SIZE))
    out = np.zeros(len(padded) // FRAME_SIZE * FRAME_SIZE, np.float32)
    state = create()
    try:
        for i in range(0, len(out), FRAME_SIZE):
            frame = np.ascontiguousarray(padded[i:i + FRAME_SIZE] * 32768.0, np.float32)
            ptr = frame.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            lib.rnnoise_process_frame(state, ptr, ptr)
            out[i:i + FRAME_SIZE] = frame / 32768.0
    finally:
        destroy(state)
    return _fit(resample(_fit(out, len(y), RNNOISE_DELAY_48K), 48000, sample_rate), len(x))


def webrtc_denoise(x: np.ndarray, sample_rate: int, level: int = WEBRTC_LEVEL) -> np.ndarray:
    try:
        from webrtc_noise_gain import AudioProcessor
    except ImportError:
        raise DenoiserError(f"WebRTC noise suppression is not installed: {_INSTALL}") from None
    y = resample(np.asarray(x, np.float32), sample_rate, 16000)
    q = np.round(np.clip(np.pad(y, (0, WEBRTC_DELAY_16K + 160)), -1, 1) * 32767).astype(np.int16)
    proc = AudioProcessor(0, level)
    n = len(q) // 160 * 160
    out = np.concatenate([np.frombuffer(proc.Process10ms(q[i:i + 160].tobytes()).audio, np.int16)
                          for i in range(0, n, 160)]) / 32767.0
    return _fit(resample(_fit(out, len(y), WEBRTC_DELAY_16K), 16000, sample_rate), len(x))


def logmmse_denoise(x: np.ndarray, sample_rate: int) -> np.ndarray:
    saved = np.geterr()
    try:
        from logmmse.logmmse import logmmse  # the package sets np.seterr('raise') when imported
    except ImportError:
        raise DenoiserError(f"logmmse is not installed: {_INSTALL}") from None
    finally:
        np.seterr(**saved)
    with np.errstate(all="ignore"):
        y, _ = logmmse(np.asarray(x, np.float64) + np.finfo(np.float64).eps, sample_rate)
    return _fit(np.nan_to_num(y), len(x))


def noisereduce_denoise(x: np.ndarray, sample_rate: int) -> np.ndarray:
    import noisereduce

    y = noisereduce.reduce_noise(y=np.asarray(x, np.float32), sr=sample_rate, stationary=False)
    return _fit(y, len(x))


DENOISERS = {"rnnoise": rnnoise_denoise, "webrtc": webrtc_denoise, "logmmse": logmmse_denoise,
             "noisereduce": noisereduce_denoise}
LABELS = {"rnnoise": "RNNoise (pyrnnoise)", "webrtc": f"WebRTC NS (level {WEBRTC_LEVEL})",
          "logmmse": "log-MMSE (logmmse)", "noisereduce": "noisereduce"}


def available(names) -> tuple[list[str], list[str]]:
    """(installed peers, missing peers) among `names`."""
    import importlib.util

    modules = {"rnnoise": "pyrnnoise", "webrtc": "webrtc_noise_gain", "logmmse": "logmmse", "noisereduce": "noisereduce"}
    unknown = [n for n in names if n not in DENOISERS]
    if unknown:
        raise DenoiserError(f"unknown peer(s) {', '.join(unknown)}; choose from {', '.join(PEERS)}")
    have = [n for n in names if importlib.util.find_spec(modules[n]) is not None]
    return have, [n for n in names if n not in have]
