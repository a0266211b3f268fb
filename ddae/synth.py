"""Deterministic sample data: eSpeak NG speech (several voices) mixed with generated noises.

Nothing is downloaded: eSpeak NG and its voices come from the `espeakng-loader` wheel.
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np

from .errors import DenoiserError

SENTENCES = [
    "The kettle whistled while my grandmother folded the laundry.",
    "A narrow bridge crosses the river just below the old mill.",
    "Please send the quarterly figures before the meeting on Thursday.",
    "Seven yellow kites drifted over the harbour in the afternoon wind.",
    "Our neighbour plants tomatoes and beans every spring.",
    "The train to the coast leaves from platform four at noon.",
    "He painted the fence a pale shade of green last summer.",
    "Fresh bread from the corner bakery sells out by eight.",
    "She measured the flour carefully and preheated the oven.",
    "Thunder rolled across the valley long after the lightning.",
    "The library keeps its rare maps in a cool dry room.",
    "Turn left at the pharmacy and walk past the fountain.",
    "My brother repaired the bicycle with a borrowed wrench.",
    "Students gathered in the hall to hear the visiting poet.",
    "The museum opens late on Fridays during the winter.",
    "A small boat rocked gently beside the wooden pier.",
    "Remember to water the ferns on the north window.",
    "The orchestra tuned their instruments before the concert began.",
    "Bright lanterns hung along the street for the festival.",
    "The engineer checked every bolt on the new tower.",
    "We watched the geese fly south over the marsh.",
    "Her recipe calls for lemons, honey and a pinch of salt.",
    "The clock in the square chimed exactly at midnight.",
    "Children built a sandcastle with towers and a moat.",
    "The farmer counted thirty sheep in the upper field.",
    "Rain tapped softly on the roof of the greenhouse.",
    "The pilot announced a smooth landing in ten minutes.",
    "Dust covered the piano in the empty ballroom.",
    "A friendly dog followed us all the way to the station.",
    "The soup needs another hour on a low flame.",
]

# (voice, pitch 0-99, words per minute): male and female variants of several eSpeak NG voices
VOICES = [  # variants without breath noise, whose output eSpeak NG randomises: these are repeatable
    ("en-us+m3", 40, 165), ("en-us+f4", 65, 160), ("en+m2", 35, 150), ("en+Annie", 60, 170),
    ("en-GB-x-rp+m4", 45, 155), ("en-GB-scotland+f4", 70, 165), ("en-us+m7", 30, 175), ("en-us+Andrea", 60, 150),
    ("en-US-nyc+m6", 50, 160), ("en-029+Annie", 55, 175),
]

NOISE_TYPES = ("white", "pink", "brown", "babble", "hum", "modulated")

_LOCK = threading.Lock()
_ENGINE = None


class _Espeak:
    """A minimal ctypes binding to libespeak-ng's synchronous synthesis."""

    def __init__(self):
        try:
            import espeakng_loader
        except ImportError:
            raise DenoiserError("espeakng-loader is not installed: pip install -r requirements.txt") from None
        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.sample_rate = self.lib.espeak_Initialize(2, 0, espeakng_loader.get_data_path().encode(), 0)
        if self.sample_rate <= 0:
            raise DenoiserError("eSpeak NG failed to initialise")
        self.chunks: list[np.ndarray] = []
        proto = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

        def callback(wav, n, _events):
            if n > 0:
                self.chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0

        self._cb = proto(callback)  # keep a reference: the library calls it later
        self.lib.espeak_SetSynthCallback(self._cb)
        self.lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                          ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]

    def say(self, text: str, voice: str, pitch: int, rate: int) -> np.ndarray:
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise DenoiserError(f"eSpeak NG has no voice {voice!r}")
        self.lib.espeak_SetParameter(1, int(rate), 0)
        self.lib.espeak_SetParameter(3, int(pitch), 0)
        self.chunks = []
        data = text.encode()
        self.lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, 0x1, None, None)
        if not self.chunks:
            raise DenoiserError(f"eSpeak NG produced no audio for {text!r}")
        return np.concatenate(self.chunks).astype(np.float32) / 32768.0


def speak(text: str, voice: str, pitch: int, rate: int, sample_rate: int) -> np.ndarray:
    """Synthesise `text` with eSpeak NG at `sample_rate` (float32, silence trimmed to 100 ms each side)."""
    global _ENGINE
    from .audio import resample

    with _LOCK:
        if _ENGINE is None:
            _ENGINE = _Espeak()
        x = _ENGINE.say(text, voice, pitch, rate)
        sr = _ENGINE.sample_rate
    loud = np.flatnonzero(np.abs(x) > 1e-3)
    if len(loud):
        margin = int(0.1 * sr)
        x = x[max(0, loud[0] - margin): loud[-1] + margin]
    return resample(x, sr, sample_rate)


def coloured_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with power spectrum 1/f**exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = f[1] if len(f) > 1 else 1.0
    x = np.fft.irfft(spec / f ** (exponent / 2), n)
    return (x / (np.sqrt(np.mean(x ** 2)) + 1e-12)).astype(np.float32)


def make_noise(kind: str, n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A unit-RMS noise of one of NOISE_TYPES."""
    if kind == "white":
        x = coloured_noise(n, 0.0, rng)
    elif kind == "pink":
        x = coloured_noise(n, 1.0, rng)
    elif kind == "brown":
        x = coloured_noise(n, 2.0, rng)
    elif kind == "hum":
        t = np.arange(n) / sample_rate
        mains = rng.choice([50.0, 60.0])
        x = sum(rng.uniform(0.3, 1.0) / k * np.sin(2 * np.pi * mains * k * t + rng.uniform(0, 2 * np.pi))
                for k in range(1, 8))
        x = x + 0.05 * coloured_noise(n, 0.0, rng)
    elif kind == "modulated":  # noise bursts with a random slow envelope, like traffic or machinery
        env_points = max(2, int(n / sample_rate * 4) + 2)
        env = np.interp(np.arange(n), np.linspace(0, n, env_points), rng.uniform(0.0, 1.0, env_points) ** 2)
        x = coloured_noise(n, rng.uniform(0.0, 1.5), rng) * env
    elif kind == "babble":
        x = np.zeros(n, np.float32)
        for _ in range(int(rng.integers(4, 7))):
            voice, pitch, rate = VOICES[int(rng.integers(len(VOICES)))]
            text = " ".join(rng.choice(SENTENCES, 2, replace=False))
            talker = speak(text, voice, int(pitch + rng.integers(-10, 11)), int(rate), sample_rate)
            talker = np.tile(talker, int(np.ceil(n / len(talker))) + 1)
            start = int(rng.integers(0, len(talker) - n + 1))
            x += talker[start:start + n] / (np.sqrt(np.mean(talker ** 2)) + 1e-12)
    else:
        raise DenoiserError(f"unknown noise type {kind!r}; choose from {', '.join(NOISE_TYPES)}")
    x = np.asarray(x, dtype=np.float32)
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-12)


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """clean + noise scaled so the clean-to-noise power ratio is `snr_db`."""
    p_clean = np.mean(clean.astype(np.float64) ** 2)
    p_noise = np.mean(noise.astype(np.float64) ** 2) + 1e-20
    return (clean + noise * np.sqrt(p_clean / p_noise / 10 ** (snr_db / 10))).astype(np.float32)


def noise_excerpt(noise: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n samples of `noise` (tiled if shorter) from a random start, avoiding digitally silent stretches."""
    noise = np.asarray(noise)
    tiled = len(noise) * (int(np.ceil(n / len(noise))) + 1)  # as if tiled, without copying a long file
    for _ in range(50):
        start = int(rng.integers(0, tiled - n + 1))
        start %= len(noise)
        x = noise[start:start + n] if start + n <= len(noise) else np.take(noise, np.arange(start, start + n), mode="wrap")
        if np.sqrt(np.mean(x.astype(np.float64) ** 2)) > 1e-4:
            break
    return x


def random_crop(x: np.ndarray, n_max: int, rng: np.random.Generator) -> np.ndarray:
    """At most n_max samples of x, from a random start (x itself if it is short enough)."""
    if len(x) <= n_max:
        return x
    start = int(rng.integers(0, len(x) - n_max + 1))
    return x[start:start + n_max]


def sample_pairs(n_utterances: int, sample_rate: int, seed: int, snr_range=(-5.0, 15.0)):
    """Yield (name, clean, noisy, info) for a deterministic synthetic data set."""
    rng = np.random.default_rng(seed)
    for i in range(n_utterances):
        voice, pitch, rate = VOICES[i % len(VOICES)]
        text = SENTENCES[(i * 7) % len(SENTENCES)]
        if rng.random() < 0.5:  # some longer utterances
            text = text + " " + SENTENCES[(i * 11 + 3) % len(SENTENCES)]
        clean = speak(text, voice, int(pitch + rng.integers(-8, 9)), int(rate + rng.integers(-15, 16)), sample_rate)
        clean = clean[: int(4.0 * sample_rate)]
        clean = clean * (10 ** (rng.uniform(-30, -18) / 20) / (np.sqrt(np.mean(clean ** 2)) + 1e-12))
        # a faint room tone 50 dB below the speech: real recordings are never digitally silent between words
        clean = clean + coloured_noise(len(clean), 1.0, rng) * np.sqrt(np.mean(clean ** 2)) * 10 ** (-50 / 20)
        kind = NOISE_TYPES[i % len(NOISE_TYPES)]
        snr = float(np.round(rng.uniform(*snr_range), 1))
        noisy = mix_at_snr(clean, make_noise(kind, len(clean), sample_rate, rng), snr)
        peak = np.max(np.abs(noisy))
        if peak > 0.99:
            clean, noisy = clean * 0.99 / peak, noisy * 0.99 / peak
        name = f"utt{i:03d}_{voice.replace('+', '-')}_{kind}_{snr:+.1f}dB.wav"
        yield name, clean.astype(np.float32), noisy.astype(np.float32), {"voice": voice, "noise": kind, "snr_db": snr}


def benchmark_signal(seconds: float, sr: int = 16000, seed: int = 0) -> np.ndarray:
    """A harmonic 'voice' switched on and off at 2.5 Hz in pink noise: the benchmarks' test signal."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    voice = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 20)) * (np.sin(2 * np.pi * 2.5 * t) > 0)
    return (0.05 * voice + 0.02 * make_noise("pink", len(t), sr, rng)).astype(np.float32)
