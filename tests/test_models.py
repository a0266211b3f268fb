import shutil
import warnings

import numpy as np
import pytest

from ddae.errors import DenoiserError
from ddae.features import NormStats
from ddae.models import build_model, list_runs, load_run, resolve_run_path, save_run
from ddae.settings import FeatureSettings


@pytest.mark.parametrize("model_type", [1, 2])
def test_both_types_save_and_reload_with_identical_predictions(model_type, tmp_path, rng):
    s = FeatureSettings(context_past=3, context_future=2)
    model = build_model(model_type, s.context, s.n_mels, "32,16,32", "4,8")
    assert model.input_shape[1:] == (6, 64) and model.output_shape[1:] == (64,)
    stats = NormStats.fit(rng.normal(size=(20, 64)), rng.normal(size=(20, 64)))
    save_run(tmp_path / "run", model, s, stats, {"model_type": model_type})
    run = load_run(tmp_path / "run")
    x = rng.normal(size=(7, 6, 64)).astype(np.float32)
    assert np.array_equal(np.asarray(model(x)), run.predict(x))
    assert run.settings == s and run.config["model_type"] == model_type


def test_bad_model_type_and_shapes():
    with pytest.raises(DenoiserError, match="model_type"):
        build_model(3, 11, 64)
    with pytest.raises(DenoiserError, match="divisible"):
        build_model(2, 11, 30, filters="4,8")
    with pytest.raises(DenoiserError, match="units"):
        build_model(1, 11, 64, units="64,abc")


def test_load_refuses_broken_runs(runs, tmp_path):
    with pytest.raises(DenoiserError, match="no such model run"):
        load_run(tmp_path / "missing")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DenoiserError, match="not a model run"):
        load_run(tmp_path / "file.txt")
    for missing in ("feature_settings.json", "norm_stats.npz", "model.keras"):
        broken = tmp_path / f"no_{missing}"
        shutil.copytree(runs["dense"], broken)
        (broken / missing).unlink()
        with pytest.raises(DenoiserError, match=missing.split(".")[0]):
            load_run(broken)
    corrupt = tmp_path / "corrupt"
    shutil.copytree(runs["dense"], corrupt)
    (corrupt / "model.keras").write_bytes(b"not a zip")
    with pytest.raises(DenoiserError, match="cannot be loaded"):
        load_run(corrupt)


def test_settings_that_contradict_the_model_are_refused(runs, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(runs["dense"], bad)
    FeatureSettings(n_mels=40, context_past=3, context_future=3).save(bad)
    with pytest.raises(DenoiserError, match="does not match"):
        load_run(bad)


def test_check_features_names_the_differences(runs):
    run = load_run(runs["dense"])
    run.check_features(FeatureSettings(), "x")  # context differences do not matter
    with pytest.raises(DenoiserError, match="n_mels: 64 vs 40"):
        run.check_features(FeatureSettings(n_mels=40), "the features")


def test_latest_and_paths(runs, tmp_path, monkeypatch):
    import ddae.models

    models = runs["dense"].parent
    assert resolve_run_path("latest", models) == list_runs(models)[-1]
    assert resolve_run_path(str(runs["conv"] / "model.keras"), models) == runs["conv"]
    with pytest.raises(DenoiserError, match="no trained model"):
        resolve_run_path("latest", tmp_path)
    # from any working directory, the shipped models are found in the project's own models/pretrained/
    assert resolve_run_path("pretrained", tmp_path).parent == ddae.models.PROJECT_MODELS / "pretrained"
    assert resolve_run_path("default", models).parent == ddae.models.PROJECT_MODELS / "pretrained"
    monkeypatch.setattr(ddae.models, "PROJECT_MODELS", tmp_path / "elsewhere")
    with pytest.raises(DenoiserError, match="no pretrained"):
        resolve_run_path("pretrained", tmp_path)
    assert resolve_run_path("default", models) == list_runs(models)[-1]  # nothing shipped: the newest run


def test_saved_runs_carry_no_optimizer_state(tmp_path, rng):
    """A trained, compiled model is saved with its weights only (Adam's moments would triple the file)."""
    s = FeatureSettings(context_past=2, context_future=2)
    model = build_model(1, s.context, s.n_mels, "256,256", target="mask")
    model.compile(optimizer="adam", loss="mse")
    model.fit(rng.normal(size=(16, 5, 64)).astype(np.float32), rng.uniform(size=(16, 64)).astype(np.float32), verbose=0)
    save_run(tmp_path / "run", model, s, NormStats.fit(rng.normal(size=(20, 64)), rng.normal(size=(20, 64))),
             {"target": "mask"})
    size = (tmp_path / "run" / "model.keras").stat().st_size
    assert size < 1.3 * 4 * model.count_params() + 50_000, size
    run = load_run(tmp_path / "run")
    x = rng.normal(size=(3, 5, 64)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. Keras' "structure of `inputs` doesn't match" on every call
        assert np.array_equal(np.asarray(model(x)), run.predict(x)) and run.target == "mask"


def test_a_run_with_an_unknown_target_is_refused(runs, tmp_path):
    import json

    bad = tmp_path / "bad"
    shutil.copytree(runs["mask"], bad)
    config = json.loads((bad / "train_config.json").read_text())
    (bad / "train_config.json").write_text(json.dumps({**config, "target": "banana"}))
    with pytest.raises(DenoiserError, match="unknown target 'banana'"):
        load_run(bad)
