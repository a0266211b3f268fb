"""Clean/noisy pairs on disk -> feature sets: pairing by relative path, utterance-level splits, storage."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio import atomic_folder, find_audio_files, read_audio
from .errors import DenoiserError
from .features import compute_logmel
from .settings import FeatureSettings

SPLITS = ("train", "val", "test")
MAX_LENGTH_MISMATCH_S = 0.05  # clean and noisy may differ by codec padding, not by more


def pair_files(clean_dir, noisy_dir) -> list[tuple[Path, Path, str]]:
    """(clean, noisy, relative path) for every file present in both folders; an unmatched file is an error."""
    clean_dir, noisy_dir = Path(clean_dir), Path(noisy_dir)
    for d in (clean_dir, noisy_dir):
        if not d.is_dir():
            raise DenoiserError(f"{d}: no such folder")
    clean = {p.relative_to(clean_dir).as_posix(): p for p in find_audio_files(clean_dir)}
    noisy = {p.relative_to(noisy_dir).as_posix(): p for p in find_audio_files(noisy_dir)}
    only_clean, only_noisy = sorted(set(clean) - set(noisy)), sorted(set(noisy) - set(clean))
    if only_clean or only_noisy:
        parts = []
        if only_clean:
            parts.append(f"only in {clean_dir}: {_names(only_clean)}")
        if only_noisy:
            parts.append(f"only in {noisy_dir}: {_names(only_noisy)}")
        raise DenoiserError("unmatched clean/noisy files (paired by relative path); " + "; ".join(parts))
    if not clean:
        raise DenoiserError(f"no audio files (.wav, .flac, .ogg) in {clean_dir} and {noisy_dir}")
    return [(clean[k], noisy[k], k) for k in sorted(clean)]


def _names(names: list[str], limit: int = 8) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


SPLIT_BY = ("file", "folder")


def split_names(names: list[str], val_fraction: float, test_fraction: float, seed: int,
                split_by: str = "file") -> dict[str, list[str]]:
    """Assign whole utterances to train/val/test (seeded); val and test get at least one file each if asked for.

    split_by 'folder' keeps every file of one top-level folder (a speaker, say) in the same split; the
    fractions then count folders.
    """
    if split_by not in SPLIT_BY:
        raise DenoiserError(f"split_by must be 'file' or 'folder', got {split_by!r}")
    if split_by == "folder":
        groups: dict[str, list[str]] = {}
        for name in names:
            groups.setdefault(name.split("/")[0] if "/" in name else name, []).append(name)
        parts = split_names(list(groups), val_fraction, test_fraction, seed)
        return {k: sorted(n for g in v for n in groups[g]) for k, v in parts.items()}
    from sklearn.model_selection import train_test_split

    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise DenoiserError("val_fraction and test_fraction must be in [0, 1) and sum to less than 1")
    order, n = sorted(names), len(names)
    n_val = max(int(val_fraction > 0), int(round(n * val_fraction)))
    n_test = max(int(test_fraction > 0), int(round(n * test_fraction)))
    if n - n_val - n_test < 1:
        raise DenoiserError(f"{n} file(s) are too few to split into train/val/test")
    rest, test = train_test_split(order, test_size=n_test, random_state=seed) if n_test else (order, [])
    train, val = train_test_split(rest, test_size=n_val, random_state=seed + 1) if n_val else (rest, [])
    return {"train": sorted(train), "val": sorted(val), "test": sorted(test)}


def load_pair(clean_path: Path, noisy_path: Path, s: FeatureSettings) -> tuple[np.ndarray, np.ndarray]:
    """Both signals at the settings' rate, mono, trimmed to a common length (a large mismatch is an error)."""
    clean, _ = read_audio(clean_path, s.sample_rate)
    noisy, _ = read_audio(noisy_path, s.sample_rate)
    if abs(len(clean) - len(noisy)) > MAX_LENGTH_MISMATCH_S * s.sample_rate:
        raise DenoiserError(f"{noisy_path}: {len(noisy) / s.sample_rate:.2f} s long but its clean partner "
                            f"{clean_path} is {len(clean) / s.sample_rate:.2f} s: not a matching pair")
    n = min(len(clean), len(noisy))
    return clean[:n], noisy[:n]


@dataclass
class FeatureSet:
    """One split of a feature set: frames of all its utterances concatenated, plus per-utterance lengths."""

    noisy: np.ndarray
    clean: np.ndarray
    lengths: np.ndarray
    files: list[str]

    def utterances(self):
        """(name, noisy, clean) per utterance."""
        ends = np.cumsum(self.lengths)
        for name, end, n in zip(self.files, ends, self.lengths):
            yield name, self.noisy[end - n:end], self.clean[end - n:end]


def extract_feature_set(pairs, out_dir: Path, s: FeatureSettings, val_fraction=0.1, test_fraction=0.1,
                        seed=0, progress=None, split_by: str = "file") -> dict:
    """Compute features of every pair, split by utterance, fit statistics on train, write `out_dir` atomically."""
    out_dir = Path(out_dir)
    splits = split_names([rel for _, _, rel in pairs], val_fraction, test_fraction, seed, split_by)
    where = {name: split for split, names in splits.items() for name in names}
    feats = {split: {"noisy": [], "clean": [], "files": []} for split in SPLITS}
    bad = []
    for clean_path, noisy_path, rel in (progress(pairs) if progress else pairs):
        try:
            clean, noisy = load_pair(clean_path, noisy_path, s)
        except DenoiserError as e:
            bad.append(str(e))
            continue
        bucket = feats[where[rel]]
        bucket["noisy"].append(compute_logmel(noisy, s))
        bucket["clean"].append(compute_logmel(clean, s))
        bucket["files"].append(rel)
    if bad:
        raise DenoiserError(f"{len(bad)} of {len(pairs)} pair(s) cannot be used, nothing was written: " + "; ".join(bad))
    if not feats["train"]["files"]:
        raise DenoiserError("the training split is empty: extract features from more files")
    with atomic_folder(out_dir) as tmp:
        s.save(tmp)
        summary = {"splits": {}, "seed": seed, "split_by": split_by}
        for split, b in feats.items():
            empty = np.zeros((0, s.n_mels), np.float32)
            np.save(tmp / f"{split}_noisy.npy", np.concatenate(b["noisy"]) if b["noisy"] else empty)
            np.save(tmp / f"{split}_clean.npy", np.concatenate(b["clean"]) if b["clean"] else empty)
            np.save(tmp / f"{split}_lengths.npy", np.array([len(f) for f in b["noisy"]], np.int64))
            (tmp / f"{split}_files.txt").write_text("".join(f + "\n" for f in b["files"]))
            summary["splits"][split] = {"files": len(b["files"]), "frames": int(sum(len(f) for f in b["noisy"]))}
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def load_feature_set(folder, split: str) -> FeatureSet:
    folder = Path(folder)
    if not folder.is_dir():
        raise DenoiserError(f"{folder}: no such feature set (run extract_features.py first)")
    try:
        noisy = np.load(folder / f"{split}_noisy.npy")
        clean = np.load(folder / f"{split}_clean.npy")
        lengths = np.load(folder / f"{split}_lengths.npy")
        files = (folder / f"{split}_files.txt").read_text().splitlines()
    except (OSError, ValueError) as e:
        raise DenoiserError(f"{folder}: incomplete or corrupt feature set ({e})") from None
    if noisy.shape != clean.shape or noisy.ndim != 2 or lengths.sum() != len(noisy) or len(files) != len(lengths):
        raise DenoiserError(f"{folder}: inconsistent {split} arrays (noisy {noisy.shape}, clean {clean.shape}, "
                            f"{len(lengths)} lengths summing to {int(lengths.sum())}, {len(files)} names)")
    return FeatureSet(noisy, clean, lengths, files)
