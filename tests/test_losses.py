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
