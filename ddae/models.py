"""The two autoencoders, and saving/loading a trained run with its feature settings and statistics.

Both models take a (context frames x mel bands) window of normalised noisy log-mel and return, for the
centre frame (the last frame for a causal model), either the normalised clean log-mel (target 'logmel',
Lu et al.'s mapping) or the mel-band mask sqrt(clean / noisy power) clipped to [0, 1] (target 'mask', a
sigmoid output). Either way the clean log-mel estimate is defined, and so are the band gains.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .errors import DenoiserError
from .features import NormStats, band_gains
from .settings import FeatureSettings

MODEL_FILE = "model.keras"
CONFIG_FILE = "train_config.json"
PRETRAINED_DIR = "pretrained"
TARGETS = ("logmel", "mask")


def build_model(model_type: int, context: int, n_mels: int, units: str = "512,256,128,256,512",
                filters: str = "16,32", dropout: float = 0.0, target: str = "logmel"):
    """Type 1: dense deep denoising autoencoder (Lu et al. 2013). Type 2: convolutional encoder-decoder."""
    import keras
    from keras import layers

    check_target(target)
    act = "sigmoid" if target == "mask" else None
    inp = keras.Input((context, n_mels), name="noisy_logmel")
    if model_type == 1:
        x = layers.Flatten()(inp)
        for i, n in enumerate(_ints(units, "units")):
            x = layers.Dense(n, activation="relu", name=f"dense_{i}")(x)
            if dropout > 0:
                x = layers.Dropout(dropout)(x)
        out = layers.Dense(n_mels, activation=act, name=f"clean_{target}")(x)
    elif model_type == 2:
        widths = _ints(filters, "filters")
        if n_mels % (2 ** len(widths)):
            raise DenoiserError(f"type 2 needs n_mels divisible by {2 ** len(widths)} (one halving per filter layer)")
        x = layers.Reshape((context, n_mels, 1))(inp)
        for i, n in enumerate(widths):  # encoder: halve the mel axis at each layer
            x = layers.Conv2D(n, (3, 3), strides=(1, 2), padding="same", activation="relu", name=f"enc_{i}")(x)
        for i, n in enumerate(reversed([8] + widths[:-1])):  # decoder: back to n_mels bands
            x = layers.Conv2DTranspose(n, (3, 3), strides=(1, 2), padding="same", activation="relu", name=f"dec_{i}")(x)
        x = layers.Conv2D(1, (context, 1), padding="valid", name="to_frame")(x)  # all frames -> one frame
        x = layers.Reshape((n_mels,))(x)
        out = layers.Activation(act or "linear", name=f"clean_{target}")(x)
    else:
        raise DenoiserError(f"model_type must be 1 (dense) or 2 (convolutional), got {model_type}")
    return keras.Model(inp, out, name=f"ddae_type{model_type}")


def check_target(target: str) -> str:
    if target not in TARGETS:
        raise DenoiserError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    return target


def _ints(text: str, name: str) -> list[int]:
    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise DenoiserError(f"{name} must be comma-separated integers, got {text!r}") from None
    if not values or min(values) <= 0:
        raise DenoiserError(f"{name} must be comma-separated positive integers, got {text!r}")
    return values


class Run:
    """A trained model with the feature settings and statistics it was trained with."""

    def __init__(self, path: Path, model, settings: FeatureSettings, stats: NormStats, config: dict):
        self.path, self.model, self.settings, self.stats, self.config = path, model, settings, stats, config
        self.target = config.get("target", "logmel")  # checked by load_run

    @property
    def name(self) -> str:
        return self.path.name

    def band_gains(self, windows: np.ndarray, noisy_logmel: np.ndarray, min_gain: float) -> np.ndarray:
        """Amplitude gain per mel band for each window's centre frame, clipped to [min_gain, 1]."""
        out = self.predict(windows)
        if self.target == "mask":
            return np.clip(out.astype(np.float64), min_gain, 1.0)
        return band_gains(self.stats.denorm_clean(out), noisy_logmel, min_gain)

    def clean_logmel(self, windows: np.ndarray, noisy_logmel: np.ndarray) -> np.ndarray:
        """The model's clean log-mel estimate for each window's centre frame."""
        out = self.predict(windows)
        if self.target == "mask":
            return (noisy_logmel + 2.0 * np.log(np.clip(out, 1e-4, 1.0))).astype(np.float32)
        return self.stats.denorm_clean(out).astype(np.float32)

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Normalised noisy windows (n, context, n_mels) -> the model's raw output (n, n_mels): normalised
        clean log-mel or band mask, depending on `target`."""
        if len(windows) == 0:
            return np.zeros((0, self.settings.n_mels), np.float32)
        return np.asarray(self.model(windows.astype(np.float32), training=False))

    def check_features(self, other: FeatureSettings, what: str) -> None:
        diff = self.settings.differences(other, ignore=("context_past", "context_future"))
        if diff:
            raise DenoiserError(f"model {self.path} was trained on other feature settings than {what} "
                                f"({'; '.join(diff)}): re-extract features or pick another model")


def save_run(folder: Path, model, settings: FeatureSettings, stats: NormStats, config: dict) -> None:
    import keras

    folder.mkdir(parents=True, exist_ok=True)
    bare = keras.Model(model.inputs[0], model.outputs[0], name=model.name)  # same layers, no optimizer state: a third of the size
    bare.save(folder / MODEL_FILE)
    settings.save(folder)
    stats.save(folder)
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")


def list_runs(models_dir: Path) -> list[Path]:
    """Completed runs in models_dir (with a model file), oldest first; the pretrained folder excluded."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return []
    runs = [p for p in models_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
            and p.name != PRETRAINED_DIR and (p / MODEL_FILE).is_file()]
    return sorted(runs, key=lambda p: ((p / MODEL_FILE).stat().st_mtime, p.name))


PROJECT_MODELS = Path(__file__).resolve().parents[1] / "models"  # where the shipped models live in a checkout


def pretrained_runs(models_dir: Path) -> list[Path]:
    """Shipped runs in models_dir/pretrained/, else in the project's own models/pretrained/ (so the scripts
    find them from any working directory)."""
    for base in (Path(models_dir), PROJECT_MODELS):
        folder = base / PRETRAINED_DIR
        if folder.is_dir():
            runs = sorted(p for p in folder.iterdir() if p.is_dir() and (p / MODEL_FILE).is_file())
            if runs:
                return runs
    return []


def resolve_run_path(spec: str, models_dir: Path, causal: bool = False) -> Path:
    """Which run folder a MODEL setting names.

    'latest': the newest run in models_dir; 'pretrained': the shipped model (its causal variant when
    `causal`); 'default': the shipped model if there is one, else the newest run; else a path.
    """
    models_dir = Path(models_dir)
    if spec in ("pretrained", "default"):
        shipped = sorted(pretrained_runs(models_dir), key=lambda p: _is_causal(p) != causal)
        if shipped and (_is_causal(shipped[0]) or not causal):
            return shipped[0]
        if spec == "pretrained":
            raise DenoiserError(f"no {'causal ' if causal else ''}pretrained model in {models_dir / PRETRAINED_DIR}")
    if spec in ("latest", "default"):
        runs = list_runs(models_dir)
        if not runs:
            raise DenoiserError(f"no trained model in {models_dir}/: run train_autoencoder.py first")
        return runs[-1]
    path = Path(spec)
    return path.parent if path.name == MODEL_FILE else path


def _is_causal(run: Path) -> bool:
    try:
        return FeatureSettings.load(run).causal
    except DenoiserError:
        return False


def load_run(path: Path) -> Run:
    """Load a run folder, refusing (with a clear message) anything missing or inconsistent."""
    path = Path(path)
    if not path.exists():
        raise DenoiserError(f"{path}: no such model run")
    if not path.is_dir():
        raise DenoiserError(f"{path}: not a model run (expected a folder with {MODEL_FILE}, "
                            f"feature settings and normalisation statistics)")
    if not (path / MODEL_FILE).is_file():
        raise DenoiserError(f"{path}: not a model run ({MODEL_FILE} is missing)")
    settings = FeatureSettings.load(path)
    stats = NormStats.load(path)
    config = {}
    if (path / CONFIG_FILE).is_file():
        try:
            config = json.loads((path / CONFIG_FILE).read_text())
        except ValueError:
            raise DenoiserError(f"{path / CONFIG_FILE}: not valid JSON") from None
        if config.get("target", "logmel") not in TARGETS:
            raise DenoiserError(f"{path / CONFIG_FILE}: unknown target {config.get('target')!r}")
    from .cli import quiet_tensorflow

    quiet_tensorflow()
    import keras

    try:
        model = keras.models.load_model(path / MODEL_FILE, compile=False)
    except Exception as e:
        raise DenoiserError(f"{path / MODEL_FILE}: cannot be loaded as a Keras model ({str(e).splitlines()[0][:200]})") from None
    shape = tuple(model.input_shape[1:])
    if shape != (settings.context, settings.n_mels) or tuple(model.output_shape[1:]) != (settings.n_mels,):
        raise DenoiserError(f"{path}: model shape {shape} -> {model.output_shape[1:]} does not match its feature "
                            f"settings (context {settings.context}, n_mels {settings.n_mels})")
    if stats.n_mels != settings.n_mels:
        raise DenoiserError(f"{path}: normalisation statistics have {stats.n_mels} bands, settings say {settings.n_mels}")
    return Run(path, model, settings, stats, config)


def new_run_name(model_type: int, causal: bool = False, target: str = "logmel", models_dir=None) -> str:
    """type<N>[_mask][_causal]_<date-time>, with a suffix if that name is taken in models_dir."""
    kind = f"type{model_type}{'_mask' if target == 'mask' else ''}{'_causal' if causal else ''}"
    base = f"{kind}_{time.strftime('%Y%m%d-%H%M%S')}"
    name, k = base, 1
    taken = lambda n: models_dir is not None and any((Path(models_dir) / p).exists() for p in (n, f".{n}.partial"))  # noqa: E731
    while taken(name):
        k += 1
        name = f"{base}-{k}"
    return name
