"""A trained run on disk: its model, feature settings, normalisation and training config; finding runs.

A run folder holds `model.keras` (the training model), `feature_settings.json`, `norm_stats.npz` (the
normaliser) and `train_config.json` (with the architecture). All four are checked when it is loaded, and
anything missing or inconsistent is refused with a message that says what.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import numpy as np

from .errors import DenoiserError
from .models import MODEL_TYPES, n_inputs
from .normalise import Normaliser
from .settings import FeatureSettings

MODEL_FILE = "model.keras"
CONFIG_FILE = "train_config.json"
PRETRAINED_DIR = "pretrained"
PROJECT_MODELS = Path(__file__).resolve().parents[1] / "models"  # where the shipped models live in a checkout
INSTALLED_PRETRAINED = Path(__file__).resolve().parent / "pretrained"  # ... and after `pip install`


class Run:
    """A trained model with the feature settings and normaliser it was trained with.

    `gains(frames, state)` is the one way the model is run: normalised log-mel frames (T, n_mels) that follow
    `state` -> (gains (T, n_mels) delayed by `delay` frames, new state). `initial_state()` is the state
    before the first frame of a file or stream. `backend` says what runs it: 'onnx' (ONNX Runtime, no
    TensorFlow) or 'keras'. `model` is the Keras model (loaded on first use with the onnx backend).
    """

    def __init__(self, path: Path, model, settings: FeatureSettings, norm: Normaliser, config: dict,
                 backend: str = "keras", threads: int = 0):
        self.path, self._model, self.settings, self.norm, self.config = Path(path), model, settings, norm, config
        self.arch = config["architecture"]
        self.delay = int(self.arch["future"])
        self.backend, self.threads = backend, threads
        self._engine = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def model_type(self) -> int:
        return int(self.arch["model_type"])

    @property
    def model(self):
        if self._model is None:
            self._model = _load_keras(self.path, self.settings, self.norm)
        return self._model

    @property
    def engine(self):
        if self._engine is None:
            if self.backend == "onnx":
                from .engines import OnnxEngine, file_sha256

                self._engine = OnnxEngine(self.path, self.norm.n_features, self.settings.n_mels,
                                          file_sha256(self.path / MODEL_FILE), self.threads)
            else:
                from .engines import KerasEngine

                self._engine = KerasEngine(self.model, self.arch)
        return self._engine

    def initial_state(self, batch: int = 1) -> list[np.ndarray]:
        return self.engine.initial_state(batch)

    def gains(self, frames: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        if len(frames) == 0:
            return np.zeros((0, self.settings.n_mels), np.float32), state
        g, new = self.engine(np.asarray(frames, np.float32)[None], state)
        return np.asarray(g[0]), new

    def check_features(self, other: FeatureSettings, what: str) -> None:
        diff = self.settings.differences(other, ignore=("context_past", "context_future"))
        if diff:
            raise DenoiserError(f"model {self.path} was trained on other feature settings than {what} "
                                f"({'; '.join(diff)}): re-extract features or pick another model")


def save_run(folder: Path, model, settings: FeatureSettings, norm: Normaliser, config: dict) -> None:
    import keras

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    bare = keras.Model(model.inputs[0], model.outputs[0], name=model.name)  # same layers, no optimizer state
    bare.save(folder / MODEL_FILE)
    settings.save(folder)
    norm.save(folder)
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")


def load_run(path, backend: str = "auto", threads: int = 0) -> Run:
    """Load a run folder, refusing (with a clear message) anything missing or inconsistent.

    backend: 'auto' (ONNX Runtime when the run has model.onnx and onnxruntime is installed, else Keras),
    'onnx' or 'keras'; threads: CPU threads for either (0 = all)."""
    from .engines import limit_native_threads, pick_backend

    path = Path(path)
    if not path.exists():
        raise DenoiserError(f"{path}: no such model run")
    if not path.is_dir():
        raise DenoiserError(f"{path}: not a model run (expected a folder with {MODEL_FILE}, "
                            f"feature settings and normalisation statistics)")
    if not (path / MODEL_FILE).is_file():
        raise DenoiserError(f"{path}: not a model run ({MODEL_FILE} is missing)")
    settings = FeatureSettings.load(path)
    norm = Normaliser.load(path).hold_on_silence(settings.log_floor, settings.sample_rate / settings.hop_length)
    config = _load_config(path)
    arch = config["architecture"]
    if arch["n_mels"] != settings.n_mels or norm.n_mels != settings.n_mels or n_inputs(arch) != norm.n_features:
        raise DenoiserError(f"{path}: settings say {settings.n_mels} bands, the architecture {arch['n_mels']} and the "
                            f"normalisation statistics {norm.n_mels}")
    if arch["future"] != settings.context_future or (arch["model_type"] != 3 and arch["past"] != settings.context_past):
        raise DenoiserError(f"{path}: the architecture's context ({arch['past']} past, {arch['future']} future) does not "
                            f"match its feature settings ({settings.context_past}, {settings.context_future})")
    backend = pick_backend(backend, path)
    if backend == "keras":
        from .cli import quiet_tensorflow

        quiet_tensorflow(threads)  # limits TensorFlow and numpy's BLAS
    else:
        limit_native_threads(threads)
    run = Run(path, _load_keras(path, settings, norm) if backend == "keras" else None, settings, norm, config,
              backend, threads)
    if backend == "onnx":
        run.engine  # noqa: B018  (checks model.onnx now, not at the first file)
    return run


def _load_keras(path: Path, settings: FeatureSettings, norm: Normaliser):
    from .cli import quiet_tensorflow

    quiet_tensorflow()
    import keras

    try:
        model = keras.models.load_model(path / MODEL_FILE, compile=False)
    except Exception as e:
        raise DenoiserError(f"{path / MODEL_FILE}: cannot be loaded as a Keras model ({str(e).splitlines()[0][:200]})") from None
    n_in = norm.n_features
    if tuple(model.input_shape[1:]) != (None, n_in) or tuple(model.output_shape[1:]) != (None, settings.n_mels):
        raise DenoiserError(f"{path}: model shape {model.input_shape[1:]} -> {model.output_shape[1:]} does not match "
                            f"the contract (frames, {n_in} inputs) -> (frames, {settings.n_mels} gains); "
                            f"a run saved by an older version must be retrained")
    return model


def _load_config(path: Path) -> dict:
    cfg_path = path / CONFIG_FILE
    if not cfg_path.is_file():
        raise DenoiserError(f"{cfg_path} is missing: {path} has no training config (architecture)")
    try:
        config = json.loads(cfg_path.read_text())
    except ValueError:
        raise DenoiserError(f"{cfg_path}: not valid JSON") from None
    arch = config.get("architecture") if isinstance(config, dict) else None
    keys = {"model_type", "n_mels", "past", "future", "units", "filters", "dropout"}
    if not isinstance(arch, dict) or not keys <= set(arch):
        raise DenoiserError(f"{cfg_path}: no architecture description; a run saved by an older version "
                            f"must be retrained")
    if arch["model_type"] not in MODEL_TYPES:
        raise DenoiserError(f"{cfg_path}: unknown model type {arch['model_type']!r}")
    return config


def list_runs(models_dir) -> list[Path]:
    """Completed runs in models_dir (with a model file), oldest first; the pretrained folder excluded."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return []
    runs = [p for p in models_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
            and p.name != PRETRAINED_DIR and (p / MODEL_FILE).is_file()]
    return sorted(runs, key=lambda p: ((p / MODEL_FILE).stat().st_mtime, p.name))


def pretrained_runs(models_dir) -> list[Path]:
    """Shipped runs in models_dir/pretrained/, else in the project's own models/pretrained/ (so the scripts
    find them from any working directory)."""
    for folder in (Path(models_dir) / PRETRAINED_DIR, PROJECT_MODELS / PRETRAINED_DIR, INSTALLED_PRETRAINED):
        if folder.is_dir():
            runs = sorted(p for p in folder.iterdir() if p.is_dir() and (p / MODEL_FILE).is_file())
            if runs:
                return runs
    return []


DEFAULT_MODEL = "ddae"  # the shipped default; the causal one is the shipped run with no lookahead


def resolve_run_path(spec: str, models_dir, causal: bool = False) -> Path:
    """Which run folder a MODEL setting names.

    'latest': the newest run in models_dir; 'pretrained': the shipped default model (the shipped causal model
    when `causal`); 'default': the shipped model if there is one, else the newest run; else a path.
    """
    models_dir = Path(models_dir)
    if spec in ("pretrained", "default"):
        shipped = pretrained_runs(models_dir)
        if causal:
            shipped = [p for p in shipped if _is_causal(p)]
        else:
            shipped = sorted(shipped, key=lambda p: p.name != DEFAULT_MODEL)
        if shipped:
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


def new_run_name(model_type: int, causal: bool = False, loss: str = "", models_dir=None, logs_dir=None) -> str:
    """type<N>[_<loss>][_causal]_<date-time>, with a suffix if that name is taken in models_dir or logs_dir.
    With logs_dir the name is claimed by creating its log folder there (atomic), so runs started in the same
    second, even into different models_dirs, never share a log folder."""
    kind = f"type{model_type}{'_' + loss if loss else ''}{'_causal' if causal else ''}"
    base = f"{kind}_{time.strftime('%Y%m%d-%H%M%S')}"
    taken = lambda n: models_dir is not None and any((Path(models_dir) / p).exists() for p in (n, f".{n}.partial"))  # noqa: E731
    for k in itertools.count(1):
        name = base if k == 1 else f"{base}-{k}"
        if taken(name):
            continue
        if logs_dir is None:
            return name
        try:
            (Path(logs_dir) / name).mkdir(parents=True)
            return name
        except FileExistsError:
            continue
