import numpy as np
import pytest

from ddae.errors import DenoiserError
from ddae.features import framing_for
from ddae.inference import OracleEstimator, StreamingDenoiser, denoise_array
from ddae.metrics import si_sdr
from ddae.pitch import VOICED, max_period, periods, pitch_filter
from ddae.runs import load_run
from ddae.settings import FeatureSettings

from conftest import tone_in_noise

S = FeatureSettings()


class SettingsOnly:
    settings = S


def frames_and_signal(x, sr):
    """The denoiser's frames of x as pitch_filter sees them: spectra, and the padded signal with history."""
    f = framing_for(S, sr)
    padded = np.concatenate([np.zeros(f.pad), x, np.zeros(f.end_padding(len(x)))]).astype(np.float32)
    signal = np.concatenate([np.zeros(max_period(sr), np.float32), padded])
    spec = f.spectra(f.frames(x).astype(np.float32))
    return f, spec, signal


@pytest.mark.parametrize("sr", [8000, 16000, 48000])
def test_the_period_found_is_the_voice_s(sr):
    clean, _ = tone_in_noise(1.0, sr=sr, snr_db=20)  # a 150 Hz voice
    f, spec, _ = frames_and_signal(clean, sr)
    period, r = periods(spec, np.ones((len(spec), f.n_fft // 2 + 1), np.float32), f.n_fft, sr)
    voiced = r > VOICED
    assert voiced.mean() > 0.7
    assert abs(np.median(period[voiced]) - sr / 150) <= 1


def test_with_every_gain_at_one_nothing_changes():
    _, noisy = tone_in_noise(1.0)
    f, spec, signal = frames_and_signal(noisy, 16000)
    out = pitch_filter(spec, np.ones((len(spec), S.n_mels), np.float32), signal, max_period(16000), f, 16000, 1.0)
    assert np.array_equal(out, spec)


def test_noise_alone_is_left_alone():
    noise = np.random.default_rng(3).standard_normal(16000).astype(np.float32) * 0.05
    f, spec, signal = frames_and_signal(noise, 16000)
    out = pitch_filter(spec, np.full((len(spec), S.n_mels), 0.3, np.float32), signal, max_period(16000), f, 16000, 1.0)
    unchanged = np.all(out == spec, axis=1)
    assert unchanged.mean() > 0.95


def test_energy_moves_to_the_harmonics_and_each_band_keeps_its_energy():
    _, noisy = tone_in_noise(2.0, snr_db=5)
    f, spec, signal = frames_and_signal(noisy, 16000)
    gains = np.full((len(spec), S.n_mels), 0.3, np.float32)
    out = pitch_filter(spec, gains, signal, max_period(16000), f, 16000, 0.5)
    changed = np.flatnonzero(~np.all(out == spec, axis=1))
    assert len(changed) > 0.4 * len(spec)  # the voice's syllable envelope leaves about half the frames voiced
    band = lambda z: (np.abs(z[changed]) ** 2) @ f.mel32_t  # noqa: E731
    covered = band(spec) > 1e-12
    # each band's energy is set back, up to the blending of neighbouring bands' corrections on shared bins
    assert np.median(np.abs(band(out)[covered] / band(spec)[covered] - 1)) < 0.05  # measured 0.026
    frame = lambda z: (np.abs(z[changed]) ** 2).sum(axis=1)  # noqa: E731
    np.testing.assert_allclose(frame(out), frame(spec), rtol=0.02)  # measured within 0.01
    freqs = np.fft.rfftfreq(f.n_fft, 1 / 16000)
    harmonic = np.zeros(len(freqs), bool)
    between = np.zeros(len(freqs), bool)
    for k in range(7, 12):  # 1050-1650 Hz: several harmonics per band
        harmonic[np.argmin(np.abs(freqs - 150 * k))] = True
        between[np.argmin(np.abs(freqs - 150 * (k + 0.5)))] = True

    def ratio(z):
        p = np.abs(z[changed]) ** 2
        return p[:, harmonic].sum() / p[:, between].sum()

    assert ratio(out) > 1.3 * ratio(spec)


@pytest.mark.parametrize("seed", [4, 5])
def test_it_raises_the_si_sdr_of_a_voice_in_noise_beyond_the_best_band_gains(seed):
    clean, noisy = tone_in_noise(2.0, snr_db=0, seed=seed)
    f = framing_for(S)
    clean_logmel = f.logmel(f.spectra(f.frames(clean)), S.log_floor)
    plain, combed = (denoise_array(SettingsOnly(), noisy, estimator=OracleEstimator(clean_logmel), pitch_filter=p)
                     for p in (0.0, 0.5))
    assert si_sdr(clean, combed) > si_sdr(clean, plain) + 0.3  # measured: +0.5 dB over 12.2 dB


@pytest.mark.parametrize("sr", [8000, 16000, 44100])
def test_streaming_with_the_pitch_filter_equals_the_whole_file(runs, sr, rng):
    run = load_run(runs["recurrent_skip"])
    _, x = tone_in_noise(2.0, sr=sr, seed=5)
    whole = denoise_array(run, x, sr)
    stream, out, i = StreamingDenoiser(run, sr), [], 0
    while i < len(x):
        n = int(rng.integers(1, 900))
        out.append(stream.process(x[i:i + n]))
        i += n
    out.append(stream.flush())
    assert np.max(np.abs(np.concatenate(out) - whole)) < 1e-5
    assert np.max(np.abs(whole - denoise_array(run, x, sr, pitch_filter=0.0))) > 1e-4  # the filter was at work


def test_a_strength_outside_0_to_1_is_refused():
    with pytest.raises(DenoiserError, match="pitch_filter must be between 0"):
        StreamingDenoiser(SettingsOnly(), pitch_filter=1.5)
    with pytest.raises(DenoiserError, match="pitch_filter must be between 0"):
        StreamingDenoiser(SettingsOnly(), pitch_filter=-0.1)
