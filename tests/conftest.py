"""Shared fixtures: a tiny generated data set, its features and two tiny trained models (no ../shared)."""

import dataclasses
import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory):
    from ddae.sample_data import write_sample_set

    return write_sample_set(tmp_path_factory.mktemp("data") / "sample", 8, 16000, seed=3, quiet=True)


@pytest.fixture(scope="session")
def feature_dir(sample_dir, tmp_path_factory):
    from ddae.dataset import extract_feature_set, pair_files
    from ddae.settings import FeatureSettings

    out = tmp_path_factory.mktemp("features") / "tiny"
    extract_feature_set(pair_files(sample_dir / "clean", sample_dir / "noisy"), out, FeatureSettings(), 0.2, 0.2, 0)
    return out


def train_config(feature_dir, models_dir, model_type=1, past=3, future=3, **overrides):
    """The settings train_autoencoder.py would pass, for a tiny, fast model."""
    cfg = dict(FEATURES=str(feature_dir), MODEL_TYPE=model_type, CONTEXT_PAST=past, CONTEXT_FUTURE=future,
               UNITS="64,32,64", FILTERS="4,8", DROPOUT=0.0, TARGET="logmel", EPOCHS=2, PATIENCE=5,
               BATCH_SIZE=128, FRAMES_PER_EPOCH=0, LEARNING_RATE=0.002, REDUCE_LR_PATIENCE=0, SEED=0, THREADS=0,
               MODELS_DIR=str(models_dir), MODEL_LOGS_DIR=str(Path(models_dir).parent / "model_logs"), RESUME="")
    cfg.update(overrides)
    return cfg


def _train(feature_dir, models_dir, model_type, past, future, **overrides):
    from ddae.train_run import train

    return train(train_config(feature_dir, models_dir, model_type, past, future, **overrides))


@pytest.fixture(scope="session")
def runs(feature_dir, tmp_path_factory):
    """Run paths trained for 2 epochs on the tiny set: 'dense', 'conv', 'causal' (all predicting clean
    log-mel) and 'mask' (dense, predicting the band mask)."""
    models = tmp_path_factory.mktemp("work") / "models"
    return {"dense": _train(feature_dir, models, 1, 3, 3), "conv": _train(feature_dir, models, 2, 2, 2),
            "causal": _train(feature_dir, models, 1, 4, 0), "mask": _train(feature_dir, models, 1, 3, 3, TARGET="mask")}


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def tone_in_noise(seconds=1.0, sr=16000, snr_db=5.0, seed=0):
    """(clean, noisy): a harmonic 'voice' with syllable-rate envelope plus white noise."""
    r = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    clean = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) ** 2
    clean = (0.05 * clean / np.sqrt(np.mean(clean ** 2))).astype(np.float32)
    noise = r.standard_normal(len(t)).astype(np.float32)
    noise *= np.sqrt(np.mean(clean ** 2) / np.mean(noise ** 2) / 10 ** (snr_db / 10))
    return clean, clean + noise


def replace_settings(s, **kw):
    return dataclasses.replace(s, **kw)
