"""The training job: NaN loss keeps the best model, Ctrl-C leaves a resumable run whose history and best model
survive, empty splits refuse, and a run mixed on the fly from audio trains and saves."""

import csv
import json

import numpy as np
import pytest
import soundfile as sf

import ddae.train_run as train_run
from ddae.dataset import extract_feature_set, pair_files
from ddae.errors import DenoiserError
from ddae.inference import denoise_array, predict_gains
from ddae.losses import make_loss
from ddae.runs import load_run
from ddae.settings import FeatureSettings
from ddae.training import FeatureSequences

from conftest import train_config


def _epochs_logged(logs_dir, run_name):
    with open(logs_dir / run_name / "training_log.csv", newline="") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


def _interrupt_at(epoch_to_stop):
    import keras

    class CtrlC(keras.callbacks.Callback):
        nan_batch = None

        def on_epoch_end(self, epoch, logs=None):
            if epoch == epoch_to_stop:
                raise KeyboardInterrupt

    return CtrlC


def test_nan_loss_stops_and_keeps_the_best_model(feature_dir, tmp_path, monkeypatch):
    """Training targets turn NaN after the first epoch: training stops and keeps epoch 1's model."""
    real = FeatureSequences.batch

    def poisoned(self, i):
        x, y = real(self, i)
        return (x, np.full_like(y, np.nan)) if self.shuffle and self.epoch >= 1 else (x, y)

    monkeypatch.setattr(FeatureSequences, "batch", poisoned)
    run_path = train_run.train(train_config(feature_dir, tmp_path / "models", EPOCHS=4))
    run = load_run(run_path)
    assert run.config["stopped_on_nan"] is True
    assert run.config["best_epoch"] == 1 and np.isfinite(run.config["val_loss"])
    assert np.all(np.isfinite(denoise_array(run, np.random.default_rng(0).normal(0, 0.1, 8000))))
    assert [p.name for p in (tmp_path / "models").iterdir()] == [run_path.name]  # no partial folder left


def test_nan_from_the_first_epoch_is_an_error_and_leaves_nothing(feature_dir, tmp_path):
    cfg = train_config(feature_dir, tmp_path / "models", EPOCHS=2, LEARNING_RATE=1e12, CLIPNORM=0.0)
    with pytest.raises(DenoiserError, match="no finite validation loss"):
        train_run.train(cfg)
    assert list((tmp_path / "models").iterdir()) == []


def _val_loss_of(run_path, feature_dir, cfg):
    """The saved model's loss on the validation split, computed here, not taken from the run's records."""
    import keras

    from ddae.dataset import load_feature_set

    run = load_run(run_path)
    val = FeatureSequences(load_feature_set(feature_dir, "val"), run.norm, run.delay, 100, cfg["BATCH_SIZE"], False, 0)
    loss = make_loss(cfg["LOSS"], 64, None, run.norm.std)
    total = sum(float(loss(y, run.model(x))) * len(x) for x, y in (val.batch(i) for i in range(len(val))))
    del keras
    return total / sum(len(val.batch(i)[0]) for i in range(len(val)))


def test_interrupted_training_resumes_with_its_whole_history_and_best_model(feature_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(train_run, "nan_guard", lambda: _interrupt_at(1)())
    cfg = train_config(feature_dir, tmp_path / "models", EPOCHS=5, PATIENCE=10, SEGMENT_SECONDS=1.0)
    with pytest.raises(DenoiserError, match="--resume") as e:
        train_run.train(cfg)
    assert e.value.code == 130
    partials = list((tmp_path / "models").iterdir())
    assert len(partials) == 1 and partials[0].name.endswith(".partial") and (partials[0] / "resume.json").is_file()
    name = partials[0].name[1:-len(".partial")]
    before = json.loads((partials[0] / "history.json").read_text())
    assert len(before["epochs"]) == 2
    monkeypatch.undo()

    # after the interruption, training goes wrong (targets: leave the input as it is), so every later epoch
    # validates worse: the model kept must still be the best one from before the interruption
    real = FeatureSequences.batch

    def identity_targets(self, i):
        x, y = real(self, i)
        if self.shuffle:
            y = y.copy()
            y[..., 64:128] = y[..., 0:64]
        return x, y

    monkeypatch.setattr(FeatureSequences, "batch", identity_targets)
    resumed = train_run.train(train_config(feature_dir, tmp_path / "models", RESUME=name))
    assert resumed.name == name and not partials[0].exists()
    assert _epochs_logged(tmp_path / "model_logs", name) == [0, 1, 2, 3, 4]  # epochs 0-1, then 2-4 after resuming
    config = load_run(resumed).config
    history = json.loads((tmp_path / "model_logs" / name / "history.json").read_text())
    val = [e["val_loss"] for e in history["epochs"]]
    assert config["epochs_run"] == len(val) == 5 and val[:2] == [e["val_loss"] for e in before["epochs"]]
    assert min(val[2:]) > min(val[:2])  # the experiment did what it should
    assert config["best_epoch"] in (1, 2) and config["val_loss"] == pytest.approx(min(val[:2]))
    assert _val_loss_of(resumed, feature_dir, cfg) == pytest.approx(min(val[:2]), rel=1e-3)
    assert (tmp_path / "model_logs" / name / "training_curve.png").is_file()


def _cosine(rate, step, total, final=0.02):
    return rate * (final + (1 - final) * 0.5 * (1 + np.cos(np.pi * min(step, total) / total)))


def test_cosine_schedule_decays_over_the_epochs_and_resumes_where_it_stopped(feature_dir, tmp_path, monkeypatch):
    cfg = train_config(feature_dir, tmp_path / "models", EPOCHS=4, PATIENCE=10, LR_SCHEDULE="cosine")
    (tmp_path / "probe").mkdir()
    steps = len(train_run._Data(cfg, tmp_path / "probe").train)  # batches per epoch
    monkeypatch.setattr(train_run, "nan_guard", lambda: _interrupt_at(1)())
    with pytest.raises(DenoiserError, match="--resume"):
        train_run.train(cfg)
    monkeypatch.undo()
    partial, = (tmp_path / "models").glob(".*.partial")
    name = partial.name[1:-len(".partial")]
    resumed = train_run.train(train_config(feature_dir, tmp_path / "models", RESUME=name))  # EPOCHS 2 here: kept at 4
    history = json.loads((tmp_path / "model_logs" / name / "history.json").read_text())
    rates = [e["learning_rate"] for e in history["epochs"]]
    expected = [_cosine(0.002, steps * (k + 1), steps * 4) for k in range(4)]
    assert rates == pytest.approx(expected, rel=1e-4)  # the resumed epochs 3-4 continue the same curve
    assert rates[-1] == pytest.approx(0.002 * 0.02, rel=1e-4)
    assert load_run(resumed).config["epochs_run"] == 4


def test_unknown_schedule_is_a_clear_error(feature_dir, tmp_path):
    with pytest.raises(DenoiserError, match="learning-rate schedule 'linear'"):
        train_run.train(train_config(feature_dir, tmp_path / "models", LR_SCHEDULE="linear"))
    assert not (tmp_path / "models").exists() or list((tmp_path / "models").iterdir()) == []


def test_an_interruption_while_saving_resumes_without_training_again(feature_dir, tmp_path, monkeypatch):
    def ctrl_c(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_run, "identity_loss", ctrl_c)  # the first thing done after training
    cfg = train_config(feature_dir, tmp_path / "models", EPOCHS=2)
    with pytest.raises(KeyboardInterrupt):
        train_run.train(cfg)
    partial, = (tmp_path / "models").iterdir()
    history = json.loads((partial / "history.json").read_text())
    assert history["finished"] and len(history["epochs"]) == 2
    monkeypatch.undo()
    name = partial.name[1:-len(".partial")]
    resumed = train_run.train(train_config(feature_dir, tmp_path / "models", RESUME=name, EPOCHS=30))
    config = load_run(resumed).config
    assert config["epochs_run"] == 2 and config["val_loss"] == pytest.approx(min(e["val_loss"] for e in history["epochs"]))


def test_resume_of_an_unknown_run_is_a_clear_error(feature_dir, tmp_path):
    with pytest.raises(DenoiserError, match="no interrupted run 'nope'"):
        train_run.train(train_config(feature_dir, tmp_path / "models", RESUME="nope"))


def test_fine_tuning_keeps_the_lookahead_skip_of_its_starting_run(feature_dir, runs, tmp_path):
    source = load_run(runs["recurrent_skip"])
    assert source.arch["skip"] and source.arch["future"] == 3
    out = train_run.train(train_config(feature_dir, tmp_path / "models", 3, 0, 0, INIT_FROM=str(runs["recurrent_skip"]),
                                       EPOCHS=1, LEARNING_RATE=1e-12, LOOKAHEAD_SKIP=False))
    tuned = load_run(out)
    assert tuned.arch == source.arch
    for a, b in zip(tuned.model.get_weights(), source.model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_fine_tuning_with_the_skip_grows_a_run_without_it_and_starts_from_its_gains(feature_dir, runs, tmp_path, capsys):
    source = load_run(runs["recurrent_ahead"])
    assert not source.arch["skip"] and source.arch["future"] == 2
    out = train_run.train(train_config(feature_dir, tmp_path / "models", 3, 0, 0, INIT_FROM=str(runs["recurrent_ahead"]),
                                       EPOCHS=1, LEARNING_RATE=1e-12, LOOKAHEAD_SKIP=True))
    assert "the lookahead skip added to" in capsys.readouterr().out
    grown = load_run(out)
    assert grown.arch == {**source.arch, "skip": True}
    assert grown.model.count_params() > source.model.count_params()
    x = np.random.default_rng(0).normal(size=(2, 40, source.model.input_shape[-1])).astype("float32")
    np.testing.assert_allclose(grown.model.predict(x, verbose=0), source.model.predict(x, verbose=0), atol=1e-5)
    # a run without a lookahead has nothing to skip: the setting leaves it as it is
    causal = train_run.train(train_config(feature_dir, tmp_path / "models", 3, 0, 0, INIT_FROM=str(runs["recurrent"]),
                                          EPOCHS=1, LEARNING_RATE=1e-12, LOOKAHEAD_SKIP=True))
    assert load_run(causal).arch == load_run(runs["recurrent"]).arch


def test_fine_tuning_with_grow_lookahead_holds_the_same_network_s_gains_back_longer(feature_dir, runs, tmp_path):
    """GROW_LOOKAHEAD gives a type 3 run more frames of lookahead with the same weights: before it trains, the
    gain of frame t is what the source gave frame t + GROW_LOOKAHEAD (the network now sees that much further
    ahead of the frame it gains). Types 1 and 2 (whose window would change shape) and negative values are refused."""
    source = load_run(runs["recurrent_ahead"])
    out = train_run.train(train_config(feature_dir, tmp_path / "models", 3, 0, 0, INIT_FROM=str(runs["recurrent_ahead"]),
                                       EPOCHS=1, LEARNING_RATE=1e-12, LOOKAHEAD_SKIP=False, GROW_LOOKAHEAD=2))
    grown = load_run(out)
    assert grown.arch == {**source.arch, "future": source.arch["future"] + 2} and grown.delay == source.delay + 2
    assert grown.settings.context_future == source.settings.context_future + 2
    for a, b in zip(grown.model.get_weights(), source.model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    logmel = np.random.default_rng(1).normal(-8.0, 3.0, (60, source.settings.n_mels)).astype("float32")
    g_source, g_grown = predict_gains(source, logmel), predict_gains(grown, logmel)
    assert g_grown.shape == g_source.shape == (60, source.settings.n_mels)
    np.testing.assert_allclose(g_grown[:-4], g_source[2:-2], atol=1e-5)
    assert np.abs(g_grown[:-4] - g_source[:-4]).max() > 1e-3
    for spec, more in ((runs["recurrent_ahead"], -1), (runs["dense"], 1)):
        with pytest.raises(DenoiserError, match="grow_lookahead must be 0 or more"):
            train_run.train(train_config(feature_dir, tmp_path / "models", 3, 0, 0, INIT_FROM=str(spec), GROW_LOOKAHEAD=more))
    with pytest.raises(DenoiserError, match="grow_lookahead grows a trained run"):  # nothing to grow
        train_run.train(train_config(feature_dir, tmp_path / "models", 3, 0, 0, GROW_LOOKAHEAD=2))


def test_fine_tuning_with_more_gru_layers_grows_the_run_and_starts_from_its_gains(feature_dir, runs, tmp_path, capsys):
    """RECURRENT_LAYERS above the starting run's adds GRUs on top; the grown run gives the source's gains, in
    Keras and in its ONNX export, until it trains; a lower setting cannot shrink a run."""
    from ddae.models import gru_layers

    source = load_run(runs["recurrent_skip"], backend="keras")
    out = train_run.train(train_config(feature_dir, tmp_path / "models", 3, 0, 0, INIT_FROM=str(runs["recurrent_skip"]),
                                       EPOCHS=1, LEARNING_RATE=1e-12, RECURRENT_LAYERS=3))
    assert "1 GRU layer(s) added to" in capsys.readouterr().out
    keras_run, onnx_run = load_run(out, backend="keras"), load_run(out, backend="onnx")
    assert gru_layers(keras_run.arch) == 3 and keras_run.arch["skip"]
    assert keras_run.model.get_layer("gains").kernel.shape[0] == 5 * source.arch["units"]
    x = np.random.default_rng(0).normal(size=(2, 40, source.model.input_shape[-1])).astype("float32")
    np.testing.assert_allclose(keras_run.model.predict(x, verbose=0), source.model.predict(x, verbose=0), atol=1e-5)
    logmel = np.random.default_rng(1).normal(-8.0, 3.0, (120, source.settings.n_mels)).astype("float32")
    np.testing.assert_allclose(predict_gains(onnx_run, logmel), predict_gains(source, logmel), atol=1e-4)
    again = train_run.train(train_config(feature_dir, tmp_path / "models", 3, 0, 0, INIT_FROM=str(out),
                                         EPOCHS=1, LEARNING_RATE=1e-12, RECURRENT_LAYERS=2))
    assert gru_layers(load_run(again).arch) == 3


def test_fine_tuning_starts_from_a_runs_weights_and_inputs(feature_dir, runs, tmp_path, capsys):
    source = load_run(runs["recurrent"])
    # the settings given here differ from the source's: the source's architecture and inputs win; the loss is
    # the one given, with a note that it differs
    out = train_run.train(train_config(feature_dir, tmp_path / "models", 1, 5, 5, INIT_FROM=str(runs["recurrent"]),
                                       EPOCHS=1, LEARNING_RATE=1e-12, NORMALISATION="global", LOSS="mask"))
    assert "was trained with the 'compressed' loss; this run uses 'mask'" in capsys.readouterr().out
    tuned = load_run(out)
    assert tuned.config["loss"] == "mask"
    assert tuned.arch == source.arch and tuned.norm.mode == source.norm.mode == "running+floor"
    assert tuned.norm.prime_frames == source.norm.prime_frames and tuned.norm.alpha == pytest.approx(source.norm.alpha)
    for a, b in zip(tuned.model.get_weights(), source.model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)  # a learning rate of 1e-12 leaves them where they started
    with pytest.raises(DenoiserError, match="no such model run"):
        train_run.train(train_config(feature_dir, tmp_path / "models", INIT_FROM=str(tmp_path / "nope")))


def test_empty_validation_split_is_refused(sample_dir, tmp_path):
    out = tmp_path / "features"
    extract_feature_set(pair_files(sample_dir / "clean", sample_dir / "noisy"), out, FeatureSettings(), 0.0, 0.0, 0)
    with pytest.raises(DenoiserError, match="validation split is empty"):
        train_run.train(train_config(out, tmp_path / "models"))
    assert not (tmp_path / "models").exists() or list((tmp_path / "models").iterdir()) == []


def test_every_loss_trains_to_below_leaving_the_input_alone(runs):
    for kind in ("dense", "recurrent", "recurrent_ahead"):
        config = load_run(runs[kind]).config
        assert config["val_loss"] < config["identity_val_loss"], (kind, config["loss"])
        assert config["loss_reference"] == config["settings"]["loss_reference"] == "noisy"


@pytest.fixture(scope="module")
def material(sample_dir, tmp_path_factory):
    """Your own data in the plain layout: speech/<speaker>/ (the sample set's clean files) and noise/<source>/."""
    root = tmp_path_factory.mktemp("material")
    for i, f in enumerate(sorted((sample_dir / "clean").glob("*.wav"))):
        (root / "speech" / f"spk{i % 4}").mkdir(parents=True, exist_ok=True)
        (root / "speech" / f"spk{i % 4}" / f.name).write_bytes(f.read_bytes())
    rng = np.random.default_rng(0)
    for source in ("hiss", "hum"):
        (root / "noise" / source).mkdir(parents=True)
        for k in range(3):
            t = np.arange(16000 * 2) / 16000
            x = 0.05 * rng.standard_normal(len(t)) if source == "hiss" else 0.1 * np.sin(2 * np.pi * (50 + 10 * k) * t)
            sf.write(root / "noise" / source / f"{k}.wav", x, 16000)
    return root


def test_training_from_audio_mixed_on_the_fly(material, tmp_path):
    cfg = train_config("", tmp_path / "models", 3, 0, 0, MATERIAL=str(material), STEPS_PER_EPOCH=3, BATCH_SIZE=4,
                       VAL_BATCHES=1, EPOCHS=2)
    run = load_run(train_run.train(cfg))
    assert run.config["material"] == str(material) and run.norm.mode == "running"
    assert run.config["val_loss"] < run.config["identity_val_loss"]
    assert (tmp_path / "model_logs" / run.name / "material.csv").is_file()
    y = denoise_array(run, np.random.default_rng(1).normal(0, 0.05, 16000))
    assert y.shape == (16000,) and np.all(np.isfinite(y))


def test_training_with_a_teacher_saves_it_and_refuses_one_that_does_not_fit(material, runs, tmp_path):
    cfg = train_config("", tmp_path / "models", 3, 0, 0, MATERIAL=str(material), STEPS_PER_EPOCH=2, BATCH_SIZE=4,
                       VAL_BATCHES=1, EPOCHS=1, TEACHER=str(runs["recurrent"]), TEACHER_WEIGHT=0.5)
    run = load_run(train_run.train(cfg))
    assert run.config["settings"]["teacher"] == str(runs["recurrent"]) and run.config["settings"]["teacher_weight"] == 0.5
    with pytest.raises(DenoiserError, match="other feature settings than the run it would teach \\(log_floor: 1e-14 vs 1e-10\\)"):
        train_run.train({**cfg, "LOG_FLOOR": 1e-10, "MODELS_DIR": str(tmp_path / "m8")})
    assert not any((tmp_path / "m8").iterdir())
    with pytest.raises(DenoiserError, match="teacher_weight must be between 0 and 1"):
        train_run.train({**cfg, "TEACHER_WEIGHT": 1.5, "MODELS_DIR": str(tmp_path / "m9")})
    with pytest.raises(DenoiserError, match="teacher needs training from audio"):
        train_run.train({**cfg, "MATERIAL": "", "MODELS_DIR": str(tmp_path / "m10")})


def test_material_without_speech_or_noise_is_a_clear_error(tmp_path):
    with pytest.raises(DenoiserError, match="speech.csv and noise.csv"):
        train_run.train(train_config("", tmp_path / "models", 3, 0, 0, MATERIAL=str(tmp_path)))
    assert list((tmp_path / "models").iterdir()) == []
    assert list((tmp_path / "model_logs").iterdir()) == []  # the log folder that claimed the run's name is gone too


def test_fine_tuning_with_grow_units_widens_the_run_and_starts_from_its_gains(feature_dir, runs, tmp_path, capsys):
    """GROW_UNITS widens a type 3 run's front end and GRUs (here together with a third GRU); the wider run gives
    the source's gains in Keras and in its ONNX export until it trains, and its new units then learn."""
    from ddae.models import gru_layers

    source = load_run(runs["recurrent_skip"], backend="keras")
    u = source.arch["units"]
    out = train_run.train(train_config(feature_dir, tmp_path / "models", 3, 0, 0, INIT_FROM=str(runs["recurrent_skip"]),
                                       EPOCHS=1, LEARNING_RATE=1e-12, GROW_UNITS=8, RECURRENT_LAYERS=3))
    assert "8 units per layer" in capsys.readouterr().out
    keras_run, onnx_run = load_run(out, backend="keras"), load_run(out, backend="onnx")
    assert keras_run.arch == {**source.arch, "units": u + 8, "gru_layers": 3}
    assert keras_run.model.get_layer("gru_0").get_weights()[1].shape == (u + 8, 3 * (u + 8))
    x = np.random.default_rng(0).normal(size=(2, 40, source.model.input_shape[-1])).astype("float32")
    np.testing.assert_allclose(keras_run.model.predict(x, verbose=0), source.model.predict(x, verbose=0), atol=1e-5)
    logmel = np.random.default_rng(1).normal(-8.0, 3.0, (120, source.settings.n_mels)).astype("float32")
    np.testing.assert_allclose(predict_gains(onnx_run, logmel), predict_gains(source, logmel), atol=1e-4)
    # the new units are not dead: a real learning rate moves the gains away from the source's
    trained = train_run.train(train_config(feature_dir, tmp_path / "models", 3, 0, 0, INIT_FROM=str(runs["recurrent_skip"]),
                                           EPOCHS=1, GROW_UNITS=8))
    new_cols = load_run(trained, backend="keras").model.get_layer("gains").get_weights()[0][u:u + 8]
    assert np.abs(new_cols).max() > 0
    with pytest.raises(DenoiserError, match="grow_units must be 0 or more"):
        train_run.train(train_config(feature_dir, tmp_path / "models", 3, 0, 0, INIT_FROM=str(runs["recurrent_skip"]),
                                     GROW_UNITS=-1))


def test_fine_tuning_with_band_filters_adds_the_band_front_end_and_starts_from_its_gains(feature_dir, runs, tmp_path, capsys):
    """BAND_FILTERS on a run without a band front end adds one (its features enter the first front-end layer
    through weights that start at zero): the grown run gives the source's gains until it trains; trained, the
    band front end is used, and the ONNX export, which writes it out as its own operators, agrees with Keras."""
    source = load_run(runs["recurrent_skip"], backend="keras")
    out = train_run.train(train_config(feature_dir, tmp_path / "models", 3, 0, 0, INIT_FROM=str(runs["recurrent_skip"]),
                                       EPOCHS=1, LEARNING_RATE=1e-12, BAND_FILTERS=4))
    assert "the band front end" in capsys.readouterr().out
    grown = load_run(out, backend="keras")
    assert grown.arch == {**source.arch, "band_filters": 4}
    x = np.random.default_rng(0).normal(size=(2, 40, source.model.input_shape[-1])).astype("float32")
    np.testing.assert_allclose(grown.model.predict(x, verbose=0), source.model.predict(x, verbose=0), atol=1e-5)
    trained = train_run.train(train_config(feature_dir, tmp_path / "models", 3, 0, 0, INIT_FROM=str(runs["recurrent_skip"]),
                                           EPOCHS=1, LEARNING_RATE=3e-3, BAND_FILTERS=4))
    keras_run, onnx_run = load_run(trained, backend="keras"), load_run(trained, backend="onnx")
    n_in = source.model.input_shape[-1]
    assert np.abs(keras_run.model.get_layer("front_0").get_weights()[0][:, n_in:]).max() > 0  # the bands are heard
    logmel = np.random.default_rng(1).normal(-8.0, 3.0, (120, source.settings.n_mels)).astype("float32")
    assert np.abs(predict_gains(keras_run, logmel) - predict_gains(source, logmel)).max() > 1e-4
    np.testing.assert_allclose(predict_gains(onnx_run, logmel), predict_gains(keras_run, logmel), atol=1e-4)
    # fine-tuning a run that has one keeps it
    again = train_run.train(train_config(feature_dir, tmp_path / "models", 3, 0, 0, INIT_FROM=str(trained), EPOCHS=1))
    assert load_run(again, backend="keras").arch["band_filters"] == 4
