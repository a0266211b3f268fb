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
    cfg = dict(FEATURES=str(feature_dir), MATERIAL="", MATERIAL_CACHE="", AUGMENTATION="full", MODEL_TYPE=model_type, CONTEXT_PAST=past, CONTEXT_FUTURE=future,
               UNITS="64,32,64", FILTERS="4,8", RECURRENT_UNITS=16, DROPOUT=0.0, LOSS="compressed",
               NORMALISATION="running", NORM_TAU_S=3.0, PRIME_SECONDS=0.0, EPOCHS=2, PATIENCE=5, MAX_MINUTES=0.0, BATCH_SIZE=8, SEGMENT_SECONDS=1.0,
               STEPS_PER_EPOCH=0, DATA_WORKERS=1, VAL_BATCHES=2, LEARNING_RATE=0.002, CLIPNORM=3.0, REDUCE_LR_PATIENCE=0,
               SAMPLE_RATE=16000, LOG_FLOOR=1e-14, SEED=0, THREADS=0, MODELS_DIR=str(models_dir),
               MODEL_LOGS_DIR=str(Path(models_dir).parent / "model_logs"), INIT_FROM="", RESUME="", LR_SCHEDULE="plateau", LOOKAHEAD_SKIP=False, LOSS_REFERENCE="noisy", VERBOSE=0)
    cfg.update(overrides)
    return cfg


def _train(feature_dir, models_dir, model_type, past, future, **overrides):
    from ddae.train_run import train

    return train(train_config(feature_dir, models_dir, model_type, past, future, **overrides))


@pytest.fixture(scope="session")
def runs(feature_dir, tmp_path_factory):
    """Run paths trained for 2 epochs on the tiny set: 'dense' (type 1, 3 + 3 frames), 'conv' (type 2, 2 + 2),
    'causal' (type 1, 4 + 0), 'recurrent' (type 3, no lookahead, floor features, primed on 0.5 s),
    'recurrent_ahead' (type 3, 2 frames of lookahead, mask loss, global normalisation), 'recurrent_skip' (type
    3, 3 frames of lookahead, the gained frame's front-end output also into the gain layer)."""
    models = tmp_path_factory.mktemp("work") / "models"
    return {"dense": _train(feature_dir, models, 1, 3, 3), "conv": _train(feature_dir, models, 2, 2, 2),
            "causal": _train(feature_dir, models, 1, 4, 0),
            "recurrent": _train(feature_dir, models, 3, 0, 0, NORMALISATION="running+floor", PRIME_SECONDS=0.5),
            "recurrent_ahead": _train(feature_dir, models, 3, 0, 2, LOSS="mask", NORMALISATION="global"),
            "recurrent_skip": _train(feature_dir, models, 3, 0, 3, LOOKAHEAD_SKIP=True, NORMALISATION="running+floor")}


@pytest.fixture(scope="session")
def shared(tmp_path_factory):
    """A miniature ../shared/data: the same CSV layout, generated audio (no real recordings)."""
    import csv

    import soundfile as sf

    from ddae.synth import coloured_noise

    root = tmp_path_factory.mktemp("shared")
    rng = np.random.default_rng(5)
    speech = []
    speakers = [("vcc2016", "SF1"), ("vcc2016", "SF2"), ("vcc2016", "SM1"), ("vctk", "p225"), ("vctk", "p227")] + \
               [("librispeech", str(100 + k)) for k in range(10)] + [("speechocean762", f"{k:04d}") for k in range(12)]
    for corpus, spk in speakers:
        for u in range(2):
            path = f"speech/{corpus}/{spk}/{u}.flac"
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            t = np.arange(int(SR * rng.uniform(0.5, 1.0))) / SR
            x = 0.1 * np.sin(2 * np.pi * rng.uniform(100, 300) * t) * (np.sin(2 * np.pi * 3 * t) > 0)
            sf.write(root / path, x, SR)
            speech.append({"path": path, "corpus": corpus, "speaker": f"{corpus}:{spk}", "gender": "FM"[u],
                           "seconds": len(t) / SR, "sample_rate": SR})
    noise = []
    for source in ("cafe", "street", "berlin"):
        for k in range(6):
            path = f"noise/{source}/{k}.ogg"
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            sf.write(root / path, 0.05 * coloured_noise(SR, k / 2, rng), SR)
            noise.append({"path": path, "source": source, "seconds": 1.0, "sample_rate": SR})
    (root / "rir").mkdir()
    for name in ("room", "openair_medium_chamber", "seminar_room_clap_cc0"):
        h = np.zeros(4000)
        h[100] = 1.0
        h[100:] += 0.3 * rng.standard_normal(3900) * np.exp(-np.arange(3900) / 800)
        sf.write(root / f"rir/{name}.flac", h, SR)
    for name, rows in (("speech.csv", speech), ("noise.csv", noise)):
        with open(root / name, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return root


SR = 16000


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
