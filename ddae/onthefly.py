"""Training batches mixed on the fly from speech and noise, with seeded augmentation.

Each batch draws segments of 2-4 s (one length per batch) and mixes each one ('full' augmentation; 'basic'
keeps only the noise types, SNR -5..20 dB and levels -40..-15 dBFS):
- speech from a speaker drawn uniformly; level -50..-5 dBFS (RMS of the target);
- noise-free with probability 0.08, else SNR uniform in -5..30 dB against: a recorded noise (source drawn
  uniformly), babble of 3-6 other training speakers, or a generated stationary noise (white, pink, brown,
  low rumble); a faint white floor on some;
- ('tones' augmentation) tonal noise instead of a recorded one on some: bird-like chirps, beeps, whines
  ('whistles': 1-7 kHz whistles in place of the whines, whose low tone with overtones looks like a voice);
- a random second-order EQ (tilt, bump or dip), drawn separately for speech and for noise;
- ('speed' augmentation) the speech, and a recorded noise, played 0.85-1.15 times as fast on half of the
  mixtures each (tempo and pitch together: new voices and new noises from the same recordings);
- ('noises' augmentation) a second noise on some of the noisy mixtures, drawn as the first one is (recorded,
  babble or generated, its own EQ) and 12 dB below to 3 dB above it: real scenes hold several sources at once;
- ('switches' augmentation) on some noisy mixtures the noise changes partway through: another noise before
  the change, 6 dB below to 6 dB above it (a long recording whose noise changes: a street, then a cafe);
- a room on some: a measured or synthetic impulse response; the target keeps the direct path and the
  first 50 ms, the input gets the whole response ('rooms' augmentation: more rooms, and longer ones);
- a telephone channel on some (300-3400 Hz band-pass through 8 kHz; features then hold nothing above
  4 kHz, exactly as an 8 kHz file gives), hard clipping on a few, 16-bit quantisation on half.
Batch b of epoch e comes from the seed (seed, e, b): the same run gives the same batches, resumed or not.
Memory is the material plus one batch, whatever the hours of audio seen.
"""

from __future__ import annotations

import numpy as np

from . import augment
from .errors import DenoiserError
from .features import framing_for
from .losses import pack_targets
from .material import Material
from .mixtures import generated_noise
from .normalise import Normaliser
from .settings import FeatureSettings
from .synth import noise_excerpt

FULL = dict(clean=0.08, babble=0.12, generated=0.18, floor=0.3, eq_speech=0.5, eq_noise=0.5, reverb=0.2,
            telephone=0.15, clip=0.04, quantise=0.5, level_dbfs=(-50.0, -5.0), snr_db=(-5.0, 30.0),
            rt60_s=(0.15, 1.0), drr_db=(0.0, 12.0), rir_bands=False, rir_seconds=1.0)
# 'basic': the noise types and SNRs only, at moderate levels: no EQ, rooms, telephone band, clipping or
# quantisation (what the first pretrained models' recipe mostly was), to measure what augmentation buys
BASIC = {**FULL, "eq_speech": 0.0, "eq_noise": 0.0, "reverb": 0.0, "telephone": 0.0, "clip": 0.0, "quantise": 0.0,
         "level_dbfs": (-40.0, -15.0), "snr_db": (-5.0, 20.0)}
# 'rooms': 'full' with more rooms and a wider range of them (30 % of mixtures; synthetic ones with RT60 0.2-2.5 s,
# as long as the measured halls and churches, a direct-to-reverberant ratio of -3..12 dB, and a tail that decays
# faster at high frequencies, as real rooms do)
ROOMS = {**FULL, "reverb": 0.3, "rt60_s": (0.2, 2.5), "drr_db": (-3.0, 12.0), "rir_bands": True, "rir_seconds": 3.0}
# 'speed': 'rooms' plus speed perturbation of the speech and of recorded noises (half of the mixtures each;
# factors in augment.SPEEDS), against the few hours of speech and noise overfitting
SPEED = {**ROOMS, "speed_speech": 0.5, "speed_noise": 0.5}
# 'noises': 'rooms' plus a second noise on 40 % of the noisy mixtures (two sources at once, as in a street cafe),
# 12 dB below to 3 dB above the first; the SNR is against their sum. More noise scenes from 1.1 h of noise
NOISES = {**ROOMS, "second_noise": 0.4, "second_noise_db": (-12.0, 3.0)}
# 'tones': 'rooms' with 12 % of the noises tonal (augment.tonal_noise: bird-like chirps, beeps, whines), taken
# from the share of recorded noises: a held-out whistling bird was left almost untouched by models without them
TONES = {**ROOMS, "tonal": 0.12}
# 'whistles': 'tones' with 1-7 kHz whistles in place of the whines (a low tone with overtones and vibrato, which is
# what a voice looks like); measured: it did not remove the cost on synthetic eSpeak speech (README, H38 and H39)
WHISTLES = {**TONES, "tonal_styles": augment.WHISTLE_STYLES}
# 'pauses': 'whistles' with the start of some segments (the first 0.3-2 s, at most half) as after a pause in a
# long recording: noise without speech on 20 %, and on another 20 % everything 20-60 dB quieter (digital
# silence on a third of those) before the mixture comes in at full level. Long stretches of either leave the
# running normaliser where segments that start with speech never put it (benchmarks/bench_longform.py)
PAUSES = {**WHISTLES, "speech_gap": 0.2, "leadin": 0.2, "leadin_seconds": (0.3, 2.0), "leadin_db": (20.0, 60.0)}
# 'switches': 'whistles' with the noise changing partway through 30 % of the noisy segments (at 25-75 % of the
# segment, a 20 ms crossfade): before it another noise, drawn as the first one is, 6 dB below to 6 dB above it, as
# when one walks from a street into a cafe. A long recording's state holds the old noise for seconds after such a
# change, and the level tests of 'Scene changes' (ddae.normalise) do not see one at an equal level
SWITCHES = {**WHISTLES, "switch": 0.3, "switch_db": (-6.0, 6.0), "switch_at": (0.25, 0.75)}
AUGMENTATIONS = {"full": FULL, "basic": BASIC, "rooms": ROOMS, "speed": SPEED, "noises": NOISES, "tones": TONES,
                 "whistles": WHISTLES, "pauses": PAUSES, "switches": SWITCHES}
SEGMENT_SECONDS = (2.0, 4.0)


def mix_example(m: Material, n: int, rng: np.random.Generator, p: dict = FULL) -> dict:
    """One augmented (clean target, noisy input) pair of n samples at the material's rate; `p` holds the
    probabilities and ranges (FULL or BASIC)."""
    sr = m.sr
    spk, utt = m.utterance(rng)
    if p.get("speed_speech") and rng.random() < p["speed_speech"]:  # (no draw without it: older recipes unchanged)
        utt = augment.speed(utt, augment.SPEEDS[int(rng.integers(len(augment.SPEEDS)))])
    speech = np.zeros(n)
    if len(utt) >= n:
        start = int(rng.integers(0, len(utt) - n + 1))
        speech[:] = utt[start:start + n]
    else:  # a short utterance lands somewhere in the segment, with silence around it
        at = int(rng.integers(0, n - len(utt) + 1))
        speech[at:at + len(utt)] = utt
    if p.get("speech_gap") and rng.random() < p["speech_gap"]:  # (no draw without it: older recipes unchanged)
        speech[:_start_length(n, sr, rng, p)] = 0.0
    if rng.random() < p["eq_speech"]:
        speech = augment.random_eq(speech, rng)
    target, wet, room = speech, speech, False
    if rng.random() < p["reverb"]:
        use_real = m.rirs and rng.random() < 0.4
        rir = m.rirs[int(rng.integers(len(m.rirs)))] if use_real else augment.synthetic_rir(
            sr, rng, p["rt60_s"], p["drr_db"], p["rir_bands"], p["rir_seconds"])
        target, wet = augment.reverberate(speech, rir, sr)
        room = True
    info = {"speaker": spk, "noise": "none", "telephone": False, "room": room}
    noisy = wet.copy()
    if rng.random() >= p["clean"] and augment.rms(wet) > 0:
        noise, info["noise"] = _noise_with_eq(m, n, spk, rng, p)
        if p.get("second_noise") and rng.random() < p["second_noise"]:  # (no draw without it: older recipes unchanged)
            other, kind = _noise_with_eq(m, n, spk, rng, p)
            rel = 10 ** (rng.uniform(*p["second_noise_db"]) / 20) * augment.rms(noise) / (augment.rms(other) + 1e-12)
            noise = noise + other * rel
            info["noise"] = f"{info['noise']}+{kind}"
        if p.get("switch") and rng.random() < p["switch"]:  # (no draw without it: older recipes unchanged)
            noise, before = _switched(m, noise, spk, rng, p)
            info["noise"] = f"{before}>{info['noise']}"
            info["switch"] = True
        snr = rng.uniform(*p["snr_db"])
        noisy = wet + noise * augment.rms(wet) / (augment.rms(noise) + 1e-12) * 10 ** (-snr / 20)
    if rng.random() < p["floor"]:
        noisy = noisy + rng.standard_normal(n) * augment.rms(wet) * 10 ** (-rng.uniform(30, 60) / 20)
    gain = 10 ** (rng.uniform(*p["level_dbfs"]) / 20) / (augment.rms(target) + 1e-12)
    target, noisy = target * gain, noisy * gain
    if rng.random() < p["telephone"]:
        target, noisy = augment.telephone(target, sr), augment.telephone(noisy, sr)
        info["telephone"] = True
    peak = max(np.max(np.abs(noisy)), 1e-12)
    if peak > 0.99:
        target, noisy = target * 0.99 / peak, noisy * 0.99 / peak
    if rng.random() < p["clip"]:
        noisy = augment.clip(noisy, rng)
    if p.get("leadin") and rng.random() < p["leadin"]:  # (no draw without it: older recipes unchanged)
        target, noisy = _quiet_start(target, noisy, sr, rng, p)
        info["leadin"] = True
    if rng.random() < p["quantise"]:
        noisy = augment.quantise16(noisy)
    return {"clean": target, "noisy": noisy, **info}


def _switched(m: Material, noise: np.ndarray, speaker: str, rng: np.random.Generator, p: dict):
    """(noise with another one in its place up to a random point, the other's kind): see 'switches'."""
    n = len(noise)
    other, kind = _noise_with_eq(m, n, speaker, rng, p)
    at = int(rng.uniform(*p["switch_at"]) * n)
    fade = max(1, min(at, int(0.02 * m.sr)))
    rel = 10 ** (rng.uniform(*p["switch_db"]) / 20) * augment.rms(noise[at:]) / (augment.rms(other[:at]) + 1e-12)
    w = np.clip((np.arange(n) - (at - fade)) / fade, 0.0, 1.0)  # 0 before the crossfade, 1 from `at` on
    return other * rel * (1.0 - w) + noise * w, kind


def _start_length(n: int, sr: int, rng: np.random.Generator, p: dict) -> int:
    return min(int(rng.uniform(*p["leadin_seconds"]) * sr), n // 2)


def _quiet_start(target: np.ndarray, noisy: np.ndarray, sr: int, rng: np.random.Generator, p: dict):
    """The first 0.3-2 s (at most half the segment) 20-60 dB quieter, or digital silence on a third of them."""
    k = _start_length(len(noisy), sr, rng, p)
    scale = 0.0 if rng.random() < 1 / 3 else 10 ** (-rng.uniform(*p["leadin_db"]) / 20)
    target, noisy = target.copy(), noisy.copy()
    target[:k] *= scale
    noisy[:k] *= scale
    return target, noisy


def _noise_with_eq(m: Material, n: int, speaker: str, rng: np.random.Generator, p: dict) -> tuple[np.ndarray, str]:
    """A noise drawn by `_noise`, through a random EQ on a share p['eq_noise'] of them."""
    x, kind = _noise(m, n, speaker, rng, p)
    return (augment.random_eq(x, rng) if rng.random() < p["eq_noise"] else x), kind


def _noise(m: Material, n: int, speaker: str, rng: np.random.Generator, p: dict) -> tuple[np.ndarray, str]:
    u = rng.random()
    if u < p["babble"]:
        x = np.zeros(n)
        for _ in range(int(rng.integers(3, 7))):
            _, t = m.utterance(rng, exclude=speaker)
            x += noise_excerpt(t, n, rng) / (augment.rms(t) + 1e-12)
        return x, "babble"
    if p.get("tonal") and u >= 1.0 - p["tonal"]:  # (the top of the same draw: older recipes unchanged)
        return augment.tonal_noise(n, m.sr, rng, styles=p.get("tonal_styles", augment.TONAL_STYLES)), "tonal"
    if u < p["babble"] + p["generated"]:
        kind = ("white", "pink", "brown", "rumble")[int(rng.integers(4))]
        return generated_noise(kind, n, m.sr, rng).astype(np.float64), kind
    source, x = m.noise_file(rng)
    if p.get("speed_noise") and rng.random() < p["speed_noise"]:
        f = augment.SPEEDS[int(rng.integers(len(augment.SPEEDS)))]
        return augment.speed(noise_excerpt(x, int(np.ceil(n * f)) + 64, rng), f)[:n], source
    return noise_excerpt(x, n, rng), source


def example_features(ex: dict, s: FeatureSettings):
    """(noisy log-mel, clean log-mel, noisy |STFT|, clean |STFT|) of a mixed example at the settings' rate."""
    f = framing_for(s)
    spec_n, spec_c = f.spectra(f.frames(ex["noisy"])), f.spectra(f.frames(ex["clean"]))
    if ex["telephone"]:  # what a file at 8 kHz gives: nothing above 4 kHz
        top = np.fft.rfftfreq(f.n_fft, 1 / f.sample_rate) >= 4000
        spec_n[:, top] = 0
        spec_c[:, top] = 0
    scale = np.sqrt(f.power_scale)
    return (f.logmel(spec_n, s.log_floor), f.logmel(spec_c, s.log_floor),
            (np.abs(spec_n) * scale).astype(np.float32), (np.abs(spec_c) * scale).astype(np.float32))


_TEACHERS = {}  # teacher run folder -> loaded run, one per process (batches are mixed in worker processes)


def teacher_magnitude(teacher: str, noisy_lm: np.ndarray, noisy_mag: np.ndarray, s: FeatureSettings) -> np.ndarray:
    """The noisy |STFT| with a trained run's gains applied as denoise.py applies them (floor 30 dB)."""
    from .inference import DEFAULT_MAX_ATTENUATION_DB, predict_gains
    from .runs import load_run

    if teacher not in _TEACHERS:
        _TEACHERS[teacher] = load_run(teacher, threads=1)
    g = np.clip(predict_gains(_TEACHERS[teacher], noisy_lm), 10.0 ** (-DEFAULT_MAX_ATTENUATION_DB / 20.0), 1.0)
    return (noisy_mag * (g @ framing_for(s).spread.T)).astype(np.float32)


class AudioBatches:
    """Batches (x, y) mixed on the fly: x normalised noisy log-mel (B, T, n_mels), y the packed targets.

    `teacher` (a run folder) with `teacher_weight` w: the clean magnitude target becomes (1 - w) x the clean
    magnitude + w x the noisy one with the teacher's gains applied (distillation; the clean log-mel, which the
    low-SNR weight reads, stays the clean one)."""

    def __init__(self, m: Material, s: FeatureSettings, norm: Normaliser, delay: int, batch_size: int,
                 n_batches: int, seed: int, fixed: bool = False, segment_seconds=SEGMENT_SECONDS, augmentation="full",
                 teacher: str = "", teacher_weight: float = 0.0):
        if augmentation not in AUGMENTATIONS:
            raise DenoiserError(f"augmentation must be one of {', '.join(AUGMENTATIONS)}, got {augmentation!r}")
        self.p = AUGMENTATIONS[augmentation]
        self.m, self.s, self.norm, self.delay = m, s, norm, delay
        self.batch_size, self.n_batches, self.seed, self.fixed = batch_size, n_batches, seed, fixed
        self.segment_seconds = segment_seconds
        self.teacher, self.teacher_weight = str(teacher or ""), float(teacher_weight)
        self.epoch = 0
        self._cache = {}

    def __len__(self):
        return self.n_batches

    def batch(self, i: int):
        if self.fixed and i in self._cache:
            return self._cache[i]
        rng = np.random.default_rng([self.seed, 0 if self.fixed else self.epoch, i])
        lo, hi = self.segment_seconds
        seconds = lo if self.fixed else float(np.round(rng.uniform(lo, hi) * 2) / 2)  # 0.5 s steps: few shapes
        n = int(seconds * self.s.sample_rate)
        xs, ys = [], []
        for _ in range(self.batch_size):
            noisy_lm, clean_lm, noisy_mag, clean_mag = example_features(mix_example(self.m, n, rng, self.p), self.s)
            if self.teacher and self.teacher_weight > 0:
                w = np.float32(self.teacher_weight)
                clean_mag = (1 - w) * clean_mag + w * teacher_magnitude(self.teacher, noisy_lm, noisy_mag, self.s)
            xs.append(self.norm.apply_primed(noisy_lm))
            ys.append(pack_targets(noisy_lm, clean_lm, noisy_mag, clean_mag, delay=self.delay))
        out = (np.stack(xs), np.stack(ys))
        if self.fixed:
            self._cache[i] = out
        return out

    def sample_logmels(self, n_examples: int, seed: int) -> list[np.ndarray]:
        """Noisy log-mel of n_examples mixtures, for fitting the normaliser."""
        rng = np.random.default_rng([seed, 99])
        n = int(self.segment_seconds[1] * self.s.sample_rate)
        return [example_features(mix_example(self.m, n, rng, self.p), self.s)[0] for _ in range(n_examples)]
