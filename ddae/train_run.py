"""The training job behind train_autoencoder.py: from a feature set, or from audio mixed on the fly, to a
saved, checked model run."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np

from .cli import quiet_tensorflow
from .errors import DenoiserError
from .losses import check_loss, check_low_snr_weight, check_reference, identity_loss, make_loss
from .models import architecture, band_filters, build_model, growth, gru_layers, start_from
from .normalise import Normaliser
from .plotting import save_training_curve
from .runs import MODEL_FILE, new_run_name, save_run
from .settings import FeatureSettings
from .training import (HISTORY_FILE, FeatureSequences, check_schedule, check_trainable, keras_batches, learning_rate,
                       nan_guard, progress_keeper)

RESUME_FILE = "resume.json"
DEFAULT_AUDIO_STEPS = 150  # batches per epoch when mixing on the fly and STEPS_PER_EPOCH = 0
NORM_FIT_EXAMPLES = 200  # mixtures the normaliser is fitted on, when mixing on the fly


def _resume_config(cfg: dict) -> tuple[dict, str]:
    """The settings of an interrupted run, from models_dir/.<run>.partial/resume.json."""
    name = cfg["RESUME"]
    partial = Path(cfg["MODELS_DIR"]) / f".{name}.partial"
    if not (partial / RESUME_FILE).is_file():
        raise DenoiserError(f"no interrupted run {name!r} to resume ({partial / RESUME_FILE} is missing)")
    saved = json.loads((partial / RESUME_FILE).read_text())
    # settings the interrupted run did not know yet take their defaults (a run from before LOOKAHEAD_SKIP had
    # none, whatever the default is now); a cosine schedule keeps its length
    epochs = saved["EPOCHS"] if saved.get("LR_SCHEDULE") == "cosine" else max(cfg["EPOCHS"], saved["EPOCHS"])
    return {**cfg, "LOOKAHEAD_SKIP": False, "RECURRENT_LAYERS": 2, "GROW_UNITS": 0, "GROW_LOOKAHEAD": 0, "LOSS_REFERENCE": "noisy", "LOSS_LOW_SNR_WEIGHT": 0.0,
            "TEACHER": "", "TEACHER_WEIGHT": 0.0, **saved,
            "RESUME": name, "EPOCHS": epochs}, name


class _Data:
    """Training and validation batches, the feature settings and the fitted normaliser of one run."""

    def __init__(self, cfg: dict, partial: Path, progress=None, init=None):
        self.loss_kind = check_loss(cfg["LOSS"])
        self.init = init
        if cfg.get("TEACHER") and not cfg["MATERIAL"]:
            raise DenoiserError("teacher needs training from audio (--material): a feature set has no spectra to apply its gains to")
        if cfg["MATERIAL"]:
            self._from_audio(cfg, partial, progress)
        else:
            self._from_features(cfg, partial)

    def _normaliser(self, cfg, partial: Path, samples) -> Normaliser:
        return self._new_normaliser(cfg, partial, samples).hold_on_silence(self.base.log_floor, self._frames_per_s)

    @property
    def _frames_per_s(self) -> float:
        return self.base.sample_rate / self.base.hop_length

    def _new_normaliser(self, cfg, partial: Path, samples) -> Normaliser:
        if (partial / Normaliser.FILE).is_file():  # resuming: the statistics the run started with
            return Normaliser.load(partial)
        if self.init is not None:  # fine-tuning: the inputs the starting model knows
            self.init.norm.save(partial)
            return self.init.norm
        frames_per_s = self._frames_per_s
        norm = Normaliser(cfg["NORMALISATION"], [0], [1], cfg["NORM_TAU_S"] * frames_per_s,
                          int(round(cfg["PRIME_SECONDS"] * frames_per_s)))
        norm.hold_on_silence(self.base.log_floor, frames_per_s)
        norm.fit_scale(samples())
        norm.save(partial)
        return norm

    def _from_features(self, cfg, partial):
        from .dataset import load_feature_set

        features = Path(cfg["FEATURES"])
        self.base = FeatureSettings.load(features)
        self.source = {"features": str(features)}
        train_fs, val_fs = load_feature_set(features, "train"), load_feature_set(features, "val")
        check_trainable(train_fs, val_fs)
        if train_fs.noisy.shape[1] != self.base.n_mels:
            raise DenoiserError(f"{features}: arrays have {train_fs.noisy.shape[1]} bands, settings say {self.base.n_mels}")
        self.norm = self._normaliser(cfg, partial, lambda: [n for _, n, _ in train_fs.utterances()])
        frames = int(round(cfg["SEGMENT_SECONDS"] * self.base.sample_rate / self.base.hop_length))
        delay = cfg["CONTEXT_FUTURE"]
        self.train = FeatureSequences(train_fs, self.norm, delay, frames, cfg["BATCH_SIZE"], True, cfg["SEED"],
                                      cfg["STEPS_PER_EPOCH"] * frames * cfg["BATCH_SIZE"])
        self.val = FeatureSequences(val_fs, self.norm, delay, frames, cfg["BATCH_SIZE"], False, cfg["SEED"])
        self.spread = None
        self.describe = f"{len(train_fs.noisy):,} frames of {features}, validating on {len(val_fs.noisy):,}"

    def _from_audio(self, cfg, partial, progress):
        from .material import Material
        from .onthefly import AudioBatches

        self.base = FeatureSettings(sample_rate=cfg["SAMPLE_RATE"], log_floor=cfg["LOG_FLOOR"])
        root = Path(cfg["MATERIAL"])
        self.source = {"material": str(root)}
        cache = cfg.get("MATERIAL_CACHE") or None
        train_m = Material(root, "train", self.base.sample_rate, progress, cache)
        val_m = Material(root, "val", self.base.sample_rate, progress, cache)
        delay, steps = cfg["CONTEXT_FUTURE"], cfg["STEPS_PER_EPOCH"] or DEFAULT_AUDIO_STEPS
        teacher, weight = _teacher(cfg, self.base)
        self.train = AudioBatches(train_m, self.base, None, delay, cfg["BATCH_SIZE"], steps, cfg["SEED"],
                                  augmentation=cfg["AUGMENTATION"], teacher=teacher, teacher_weight=weight)
        self.norm = self._normaliser(cfg, partial, lambda: self.train.sample_logmels(NORM_FIT_EXAMPLES, cfg["SEED"]))
        self.train.norm = self.norm
        self.val = AudioBatches(val_m, self.base, self.norm, delay, cfg["BATCH_SIZE"], cfg["VAL_BATCHES"],
                                cfg["SEED"] + 1, fixed=True, segment_seconds=(3.0, 3.0))  # always fully augmented
        from .features import framing_for

        self.spread = framing_for(self.base).spread
        sh, nh = train_m.hours
        self.describe = (f"audio mixed on the fly from {root} ({cfg['AUGMENTATION']} augmentation; {len(train_m.speakers)} speakers, {sh:.2f} h speech; "
                         f"{sum(len(v) for v in train_m.noise.values())} noise files, {nh:.2f} h; {len(train_m.rirs)} "
                         f"measured rooms + synthetic ones), {steps} batches of {cfg['BATCH_SIZE']} per epoch, validating "
                         f"on {cfg['VAL_BATCHES']} fixed batches from {len(val_m.speakers)} held-out speakers")


def _teacher(cfg: dict, base: FeatureSettings) -> tuple[str, float]:
    """TEACHER / TEACHER_WEIGHT, checked: a run folder whose features are these, and a weight in [0, 1]."""
    spec, weight = cfg.get("TEACHER", ""), float(cfg.get("TEACHER_WEIGHT", 0.0))
    if not 0.0 <= weight <= 1.0:
        raise DenoiserError(f"teacher_weight must be between 0 and 1, got {weight}")
    if not spec:
        return "", 0.0
    from .runs import PROJECT_MODELS, load_run, resolve_run_path

    path = resolve_run_path(spec, PROJECT_MODELS if spec in ("default", "pretrained") else cfg["MODELS_DIR"])
    load_run(path, threads=1).check_features(base, "the run it would teach")
    return str(path.resolve()), weight


def _init_run(cfg: dict):
    """INIT_FROM: the finished run whose weights start this training; its architecture and input settings
    replace the ones in cfg (a fine-tuned model must read its inputs as its starting point did)."""
    if not cfg.get("INIT_FROM"):
        for key in ("GROW_UNITS", "GROW_LOOKAHEAD"):
            if int(cfg.get(key, 0)):
                raise DenoiserError(f"{key.lower()} grows a trained run: give the run with --init_from")
        return cfg, None
    from .runs import PROJECT_MODELS, load_run, resolve_run_path

    spec = cfg["INIT_FROM"]
    init = load_run(resolve_run_path(spec, PROJECT_MODELS if spec in ("default", "pretrained") else cfg["MODELS_DIR"]))
    arch, norm = init.arch, init.norm
    more = int(cfg.get("GROW_LOOKAHEAD", 0))
    if more < 0 or (more and arch["model_type"] != 3):
        raise DenoiserError(f"grow_lookahead must be 0 or more, and is for type 3 runs only (a type 1 or 2 window "
                            f"would change its weights' shapes), got {more} for type {arch['model_type']}")
    future = arch["future"] + more  # type 3: the same layers, the gains held back longer
    taken = {"MODEL_TYPE": arch["model_type"], "CONTEXT_FUTURE": future, "DROPOUT": arch["dropout"],
             "NORMALISATION": norm.mode, "NORM_TAU_S": init.settings.hop_length / norm.alpha / init.settings.sample_rate,
             "PRIME_SECONDS": norm.prime_frames * init.settings.hop_length / init.settings.sample_rate,
             "SAMPLE_RATE": init.settings.sample_rate, "LOG_FLOOR": init.settings.log_floor}
    if arch["model_type"] == 3:  # LOOKAHEAD_SKIP on a run without the skip grows it (models.start_from)
        skip = bool(arch.get("skip", False)) or (bool(cfg.get("LOOKAHEAD_SKIP")) and future > 0)
        grow = int(cfg.get("GROW_UNITS", 0))
        if grow < 0:
            raise DenoiserError(f"grow_units must be 0 or more, got {grow}")
        taken.update(RECURRENT_UNITS=int(arch["units"]) + grow, LOOKAHEAD_SKIP=skip,  # RECURRENT_LAYERS beyond init's grow it
                     RECURRENT_LAYERS=max(gru_layers(arch), int(cfg.get("RECURRENT_LAYERS", 2))),
                     BAND_FILTERS=band_filters(arch) or int(cfg.get("BAND_FILTERS", 0)))  # BAND_FILTERS on a run without grows it
    else:
        taken.update(CONTEXT_PAST=arch["past"], UNITS=arch["units"], FILTERS=arch["filters"])
    return {**cfg, **taken}, init


def _export(folder: Path) -> str:
    """model.onnx beside model.keras, so the run denoises without TensorFlow; a failed export is a warning."""
    from .export import export_onnx
    from .runs import load_run

    try:
        export_onnx(load_run(folder, backend="keras"))
    except DenoiserError as e:
        print(f"warning: no model.onnx ({e}); python export_model.py --model RUN makes it later")
        return ""
    return " and model.onnx"


def _strategy(devices: int, batch: int, lr: float):
    """One device (TensorFlow's default), or tf.distribute.MirroredStrategy over `devices` GPUs; without enough
    GPUs, over logical CPU devices (what Keras's own tests do: the same code path, no speed-up)."""
    import tensorflow as tf

    if devices <= 1:
        return tf.distribute.get_strategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) >= devices:
        names = [d.name for d in gpus[:devices]]
    else:
        cpus = tf.config.list_logical_devices("CPU")
        if len(cpus) < devices:
            raise DenoiserError(f"DEVICES = {devices}, but there are {len(gpus)} GPU(s) and {len(cpus)} logical CPU "
                                f"device(s); split the CPU first with tf.config.set_logical_device_configuration")
        names = [d.name for d in cpus[:devices]]
    if batch % devices:
        raise DenoiserError(f"BATCH_SIZE {batch} does not split evenly over {devices} devices")
    print(f"training on {devices} devices ({', '.join(names)}) with MirroredStrategy: each device takes "
          f"{batch // devices} segments of every batch of {batch} (the effective batch stays {batch}); gradients are "
          f"averaged over the devices, so the learning rate stays {lr}")
    return tf.distribute.MirroredStrategy(names)


@contextlib.contextmanager
def _prefetcher(cfg: dict, data: _Data):
    """Worker processes that mix the training batches ahead of the model (DATA_WORKERS, mixing on the fly
    only: a feature set's batches are cut from arrays already in memory)."""
    workers = int(cfg.get("DATA_WORKERS", 0)) if cfg["MATERIAL"] else 0
    if workers < 0:
        raise DenoiserError(f"data_workers must be >= 0, got {workers}")
    if not workers:
        yield None
        return
    from .prefetch import Prefetcher

    with Prefetcher(data.train, workers) as p:
        yield p


def split_cpu(devices: int) -> None:
    """Before TensorFlow starts: one CPU as `devices` logical devices (to try DEVICES > 1 without GPUs)."""
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    if devices > 1 and not tf.config.list_physical_devices("GPU"):
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * devices)


def train(cfg: dict, progress=None) -> Path:
    run_name = None
    if cfg.get("RESUME"):
        cfg, run_name = _resume_config(cfg)
    cfg, init = _init_run(cfg)
    models_dir = Path(cfg["MODELS_DIR"])
    check_loss(cfg["LOSS"])
    reference = check_reference(cfg.get("LOSS_REFERENCE", "noisy"))
    low_snr = check_low_snr_weight(cfg.get("LOSS_LOW_SNR_WEIGHT", 0.0), cfg["LOSS"])
    schedule = check_schedule(cfg.get("LR_SCHEDULE", "plateau"))  # runs saved before it: their only schedule
    causal = cfg["CONTEXT_FUTURE"] == 0
    logs_dir = Path(cfg["MODEL_LOGS_DIR"])
    run_name = run_name or new_run_name(cfg["MODEL_TYPE"], causal, cfg["LOSS"], models_dir, logs_dir)
    logs_dir = logs_dir / run_name
    partial = models_dir / f".{run_name}.partial"  # renamed to models_dir/run_name only when training ends well
    fresh = not partial.exists()
    partial.mkdir(parents=True, exist_ok=True)
    try:
        data = _Data(cfg, partial, progress, init)
        if init is not None:
            init.check_features(data.base, "the training data")
    except BaseException:
        if fresh:
            shutil.rmtree(partial, ignore_errors=True)
            shutil.rmtree(logs_dir, ignore_errors=True)
        raise
    arch = architecture(cfg["MODEL_TYPE"], data.base.n_mels, cfg["CONTEXT_PAST"], cfg["CONTEXT_FUTURE"], cfg["UNITS"],
                        cfg["FILTERS"], cfg["RECURRENT_UNITS"], cfg["DROPOUT"], data.norm.channels,
                        cfg.get("LOOKAHEAD_SKIP", False), cfg.get("RECURRENT_LAYERS", 2), cfg.get("BAND_FILTERS", 0))
    settings = dataclasses.replace(data.base, context_past=arch["past"], context_future=arch["future"])

    quiet_tensorflow(cfg["THREADS"])
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(cfg["SEED"])
    tf.config.experimental.enable_op_determinism()
    strategy = _strategy(int(cfg.get("DEVICES", 1)), cfg["BATCH_SIZE"], cfg["LEARNING_RATE"])
    added = growth(arch, init.arch) if init is not None else []  # the skip or GRU layers added to init's network
    with strategy.scope():
        model = build_model(arch)
        if init is not None:
            start_from(model, init.model, bool(added))
        loss = make_loss(cfg["LOSS"], settings.n_mels, data.spread, data.norm.std[:settings.n_mels], reference, low_snr)
        rate = learning_rate(schedule, cfg["LEARNING_RATE"], cfg["EPOCHS"] * len(data.train))
        model.compile(optimizer=keras.optimizers.Adam(rate, clipnorm=cfg["CLIPNORM"] or None), loss=loss,
                      jit_compile="auto" if strategy.num_replicas_in_sync == 1 else False)

    logs_dir.mkdir(parents=True, exist_ok=True)
    (partial / RESUME_FILE).write_text(json.dumps({k: v for k, v in cfg.items() if k != "RESUME"}, indent=2) + "\n")
    halve_after = cfg["REDUCE_LR_PATIENCE"] if schedule == "plateau" else 0
    keeper = progress_keeper(partial, cfg["PATIENCE"], halve_after, max_minutes=cfg["MAX_MINUTES"])
    guard = nan_guard()
    callbacks = [keras.callbacks.BackupAndRestore(str(partial / "backup")),  # resume after an interruption
                 keeper, keras.callbacks.CSVLogger(str(logs_dir / "training_log.csv"), append=bool(cfg.get("RESUME"))),
                 keras.callbacks.TensorBoard(log_dir=str(logs_dir / "tensorboard")), guard]
    if init is not None:
        print(f"starting from the weights of {init.path}")
        if added:
            print(f"note: {' and '.join(added)} added to {init.path.name}; the weights from them into the old layers start at zero")
        if init.config.get("loss") not in (None, cfg["LOSS"]):
            print(f"note: {init.path.name} was trained with the {init.config['loss']!r} loss; this run uses "
                  f"{cfg['LOSS']!r} (--loss {init.config['loss']} to keep it)")
    print(f"{'resuming' if cfg.get('RESUME') else 'training'} type {cfg['MODEL_TYPE']} ({model.count_params():,} "
          f"parameters, {cfg['LOSS']} loss{'' if reference == 'noisy' else ' (speech reference)'}"
          f"{f', low-SNR frames up to {1 + low_snr:g}x' if low_snr else ''}, "
          f"{data.norm.mode} normalisation, lookahead {arch['future']} frames) on "
          f"{data.describe}; run {run_name}")
    try:
        if keeper.state.get("finished"):  # interrupted after training ended (while saving): only save
            print(f"training of {run_name} had ended; saving its best model")
            keeper.set_model(model)
        else:
            n = strategy.num_replicas_in_sync
            with _prefetcher(cfg, data) as prefetcher:
                model.fit(keras_batches(data.train, start_epoch=len(keeper.state["epochs"]), multiple=n,
                                        prefetcher=prefetcher),
                          steps_per_epoch=len(data.train),
                          validation_data=keras_batches(data.val, repeat=False, multiple=n),
                          validation_steps=len(data.val), epochs=cfg["EPOCHS"], callbacks=callbacks, shuffle=False,
                          verbose=2 if cfg.get("VERBOSE", 2) else 0)
    except KeyboardInterrupt:
        raise DenoiserError(f"interrupted: nothing was saved as a finished run; continue with "
                            f"python train_autoencoder.py --resume {run_name}", code=130) from None
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    history, st = keeper.history, keeper.state
    if st["best"] is None or not keeper.restore_best():
        shutil.rmtree(partial, ignore_errors=True)
        raise DenoiserError("training produced no finite validation loss (NaN from the first epoch): "
                            "lower --learning_rate or check the training data")
    id_loss = identity_loss(loss, (data.val.batch(i) for i in range(len(data.val))), settings.n_mels)
    config = {"architecture": arch, "run": run_name, "loss": cfg["LOSS"], "loss_reference": reference, "loss_low_snr_weight": low_snr,
              "normalisation": data.norm.mode, **data.source,
              "settings": {k.lower(): v for k, v in cfg.items()},
              "epochs_run": len(st["epochs"]), "best_epoch": st["best_epoch"], "val_loss": st["best"],
              "identity_val_loss": id_loss, "train_seconds": round(st["seconds"], 1),
              "parameters": model.count_params(), "stopped_on_nan": guard.nan_batch is not None,
              "stopped_on_time": bool(st.get("stopped_on_time"))}
    for leftover in ("backup", RESUME_FILE, HISTORY_FILE, "best.weights.h5"):
        p = partial / leftover
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    save_run(partial, model, settings, data.norm, config)  # the best weights
    onnx_note = _export(partial)
    final = models_dir / run_name
    partial.rename(final)
    (logs_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (logs_dir / "history.json").write_text(json.dumps(st, indent=1) + "\n")
    if cfg["MATERIAL"]:
        from .material import write_manifest

        write_manifest(cfg["MATERIAL"], logs_dir / "material.csv")
    save_training_curve(logs_dir / "training_curve.png", history, id_loss, f"{run_name}: training curve",
                        f"{cfg['LOSS']} loss")
    if guard.nan_batch is not None:
        print("warning: the loss became NaN; training stopped and the best model before it was kept")
    print(f"trained in {st['seconds']:.1f} s, {len(st['epochs'])} epochs (best: {st['best_epoch']})")
    change = 100 * (1 - st['best'] / id_loss)
    print(f"validation loss {st['best']:.4f} vs {id_loss:.4f} for all gains at 1 (input left as it is): "
          f"{abs(change):.1f} % {'lower' if change >= 0 else 'higher: not trained enough yet'}")
    print(f"saved {final / MODEL_FILE}{onnx_note}; logs and training curve in {logs_dir}")
    return final
