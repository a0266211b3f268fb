"""Training pieces shared by both data sources: sequence batches from a feature set, early stopping that
survives an interruption, a NaN guard, and checks of the training data."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from .dataset import FeatureSet
from .errors import DenoiserError
from .losses import pack_targets
from .normalise import Normaliser


def segment_batch(pieces: list[tuple[np.ndarray, np.ndarray]], norm: Normaliser, delay: int, length: int):
    """(x, y) for a batch of (noisy, clean) log-mel pieces of at most `length` frames, zero-padded.

    Each piece is normalised from its own start (primed on it, if the normaliser primes), as a file is at
    inference."""
    n_mels = norm.n_mels
    x = np.zeros((len(pieces), length, norm.n_features), np.float32)
    y = np.zeros((len(pieces), length, 2 * n_mels + 1), np.float32)
    for i, (noisy, clean) in enumerate(pieces):
        n = len(noisy)
        noisy_p = np.zeros((length, n_mels), np.float32)
        clean_p = np.zeros((length, n_mels), np.float32)
        noisy_p[:n], clean_p[:n] = noisy, clean
        x[i, :n] = norm.apply_primed(noisy)
        valid = np.arange(length) < n
        y[i] = pack_targets(noisy_p, clean_p, valid=valid, delay=delay)
    return x, y


class FeatureSequences:
    """Batches of random segments of a feature set's utterances (training) or all of it in order (validation)."""

    def __init__(self, fs: FeatureSet, norm: Normaliser, delay: int, segment_frames: int, batch_size: int,
                 shuffle: bool, seed: int, frames_per_epoch: int = 0):
        self.norm, self.delay, self.length, self.batch_size = norm, delay, segment_frames, batch_size
        utts = [(noisy, clean) for _, noisy, clean in fs.utterances() if len(noisy)]
        self.pieces = [(n[i:i + segment_frames], c[i:i + segment_frames])
                       for n, c in utts for i in range(0, len(n), segment_frames)]
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0
        total = sum(len(p[0]) for p in self.pieces)
        frames = min(total, frames_per_epoch) if frames_per_epoch > 0 else total
        self.n_batches = max(1, math.ceil(frames / segment_frames / batch_size))
        self.utts = utts

    def __len__(self):
        return self.n_batches

    def batch(self, i: int):
        if not self.shuffle:
            chunk = self.pieces[i * self.batch_size:(i + 1) * self.batch_size]
            return segment_batch(chunk, self.norm, self.delay, self.length)
        rng = np.random.default_rng([self.seed, self.epoch, i])
        picks = []
        for _ in range(self.batch_size):
            noisy, clean = self.utts[int(rng.integers(len(self.utts)))]
            start = int(rng.integers(0, max(1, len(noisy) - self.length + 1)))
            picks.append((noisy[start:start + self.length], clean[start:start + self.length]))
        return segment_batch(picks, self.norm, self.delay, self.length)


def pad_batch(x: np.ndarray, y: np.ndarray, multiple: int):
    """A batch padded to a multiple of `multiple` examples (devices) with copies of its last one at weight 0
    (the targets' last channel), which the losses leave out."""
    extra = -len(x) % multiple
    if not extra:
        return x, y
    pad_y = np.repeat(y[-1:], extra, axis=0)
    pad_y[..., -1] = 0.0
    return np.concatenate([x, np.repeat(x[-1:], extra, axis=0)]), np.concatenate([y, pad_y])


def keras_batches(source, start_epoch: int = 0, repeat: bool = True, multiple: int = 1, prefetcher=None):
    """A tf.data pipeline over an object with __len__ and batch(i) (and `epoch` when `repeat`).

    An endless stream that fit() reads len(source) batches of per epoch. Training (`repeat`): epoch after
    epoch from `start_epoch`; batch i of epoch e is the same whenever it is made, so the run does not depend
    on prefetching or on an interruption. Validation: the same len(source) batches, in order, every time.
    `prefetcher` (a `prefetch.Prefetcher` over the same source) makes the training batches in worker
    processes instead of this one."""
    import itertools

    import tensorflow as tf

    def made_here(keys):
        for epoch, i in keys:
            if epoch is not None:
                source.epoch = epoch
            yield source.batch(i)

    def generate():
        epochs = itertools.count(start_epoch) if repeat else itertools.repeat(None)
        keys = ((epoch, i) for epoch in epochs for i in range(len(source)))
        made = prefetcher.batches(keys) if repeat and prefetcher is not None else made_here(keys)
        for x, y in made:
            yield pad_batch(x, y, multiple)

    x, y = source.batch(0)
    spec = (tf.TensorSpec((None, None, x.shape[-1]), tf.float32), tf.TensorSpec((None, None, y.shape[-1]), tf.float32))
    return tf.data.Dataset.from_generator(generate, output_signature=spec).prefetch(2)


LR_SCHEDULES = ("plateau", "cosine")
COSINE_FINAL_FRACTION = 0.02  # a cosine schedule ends at this fraction of the starting learning rate


def check_schedule(schedule: str) -> str:
    if schedule not in LR_SCHEDULES:
        raise DenoiserError(f"unknown learning-rate schedule {schedule!r}: choose {' or '.join(LR_SCHEDULES)}")
    return schedule


def learning_rate(schedule: str, rate: float, total_steps: int):
    """Adam's learning rate: `rate` itself ('plateau': the progress keeper may halve it) or a cosine decay from
    `rate` to COSINE_FINAL_FRACTION of it over `total_steps` batches ('cosine'), which follows the optimiser's
    step count, so a resumed run continues where it stopped."""
    import keras

    if schedule == "plateau":
        return rate
    return keras.optimizers.schedules.CosineDecay(rate, decay_steps=max(1, int(total_steps)),
                                                  alpha=COSINE_FINAL_FRACTION)


HISTORY_FILE = "history.json"
BEST_WEIGHTS = "best.weights.h5"


def progress_keeper(folder: Path, patience: int, reduce_lr_patience: int, min_lr: float = 1e-5, max_minutes: float = 0):
    """A Keras callback that keeps the best weights, stops after `patience` epochs without a better validation
    loss (or at the first epoch end after `max_minutes` of training, if > 0) and halves the learning rate after
    `reduce_lr_patience` of them. Its state (every epoch's logs, the best loss and epoch, the wait, the time
    spent) lives in `folder`, so an interrupted run resumes with all of it."""
    import keras

    folder = Path(folder)

    class Keeper(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            path = folder / HISTORY_FILE
            self.state = json.loads(path.read_text()) if path.is_file() else \
                {"epochs": [], "best": None, "best_epoch": None, "wait": 0, "seconds": 0.0}

        @property
        def history(self) -> dict:
            keys = dict.fromkeys(k for e in self.state["epochs"] for k in e)
            return {k: [e.get(k, float("nan")) for e in self.state["epochs"]] for k in keys}

        def on_train_begin(self, logs=None):
            self._mark = time.time()

        def on_epoch_end(self, epoch, logs=None):
            logs = {k: float(v) for k, v in (logs or {}).items()}
            now = time.time()
            self.state["seconds"] += now - self._mark
            self._mark = now
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            st = self.state
            st["epochs"].append(logs)
            val = logs.get("val_loss", float("nan"))
            if np.isfinite(val) and (st["best"] is None or val < st["best"]):
                st["best"], st["best_epoch"], st["wait"] = val, len(st["epochs"]), 0
                self.model.save_weights(folder / BEST_WEIGHTS)
            else:
                st["wait"] += 1
                if reduce_lr_patience > 0 and st["wait"] % reduce_lr_patience == 0:
                    lr = max(min_lr, logs["learning_rate"] * 0.5)
                    self.model.optimizer.learning_rate.assign(lr)
                if st["wait"] >= patience:
                    self.model.stop_training = True
            if max_minutes > 0 and st["seconds"] >= 60 * max_minutes:
                st["stopped_on_time"] = True
                self.model.stop_training = True
            tmp = folder / (HISTORY_FILE + ".tmp")
            tmp.write_text(json.dumps(st, indent=1) + "\n")
            tmp.replace(folder / HISTORY_FILE)

        def on_train_end(self, logs=None):
            self.state["finished"] = True  # a resume after this goes straight to saving the run
            (folder / HISTORY_FILE).write_text(json.dumps(self.state, indent=1) + "\n")

        def restore_best(self) -> bool:
            if (folder / BEST_WEIGHTS).is_file():
                self.model.load_weights(folder / BEST_WEIGHTS)
                return True
            return False

    return Keeper()


def nan_guard():
    """A Keras callback that stops training when the loss becomes NaN or infinite (`.nan_batch` says when)."""
    import keras

    class Guard(keras.callbacks.Callback):
        nan_batch = None

        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not np.isfinite(loss):
                self.nan_batch = batch
                self.model.stop_training = True

    return Guard()


def check_trainable(train: FeatureSet, val: FeatureSet) -> None:
    if len(train.noisy) == 0:
        raise DenoiserError("the training split is empty: extract features from more files")
    if len(val.noisy) == 0:
        raise DenoiserError("the validation split is empty: early stopping needs validation data "
                            "(raise val_fraction or add files)")
    for name, fs in (("training", train), ("validation", val)):
        if not (np.all(np.isfinite(fs.noisy)) and np.all(np.isfinite(fs.clean))):
            raise DenoiserError(f"the {name} features contain NaN or infinite values")
