"""Denoise files and folders: block-wise reading and writing (bounded memory), atomic outputs."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from .audio import AUDIO_EXTENSIONS, atomic_output, audio_info, find_audio_files, resample, _format_for
from .errors import DenoiserError
from .inference import StreamingDenoiser, denoise_array
from .pitch import DEFAULT_PITCH_FILTER
from .runs import Run

LIMIT_KNEE = 0.95  # above this magnitude the output is soft-limited so that nothing clips
LIMIT_CEILING = 0.995  # the limiter's output never reaches this


@dataclass
class Job:
    source: Path
    target: Path


def plan_jobs(inputs: list[str], output: str) -> list[Job]:
    """Map inputs (files or folders) to output paths; one input file -> `output` is a file, else a folder."""
    if not inputs:
        raise DenoiserError("no input given")
    out = Path(output)
    paths = [Path(p) for p in inputs]
    for p in paths:
        if not p.exists():
            raise DenoiserError(f"{p}: no such file or folder")
    wants_folder = out.is_dir() or output.endswith(("/", "\\")) or out.suffix == ""
    if len(paths) == 1 and paths[0].is_file():
        target = out / paths[0].name if wants_folder else out
        if target.suffix.lower() not in AUDIO_EXTENSIONS:
            raise DenoiserError(f"{target}: output must end in .wav, .flac or .ogg (or be an existing folder)")
        jobs = [Job(paths[0], target)]
    else:
        if out.exists() and not out.is_dir():
            raise DenoiserError(f"{out}: several inputs need an output folder, and this is a file")
        jobs = []
        for p in paths:
            if p.is_file():
                jobs.append(Job(p, out / p.name))
            else:
                files = find_audio_files(p)
                if not files:
                    raise DenoiserError(f"{p}: no .wav, .flac or .ogg files in this folder")
                prefix = Path(p.resolve().name) if len(paths) > 1 else Path()
                jobs += [Job(f, out / prefix / f.relative_to(p)) for f in files]
    targets = [j.target.resolve() for j in jobs]
    if len(set(targets)) != len(targets):
        raise DenoiserError("two inputs would be written to the same output path; give separate folders")
    sources = {j.source.resolve() for j in jobs}
    for j in jobs:
        if j.target.resolve() in sources:
            raise DenoiserError(f"{j.target}: output would overwrite an input file; choose another output")
    return jobs


def soft_limit(y: np.ndarray) -> np.ndarray:
    """Leave |y| <= LIMIT_KNEE alone; compress above it smoothly so |y| stays below LIMIT_CEILING."""
    a = np.abs(y)
    over = a > LIMIT_KNEE
    if not np.any(over):
        return y
    room = LIMIT_CEILING - LIMIT_KNEE
    y = y.copy()
    y[over] = np.sign(y[over]) * (LIMIT_KNEE + room * np.tanh((a[over] - LIMIT_KNEE) / room))
    return y


def output_subtype(info, target: Path) -> str:
    fmt = _format_for(target)
    if info.subtype and sf.check_format(fmt, info.subtype) and fmt == info.format:
        return info.subtype
    return {"WAV": "PCM_16", "FLAC": "PCM_16", "OGG": "VORBIS"}[fmt]


def denoise_file(run: Run, source: Path, target: Path, max_attenuation_db: float, mix: float,
                 rate_mode: str = "native", block_seconds: float = 30.0, on_block=None,
                 pitch_filter: float = DEFAULT_PITCH_FILTER) -> dict:
    """Denoise one file into `target` (written to a temporary file, then renamed). Returns a summary."""
    info = audio_info(source)
    sr, channels = info.samplerate, info.channels
    if not 8000 <= sr <= 48000:
        raise DenoiserError(f"{source}: sample rate {sr} Hz is outside the supported 8-48 kHz")
    if rate_mode not in ("native", "resample"):
        raise DenoiserError(f"rate_mode must be 'native' or 'resample', got {rate_mode!r}")
    subtype, fmt = output_subtype(info, target), _format_for(target)
    block = max(1024, int(block_seconds * sr))
    with atomic_output(target) as out:
        try:
            with sf.SoundFile(str(source)) as fin, \
                    sf.SoundFile(str(out.tmp), "w", sr, channels, subtype=subtype, format=fmt) as fout:
                if rate_mode == "resample" and sr != run.settings.sample_rate:
                    x = fin.read(dtype="float32", always_2d=True)
                    _check_finite(x, source)
                    y = resample(denoise_array(run, resample(x, sr, run.settings.sample_rate),
                                               max_attenuation_db=max_attenuation_db, mix=mix, pitch_filter=pitch_filter),
                                  run.settings.sample_rate, sr)
                    y = np.pad(y, ((0, max(0, len(x) - len(y))), (0, 0)))[: len(x)]
                    _write(fout, soft_limit(y), target)
                    if on_block:
                        on_block(len(x))
                else:
                    streams = [StreamingDenoiser(run, sr, max_attenuation_db, mix, pitch_filter=pitch_filter)
                               for _ in range(channels)]
                    for x in fin.blocks(blocksize=block, dtype="float32", always_2d=True):
                        _check_finite(x, source)
                        _write(fout, soft_limit(np.stack([s.process(x[:, c]) for c, s in enumerate(streams)], 1)), target)
                        if on_block:
                            on_block(len(x))
                    _write(fout, soft_limit(np.stack([s.flush() for s in streams], 1)), target)
        except sf.LibsndfileError as e:
            raise DenoiserError(f"{source}: could not be decoded or written ({e})") from None
        except OSError as e:
            raise DenoiserError(f"{target}: cannot write ({e.strerror or e})") from None
    return {"seconds": info.frames / sr, "sample_rate": sr, "channels": channels}


def _write(fout, y: np.ndarray, target: Path) -> None:
    """Write a block; a failure (a full disk, say) becomes a one-line error naming the output."""
    try:
        fout.write(y)
    except (sf.LibsndfileError, OSError) as e:
        try:
            full = shutil.disk_usage(target.parent).free < 1 << 20
        except OSError:
            full = False
        raise DenoiserError(f"{target}: cannot write ({str(e).strip() or type(e).__name__})"
                            f"{': the disk is full' if full else ''}; nothing was kept") from None


def _check_finite(x: np.ndarray, source: Path) -> None:
    if not np.all(np.isfinite(x)):
        raise DenoiserError(f"{source}: contains NaN or infinite samples")
