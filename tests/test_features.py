import numpy as np
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from ddae.features import Framing, band_gains, compute_logmel, framing_for, mel_frequencies, spread_matrix
from ddae.settings import FeatureSettings

S = FeatureSettings()


@pytest.mark.parametrize("n", [1, 159, 160, 161, 16000, 16001])
def test_frame_count_and_shape(n, rng):
    feats = compute_logmel(rng.standard_normal(n) * 0.1, S)
    assert feats.shape == (1 + n // S.hop_length, S.n_mels)
    assert feats.dtype == np.float32


def test_silence_gives_the_log_floor():
    feats = compute_logmel(np.zeros(8000), S)
    assert np.all(np.isfinite(feats))
    assert np.allclose(feats, np.log(S.log_floor))


def test_louder_band_shows_up_in_the_right_band():
    t = np.arange(16000) / 16000
    feats = compute_logmel(0.5 * np.sin(2 * np.pi * 1000 * t), S)
    import librosa

    centres = librosa.mel_frequencies(S.n_mels + 2, fmin=S.fmin, fmax=S.fmax)[1:-1]
    assert abs(centres[np.argmax(feats[50])] - 1000) < 60


def test_band_limited_signal_gives_the_same_features_at_other_rates(rng):
    from ddae.audio import resample

    x = resample(rng.standard_normal(32000).astype(np.float32), 16000, 8000)  # band-limited to 4 kHz
    x = resample(x, 8000, 16000)
    ref = compute_logmel(x, S)
    for sr in (8000, 48000):
        f = Framing(S, sr)
        y = resample(x, 16000, sr)
        feats = f.logmel(f.spectra(f.frames(y)), S.log_floor)
        n = min(len(feats), len(ref)) - 4
        low = slice(2, 40)  # bands below ~3.5 kHz
        assert np.mean(np.abs(feats[2:n, low] - ref[2:n, low])) < 0.15, sr


def test_spread_matrix_rows_sum_to_one_and_unit_gains_stay_unit():
    for sr in (8000, 16000, 44100):
        f = framing_for(S, sr)
        assert np.allclose(f.spread.sum(axis=1), 1.0)
        assert np.allclose(np.ones(S.n_mels) @ f.spread.T, 1.0)
    w = spread_matrix(np.array([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]))
    assert np.allclose(w[0], [1, 0]) and np.allclose(w[3], [0, 1])


def test_band_gains_are_clipped():
    g = band_gains(np.array([[0.0, -10.0, 5.0]]), np.array([[0.0, 0.0, 0.0]]), 0.1)
    assert np.allclose(g, [[1.0, 0.1, 1.0]])


@hsettings(max_examples=25, deadline=None)
@given(n=st.integers(0, 5000), amplitude=st.sampled_from([0.0, 1e-6, 0.3, 1.0, 40.0]),
       sr=st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000]))
def test_any_length_rate_and_amplitude_give_finite_features(n, amplitude, sr):
    f = framing_for(S, sr)
    x = np.random.default_rng(n).uniform(-amplitude, amplitude, n)
    feats = f.logmel(f.spectra(f.frames(x)), S.log_floor)
    assert feats.shape == (1 + n // f.hop, S.n_mels)
    assert np.all(np.isfinite(feats))


@pytest.mark.parametrize("n, fmin, fmax", [(66, 0.0, 8000.0), (42, 20.0, 3800.0), (130, 50.0, 24000.0)])
def test_mel_frequencies_are_librosas_slaney_scale(n, fmin, fmax):
    import librosa

    np.testing.assert_allclose(mel_frequencies(n, fmin, fmax), librosa.mel_frequencies(n, fmin=fmin, fmax=fmax, htk=False),
                               rtol=1e-12)
