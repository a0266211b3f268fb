"""Training material for mixing on the fly: clean speech by speaker, noise by source, room impulse responses.

Two layouts are read:
- the shared-data layout (`speech.csv`, `noise.csv`, `rir/`), as in ../shared/data: the development set's
  speakers, noise files and rooms (see `devset.held_out`) are left out;
- a plain folder with `speech/<speaker>/...` and `noise/<source>/...` (any audio files, any rate; files right
  under `speech/` count as speakers of their own) and an optional `rir/`: for training on your own data.
Of what is left, every VAL_EVERY-th speaker (sorted) and every VAL_EVERY-th noise file of each source form the
validation split; the rest is the training split. Audio is high-passed at 20 Hz (some noise recordings carry
a DC offset) and held in memory as 16-bit integers, or, with `cache_dir` (lazy), written once as 16-bit shards
(one .npy per file) and read back whole when drawn: memory then holds only the file names and lengths,
whatever the hours of material, and the draws (so the batches) are the same as in memory.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np

from .audio import AUDIO_EXTENSIONS, read_audio
from .errors import DenoiserError

VAL_EVERY = 12
SPLITS = ("train", "val")


def _entries(root: Path) -> tuple[list[tuple[str, Path]], list[tuple[str, Path]], list[Path]]:
    """([(speaker, file)], [(noise source, file)], [impulse response files]) before any split."""
    rirs = sorted(p for p in (root / "rir").glob("*") if p.suffix.lower() in AUDIO_EXTENSIONS) if (root / "rir").is_dir() else []
    if (root / "speech.csv").is_file():
        from .devset import DEV_RIRS, held_out

        _, speech, _, noise = held_out(root)
        return ([(r["speaker"], root / r["path"]) for r in speech], [(r["source"], root / r["path"]) for r in noise],
                [p for p in rirs if p.stem not in DEV_RIRS])
    if not (root / "speech").is_dir() or not (root / "noise").is_dir():
        raise DenoiserError(f"{root}: expected speech.csv and noise.csv (the shared-data layout) or the folders "
                            f"speech/<speaker>/ and noise/<source>/")

    def grouped(folder: Path):
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
        return [(p.relative_to(folder).parts[0] if len(p.relative_to(folder).parts) > 1 else p.stem, p) for p in files]

    return grouped(root / "speech"), grouped(root / "noise"), rirs


def split_entries(root) -> dict:
    """{'train': (speech, noise), 'val': (speech, noise)}; the impulse responses under 'rirs' (training only)."""
    root = Path(root)
    speech, noise, rirs = _entries(root)
    if not speech or not noise:
        raise DenoiserError(f"{root}: no speech or no noise files to train on")
    speakers = sorted({s for s, _ in speech})
    val_speakers = set(speakers[min(VAL_EVERY // 2, len(speakers) - 1)::VAL_EVERY]) if len(speakers) > 1 else set()
    val_noise = set()
    for source in sorted({s for s, _ in noise}):
        files = sorted(p for s, p in noise if s == source)
        if len(files) > 1:
            val_noise |= set(files[min(VAL_EVERY // 2, len(files) - 1)::VAL_EVERY])
    if not val_speakers or not val_noise:
        raise DenoiserError(f"{root}: too little material to hold out validation speakers and noise files "
                            f"(need at least 2 speakers and a source with at least 2 noise files)")
    return {"train": ([e for e in speech if e[0] not in val_speakers], [e for e in noise if e[1] not in val_noise]),
            "val": ([e for e in speech if e[0] in val_speakers], [e for e in noise if e[1] in val_noise]),
            "rirs": rirs}


class Shard:
    """A file's 16-bit audio on disk (written once), read whole when drawn; len() without reading it."""

    def __init__(self, path: Path, n: int):
        self.path, self.n = path, n

    def __len__(self) -> int:
        return self.n

    def astype(self, dtype):
        return np.load(self.path).astype(dtype)


class Material:
    """One split's audio: speech by speaker, noise by source, and the training impulse responses; in memory,
    or with `cache_dir`, as shards on disk (see the module's doc)."""

    def __init__(self, root, split: str, sample_rate: int = 16000, progress=None, cache_dir=None):
        if split not in SPLITS:
            raise DenoiserError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        parts = split_entries(root)
        speech, noise = parts[split]
        self.root, self.split, self.sr = Path(root), split, sample_rate
        self.cache = Path(cache_dir) if cache_dir else None
        self.speakers: dict[str, list] = {}
        self.noise: dict[str, list] = {}
        entries = [("speech", s, p) for s, p in speech] + [("noise", s, p) for s, p in noise]
        for kind, group, path in (progress(entries, f"reading {split} material") if progress else entries):
            x = self._shard(path) if self.cache else self._read(path)
            if x is None or len(x) < sample_rate // 10 or (self.cache is None and not np.any(x)):
                continue  # shorter than 100 ms or digital silence: nothing to learn from
            (self.speakers if kind == "speech" else self.noise).setdefault(group, []).append(x)
        self.rirs = [read_audio(p, sample_rate)[0].astype(np.float64) for p in parts["rirs"]]
        if not self.speakers or not self.noise:
            raise DenoiserError(f"{root}: the {split} split has no usable speech or noise")
        self.speaker_names = sorted(self.speakers)
        self.sources = sorted(self.noise)

    def _read(self, path: Path) -> np.ndarray:
        from .augment import highpass

        x = highpass(read_audio(path, self.sr)[0], self.sr)  # no DC offsets or infrasound
        return np.round(np.clip(x, -1, 1) * 32767).astype(np.int16)

    def _shard(self, path: Path):
        """The file as a Shard in the cache (written on first use; keyed by path, size, time and rate)."""
        st = path.stat()
        key = hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{self.sr}".encode()).hexdigest()[:20]
        shard = self.cache / f"{key}.npy"
        if not shard.is_file():
            x = self._read(path)
            silent = len(x) < self.sr // 10 or not np.any(x)
            self.cache.mkdir(parents=True, exist_ok=True)
            from .audio import atomic_output

            with atomic_output(shard) as out:
                np.save(out.tmp, x[:0] if silent else x)  # an empty shard marks a file with nothing to learn from
            if silent:
                return None
        n = _npy_length(shard)
        return Shard(shard, n) if n else None

    @property
    def hours(self) -> tuple[float, float]:
        sec = lambda d: sum(len(x) for xs in d.values() for x in xs) / self.sr / 3600  # noqa: E731
        return sec(self.speakers), sec(self.noise)

    def utterance(self, rng: np.random.Generator, exclude: str | None = None) -> tuple[str, np.ndarray]:
        """A speaker drawn uniformly, then one of their utterances weighted by length, as float64."""
        names = [s for s in self.speaker_names if s != exclude] or self.speaker_names
        spk = names[int(rng.integers(len(names)))]
        utts = self.speakers[spk]
        lengths = np.array([len(u) for u in utts], np.float64)
        u = utts[int(rng.choice(len(utts), p=lengths / lengths.sum()))] if len(utts) > 1 else utts[0]
        return spk, u.astype(np.float64) / 32767.0

    def noise_file(self, rng: np.random.Generator) -> tuple[str, np.ndarray]:
        """A source drawn uniformly, then one of its files weighted by length, as float64."""
        source = self.sources[int(rng.integers(len(self.sources)))]
        files = self.noise[source]
        lengths = np.array([len(u) for u in files], np.float64)
        x = files[int(rng.choice(len(files), p=lengths / lengths.sum()))] if len(files) > 1 else files[0]
        return source, x.astype(np.float64) / 32767.0


def _npy_length(path: Path) -> int:
    """Samples in a 1-D .npy file, from its header (a memory map reads nothing else)."""
    return int(np.load(path, mmap_mode="r").shape[0])


def write_manifest(root, path: Path) -> None:
    """The files of each split, for the record (saved with a run)."""
    parts = split_entries(root)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["split", "kind", "group", "path"])
        for split in SPLITS:
            speech, noise = parts[split]
            w.writerows([split, "speech", s, str(p)] for s, p in speech)
            w.writerows([split, "noise", s, str(p)] for s, p in noise)
        w.writerows(["train", "rir", "", str(p)] for p in parts["rirs"])
