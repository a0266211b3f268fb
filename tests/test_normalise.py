"""Normalisation: global statistics, and the causal running mean that makes features level- and EQ-independent."""

import numpy as np
import pytest

from ddae.errors import DenoiserError
from ddae.features import compute_logmel
from ddae.normalise import Normaliser
from ddae.settings import FeatureSettings

from conftest import tone_in_noise


def test_global_normalisation_standardises_the_training_inputs(rng):
    utts = [rng.normal(-5, 3, (200, 8)) for _ in range(3)]
    norm = Normaliser("global", [0], [1]).fit_scale(utts)
    x = np.concatenate([norm.apply(u)[0] for u in utts])
    assert np.allclose(x.mean(0), 0, atol=1e-4) and np.allclose(x.std(0), 1, atol=1e-3)


def test_running_mean_is_causal_and_matches_its_definition(rng):
    """Cumulative mean over the first tau frames, then an exponential mean with time constant tau."""
    x = rng.normal(size=(50, 3))
    norm = Normaliser("running", np.zeros(3), np.ones(3), tau_frames=10)
    y, _ = norm.apply(x)
    mu = np.zeros(3)
    for t in range(50):
        a = max(1 / (t + 1), 0.1)
        mu = mu + a * (x[t] - mu)
        assert np.allclose(y[t], x[t] - mu, atol=1e-5)


def test_running_state_carries_across_chunks_exactly(rng):
    x = rng.normal(size=(700, 64))
    norm = Normaliser("running", np.zeros(64), rng.uniform(1, 2, 64), tau_frames=300)
    whole, _ = norm.apply(x)
    state, parts = None, []
    for a, b in ((0, 1), (1, 299), (299, 301), (301, 700)):
        y, state = norm.apply(x[a:b], state)
        parts.append(y)
    assert np.max(np.abs(np.concatenate(parts) - whole)) < 1e-5


def test_running_features_do_not_depend_on_level_or_a_fixed_eq():
    """-45 dBFS, 25 dB quieter and 10 dB louder, and a tilted channel: the same normalised features, down to
    the log floor, where the global statistics would shift by the gain."""
    from scipy.signal import lfilter

    s = FeatureSettings()
    _, x = tone_in_noise(3.0, snr_db=10)
    x = x / np.sqrt(np.mean(x ** 2)) * 10 ** (-45 / 20)
    norm = Normaliser("running", np.zeros(64), np.ones(64), tau_frames=300)
    ref = norm.apply(compute_logmel(x, s))[0]
    for gain_db in (-25, 10):
        y = norm.apply(compute_logmel(x * 10 ** (gain_db / 20), s))[0]
        assert np.max(np.abs(y - ref)) < 0.05
    tilted = lfilter([1, -0.3], [1], x)  # a gentle first-order tilt: a fixed gain per band, near enough
    assert np.median(np.abs(norm.apply(compute_logmel(tilted, s))[0] - ref)) < 0.1
    g = Normaliser("global", np.zeros(64), np.ones(64))
    assert np.min(np.abs(g.apply(compute_logmel(x * 10 ** (-25 / 20), s))[0] - g.apply(compute_logmel(x, s))[0])) > 5


def test_save_load_and_bad_files(tmp_path, rng):
    norm = Normaliser("running", np.zeros(8), rng.uniform(1, 2, 8), tau_frames=123)
    norm.save(tmp_path)
    back = Normaliser.load(tmp_path)
    assert back.mode == "running" and np.array_equal(back.std, norm.std) and back.alpha == pytest.approx(1 / 123)
    with pytest.raises(DenoiserError, match="normalisation must be one of"):
        Normaliser("loudness", [0], [1])
    np.savez(tmp_path / "norm_stats.npz", mode=np.array("global"), mean=np.zeros(8), std=np.zeros(8), tau_frames=1.0)
    with pytest.raises(DenoiserError, match="inconsistent"):
        Normaliser.load(tmp_path)
    with pytest.raises(DenoiserError, match="missing"):
        Normaliser.load(tmp_path / "nowhere")


def test_the_floor_features_follow_the_noise_floor_and_do_not_depend_on_level(rng):
    from ddae.normalise import FLOOR_RISE

    norm = Normaliser("running+floor", np.zeros(128), np.ones(128), tau_frames=300)
    assert norm.channels == 2 and norm.n_mels == 64 and norm.n_features == 128
    x = np.full((400, 64), -20.0) + rng.normal(0, 0.3, (400, 64))
    x[200:210] += 6.0  # a burst of 'speech' above a steady floor
    y, _ = norm.apply(x)
    above = y[:, 64:]
    assert np.all(np.abs(np.median(above[100:200], axis=0)) < 1.0)  # steady noise: near its floor
    assert np.all(above[205] > 4.0)  # the burst stands out
    y2, _ = norm.apply(x - 12.0)  # 12 nats quieter (about 52 dB)
    assert np.max(np.abs(y2 - y)) < 1e-4
    state, parts = None, []
    for a, b in ((0, 7), (7, 250), (250, 400)):
        part, state = norm.apply(x[a:b], state)
        parts.append(part)
    assert np.max(np.abs(np.concatenate(parts) - y)) < 1e-5
    rising = norm.apply(np.linspace(0, 10, 400)[:, None] * np.ones((1, 64)))[0][:, 64:]
    assert np.all(rising[-1] <= (10 / 399) * 400 + 1e-6) and np.all(np.diff(rising[50:, 0]) >= -1e-6)
    del FLOOR_RISE


def test_priming_starts_from_the_levels_of_the_first_frames(rng):
    x = np.concatenate([np.full((100, 64), -30.0), np.full((200, 64), -10.0)]) + rng.normal(0, 0.1, (300, 64))
    causal = Normaliser("running+floor", np.zeros(128), np.ones(128), tau_frames=300)
    primed = Normaliser("running+floor", np.zeros(128), np.ones(128), tau_frames=300, prime_frames=300)
    c, p = causal.apply_primed(x), primed.apply_primed(x)
    assert abs(c[0, :64].mean()) < 1e-6  # causal: the first frame is its own mean
    assert p[0, :64].mean() < -10  # primed: the quiet start is below the file's mean level
    assert np.all(p[150:, 64:].mean(axis=0) > 15)  # and the loud part is far above the floor of the start
    assert np.max(np.abs(primed.apply_primed(x + 7.0) - p)) < 1e-4  # still level-independent


def _with_silence(rng, quiet_frames):
    silence = np.full((quiet_frames, 4), np.log(1e-14))
    a, b = rng.standard_normal((200, 4)) - 5, rng.standard_normal((120, 4)) + 5
    return a, silence, b


@pytest.mark.parametrize("mode", ["running", "running+floor"])
def test_digital_silence_leaves_the_state_alone_and_a_long_one_starts_afresh(rng, mode):
    n = Normaliser(mode, np.zeros(4 * (2 if mode == "running+floor" else 1)), np.ones(8 if mode == "running+floor" else 4),
                   300).hold_on_silence(1e-14)
    assert n.reset_silence == 100  # one second at 100 frames per second
    a, silence, b = _with_silence(rng, 150)
    x = np.vstack([a, silence, b])
    whole, _ = n.apply(x)
    assert np.all(whole[200:351] == 0)  # silent frames (and the onset frame after a long silence): zeros
    assert np.array_equal(whole[351:], n.apply(b[1:])[0])  # after 1.5 s of silence: as a new file
    assert n.restarts(x, n.start()) == [351] and n.restarts(np.vstack([a, b]), None) == []
    chunks, state, found = [], n.start(), []
    for i in range(0, len(x), 37):  # streaming: the same features and restarts in any chunking
        found += [i + r for r in n.restarts(x[i:i + 37], state)]
        f, state = n.apply(x[i:i + 37], state)
        chunks.append(f)
    assert np.array_equal(np.vstack(chunks), whole) and found == [351]
    short, _ = n.apply(np.vstack([a, silence[:60], b]))  # 0.6 s: the state carries on as if it were not there
    assert np.array_equal(short[260:], n.apply(np.vstack([a, b]))[0][200:])
    first, _ = n.apply(np.vstack([silence[:30], b]))  # silence before any sound: then b as from the start
    assert np.all(first[:30] == 0) and np.array_equal(first[30:], n.apply(b)[0])
    # a lone onset frame, then a short silence: the fresh start waits for the next sound, in both places
    y = np.vstack([a, silence, b[:1], silence[:30], b[1:]])
    assert n.restarts(y, None) == [381] and np.array_equal(n.apply(y)[0][381:], n.apply(b[1:])[0])
    plain = Normaliser(mode, n.mean, n.std, 300)  # without hold_on_silence, silence is tracked like any frame
    assert not np.array_equal(plain.apply(x)[0][351:], n.apply(b[1:])[0])


def test_priming_skips_digital_silence(rng):
    n = Normaliser("running+floor", np.zeros(8), np.ones(8), 300, prime_frames=100).hold_on_silence(1e-14)
    _, silence, b = _with_silence(rng, 40)
    state = n.prime(np.vstack([silence, b])[:100])
    assert np.allclose(state[0], b[:60].mean(axis=0)) and state[1] == 60


def test_a_rise_far_above_floor_and_mean_is_found_at_any_level_and_speech_in_its_noise_is_not(rng):
    """'Scene changes': a band-wide jump of 30 dB over a quiet stretch is risen from its first frame on; the
    same at another input level too; the same frames in a scene that was as loud already are not (the running
    mean holds them); nor is anything in a mode without the floor tracker."""
    n = Normaliser("running+floor", np.zeros(16), np.ones(16), 300).hold_on_silence(1e-14)
    assert (n.change_frames, n.change_after) == (20, 300)
    quiet, loud = rng.normal(-20, 0.3, (400, 8)), rng.normal(-20 + 30 * np.log(10) / 10, 0.3, (50, 8))
    x = np.vstack([quiet, loud])
    flags = n.risen(x, n.apply(x)[0], n.start())
    assert not flags[:400].any() and flags[400:420].all()
    y = x + 25 * np.log(10) / 10  # 25 dB louder: the same frames
    assert np.array_equal(n.risen(y, n.apply(y)[0], n.start()), flags)
    state = n.apply(x[:400])[1]  # in chunks, from the state before: the same
    assert np.array_equal(n.risen(x[400:], n.apply(x[400:], state)[0], state), flags[400:])
    steady = np.vstack([loud[:1].repeat(300, 0) + rng.normal(0, 0.3, (300, 8)), loud])  # a scene as loud already
    assert not n.risen(steady, n.apply(steady)[0], n.start()).any()
    plain = Normaliser("running", np.zeros(8), np.ones(8), 300).hold_on_silence(1e-14)
    assert not plain.risen(x, plain.apply(x)[0], plain.start()).any()


def test_a_floor_that_drops_far_below_where_it_stood_has_fallen_at_any_level(rng):
    """'Scene changes': 30 dB less in every band (a loud noise stops) drops the floor within a few frames, and
    the frames are fallen for as long as the floor half a second before was the loud one; at another level the
    same; a steady scene, or frames with too little before them, never."""
    n = Normaliser("running+floor", np.zeros(16), np.ones(16), 300).hold_on_silence(1e-14)
    assert n.fall_window == 50
    loud, quiet = rng.normal(-5, 0.3, (400, 8)), rng.normal(-5 - 30 * np.log(10) / 10, 0.3, (100, 8))
    x = np.vstack([loud, quiet])
    feats, _ = n.apply(x)
    flags = n.fallen(x, feats, np.zeros((0, 8)))
    assert not flags[:400].any() and flags[405:450].all() and not flags[455:].any()
    y = x - 25 * np.log(10) / 10
    assert np.array_equal(n.fallen(y, n.apply(y)[0], np.zeros((0, 8))), flags)
    head, state = n.apply(x[:400])
    tail, _ = n.apply(x[400:], state)  # in chunks, given the floors before: the same
    assert np.array_equal(n.fallen(x[400:], tail, n.floors(x[:400], head)), flags[400:])
    assert not n.fallen(loud, n.apply(loud)[0], np.zeros((0, 8))).any()
