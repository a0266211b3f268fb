"""The training job behind train_autoencoder.py: from a feature set to a saved, checked model run."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import numpy as np

from .cli import quiet_tensorflow
from .dataset import load_feature_set
from .errors import DenoiserError
from .features import NormStats
from .models import MODEL_FILE, build_model, check_target, new_run_name, save_run
from .plotting import save_training_curve
from .settings import FeatureSettings
from .training import StopOnNaN, WindowIndex, check_trainable, identity_loss, make_sequence


RESUME_FILE = "resume.json"


def _resume_config(cfg: dict) -> tuple[dict, str]:
    """The settings of an interrupted run, from models_dir/.<run>.partial/resume.json."""
    name = cfg["RESUME"]
    partial = Path(cfg["MODELS_DIR"]) / f".{name}.partial"
    if not (partial / RESUME_FILE).is_file():
        raise DenoiserError(f"no interrupted run {name!r} to resume ({partial / RESUME_FILE} is missing)")
    saved = json.loads((partial / RESUME_FILE).read_text())
    return {**saved, "RESUME": name, "EPOCHS": max(cfg["EPOCHS"], saved["EPOCHS"])}, name


def train(cfg: dict) -> Path:
    run_name = None
    if cfg.get("RESUME"):
        cfg, run_name = _resume_config(cfg)
    features = Path(cfg["FEATURES"])
    base = FeatureSettings.load(features)
    stats = NormStats.load(features)
    target = check_target(cfg["TARGET"])
    settings = dataclasses.replace(base, context_past=cfg["CONTEXT_PAST"], context_future=cfg["CONTEXT_FUTURE"])
    train_fs, val_fs = load_feature_set(features, "train"), load_feature_set(features, "val")
    check_trainable(train_fs, val_fs)
    if train_fs.noisy.shape[1] != settings.n_mels or stats.n_mels != settings.n_mels:
        raise DenoiserError(f"{features}: arrays have {train_fs.noisy.shape[1]} bands, settings say {settings.n_mels}")

    quiet_tensorflow(cfg["THREADS"])
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(cfg["SEED"])
    tf.config.experimental.enable_op_determinism()
    model = build_model(cfg["MODEL_TYPE"], settings.context, settings.n_mels, cfg["UNITS"], cfg["FILTERS"],
                        cfg["DROPOUT"], target)
    model.compile(optimizer=keras.optimizers.Adam(cfg["LEARNING_RATE"]), loss="mse")

    models_dir = Path(cfg["MODELS_DIR"])
    run_name = run_name or new_run_name(cfg["MODEL_TYPE"], settings.causal, target, models_dir)
    logs_dir = Path(cfg["MODEL_LOGS_DIR"]) / run_name
    partial = models_dir / f".{run_name}.partial"  # renamed to models_dir/run_name only when training ends well
    partial.mkdir(parents=True, exist_ok=True)
    logs_dir.mkdir(parents=True, exist_ok=True)
    (partial / RESUME_FILE).write_text(json.dumps({k: v for k, v in cfg.items() if k != "RESUME"}, indent=2) + "\n")
    train_idx = WindowIndex(train_fs, stats, settings.context_past, settings.context_future, target)
    val_idx = WindowIndex(val_fs, stats, settings.context_past, settings.context_future, target)
    nan_stop = StopOnNaN.make()
    callbacks = [
        keras.callbacks.BackupAndRestore(str(partial / "backup")),  # resume after an interruption
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg["PATIENCE"], restore_best_weights=True),
        keras.callbacks.ModelCheckpoint(str(partial / MODEL_FILE), monitor="val_loss", save_best_only=True),
        keras.callbacks.CSVLogger(str(logs_dir / "training_log.csv"), append=bool(cfg.get("RESUME"))),
        keras.callbacks.TensorBoard(log_dir=str(logs_dir / "tensorboard")),
        nan_stop,
    ]
    if cfg["REDUCE_LR_PATIENCE"] > 0:
        callbacks.insert(1, keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5,
                                                              patience=cfg["REDUCE_LR_PATIENCE"], min_lr=1e-5))
    per_epoch = f" ({cfg['FRAMES_PER_EPOCH']:,} per epoch)" if cfg["FRAMES_PER_EPOCH"] else ""
    print(f"{'resuming' if cfg.get('RESUME') else 'training'} type {cfg['MODEL_TYPE']} "
          f"({model.count_params():,} parameters, target {target}) on {len(train_idx):,} frames{per_epoch}, "
          f"validating on {len(val_idx):,}; run {run_name}")
    start = time.time()
    try:
        history = model.fit(make_sequence(train_idx, cfg["BATCH_SIZE"], True, cfg["SEED"], cfg["FRAMES_PER_EPOCH"]),
                            validation_data=make_sequence(val_idx, cfg["BATCH_SIZE"], False, cfg["SEED"]),
                            epochs=cfg["EPOCHS"], callbacks=callbacks, verbose=2).history
    except KeyboardInterrupt:
        raise DenoiserError(f"interrupted: nothing was saved as a finished run; continue with "
                            f"python train_autoencoder.py --resume {run_name}", code=130) from None
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    seconds = time.time() - start
    if not history.get("val_loss") or not np.any(np.isfinite(history["val_loss"])):
        shutil.rmtree(partial, ignore_errors=True)
        raise DenoiserError("training produced no finite validation loss (NaN from the first epoch): "
                            "lower --learning_rate or check the features")
    best = int(np.nanargmin(history["val_loss"]))
    val_loss, id_loss = float(history["val_loss"][best]), identity_loss(val_fs, stats, target)
    config = {"model_type": cfg["MODEL_TYPE"], "target": target, "features": str(features), "run": run_name,
              "settings": {k.lower(): v for k, v in cfg.items()}, "epochs_run": len(history["val_loss"]),
              "best_epoch": best + 1, "val_loss": val_loss, "identity_val_loss": id_loss,
              "train_seconds": round(seconds, 1), "parameters": model.count_params(),
              "stopped_on_nan": nan_stop.nan_epoch is not None}
    shutil.rmtree(partial / "backup", ignore_errors=True)
    (partial / RESUME_FILE).unlink(missing_ok=True)
    save_run(partial, model, settings, stats, config)  # the restored best weights
    final = models_dir / run_name
    partial.rename(final)
    (logs_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_training_curve(logs_dir / "training_curve.png", history, id_loss, f"{run_name}: training curve")
    if nan_stop.nan_epoch is not None:
        print("warning: the loss became NaN; training stopped and the best model before it was kept")
    print(f"trained in {seconds:.1f} s, {len(history['val_loss'])} epochs (best: {best + 1})")
    baseline = "a mask of 1 (input left as it is)" if target == "mask" else "identity mapping (noisy input as prediction)"
    print(f"validation loss {val_loss:.4f} vs {baseline} {id_loss:.4f}: "
          f"{100 * (1 - val_loss / id_loss):.1f} % lower")
    print(f"saved {final / MODEL_FILE}; logs and training curve in {logs_dir}")
    return final
