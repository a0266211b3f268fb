"""Training: context-window batches, early stopping, checkpoints, CSV/TensorBoard logs, identity baseline."""

from __future__ import annotations

import math

import numpy as np

from .dataset import FeatureSet
from .errors import DenoiserError
from .features import NormStats, band_gains


class WindowIndex:
    """Normalised noisy frames of many utterances, padded per utterance so windows never cross files."""

    def __init__(self, fs: FeatureSet, stats: NormStats, past: int, future: int, target: str = "logmel"):
        self.context = past + 1 + future
        pieces, centres, offset = [], [], 0
        for _, noisy, _ in fs.utterances():
            n = len(noisy)
            x = stats.norm_noisy(noisy)
            pieces.append(np.concatenate([np.repeat(x[:1], past, 0), x, np.repeat(x[-1:], future, 0)]))
            centres.append(offset + np.arange(n))  # window start in the padded array
            offset += n + past + future
        self.padded = np.concatenate(pieces).astype(np.float32) if pieces else np.zeros((0, stats.n_mels), np.float32)
        self.starts = np.concatenate(centres) if centres else np.zeros(0, np.int64)
        self.targets = training_targets(fs, stats, target)

    def __len__(self):
        return len(self.starts)

    def windows(self, rows: np.ndarray) -> np.ndarray:
        return self.padded[self.starts[rows][:, None] + np.arange(self.context)]


def training_targets(fs: FeatureSet, stats: NormStats, target: str) -> np.ndarray:
    """What the model learns to output: normalised clean log-mel, or the band mask in [0, 1]."""
    if target == "mask":
        return band_gains(fs.clean, fs.noisy, 0.0).astype(np.float32)
    return stats.norm_clean(fs.clean).astype(np.float32)


def make_sequence(index: WindowIndex, batch_size: int, shuffle: bool, seed: int, frames_per_epoch: int = 0):
    """Batches of (windows, targets). With frames_per_epoch > 0, each epoch is a fresh random subset."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.rng = np.random.default_rng(seed)
            self.order = np.arange(len(index))
            self.n = min(len(index), frames_per_epoch) if frames_per_epoch > 0 else len(index)
            self.on_epoch_end()

        def __len__(self):
            return math.ceil(self.n / batch_size)

        def __getitem__(self, i):
            rows = self.order[i * batch_size:min((i + 1) * batch_size, self.n)]
            return index.windows(rows), index.targets[rows]

        def on_epoch_end(self):
            if shuffle:
                self.rng.shuffle(self.order)

    return Batches()


def identity_loss(fs: FeatureSet, stats: NormStats, target: str = "logmel") -> float:
    """MSE of leaving the input as it is (the noisy log-mel as the prediction, or a mask of 1),
    in the space the loss uses."""
    if target == "mask":
        return float(np.mean((1.0 - training_targets(fs, stats, target)) ** 2))
    return float(np.mean((stats.norm_clean(fs.noisy) - stats.norm_clean(fs.clean)) ** 2))


class StopOnNaN:
    """A Keras callback factory: stop with a clear message when the loss becomes NaN or infinite."""

    @staticmethod
    def make():
        import keras

        class _Stop(keras.callbacks.Callback):
            nan_epoch = None

            def on_train_batch_end(self, batch, logs=None):
                loss = (logs or {}).get("loss")
                if loss is not None and not np.isfinite(loss):
                    self.nan_epoch = batch
                    self.model.stop_training = True

        return _Stop()


def check_trainable(train: FeatureSet, val: FeatureSet) -> None:
    if len(train.noisy) == 0:
        raise DenoiserError("the training split is empty: extract features from more files")
    if len(val.noisy) == 0:
        raise DenoiserError("the validation split is empty: early stopping needs validation data "
                            "(raise val_fraction or add files)")
    for name, fs in (("training", train), ("validation", val)):
        if not (np.all(np.isfinite(fs.noisy)) and np.all(np.isfinite(fs.clean))):
            raise DenoiserError(f"the {name} features contain NaN or infinite values")
