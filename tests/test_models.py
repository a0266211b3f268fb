"""The model contract: (T, n_mels) normalised log-mel -> (T, n_mels) gains for every type; runs on disk."""

import json
import shutil
import warnings

import numpy as np
import pytest

from ddae.errors import DenoiserError
from ddae.models import architecture, build_model, receptive_field, stream_model
from ddae.normalise import Normaliser
from ddae.runs import list_runs, load_run, resolve_run_path, save_run
from ddae.settings import FeatureSettings

ARCHS = {1: dict(units="32,16,32"), 2: dict(filters="4,8"), 3: dict(recurrent_units=16)}


def _arch(model_type, past=3, future=2):
    return architecture(model_type, 64, past, future, **ARCHS[model_type])


@pytest.mark.parametrize("model_type", [1, 2, 3])
def test_every_type_maps_frames_to_gains_of_any_length(model_type, rng):
    model = build_model(_arch(model_type))
    assert model.input_shape[1:] == (None, 64) and model.output_shape[1:] == (None, 64)
    for n in (1, 37, 250):
        g = np.asarray(model(rng.normal(size=(2, n, 64)).astype(np.float32)))
        assert g.shape == (2, n, 64)


@pytest.mark.parametrize("model_type", [1, 2])
def test_windowed_types_see_exactly_their_window(model_type, rng):
    """Output t depends on input frames t - past - future .. t and on nothing else (the lookahead is a delay)."""
    past, future = 3, 2
    model = build_model(_arch(model_type, past, future))
    model.set_weights([w + rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    x = rng.normal(size=(1, 40, 64)).astype(np.float32)
    base = np.asarray(model(x))[0]
    field = receptive_field(model_type, past, future)
    for t_in in (5, 20):
        y = x.copy()
        y[0, t_in] += 5.0
        changed = np.flatnonzero(np.any(np.abs(np.asarray(model(y))[0] - base) > 1e-6, axis=1))
        assert changed.min() >= t_in and changed.max() <= t_in + field - 1
        assert set(changed) == set(range(t_in, t_in + field))


def test_the_recurrent_type_is_causal_and_remembers(rng):
    model = build_model(_arch(3, 0, 0))
    x = rng.normal(size=(1, 60, 64)).astype(np.float32)
    base = np.asarray(model(x))[0]
    y = x.copy()
    y[0, 10] += 5.0
    diff = np.max(np.abs(np.asarray(model(y))[0] - base), axis=1)
    assert np.all(diff[:10] == 0) and diff[10] > 0 and diff[40] > 0  # nothing before, something long after


@pytest.mark.parametrize("model_type", [1, 2, 3])
def test_the_stream_model_carries_state_exactly(model_type, rng):
    model = build_model(_arch(model_type))
    stream, shapes = stream_model(model, _arch(model_type))
    x = rng.normal(size=(1, 50, 64)).astype(np.float32)
    state = [np.zeros((1, *s), np.float32) for s in shapes]
    out = []
    for a, b in ((0, 1), (1, 8), (8, 9), (9, 31), (31, 50)):
        y, *state = stream([x[:, a:b], *state])
        out.append(np.asarray(y))
        state = [np.asarray(v) for v in state]
    assert np.max(np.abs(np.concatenate(out, 1) - np.asarray(model(x)))) < 1e-5


def test_the_band_front_end_looks_along_the_bands_of_each_frame_and_streams_exactly(rng):
    """band_filters: a (T, 2 x 64) input gains (T, 32 x filters) band features per frame, no state of its own (a
    change at frame 20 reaches the band features of frame 20 only), and the stream model still equals the whole."""
    import keras

    arch = architecture(3, 64, 0, 2, recurrent_units=16, channels=2, band_filters=4)
    assert arch["band_filters"] == 4 and "band_filters" not in architecture(3, 64, 0, 2, channels=2)
    model = build_model(arch)
    assert model.get_layer("front_0").kernel.shape[1] == 2 * 64 + 32 * 4
    bands = keras.Model(model.input, model.get_layer("bands_flat").output)
    x = rng.normal(size=(1, 40, 128)).astype(np.float32)
    y = x.copy()
    y[0, 20, 70] += 1.0  # band 6 of the second channel
    diff = np.abs(np.asarray(bands(y)) - np.asarray(bands(x)))[0]
    assert diff.shape == (40, 32 * 4) and np.all(diff[np.arange(40) != 20] == 0)
    touched = np.flatnonzero(diff[20].reshape(32, 4).max(axis=1) > 0)  # band pairs whose features moved
    assert 0 < touched.min() and touched.max() < 8  # near band 6, not across the spectrum
    stream, shapes = stream_model(model, arch)
    state = [np.zeros((1, *s), np.float32) for s in shapes]
    out = []
    for a, b in ((0, 1), (1, 13), (13, 40)):
        g, *state = stream([x[:, a:b], *state])
        out.append(np.asarray(g))
        state = [np.asarray(v) for v in state]
    assert np.max(np.abs(np.concatenate(out, 1) - np.asarray(model(x)))) < 1e-5
    with pytest.raises(DenoiserError, match="band_filters"):
        architecture(3, 64, 0, 2, band_filters=-1)


def test_the_skip_gives_the_gain_layer_the_gained_frames_front_end_output(rng):
    """With LOOKAHEAD_SKIP, output t gets the front end at frame t - delay (zeros before the start), exactly; the
    stream model carries those frames across chunks; without a lookahead or the option there is no such path."""
    import keras

    arch = architecture(3, 64, 0, 3, recurrent_units=16, skip=True)
    model = build_model(arch)
    x = rng.normal(size=(1, 30, 64)).astype(np.float32)
    probe = keras.Model(model.input, [model.get_layer("front_1").output, model.get_layer("gained_frame_delayed").output])
    front, held = (np.asarray(v)[0] for v in probe(x))
    assert np.all(held[:3] == 0) and np.array_equal(held[3:], front[:-3])
    assert model.get_layer("gains").kernel.shape[0] == 4 * 16  # front end, two GRUs, the held-back frame
    stream, shapes = stream_model(model, arch)
    assert shapes[-1] == (3, 16)
    state, out = [np.zeros((1, *s), np.float32) for s in shapes], []
    for a, b in ((0, 2), (2, 3), (3, 17), (17, 30)):  # chunks shorter and longer than the delay
        y, *state = stream([x[:, a:b], *state])
        out.append(np.asarray(y))
        state = [np.asarray(v) for v in state]
    assert np.max(np.abs(np.concatenate(out, 1) - np.asarray(model(x)))) < 1e-5
    for plain in (architecture(3, 64, 0, 0, recurrent_units=16, skip=True), architecture(3, 64, 0, 3, recurrent_units=16)):
        assert not plain["skip"] and build_model(plain).get_layer("gains").kernel.shape[0] == 3 * 16
    old = dict(arch)
    del old["skip"]  # a run saved before the option: read as without it
    assert build_model(old).get_layer("gains").kernel.shape[0] == 3 * 16


@pytest.mark.parametrize("layers", [1, 3])
def test_the_recurrent_type_takes_any_number_of_gru_layers(layers, rng):
    """GRUs past the second come after the skip in the gain layer's input (so a run grows by appending rows);
    the stream model carries every GRU's state; runs saved before the option have two."""
    arch = architecture(3, 64, 0, 3, recurrent_units=16, skip=True, recurrent_layers=layers)
    model = build_model(arch)
    assert model.get_layer("gains").kernel.shape[0] == (2 + layers) * 16
    assert [l.name for l in model.layers if l.name.startswith("gru_")] == [f"gru_{i}" for i in range(layers)]
    stream, shapes = stream_model(model, arch)
    assert len(shapes) == 2 + layers + 1  # two front-end convolutions, the GRUs, the held-back frames
    x = rng.normal(size=(1, 30, 64)).astype(np.float32)
    state, out = [np.zeros((1, *s), np.float32) for s in shapes], []
    for a, b in ((0, 5), (5, 6), (6, 30)):
        y, *state = stream([x[:, a:b], *state])
        out.append(np.asarray(y))
        state = [np.asarray(v) for v in state]
    assert np.max(np.abs(np.concatenate(out, 1) - np.asarray(model(x)))) < 1e-5
    old = dict(arch)
    del old["gru_layers"]
    assert build_model(old).get_layer("gains").kernel.shape[0] == 4 * 16
    with pytest.raises(DenoiserError, match="recurrent_layers"):
        architecture(3, 64, 0, 3, recurrent_layers=0)


@pytest.mark.parametrize("model_type", [1, 2, 3])
def test_two_input_channels_for_the_floor_features(model_type, rng):
    arch = architecture(model_type, 64, 3, 1, channels=2, **ARCHS[model_type])
    model = build_model(arch)
    assert model.input_shape[1:] == (None, 128) and model.output_shape[1:] == (None, 64)
    stream, shapes = stream_model(model, arch)
    x = rng.normal(size=(1, 20, 128)).astype(np.float32)
    state = [np.zeros((1, *s), np.float32) for s in shapes]
    y, *state = stream([x[:, :9], *state])
    z, *_ = stream([x[:, 9:], *[np.asarray(v) for v in state]])
    assert np.max(np.abs(np.concatenate([np.asarray(y), np.asarray(z)], 1) - np.asarray(model(x)))) < 1e-5


def test_bad_model_type_and_shapes():
    with pytest.raises(DenoiserError, match="model_type"):
        architecture(4, 64, 3, 3)
    with pytest.raises(DenoiserError, match="divisible"):
        build_model(architecture(2, 30, 3, 3, filters="4,8"))
    with pytest.raises(DenoiserError, match="units"):
        build_model(architecture(1, 64, 3, 3, units="64,abc"))


def _norm(rng):
    return Normaliser("global", rng.normal(size=64), np.ones(64))


@pytest.mark.parametrize("model_type", [1, 2, 3])
def test_save_and_reload_give_identical_gains(model_type, tmp_path, rng):
    arch = _arch(model_type)
    s = FeatureSettings(context_past=arch["past"], context_future=arch["future"])
    model = build_model(arch)
    save_run(tmp_path / "run", model, s, _norm(rng), {"architecture": arch})
    run = load_run(tmp_path / "run")
    x = rng.normal(size=(33, 64)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. Keras' "structure of `inputs` doesn't match" on every call
        g, _ = run.gains(x, run.initial_state())
    assert np.max(np.abs(g - np.asarray(model(x[None]))[0])) < 1e-5
    assert run.settings == s and run.model_type == model_type and run.delay == 2


def test_load_refuses_broken_runs(runs, tmp_path):
    with pytest.raises(DenoiserError, match="no such model run"):
        load_run(tmp_path / "missing")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DenoiserError, match="not a model run"):
        load_run(tmp_path / "file.txt")
    for missing in ("feature_settings.json", "norm_stats.npz", "model.keras", "train_config.json"):
        broken = tmp_path / f"no_{missing}"
        shutil.copytree(runs["dense"], broken)
        (broken / missing).unlink()
        with pytest.raises(DenoiserError, match=missing.split(".")[0]):
            load_run(broken)
    corrupt = tmp_path / "corrupt"
    shutil.copytree(runs["dense"], corrupt)
    (corrupt / "model.keras").write_bytes(b"not a zip")
    with pytest.raises(DenoiserError, match="cannot be loaded"):
        load_run(corrupt, backend="keras")
    with pytest.raises(DenoiserError, match="not exported from this run's model.keras"):
        load_run(corrupt)  # its model.onnx no longer belongs to it


def test_runs_of_the_old_window_format_are_refused_with_a_reason(runs, tmp_path, rng):
    """A run saved by version 0.1 (a window in, the centre frame out; no architecture) is not silently misread."""
    import keras

    old = tmp_path / "old"
    shutil.copytree(runs["dense"], old)
    (old / "train_config.json").write_text(json.dumps({"model_type": 1, "target": "mask"}))
    with pytest.raises(DenoiserError, match="older version must be retrained"):
        load_run(old)
    shutil.copy(runs["dense"] / "train_config.json", old / "train_config.json")
    inp = keras.Input((7, 64))
    keras.Model(inp, keras.layers.Dense(64)(keras.layers.Flatten()(inp))).save(old / "model.keras")
    with pytest.raises(DenoiserError, match="contract"):
        load_run(old, backend="keras")
    np.savez(old / "norm_stats.npz", noisy_mean=np.zeros(64), noisy_std=np.ones(64))
    with pytest.raises(DenoiserError, match="normalisation statistics"):
        load_run(old)


def test_settings_that_contradict_the_model_are_refused(runs, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(runs["dense"], bad)
    FeatureSettings(n_mels=40, context_past=3, context_future=3).save(bad)
    with pytest.raises(DenoiserError, match="settings say 40 bands, the architecture 64"):
        load_run(bad)
    FeatureSettings(context_past=3, context_future=1).save(bad)
    with pytest.raises(DenoiserError, match="context"):
        load_run(bad)
    FeatureSettings(context_past=3, context_future=3).save(bad)
    config = json.loads((bad / "train_config.json").read_text())
    config["architecture"]["model_type"] = 7
    (bad / "train_config.json").write_text(json.dumps(config))
    with pytest.raises(DenoiserError, match="unknown model type 7"):
        load_run(bad)


def test_a_model_file_of_another_shape_is_refused(runs, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(runs["dense"], bad)
    shutil.copy(runs["recurrent"] / "model.keras", bad / "model.keras")  # 128 inputs where the run has 64
    with pytest.raises(DenoiserError, match="does not match the contract"):
        load_run(bad, backend="keras")


def test_check_features_names_the_differences(runs):
    run = load_run(runs["dense"])
    run.check_features(FeatureSettings(), "x")  # context differences do not matter
    with pytest.raises(DenoiserError, match="n_mels: 64 vs 40"):
        run.check_features(FeatureSettings(n_mels=40), "the features")


def test_latest_and_paths(runs, tmp_path, monkeypatch):
    import ddae.runs

    models = runs["dense"].parent
    assert resolve_run_path("latest", models) == list_runs(models)[-1]
    assert resolve_run_path(str(runs["conv"] / "model.keras"), models) == runs["conv"]
    with pytest.raises(DenoiserError, match="no trained model"):
        resolve_run_path("latest", tmp_path)
    # from any working directory, the shipped models are found in the project's own models/pretrained/
    assert resolve_run_path("pretrained", tmp_path).parent == ddae.runs.PROJECT_MODELS / "pretrained"
    assert resolve_run_path("default", models).parent == ddae.runs.PROJECT_MODELS / "pretrained"
    monkeypatch.setattr(ddae.runs, "PROJECT_MODELS", tmp_path / "elsewhere")
    with pytest.raises(DenoiserError, match="no pretrained"):
        resolve_run_path("pretrained", tmp_path)
    assert resolve_run_path("default", models) == list_runs(models)[-1]  # nothing shipped: the newest run


def test_saved_runs_carry_no_optimizer_state(tmp_path, rng):
    """A trained, compiled model is saved with its weights only (Adam's moments would triple the file)."""
    arch = architecture(1, 64, 2, 2, units="256,256")
    model = build_model(arch)
    model.compile(optimizer="adam", loss="mse")
    model.fit(rng.normal(size=(4, 20, 64)).astype(np.float32), rng.uniform(size=(4, 20, 64)).astype(np.float32), verbose=0)
    save_run(tmp_path / "run", model, FeatureSettings(context_past=2, context_future=2), _norm(rng), {"architecture": arch})
    size = (tmp_path / "run" / "model.keras").stat().st_size
    assert size < 1.3 * 4 * model.count_params() + 50_000, size
