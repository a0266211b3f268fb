"""The training losses: what they reward, level independence, finite gradients."""

import numpy as np
import pytest

from ddae.features import framing_for
from ddae.losses import identity_loss, make_loss, pack_targets
from ddae.settings import FeatureSettings

from conftest import tone_in_noise

S = FeatureSettings()


def _targets(clean, noisy, delay=0):
    f = framing_for(S)
    sn, sc = f.spectra(f.frames(noisy)), f.spectra(f.frames(clean))
    scale = np.sqrt(f.power_scale)
    lm_n, lm_c = f.logmel(sn, S.log_floor), f.logmel(sc, S.log_floor)
    return pack_targets(lm_n, lm_c, np.abs(sn) * scale, np.abs(sc) * scale, delay=delay)[None], lm_n, lm_c


@pytest.mark.parametrize("kind", ["compressed", "mixed", "mask", "logmel"])
def test_the_ideal_mask_beats_no_mask_and_a_wrong_mask(kind):
    clean, noisy = tone_in_noise(1.0, snr_db=0)
    y, lm_n, lm_c = _targets(clean, noisy)
    spread = framing_for(S).spread
    loss = make_loss(kind, 64, spread, np.full(64, 3.0))  # the targets carry STFT magnitudes: pass the spread
    ideal = np.clip(np.exp(0.5 * (lm_c - lm_n)), 0, 1)[None].astype(np.float32)
    ones, inverted = np.ones_like(ideal), (1 - ideal).astype(np.float32)
    l_ideal, l_ones, l_wrong = (float(loss(y, g)) for g in (ideal, ones, inverted))
    assert l_ideal < 0.5 * l_ones and l_ideal < l_wrong


def test_the_compressed_loss_does_not_depend_on_level():
    clean, noisy = tone_in_noise(1.0, snr_db=5)
    loss = make_loss("compressed", 64, framing_for(S).spread)
    g = np.random.default_rng(0).uniform(0.2, 1, (1, 101, 64)).astype(np.float32)
    base = float(loss(_targets(clean, noisy)[0], g))
    for gain in (10 ** (-40 / 20), 10 ** (15 / 20)):
        assert float(loss(_targets(clean * gain, noisy * gain)[0], g)) == pytest.approx(base, rel=1e-3)


@pytest.mark.parametrize("kind", ["compressed", "mixed"])
def test_the_speech_reference_weighs_low_snr_segments_more_and_keeps_level_independence(kind):
    g = np.random.default_rng(0).uniform(0.2, 1, (1, 101, 64)).astype(np.float32)
    noisy_ref = make_loss(kind, 64, framing_for(S).spread)
    speech_ref = make_loss(kind, 64, framing_for(S).spread, reference="speech")
    ratio = {}
    for snr in (-5, 30):
        y = _targets(*tone_in_noise(1.0, snr_db=snr))[0]
        ratio[snr] = float(speech_ref(y, g)) / float(noisy_ref(y, g))
        quiet = _targets(*(0.01 * a for a in tone_in_noise(1.0, snr_db=snr)))[0]
        assert float(speech_ref(quiet, g)) == pytest.approx(float(speech_ref(y, g)), rel=1e-3)
    assert ratio[30] == pytest.approx(1.0, abs=0.01)  # nearly clean: the two references agree
    assert ratio[-5] > 1.3  # at -5 dB SNR the noisy RMS is twice the speech's: its errors count more


def test_a_silent_reference_is_floored_and_an_unknown_one_refused():
    import tensorflow as tf
    from ddae.errors import DenoiserError

    noise = np.random.default_rng(0).normal(0, 0.01, 8000)
    y, _, _ = _targets(np.zeros(8000), noise)  # a segment without speech: the clean RMS is 0
    loss = make_loss("compressed", 64, framing_for(S).spread, reference="speech")
    g = tf.Variable(np.full((1, 51, 64), 0.5, np.float32))
    with tf.GradientTape() as tape:
        value = loss(tf.constant(y), g)
    assert np.isfinite(float(value)) and np.all(np.isfinite(tape.gradient(value, g).numpy()))
    with pytest.raises(DenoiserError, match="loss_reference"):
        make_loss("compressed", 64, framing_for(S).spread, reference="clean")


def _steady_voice_with_noise_rising_to(snr_db_second_half, seconds=1.0, sr=16000):
    """(clean, noisy): a steady harmonic 'voice'; white noise at 20 dB SNR in the first half, then `snr_db...`."""
    t = np.arange(int(seconds * sr)) / sr
    clean = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 12))
    clean = 0.05 * clean / np.sqrt(np.mean(clean ** 2))
    noise = np.random.default_rng(0).standard_normal(len(t)) * np.sqrt(np.mean(clean ** 2))
    half = len(t) // 2
    noise[:half] *= 10 ** (-20 / 20)
    noise[half:] *= 10 ** (-snr_db_second_half / 20)
    return clean.astype(np.float32), (clean + noise).astype(np.float32)


@pytest.mark.parametrize("kind", ["compressed", "mixed"])
def test_the_low_snr_weight_counts_errors_on_low_snr_speech_frames_more(kind):
    clean, noisy = _steady_voice_with_noise_rising_to(-5)
    y, lm_n, lm_c = _targets(clean, noisy)
    ideal = np.clip(np.exp(0.5 * (lm_c - lm_n)), 0, 1)[None].astype(np.float32)
    n = ideal.shape[1]
    early, late = ideal.copy(), ideal.copy()
    early[:, 10:n // 2 - 5] *= 0.5  # the same error on 20 dB SNR frames ...
    late[:, n // 2 + 5:n - 10] *= 0.5  # ... and on -5 dB SNR frames
    ratios = {}
    for weight in (0.0, 2.0):
        loss = make_loss(kind, 64, framing_for(S).spread, low_snr_weight=weight)
        base = float(loss(y, ideal))
        ratios[weight] = (float(loss(y, late)) - base) / (float(loss(y, early)) - base)
        quiet = _targets(0.01 * clean, 0.01 * noisy)[0]
        assert float(loss(quiet, late)) == pytest.approx(float(loss(y, late)), rel=1e-3)  # level-independent
    default = make_loss(kind, 64, framing_for(S).spread)
    assert float(default(y, late)) == pytest.approx(float(make_loss(kind, 64, framing_for(S).spread, low_snr_weight=0)(y, late)))
    assert ratios[2.0] / ratios[0.0] == pytest.approx(3.0, rel=0.1)  # -5 dB frames count 1 + 2 times as much


def test_the_low_snr_weight_leaves_frames_without_speech_alone_and_refuses_negative_values_and_other_losses():
    from ddae.errors import DenoiserError

    clean, noisy = _steady_voice_with_noise_rising_to(-5)
    clean[8000:] = 0  # the low-SNR half has no speech: only noise
    y, lm_n, lm_c = _targets(clean, noisy)
    g = np.random.default_rng(1).uniform(0.2, 1, (1, y.shape[1], 64)).astype(np.float32)
    plain = make_loss("compressed", 64, framing_for(S).spread)
    weighted = make_loss("compressed", 64, framing_for(S).spread, low_snr_weight=2.0)
    assert float(weighted(y, g)) == pytest.approx(float(plain(y, g)), rel=0.02)
    with pytest.raises(DenoiserError, match="loss_low_snr_weight"):
        make_loss("compressed", 64, framing_for(S).spread, low_snr_weight=-1)
    with pytest.raises(DenoiserError, match="loss_low_snr_weight applies"):
        make_loss("mask", 64, framing_for(S).spread, low_snr_weight=2)


def test_weights_and_delay_exclude_frames():
    clean, noisy = tone_in_noise(1.0, snr_db=5)
    y, _, _ = _targets(clean, noisy, delay=3)
    assert np.all(y[0, :3, -1] == 0) and np.all(y[0, 3:, -1] == 1)
    loss = make_loss("mask", 64, framing_for(S).spread)
    g = np.full((1, 101, 64), 0.5, np.float32)
    g2 = g.copy()
    g2[0, :3] = 0.0  # outputs before the lookahead is filled do not count
    assert float(loss(y, g)) == float(loss(y, g2))


def test_gradients_are_finite_on_silence_and_empty_bins():
    import tensorflow as tf

    clean = np.zeros(8000)
    noisy = np.zeros(8000)
    noisy[:4000] = np.random.default_rng(0).normal(0, 0.01, 4000)
    y, _, _ = _targets(clean, noisy)
    y[..., 128:257] = 0  # bins above 4 kHz empty, as in a telephone example
    loss = make_loss("compressed", 64, framing_for(S).spread)
    g = tf.Variable(np.full((1, 51, 64), 0.5, np.float32))
    with tf.GradientTape() as tape:
        value = loss(tf.constant(y), g)
    grad = tape.gradient(value, g).numpy()
    assert np.isfinite(float(value)) and np.all(np.isfinite(grad))


def test_identity_loss_is_the_loss_of_gains_of_one():
    clean, noisy = tone_in_noise(1.0, snr_db=5)
    y, _, _ = _targets(clean, noisy)
    loss = make_loss("mask", 64, framing_for(S).spread)
    x = np.zeros((1, y.shape[1], 64), np.float32)
    assert identity_loss(loss, [(x, y)], 64) == pytest.approx(float(loss(y, np.ones_like(x))))


@pytest.mark.parametrize("kind", ["compressed", "mixed", "mask"])
def test_batches_padded_for_several_devices_keep_their_loss(kind):
    from ddae.training import pad_batch

    ys = np.concatenate([_targets(*tone_in_noise(1.0, snr_db=s, seed=s))[0] for s in (0, 5, 10)])
    g = np.random.default_rng(1).uniform(0.1, 1, ys.shape[:2] + (64,)).astype(np.float32)
    g_padded, y_padded = pad_batch(g, ys, 2)  # 3 examples -> 4: the copy has weight 0
    assert len(y_padded) == 4 and np.all(y_padded[3, :, -1] == 0) and np.array_equal(y_padded[:3], ys)
    loss = make_loss(kind, 64, framing_for(S).spread)
    assert float(loss(y_padded, g_padded)) == pytest.approx(float(loss(ys, g)), rel=1e-6)
    assert pad_batch(g, ys, 3)[0] is g  # already a multiple: untouched
