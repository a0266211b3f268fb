import numpy as np
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from ddae.baseline import istft, stft
from ddae.errors import DenoiserError
from ddae.features import framing_for
from ddae.inference import (DEFAULT_MAX_ATTENUATION_DB, GainEstimator, StreamingDenoiser, denoise_array, predict_gains,
                            predict_logmel)
from ddae.runs import load_run

from conftest import tone_in_noise

KINDS = ("dense", "conv", "causal", "recurrent", "recurrent_ahead", "recurrent_skip")


@pytest.fixture(scope="module")
def loaded(runs):
    return {k: load_run(runs[k]) for k in KINDS}


@pytest.fixture(scope="module")
def dense(loaded):
    return loaded["dense"]


class Constant:
    """A gain estimator with the same gain everywhere."""

    def __init__(self, n_mels, g=1.0):
        self.n_mels, self.g = n_mels, g

    def push(self, logmel):
        return np.full((len(logmel), self.n_mels), self.g)

    def finish(self):
        return np.zeros((0, self.n_mels))


@pytest.mark.parametrize("sr", [8000, 16000, 44100, 48000])
def test_unit_gains_reproduce_the_input_exactly(dense, sr, rng):
    x = (rng.standard_normal(sr + 123) * 0.1).astype(np.float32)
    y = denoise_array(dense, x, sr, estimator=Constant(64))
    assert len(y) == len(x)
    assert np.max(np.abs(y - x)) < 1e-6  # float32 output of an exact analysis/synthesis pair


def test_gains_are_applied_as_an_independent_stft_computation_says(dense, rng):
    """A constant gain g through the streaming path equals g times the input, and equals the plain
    STFT -> scale -> inverse STFT of ddae.baseline (written separately)."""
    x = (rng.standard_normal(12345) * 0.1).astype(np.float32)
    y = denoise_array(dense, x, estimator=Constant(64, 0.3))
    f, spec = stft(x.astype(np.float64), dense.settings, 16000)
    assert np.max(np.abs(y - istft(spec * 0.3, f, len(x)))) < 1e-6
    assert np.max(np.abs(y - 0.3 * x)) < 1e-6


@pytest.mark.parametrize("kind", KINDS)
def test_blocks_equal_the_whole_file_for_every_type(loaded, kind):
    run = loaded[kind]
    _, x = tone_in_noise(3.0)
    whole = denoise_array(run, x, block_seconds=100)
    blocks = denoise_array(run, x, block_seconds=0.37)
    assert np.max(np.abs(whole - blocks)) < 1e-5
    assert not np.allclose(whole, x, atol=1e-3)  # it did change the signal


@pytest.mark.parametrize("kind", KINDS)
def test_streaming_chunks_equal_an_offline_computation_for_every_type(loaded, kind, rng):
    """Chunks of random sizes through StreamingDenoiser against an offline computation that does not use
    it: features of the whole file, the training model over the whole sequence (zero state), the lookahead
    as a shift, the gains applied with the plain STFT of ddae.baseline (band gains only: the pitch filter has
    tests of its own, tests/test_pitch.py)."""
    run = loaded[kind]
    _, x = tone_in_noise(2.0, seed=2)
    s = run.settings
    f, spec = stft(x.astype(np.float64), s, 16000)
    logmel = f.logmel(spec, s.log_floor)
    feats = run.norm.apply_primed(logmel)
    padded = np.concatenate([feats, np.zeros((run.delay, run.norm.n_features), np.float32)])
    gains = np.asarray(run.model(padded[None]))[0][run.delay:]
    gains = np.clip(gains.astype(np.float64), 0.1, 1.0)
    offline = istft(spec * (gains @ f.spread.T), f, len(x))
    stream = StreamingDenoiser(run, max_attenuation_db=20, pitch_filter=0.0)
    out, i = [], 0
    while i < len(x):
        n = int(rng.integers(1, 700))
        out.append(stream.process(x[i:i + n]))
        i += n
    out.append(stream.flush())
    y = np.concatenate(out)
    assert len(y) == len(x)
    assert np.max(np.abs(y - offline)) < 1e-5
    assert stream.latency_samples == 512 + run.delay * 160


def test_streaming_output_lags_input_by_at_most_the_latency(loaded):
    for kind in ("causal", "recurrent_ahead"):
        _, x = tone_in_noise(1.0)
        stream = StreamingDenoiser(loaded[kind])
        emitted = 0
        for i in range(0, len(x), 160):
            emitted += len(stream.process(x[i:i + 160]))
            assert (i + 160) - emitted <= stream.latency_samples + 160


def test_a_primed_model_holds_back_its_first_output_then_catches_up(loaded):
    run = loaded["recurrent"]
    assert run.norm.prime_frames == 50
    _, x = tone_in_noise(2.0, seed=6)
    stream = StreamingDenoiser(run)
    first = stream.process(x[:160 * 30])
    assert len(first) == 0  # 30 frames: not primed yet
    more = stream.process(x[160 * 30:160 * 80])
    assert len(more) > 160 * 40  # primed: the held-back audio comes out
    short = denoise_array(run, x[:4000])  # shorter than the priming: primed on what there is
    assert short.shape == (4000,) and np.all(np.isfinite(short))


def test_the_recurrent_state_carries_across_blocks(loaded):
    """With its state reset at every block, the recurrent model would give another output: the state matters."""
    run = loaded["recurrent"]
    _, x = tone_in_noise(2.0, seed=4)
    whole = denoise_array(run, x)
    restarted = np.concatenate([denoise_array(run, x[i:i + 4000]) for i in range(0, len(x), 4000)])
    assert np.max(np.abs(whole - restarted)) > 1e-4


def test_mix_and_floor(dense):
    _, x = tone_in_noise(1.0)
    assert np.allclose(denoise_array(dense, x, mix=0.0), x, atol=1e-6)  # dry: the input, pitch filter or not
    # band gains alone (the pitch filter reshapes voiced bands before the gains: tests/test_pitch.py)
    y = denoise_array(dense, x, estimator=Constant(64, 0.0), max_attenuation_db=6, pitch_filter=0.0)
    assert np.max(np.abs(y - x * 10 ** (-6 / 20))) < 1e-6  # all bands at the floor: exactly -6 dB
    half = denoise_array(dense, x, estimator=Constant(64, 0.0), max_attenuation_db=60, mix=0.5, pitch_filter=0.0)
    assert np.max(np.abs(half - x * (0.5 + 0.5 * 1e-3))) < 1e-6
    with pytest.raises(DenoiserError):
        denoise_array(dense, x, mix=1.5)
    with pytest.raises(DenoiserError):
        denoise_array(dense, x, max_attenuation_db=-1)


def test_multichannel_is_processed_per_channel(dense):
    _, a = tone_in_noise(0.5, seed=1)
    _, b = tone_in_noise(0.5, seed=2)
    y = denoise_array(dense, np.stack([a, b], 1))
    assert y.shape == (len(a), 2)
    assert np.array_equal(y[:, 1], denoise_array(dense, b))


def test_predict_gains_and_logmel(loaded):
    feats = np.random.default_rng(0).normal(-20, 2, (37, 64)).astype(np.float32)
    for run in loaded.values():
        g = predict_gains(run, feats)
        assert g.shape == (37, 64) and np.all((g >= 0) & (g <= 1))
        est = GainEstimator(run)
        assert np.allclose(np.concatenate([est.push(feats[:10]), est.push(feats[10:]), est.finish()]), g, atol=1e-6)
        floor = 10 ** (-DEFAULT_MAX_ATTENUATION_DB / 20)
        assert np.allclose(predict_logmel(run, feats), feats + 2 * np.log(np.clip(g, floor, 1)), atol=1e-5)
    with pytest.raises(DenoiserError):
        predict_logmel(loaded["dense"], feats[:, :40])


@hsettings(max_examples=15, deadline=None)
@given(n=st.integers(0, 4000), channels=st.integers(1, 3), amplitude=st.sampled_from([0.0, 1e-5, 0.5, 1.0]),
       sr=st.sampled_from([8000, 16000, 22050, 48000]))
def test_any_input_gives_finite_output_of_the_same_shape(dense, n, channels, amplitude, sr):
    x = np.random.default_rng(n).uniform(-amplitude, amplitude, (n, channels)).astype(np.float32)
    y = denoise_array(dense, x, sr)
    assert y.shape == x.shape and np.all(np.isfinite(y))
    # gains never exceed 1: no energy is added, and peaks stay bounded (phase interactions in the
    # overlap-add can raise a single peak somewhat above the input's, as hypothesis found at 1.52x)
    assert np.sum(y.astype(np.float64) ** 2) <= np.sum(x.astype(np.float64) ** 2) * 1.05 + 1e-9
    assert np.max(np.abs(y), initial=0) <= max(amplitude, 1e-9) * 2.0 + 1e-6


def test_framing_scales_with_the_rate():
    from ddae.settings import FeatureSettings

    f = framing_for(FeatureSettings(), 8000)
    assert (f.n_fft, f.hop) == (256, 80)


@pytest.mark.parametrize("kind", ["recurrent_skip", "recurrent"])
def test_after_a_second_of_digital_silence_a_stream_starts_afresh(loaded, kind):
    """A muted or zero-padded stretch of a second or more ends a scene: what follows is denoised as a new file
    would be (normaliser, model state, and priming for a primed model); a shorter one carries the state over."""
    run = loaded[kind]  # running+floor features; with lookahead, or primed on 0.5 s
    _, a = tone_in_noise(1.0, seed=7)
    _, b = tone_in_noise(1.5, snr_db=-5.0, seed=8)
    gap = np.zeros(16000 + 160 * 20, np.float32)  # whole hops, so b's frames line up as in a file of its own
    alone = denoise_array(run, b)
    after_long = denoise_array(run, np.concatenate([a, gap, b]))[-len(b):]
    np.testing.assert_allclose(after_long[1600:], alone[1600:], atol=1e-6)  # the same from 0.1 s on
    assert np.max(np.abs(after_long - alone)) < 1e-3  # (the onset frame: only its gain differs)
    after_short = denoise_array(run, np.concatenate([a, gap[:1600], b]))[-len(b):]
    assert np.max(np.abs(after_short - alone)) > 1e-4


@pytest.mark.parametrize("kind", ["recurrent_skip", "recurrent"])
@pytest.mark.parametrize("before_dbfs", [-70, -10])
def test_sound_far_above_or_below_the_stretch_before_starts_a_new_scene_where_it_changed(loaded, kind, before_dbfs,
                                                                                         monkeypatch):
    """Speech in noise after 4 s of faint hiss (not digital silence), or after 4 s of loud noise, is a new scene:
    found where it began and denoised from there as a file of its own would be, in any chunking; the same speech
    in its own steady noise never is."""
    from ddae.features import compute_logmel

    run = loaded[kind]  # running+floor features; with lookahead, or primed on 0.5 s
    _, b = tone_in_noise(2.0, snr_db=5.0, seed=8)
    hiss = (np.random.default_rng(3).standard_normal(16000 * 4) * 10 ** (before_dbfs / 20)).astype(np.float32)
    x = np.concatenate([hiss, b])
    lm = compute_logmel(x, run.settings)
    est = GainEstimator(run)
    g = np.concatenate([est.push(lm), est.finish()])
    # the change at frame 400 (4 s at 100 frames/s); after loud noise the speech's bands fall at its first dip
    assert len(est.scene_starts) == 1 and 398 <= est.scene_starts[0] <= (402 if before_dbfs < -30 else 420)
    s, d = est.scene_starts[0], run.delay
    r = s + run.norm.change_frames - 1  # where the change was complete: the gains from there on are the new scene's
    fresh = GainEstimator(run)
    np.testing.assert_array_equal(g[r - d:], np.concatenate([fresh.push(lm[s:]), fresh.finish()])[r - d - s:])
    chunked = GainEstimator(run)
    gc = np.concatenate([chunked.push(lm[i:i + 37]) for i in range(0, len(lm), 37)] + [chunked.finish()])
    assert chunked.scene_starts == est.scene_starts and np.max(np.abs(gc - g)) < 1e-5
    alone = denoise_array(run, b)  # the audio: near what it is on its own from 0.3 s on, far without the fresh start

    def off(y):
        return np.sqrt(np.mean((y[-len(b) + 4800:] - alone[4800:]) ** 2))

    with_it = off(denoise_array(run, x))
    monkeypatch.setattr(run.norm, "scene_changes", False)
    assert with_it < 0.25 * off(denoise_array(run, x))
    monkeypatch.undo()
    steady = GainEstimator(run)
    steady.push(compute_logmel(tone_in_noise(6.0, snr_db=5.0, seed=9)[1], run.settings))
    assert steady.scene_starts == []
