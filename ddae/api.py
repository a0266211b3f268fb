"""The one-call Python API.

    from ddae import Denoiser
    d = Denoiser.load()                  # the shipped default model ('default'), or a run folder
    y = d.denoise(x, sr)                 # x: (samples,) or (samples, channels), any rate from 8 to 48 kHz
    s = d.stream(sr)                     # live audio, one channel: s.process(chunk) ... s.flush()

With onnxruntime installed and a run that has model.onnx (the shipped ones do), nothing here imports
TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .enhance import denoise_file, soft_limit
from .errors import DenoiserError
from .inference import DEFAULT_MAX_ATTENUATION_DB, StreamingDenoiser, denoise_array
from .pitch import DEFAULT_PITCH_FILTER, check_strength
from .runs import PROJECT_MODELS, Run, load_run, resolve_run_path


class Denoiser:
    """A loaded model and how strongly to apply it (`max_attenuation_db`: gain floor; `mix`: 1 = fully
    denoised, 0 = the input; `scene_changes`: start afresh where sound rises far above a quieter stretch or
    falls far below a louder one, ddae.normalise 'Scene changes'; `pitch_filter`: strength of the comb at the
    pitch period in voiced frames, ddae.pitch, 0 = band gains only)."""

    def __init__(self, run: Run, max_attenuation_db: float = DEFAULT_MAX_ATTENUATION_DB, mix: float = 1.0,
                 scene_changes: bool = True, pitch_filter: float = DEFAULT_PITCH_FILTER):
        if not 0.0 <= mix <= 1.0:
            raise DenoiserError(f"mix must be between 0 (dry) and 1 (fully denoised), got {mix}")
        if max_attenuation_db < 0:
            raise DenoiserError(f"max_attenuation_db must be >= 0, got {max_attenuation_db}")
        self.run, self.max_attenuation_db, self.mix = run, float(max_attenuation_db), float(mix)
        self.pitch_filter = check_strength(pitch_filter)
        run.norm.scene_changes = bool(scene_changes)

    @classmethod
    def load(cls, model: str | Path = "default", backend: str = "auto", threads: int = 0,
             max_attenuation_db: float = DEFAULT_MAX_ATTENUATION_DB, mix: float = 1.0,
             models_dir: str | Path = PROJECT_MODELS, scene_changes: bool = True,
             pitch_filter: float = DEFAULT_PITCH_FILTER) -> "Denoiser":
        """model: 'default' or 'pretrained' (shipped), 'causal' (the shipped model without lookahead), 'latest'
        (newest run in models_dir) or a run folder; backend: 'auto', 'onnx' or 'keras'."""
        causal = str(model) == "causal"
        path = resolve_run_path("pretrained" if causal else str(model), models_dir, causal=causal)
        return cls(load_run(path, backend, threads), max_attenuation_db, mix, scene_changes, pitch_filter)

    @property
    def name(self) -> str:
        return self.run.name

    @property
    def backend(self) -> str:
        return self.run.backend

    def latency_seconds(self, sample_rate: int | None = None) -> float:
        """Algorithmic latency of streaming (window plus lookahead), at a stream's rate."""
        sr = int(sample_rate or self.run.settings.sample_rate)
        return self.stream(sr).latency_samples / sr

    def denoise(self, x: np.ndarray, sample_rate: int, block_seconds: float = 30.0) -> np.ndarray:
        """Denoised float32 copy of x ((samples,) or (samples, channels)), as denoise.py writes it."""
        x = np.asarray(x)
        if x.ndim not in (1, 2):
            raise DenoiserError(f"expected a 1-D or (samples, channels) array, got shape {x.shape}")
        if not 8000 <= int(sample_rate) <= 48000:
            raise DenoiserError(f"sample rate {sample_rate} Hz is outside the supported 8-48 kHz")
        if not np.all(np.isfinite(x)):
            raise DenoiserError("input contains NaN or infinite samples")
        y = denoise_array(self.run, x.astype(np.float32, copy=False), int(sample_rate), block_seconds,
                          self.max_attenuation_db, self.mix, pitch_filter=self.pitch_filter)
        return soft_limit(y)

    def denoise_file(self, source, target, rate_mode: str = "native", block_seconds: float = 30.0,
                     on_block=None) -> dict:
        """Denoise one audio file into `target` (atomically; an input is never overwritten)."""
        if Path(target).resolve() == Path(source).resolve():
            raise DenoiserError(f"{target}: output would overwrite the input file; choose another output")
        return denoise_file(self.run, Path(source), Path(target), self.max_attenuation_db, self.mix, rate_mode,
                            block_seconds, on_block, self.pitch_filter)

    def stream(self, sample_rate: int) -> StreamingDenoiser:
        """A chunk-by-chunk denoiser for one channel: process(chunk) returns what is ready, flush() the rest."""
        return StreamingDenoiser(self.run, int(sample_rate), self.max_attenuation_db, self.mix,
                                 pitch_filter=self.pitch_filter)
