"""Reading, resampling and atomically writing audio, with one-line errors for bad files."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from .errors import DenoiserError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")


def audio_info(path) -> sf._SoundFileInfo:
    """soundfile's header info, or a DenoiserError that says what is wrong with the file."""
    path = Path(path)
    if not path.exists():
        raise DenoiserError(f"{path}: no such file")
    if not path.is_file():
        raise DenoiserError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise DenoiserError(f"{path}: empty file (0 bytes)")
    if path.suffix.lower() not in AUDIO_EXTENSIONS:
        raise DenoiserError(f"{path}: unsupported format {path.suffix or '(no extension)'}: use .wav, .flac or .ogg "
                            f"(e.g. ffmpeg -i {path.name} {path.stem}.wav)")
    try:
        info = sf.info(str(path))
    except Exception as e:  # soundfile raises LibsndfileError, RuntimeError or TypeError on bad files
        raise DenoiserError(f"{path}: not a readable audio file ({_short(e)})") from None
    if info.frames == 0:
        raise DenoiserError(f"{path}: contains no audio (0 frames)")
    return info


def read_audio(path, sample_rate: int | None = None, mono: bool = True) -> tuple[np.ndarray, int]:
    """Read a file as float32 in [-1, 1]: shape (n,) if mono (channels averaged) else (n, channels).

    With `sample_rate`, the audio is resampled to that rate. Non-finite samples are an error.
    """
    info = audio_info(path)
    try:
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:
        raise DenoiserError(f"{path}: could not be decoded ({_short(e)})") from None
    if x.shape[0] == 0:
        raise DenoiserError(f"{path}: contains no audio (0 frames)")
    if not np.all(np.isfinite(x)):
        raise DenoiserError(f"{path}: contains NaN or infinite samples")
    del info
    if mono:
        x = x.mean(axis=1)
    if sample_rate is not None and sr != sample_rate:
        x = resample(x, sr, sample_rate)
        sr = sample_rate
    return x, sr


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """High-quality resampling along the first axis (soxr, 'HQ' quality: what librosa's 'soxr_hq' calls)."""
    if sr_in == sr_out:
        return x
    import soxr

    x = np.asarray(x, np.float32)
    y = soxr.resample(x, sr_in, sr_out, quality="HQ")
    n = int(np.ceil(len(x) * sr_out / sr_in))  # librosa's length, so results made with it stay reproducible
    if len(y) < n:
        y = np.concatenate([y, np.zeros((n - len(y),) + y.shape[1:], y.dtype)])
    return np.ascontiguousarray(y[:n], np.float32)


def find_audio_files(folder) -> list[Path]:
    """All wav/flac/ogg files below `folder`, sorted by relative path."""
    folder = Path(folder)
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)


@contextlib.contextmanager
def atomic_folder(out_dir):
    """Yield a temporary folder beside `out_dir`; on success it replaces `out_dir`, on any error it is removed."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        yield tmp
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_output(path):
    """A temporary path beside `path`; call `commit()` to rename it into place, `discard()` to delete it."""
    return _AtomicFile(Path(path))


class _AtomicFile:
    def __init__(self, path: Path):
        self.path = path
        folder = path.parent
        if not folder.exists():
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise DenoiserError(f"{folder}: cannot create output folder ({e.strerror})") from None
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part" + path.suffix, dir=folder)
        except OSError as e:
            raise DenoiserError(f"{folder}: cannot write there ({e.strerror})") from None
        os.close(fd)
        self.tmp = Path(tmp)

    def commit(self):
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o666 & ~umask)  # mkstemp made it private; give it an ordinary file's permissions
        os.replace(self.tmp, self.path)

    def discard(self):
        self.tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.discard()
        return False


def write_audio(path, x: np.ndarray, sample_rate: int, subtype: str | None = "PCM_16") -> None:
    """Write atomically (temporary file, then rename); samples are clipped to [-1, 1] for integer subtypes."""
    path = Path(path)
    x = np.asarray(x, dtype=np.float32)
    if not np.all(np.isfinite(x)):
        raise DenoiserError(f"{path}: refusing to write non-finite samples")
    with atomic_output(path) as out:
        fmt = _format_for(path)
        if subtype is not None and not sf.check_format(fmt, subtype):
            subtype = None
        sf.write(str(out.tmp), np.clip(x, -1.0, 1.0), sample_rate, subtype=subtype, format=fmt)


def _format_for(path: Path) -> str:
    ext = path.suffix.lower().lstrip(".")
    fmts = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG"}
    if ext not in fmts:
        raise DenoiserError(f"{path}: unsupported output format (use .wav, .flac or .ogg)")
    return fmts[ext]


def _short(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[-1] if text else type(e).__name__
