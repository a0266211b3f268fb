"""The training job: NaN loss keeps the best model, Ctrl-C leaves a resumable run, empty splits refuse."""

import csv

import numpy as np
import pytest

import ddae.train_run as train_run
from ddae.dataset import extract_feature_set, pair_files
from ddae.errors import DenoiserError
from ddae.models import load_run
from ddae.settings import FeatureSettings
from ddae.training import StopOnNaN

from conftest import train_config


def _epochs_logged(logs_dir, run_name):
    with open(logs_dir / run_name / "training_log.csv", newline="") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


def test_nan_loss_stops_and_keeps_the_best_model(feature_dir, tmp_path, monkeypatch):
    """Training targets turn NaN after the first epoch: training stops and keeps epoch 1's model."""
    state = {"poison": False}
    real_sequence, real_make = train_run.make_sequence, StopOnNaN.make

    def poisoned(index, batch_size, shuffle, seed, frames_per_epoch=0):
        seq = real_sequence(index, batch_size, shuffle, seed, frames_per_epoch)
        if not shuffle:
            return seq  # validation batches stay clean
        get = seq.__getitem__

        class Poisoned(type(seq)):
            def __getitem__(self, i):
                x, y = get(i)
                return (x, np.full_like(y, np.nan)) if state["poison"] else (x, y)

        seq.__class__ = Poisoned
        return seq

    def make():
        cb = real_make()
        end = cb.on_epoch_end

        def on_epoch_end(epoch, logs=None):
            state["poison"] = True
            return end(epoch, logs)

        cb.on_epoch_end = on_epoch_end
        return cb

    monkeypatch.setattr(train_run, "make_sequence", poisoned)
    monkeypatch.setattr(StopOnNaN, "make", staticmethod(make))
    cfg = train_config(feature_dir, tmp_path / "models", EPOCHS=4)
    run_path = train_run.train(cfg)
    run = load_run(run_path)
    assert run.config["stopped_on_nan"] is True
    assert run.config["best_epoch"] == 1 and np.isfinite(run.config["val_loss"])
    windows = np.zeros((3, run.settings.context, run.settings.n_mels), np.float32)
    assert np.all(np.isfinite(run.predict(windows)))
    assert [p.name for p in (tmp_path / "models").iterdir()] == [run_path.name]  # no partial folder left


def test_nan_from_the_first_epoch_is_an_error_and_leaves_nothing(feature_dir, tmp_path):
    cfg = train_config(feature_dir, tmp_path / "models", EPOCHS=2, LEARNING_RATE=1e12)
    with pytest.raises(DenoiserError, match="no finite validation loss"):
        train_run.train(cfg)
    assert list((tmp_path / "models").iterdir()) == []


def test_interrupted_training_resumes_where_it_stopped(feature_dir, tmp_path, monkeypatch):
    import keras

    class CtrlC(keras.callbacks.Callback):
        nan_epoch = None

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    monkeypatch.setattr(StopOnNaN, "make", staticmethod(lambda: CtrlC()))
    cfg = train_config(feature_dir, tmp_path / "models", EPOCHS=4, PATIENCE=10)
    with pytest.raises(DenoiserError, match="--resume") as e:
        train_run.train(cfg)
    assert e.value.code == 130
    partials = list((tmp_path / "models").iterdir())
    assert len(partials) == 1 and partials[0].name.endswith(".partial") and (partials[0] / "resume.json").is_file()
    name = partials[0].name[1:-len(".partial")]
    monkeypatch.undo()

    resumed = train_run.train(train_config(feature_dir, tmp_path / "models", RESUME=name))
    assert resumed.name == name and not partials[0].exists()
    assert _epochs_logged(tmp_path / "model_logs", name) == [0, 1, 2, 3]  # epochs 0-1, then 2-3 after resuming
    assert load_run(resumed).config["settings"]["epochs"] == 4


def test_resume_of_an_unknown_run_is_a_clear_error(feature_dir, tmp_path):
    with pytest.raises(DenoiserError, match="no interrupted run 'nope'"):
        train_run.train(train_config(feature_dir, tmp_path / "models", RESUME="nope"))


def test_empty_validation_split_is_refused(sample_dir, tmp_path):
    out = tmp_path / "features"
    extract_feature_set(pair_files(sample_dir / "clean", sample_dir / "noisy"), out, FeatureSettings(), 0.0, 0.0, 0)
    with pytest.raises(DenoiserError, match="validation split is empty"):
        train_run.train(train_config(out, tmp_path / "models"))
    assert not (tmp_path / "models").exists() or list((tmp_path / "models").iterdir()) == []


def test_mask_model_outputs_bounded_gains(runs):
    run = load_run(runs["mask"])
    assert run.target == "mask" and run.config["target"] == "mask"
    rng = np.random.default_rng(0)
    windows = rng.normal(size=(50, run.settings.context, run.settings.n_mels)).astype(np.float32) * 3
    out = run.predict(windows)
    assert out.min() >= 0.0 and out.max() <= 1.0
    noisy = rng.normal(size=(50, run.settings.n_mels)).astype(np.float32)
    gains = run.band_gains(windows, noisy, 0.1)
    assert gains.min() >= 0.1 and gains.max() <= 1.0
    clean = run.clean_logmel(windows, noisy)
    assert np.all(clean <= noisy + 1e-6)  # a mask never adds energy
