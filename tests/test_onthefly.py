"""Mixing on the fly: seeded, augmented as documented, bounded memory; the augmentations themselves."""

import numpy as np
import pytest

from ddae import augment
from ddae.material import Material
from ddae.normalise import Normaliser
from ddae.onthefly import (FULL, NOISES, PAUSES, ROOMS, SPEED, SWITCHES, TONES, WHISTLES, AudioBatches, _quiet_start,
                           _switched, example_features, mix_example)
from ddae.settings import FeatureSettings

S = FeatureSettings()


@pytest.fixture(scope="module")
def material(shared):
    return Material(shared, "train")


def _batches(material, seed=0, **kw):
    norm = Normaliser("running", np.zeros(64), np.ones(64), 300)
    return AudioBatches(material, S, norm, 0, 6, 4, seed, **kw)


def _mixes(material, p, seed, k=12):
    """k mixtures of 8000 samples drawn from one generator seeded with `seed`."""
    rng = np.random.default_rng(seed)
    return [mix_example(material, 8000, rng, p) for _ in range(k)]


def _same(p, q):
    return p.shape == q.shape and np.array_equal(p, q)


def test_batches_are_deterministic_per_seed_epoch_and_index(material):
    a, b = _batches(material), _batches(material)
    xa, ya = a.batch(2)
    xb, yb = b.batch(2)
    assert _same(xa, xb) and _same(ya, yb)
    assert not _same(a.batch(1)[1], ya)
    b.epoch = 1
    assert not _same(b.batch(2)[1], ya)
    assert not _same(_batches(material, seed=1).batch(2)[1], ya)


def test_batch_shapes_lengths_and_targets(material):
    x, y = _batches(material).batch(0)
    frames = x.shape[1]
    assert x.shape == (6, frames, 64) and 200 <= frames - 1 <= 400  # 2-4 s
    assert y.shape == (6, frames, 2 * 257 + 2 * 64 + 1)
    assert np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(y[..., -1] == 1)


def test_mixtures_cover_levels_silence_telephone_and_clipping(material):
    rng = np.random.default_rng(0)
    exs = [mix_example(material, 16000, rng) for _ in range(300)]
    levels = [20 * np.log10(augment.rms(e["clean"]) + 1e-12) for e in exs]
    assert min(levels) < -45 and max(levels) > -10
    assert all(np.max(np.abs(e["noisy"])) <= 1.0 for e in exs)
    assert 10 < sum(e["telephone"] for e in exs) < 80
    assert 5 < sum(e["noise"] == "none" for e in exs) < 50
    kinds = {e["noise"] for e in exs}
    assert {"babble", "none"} <= kinds and kinds & {"white", "pink", "brown", "rumble"} and kinds & {"cafe", "street"}
    tel = next(e for e in exs if e["telephone"])
    noisy_lm, clean_lm, noisy_mag, clean_mag = example_features(tel, S)
    assert np.all(noisy_mag[:, 128:] == 0) and np.all(clean_mag[:, 128:] == 0)  # nothing above 4 kHz, as at 8 kHz


def _rt60(h, sr=16000):
    """T20 from the Schroeder integral, scaled to 60 dB."""
    edc = np.cumsum(h[::-1] ** 2)[::-1]
    edc_db = 10 * np.log10(edc / edc[0] + 1e-12)
    return 3 * (np.argmax(edc_db < -25) - np.argmax(edc_db < -5)) / sr


def test_rooms_augmentation_draws_more_and_longer_rooms(material):
    sr = 16000
    full = [augment.synthetic_rir(sr, np.random.default_rng(i)) for i in range(40)]
    rooms = [augment.synthetic_rir(sr, np.random.default_rng(i), ROOMS["rt60_s"], ROOMS["drr_db"], True,
                                   ROOMS["rir_seconds"]) for i in range(40)]
    assert max(len(h) for h in full) <= sr and max(_rt60(h) for h in full) < 1.1
    assert max(len(h) for h in rooms) > 2 * sr and max(len(h) for h in rooms) <= 3 * sr
    assert max(_rt60(h) for h in rooms) > 1.5 and all(h[0] == 1.0 and np.all(np.isfinite(h)) for h in rooms)
    from scipy.signal import butter, sosfilt

    for i in range(5):  # with bands, the tail above the crossover (at most 3 kHz) dies out sooner
        h = augment.synthetic_rir(sr, np.random.default_rng(i), (1.0, 1.0), (0.0, 0.0), True, 2.0)
        low = sosfilt(butter(4, 400, fs=sr, output="sos"), h)
        high = sosfilt(butter(4, 4000, btype="highpass", fs=sr, output="sos"), h)
        assert _rt60(high) < 0.9 * _rt60(low)
    counts = {}
    for name, p in (("full", FULL), ("rooms", ROOMS)):
        rng = np.random.default_rng(0)
        counts[name] = sum(mix_example(material, 8000, rng, p)["room"] for _ in range(200))
    assert 20 < counts["full"] < 60 and 40 < counts["rooms"] < 90 and counts["rooms"] > counts["full"]


def test_speed_perturbation_moves_tempo_and_pitch_and_leaves_older_recipes_alone(material):
    sr = 16000
    tone = np.sin(2 * np.pi * 1000 * np.arange(sr) / sr)
    for f in augment.SPEEDS:
        y = augment.speed(tone, f)
        assert abs(len(y) - sr / f) <= 2
        assert abs(np.argmax(np.abs(np.fft.rfft(y))) * sr / len(y) - 1000 * f) < 2  # the tone moved by f
    rng = np.random.default_rng(3)
    y = augment.speed(rng.standard_normal(sr), 0.9)  # band-limited: no new energy at the top of the band
    assert np.all(np.isfinite(y)) and 0.8 < augment.rms(y) < 1.2

    def mixes(p):
        return _mixes(material, p, 1)

    # without the speed keys, or with them at zero, the older recipes draw exactly what they drew before
    rng = np.random.default_rng(1)  # (what 'full' drew before 'speed' existed, on the miniature material)
    drawn = [(x["speaker"], x["noise"], x["room"]) for x in (mix_example(material, 8000, rng, FULL) for _ in range(6))]
    assert drawn == [("speechocean762:0001", "babble", False), ("speechocean762:0002", "berlin", False),
                     ("speechocean762:0003", "brown", True), ("speechocean762:0003", "none", False),
                     ("librispeech:104", "street", True), ("speechocean762:0007", "berlin", False)]
    for p in (FULL, ROOMS):
        same = mixes({**p, "speed_speech": 0.0, "speed_noise": 0.0})
        assert all(_same(a["noisy"], b["noisy"]) for a, b in zip(mixes(p), same))
    fast = mixes(SPEED)
    assert all(len(x["clean"]) == 8000 and np.all(np.isfinite(x["noisy"])) for x in fast)
    assert all(_same(a["noisy"], b["noisy"]) for a, b in zip(fast, mixes(SPEED)))  # seeded
    assert not all(_same(a["clean"], b["clean"]) for a, b in zip(fast, mixes(ROOMS)))


def test_the_noises_augmentation_adds_a_second_noise_to_some_mixtures_and_leaves_older_recipes_alone(material):
    def mixes(p, k=40):
        return _mixes(material, p, 2, k)

    rooms, zero = mixes(ROOMS), mixes({**ROOMS, "second_noise": 0.0})
    assert all(_same(a["noisy"], b["noisy"]) and a["noise"] == b["noise"] for a, b in zip(rooms, zero))
    two = mixes(NOISES)
    assert all(_same(a["noisy"], b["noisy"]) for a, b in zip(two, mixes(NOISES)))  # seeded
    pairs = [x["noise"] for x in two if "+" in x["noise"]]
    noisy = [x for x in two if x["noise"] != "none"]
    assert 0.2 < len(pairs) / len(noisy) < 0.65  # about 40 % of the noisy mixtures
    kinds = {"babble", "white", "pink", "brown", "rumble", "cafe", "street", "berlin"}
    assert all(set(p.split("+")) <= kinds for p in pairs)
    assert all(np.all(np.isfinite(x["noisy"])) and len(x["noisy"]) == 8000 for x in two)
    # with the second noise at 0 dB against the first, their sum sets the SNR: the noise is the mixture minus
    # the speech, at the drawn SNR, and it is no longer one source's excerpt
    p = {**NOISES, "second_noise": 1.0, "second_noise_db": (0.0, 0.0), "clean": 0.0, "reverb": 0.0, "floor": 0.0,
         "telephone": 0.0, "clip": 0.0, "quantise": 0.0, "snr_db": (10.0, 10.0)}
    for x in mixes(p, k=8):
        n = x["noisy"] - x["clean"]
        assert "+" in x["noise"]
        assert abs(20 * np.log10(augment.rms(x["clean"]) / augment.rms(n)) - 10.0) < 0.01


def test_tonal_noise_is_tonal_band_limited_and_seeded():
    for sr in (8000, 16000):
        for style in sorted(set(augment.TONAL_STYLES + augment.WHISTLE_STYLES)):
            x = augment.tonal_noise(sr, sr, np.random.default_rng(4), style)
            assert len(x) == sr and np.all(np.isfinite(x)) and abs(augment.rms(x) - 1) < 1e-6
            assert np.array_equal(x, augment.tonal_noise(sr, sr, np.random.default_rng(4), style))
            frames = x[: sr // 32 * 30].reshape(30, -1) * np.hanning(sr // 32)
            spec = np.abs(np.fft.rfft(frames, axis=1)) ** 2
            loud = spec.sum(1) > 0.1 * spec.sum(1).max()
            # each sounding 31 ms frame holds its energy in a few bins (white noise would spread it over all)
            top = np.sort(spec[loud], axis=1)[:, ::-1][:, : spec.shape[1] // 10].sum(1) / spec[loud].sum(1)
            assert np.median(top) > 0.8, (sr, style)
            f = np.fft.rfftfreq(len(x), 1 / sr)
            s = np.abs(np.fft.rfft(x)) ** 2
            assert s[f > 0.46 * sr].sum() < 1e-3 * s.sum()  # nothing near Nyquist: no aliasing
    white = np.random.default_rng(0).standard_normal(sr)[: sr // 32 * 30].reshape(30, -1) * np.hanning(sr // 32)
    ws = np.abs(np.fft.rfft(white, axis=1)) ** 2
    assert np.median(np.sort(ws, axis=1)[:, ::-1][:, : ws.shape[1] // 10].sum(1) / ws.sum(1)) < 0.5


def test_the_tones_augmentation_replaces_some_recorded_noises_and_leaves_older_recipes_alone(material):
    def mixes(p):
        return _mixes(material, p, 5, 60)

    rooms, zero = mixes(ROOMS), mixes({**ROOMS, "tonal": 0.0})
    assert all(_same(a["noisy"], b["noisy"]) and a["noise"] == b["noise"] for a, b in zip(rooms, zero))
    tones = mixes(TONES)
    assert all(_same(a["noisy"], b["noisy"]) for a, b in zip(tones, mixes(TONES)))  # seeded
    labels = [x["noise"] for x in tones if x["noise"] != "none"]
    assert 0.03 < labels.count("tonal") / len(labels) < 0.3  # about 12 % of the noises
    recorded = {"cafe", "street", "berlin"}  # the tonal share comes out of the recorded noises'
    assert sum(x in recorded for x in labels) < sum(x["noise"] in recorded for x in rooms)


def test_whistles_draw_no_low_whine_and_otherwise_mix_as_tones_do(material):
    sr = 16000
    for seed in range(20):  # a whistle sits at 1 kHz or above; a whine may start at 300 Hz
        x = augment.tonal_noise(sr, sr, np.random.default_rng(seed), "whistle")
        s = np.abs(np.fft.rfft(x)) ** 2
        assert s[np.fft.rfftfreq(sr, 1 / sr) < 850].sum() < 1e-3 * s.sum(), seed
    tones, whistles = _mixes(material, TONES, 5, 60), _mixes(material, WHISTLES, 5, 60)
    first = next(i for i, x in enumerate(tones) if x["noise"] == "tonal")
    assert all(_same(a["noisy"], b["noisy"]) for a, b in zip(tones[:first], whistles[:first]))
    assert whistles[first]["noise"] == "tonal" and not _same(tones[first]["noisy"], whistles[first]["noisy"])
    assert all(_same(a["noisy"], b["noisy"]) for a, b in zip(whistles, _mixes(material, WHISTLES, 5, 60)))


def test_a_quiet_start_scales_only_the_first_part_of_both_signals():
    sr, n = 16000, 3 * 16000
    seen = set()
    for seed in range(30):
        target, noisy = np.ones(n), np.full(n, 2.0)
        t, x = _quiet_start(target, noisy, sr, np.random.default_rng(seed), PAUSES)
        k = int(np.argmax(x == 2.0))  # the first untouched sample
        assert 0.3 * sr - 1 <= k <= min(2.0 * sr, n // 2) and np.all(x[k:] == 2.0) and np.all(t[k:] == 1.0)
        scale = t[0]
        assert np.all(t[:k] == scale) and np.all(x[:k] == 2 * scale)
        assert scale == 0.0 or 10 ** (-60 / 20) - 1e-12 <= scale <= 10 ** (-20 / 20) + 1e-12
        seen.add(scale == 0.0)
        assert target[0] == 1.0 and noisy[0] == 2.0  # the inputs are left as they were
    assert seen == {True, False}  # digital silence on some, a quieter stretch on others


def test_the_pauses_augmentation_starts_some_segments_quietly_and_leaves_older_recipes_alone(material):
    off = {**WHISTLES, "leadin": 0.0, "speech_gap": 0.0}
    assert all(_same(a["noisy"], b["noisy"]) and "leadin" not in a
               for a, b in zip(_mixes(material, WHISTLES, 6, 40), _mixes(material, off, 6, 40)))
    pauses = _mixes(material, PAUSES, 6, 60)
    assert all(_same(a["noisy"], b["noisy"]) for a, b in zip(pauses, _mixes(material, PAUSES, 6, 60)))  # seeded
    assert 0.05 < sum(bool(x.get("leadin")) for x in pauses) / len(pauses) < 0.4  # about 20 %
    quiet, k = 0, 4000  # the start is 0.3-2 s long, at most half of the 0.5 s segment
    for seed in range(40):  # without the speech gap, a first mixture draws as in 'whistles' up to the quiet start
        a = mix_example(material, 8000, np.random.default_rng(seed), WHISTLES)
        b = mix_example(material, 8000, np.random.default_rng(seed), {**PAUSES, "speech_gap": 0.0})
        if not b.get("leadin"):
            assert _same(a["clean"], b["clean"])
            continue
        quiet += 1
        assert np.array_equal(a["clean"][k:], b["clean"][k:])
        ratio = augment.rms(b["clean"][:k]) / max(augment.rms(a["clean"][:k]), 1e-12)
        assert ratio == 0.0 or 10 ** (-60 / 20) * 0.999 <= ratio <= 10 ** (-20 / 20) * 1.001, (seed, ratio)
    assert quiet >= 2
    gaps = _mixes(material, {**PAUSES, "speech_gap": 1.0, "leadin": 0.0, "telephone": 0.0}, 7, 30)
    # noise without speech first (through EQ and rooms: nothing there but rounding)
    assert all(augment.rms(x["clean"][:k]) <= 1e-9 * augment.rms(x["clean"]) for x in gaps)
    noisy = [x for x in gaps if x["noise"] != "none" and np.any(x["clean"])]
    assert noisy and all(augment.rms(x["noisy"][:k]) > 0 for x in noisy)


def test_a_switch_puts_another_noise_before_a_point_at_the_drawn_level(material):
    n, sr = 16000, material.sr
    p = {**SWITCHES, "babble": 0.0, "generated": 1.0, "tonal": 0.0, "eq_noise": 0.0}
    for seed, db in [(0, 0.0), (1, 6.0), (2, -6.0), (3, 0.0)]:
        noise = np.random.default_rng(100 + seed).standard_normal(n)
        out, kind = _switched(material, noise, "nobody", np.random.default_rng(seed), {**p, "switch_db": (db, db)})
        assert kind in {"white", "pink", "brown", "rumble"} and out.shape == noise.shape
        kept = np.flatnonzero(out != noise)
        at = kept[-1] + 1  # from here on the noise is the one the segment ends with, untouched
        assert 0.25 * n <= at <= 0.75 * n and np.array_equal(out[at:], noise[at:])
        fade = int(0.02 * sr)
        before = out[: at - fade]
        level = 20 * np.log10(augment.rms(before) / augment.rms(noise[at:]))
        assert abs(level - db) < 1.0, (seed, level)  # the other noise, at the drawn level against this one
        assert np.corrcoef(before, noise[: at - fade])[0, 1] < 0.2  # and not this one
        assert noise[0] == np.random.default_rng(100 + seed).standard_normal(1)[0]  # the input is left as it was


def test_the_switches_augmentation_changes_the_noise_in_some_segments_and_leaves_older_recipes_alone(material):
    assert all(_same(a["noisy"], b["noisy"]) and a["noise"] == b["noise"] and "switch" not in a
               for a, b in zip(_mixes(material, WHISTLES, 8, 40), _mixes(material, {**SWITCHES, "switch": 0.0}, 8, 40)))
    mixes = _mixes(material, SWITCHES, 8, 80)
    assert all(_same(a["noisy"], b["noisy"]) for a, b in zip(mixes, _mixes(material, SWITCHES, 8, 80)))  # seeded
    noisy = [x for x in mixes if x["noise"] != "none"]
    switched = [x for x in noisy if x.get("switch")]
    assert 0.15 < len(switched) / len(noisy) < 0.5  # about 30 % of the noisy mixtures
    assert all(">" in x["noise"] for x in switched) and not any(">" in x["noise"] for x in mixes if not x.get("switch"))
    assert all(np.all(np.isfinite(x["noisy"])) and len(x["noisy"]) == 8000 for x in mixes)
    seen = 0
    for seed in range(30):  # up to the switch, a mixture draws as in 'whistles': the speech is the same
        a = mix_example(material, 8000, np.random.default_rng(seed), WHISTLES)
        b = mix_example(material, 8000, np.random.default_rng(seed), SWITCHES)
        if b.get("switch"):
            seen += 1
            assert a["speaker"] == b["speaker"] and not _same(a["noisy"], b["noisy"])
    assert seen >= 3


def test_a_teacher_blends_its_denoised_output_into_the_clean_target_and_nothing_else(material, runs):
    bins = S.n_fft // 2 + 1
    x0, y0 = _batches(material).batch(1)
    x1, y1 = _batches(material, teacher=str(runs["recurrent"]), teacher_weight=1.0).batch(1)
    xh, yh = _batches(material, teacher=str(runs["recurrent"]), teacher_weight=0.5).batch(1)
    assert _same(x0, x1) and _same(x0, xh)  # the same mixtures, inputs untouched
    clean_block = np.s_[..., bins:2 * bins]
    rest = np.ones(y0.shape[-1], bool)
    rest[bins:2 * bins] = False
    assert _same(y0[..., rest], y1[..., rest])  # noisy magnitudes, both log-mels and the weights stay
    noisy, clean, taught = y0[..., :bins], y0[clean_block], y1[clean_block]
    assert np.all(taught <= noisy * (1 + 1e-5)) and np.all(taught >= 0)  # gains in [floor, 1] on the noisy magnitude
    assert np.mean(taught) < np.mean(noisy) and not np.allclose(taught, clean, atol=1e-3)
    np.testing.assert_allclose(yh[clean_block], 0.5 * clean + 0.5 * taught, rtol=1e-5, atol=1e-7)
    _, y_off = _batches(material, teacher=str(runs["recurrent"]), teacher_weight=0.0).batch(1)
    assert _same(y_off, y0)


def test_memory_does_not_grow_with_batches(material):
    import tracemalloc

    b = _batches(material)
    b.batch(0)
    tracemalloc.start()
    for i in range(8):
        b.epoch = i
        b.batch(i % 4)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert current < 2e6  # nothing kept from batch to batch (one batch is about 5 MB while it lives)


def test_reverberation_keeps_direct_path_and_early_reflections():
    sr = 16000
    rir = np.zeros(8000)
    rir[40] = 1.0
    rir[40 + 400] = 0.5  # 25 ms: early
    rir[40 + 2400] = 0.5  # 150 ms: late
    x = np.zeros(4000)
    x[100] = 1.0
    target, wet = augment.reverberate(x, rir, sr)
    assert target[100] == pytest.approx(1.0) and target[500] == pytest.approx(0.5) and abs(target).sum() == pytest.approx(1.5)
    assert wet[2500] == pytest.approx(0.5)


def test_telephone_band_and_eq_and_clip():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(16000)
    y = augment.telephone(x, 16000)
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y), 1 / 16000)
    assert spec[(f < 150) | (f > 4000)].sum() < 0.01 * spec.sum()
    eq = augment.random_eq(x, rng)
    assert 0.3 < augment.rms(eq) / augment.rms(x) < 3
    c = augment.clip(x, rng)
    assert np.max(np.abs(c)) < np.max(np.abs(x))
    h = augment.synthetic_rir(16000, rng)
    assert h[0] == 1.0 and np.all(np.isfinite(h)) and len(h) <= 16000
