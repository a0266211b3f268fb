"""End to end: the scripts as a user runs them, on tiny generated data, in a scratch folder."""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}


def script(name, *args, cwd, ok=True):
    r = subprocess.run([sys.executable, str(ROOT / name), *map(str, args)], cwd=cwd, env=ENV,
                       capture_output=True, text=True, timeout=600)
    if ok:
        assert r.returncode == 0, f"{name} failed:\n{r.stdout}\n{r.stderr}"
    return r


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("e2e")


def test_pipeline_end_to_end(workdir):
    script("make_sample_data.py", "--n_utterances", 8, "--seed", 2, cwd=workdir)
    assert len(list((workdir / "data/sample/noisy").glob("*.wav"))) == 8
    r = script("extract_features.py", "--val_fraction", 0.2, "--test_fraction", 0.2, cwd=workdir)
    assert "train 4 files" in r.stdout
    for model_type in (1, 2, 3):
        r = script("train_autoencoder.py", "--model_type", model_type, "--epochs", 1, "--units", "32,16,32",
                   "--filters", "4,8", "--recurrent_units", 8, cwd=workdir)
        assert "for all gains at 1 (input left as it is)" in r.stdout and "compressed loss" in r.stdout
    runs = sorted(p.name for p in (workdir / "models").iterdir())
    assert [r[:5] for r in runs] == ["type1", "type2", "type3"]
    for run in runs:
        for f in ("model.keras", "model.onnx", "feature_settings.json", "norm_stats.npz", "train_config.json"):
            assert (workdir / "models" / run / f).is_file()
        logs = workdir / "model_logs" / run
        assert (logs / "training_log.csv").read_text().startswith("epoch")
        assert (logs / "training_curve.png").stat().st_size > 1000
        assert (logs / "tensorboard").is_dir()
    r = script("load_autoencoder_reconstructions.py", "--n_reconstructions", 2, "--model", "latest", cwd=workdir)
    pngs = sorted((workdir / "images").glob("*.png"))
    assert len(pngs) == 2 and all(p.name.startswith(runs[-1]) for p in pngs)  # 'latest' = the type 3 run
    # the shipped model was trained on audio, not on a feature set: the sample features stand in
    r = script("load_autoencoder_reconstructions.py", "--n_reconstructions", 1, cwd=workdir)
    assert len(list((workdir / "images").glob("ddae_*.png"))) == 1


def test_denoise_backends_agree_and_export_model_makes_a_missing_onnx(workdir):
    import numpy as np
    import soundfile as sf

    run = sorted((workdir / "models").iterdir())[-1]
    noisy = sorted((workdir / "data/sample/noisy").glob("*.wav"))[0]
    outs = {}
    for backend in ("onnx", "keras"):
        r = script("denoise.py", noisy, "-o", workdir / f"out_{backend}.wav", "--model", "latest", "--backend", backend,
                   cwd=workdir)
        assert f"({backend})" in r.stdout
        outs[backend] = sf.read(workdir / f"out_{backend}.wav", dtype="int16")[0].astype(int)
    assert np.max(np.abs(outs["onnx"] - outs["keras"])) <= 1  # one 16-bit step at most
    (run / "model.onnx").unlink()
    r = script("denoise.py", noisy, "-o", workdir / "never.wav", "--model", "latest", "--backend", "onnx", cwd=workdir,
               ok=False)
    assert r.returncode == 1 and "python export_model.py --model" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (workdir / "never.wav").exists()
    r = script("export_model.py", "--model", "latest", cwd=workdir)
    assert (run / "model.onnx").is_file() and "exported" in r.stdout


def test_reconstructions_refuse_features_of_other_settings(workdir):
    script("extract_features.py", "--name", "mels40", "--n_mels", 40, "--val_fraction", 0.2, "--test_fraction", 0.2,
           cwd=workdir)
    r = script("load_autoencoder_reconstructions.py", "--features", "data/features/mels40", cwd=workdir, ok=False)
    assert r.returncode == 1
    assert "n_mels: 64 vs 40" in r.stderr and "Traceback" not in r.stderr


def test_unmatched_pairs_fail_with_one_line(workdir):
    shutil.copytree(workdir / "data/sample", workdir / "broken")
    next((workdir / "broken/noisy").glob("*.wav")).unlink()
    r = script("extract_features.py", "--clean_dir", "broken/clean", "--noisy_dir", "broken/noisy", "--name", "b",
               cwd=workdir, ok=False)
    assert r.returncode == 1 and "only in broken/clean" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (workdir / "data/features/b").exists()


@pytest.mark.parametrize("name", ["make_sample_data.py", "extract_features.py", "train_autoencoder.py",
                                  "load_autoencoder_reconstructions.py", "export_model.py"])
def test_help_and_unknown_options(name, tmp_path):
    r = script(name, "--help", cwd=tmp_path)
    assert "default:" in r.stdout
    r = script(name, "--no_such_setting", 1, cwd=tmp_path, ok=False)
    assert r.returncode == 2 and "unrecognized arguments" in r.stderr


def test_training_on_two_devices_with_mirrored_strategy(feature_dir, tmp_path):
    """DEVICES = 2 on this CPU-only machine: the CPU split into two logical devices, as Keras's own tests do."""
    import numpy as np

    from ddae.inference import denoise_array
    from ddae.runs import load_run

    r = script("train_autoencoder.py", "--features", feature_dir, "--devices", 2, "--epochs", 1, "--batch_size", 8,
               "--units", "32,16,32", "--models_dir", tmp_path / "models", "--model_logs_dir", tmp_path / "logs",
               cwd=tmp_path)
    assert "training on 2 devices" in r.stdout and "each device takes 4 segments" in r.stdout
    run = load_run(next((tmp_path / "models").iterdir()), backend="keras")
    y = denoise_array(run, np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1)
    assert y.shape == (8000,) and np.all(np.isfinite(y))
    r = script("train_autoencoder.py", "--features", feature_dir, "--devices", 2, "--batch_size", 7, "--epochs", 1,
               "--models_dir", tmp_path / "m2", cwd=tmp_path, ok=False)
    assert r.returncode == 1 and "does not split evenly over 2 devices" in r.stderr
