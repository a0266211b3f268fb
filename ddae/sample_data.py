"""Write the synthetic sample set to disk (atomically: a half-written set never replaces a good one)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .audio import atomic_folder, write_audio
from .errors import DenoiserError
from .synth import sample_pairs

RECIPE_FILE = "recipe.json"
RECIPE_VERSION = 2  # bump when the generator changes, so an old sample set is regenerated


def write_sample_set(out_dir, n_utterances: int, sample_rate: int, seed: int, snr_range=(-5.0, 15.0),
                     overwrite: bool = False, quiet: bool = False) -> Path:
    from .cli import progress

    out_dir = Path(out_dir)
    recipe = {"version": RECIPE_VERSION, "n_utterances": n_utterances, "sample_rate": sample_rate, "seed": seed, "snr_range": list(snr_range)}
    if n_utterances < 1:
        raise DenoiserError("n_utterances must be at least 1")
    if out_dir.exists() and not overwrite:
        old = out_dir / RECIPE_FILE
        if old.is_file() and json.loads(old.read_text()) == recipe:
            if not quiet:
                print(f"{out_dir} already holds this sample set; nothing to do")
            return out_dir
        if not (old.is_file() and json.loads(old.read_text()).get("version") != RECIPE_VERSION):
            raise DenoiserError(f"{out_dir} exists with other content: pass --overwrite true or choose --out_dir")
        if not quiet:
            print(f"{out_dir} was made by an older generator: regenerating it")
    with atomic_folder(out_dir) as tmp:
        rows = []
        pairs = sample_pairs(n_utterances, sample_rate, seed, snr_range)
        for name, clean, noisy, info in progress(pairs, "synthesising", total=n_utterances) if not quiet else pairs:
            write_audio(tmp / "clean" / name, clean, sample_rate)
            write_audio(tmp / "noisy" / name, noisy, sample_rate)
            rows.append({"file": name, **info, "seconds": round(len(clean) / sample_rate, 3)})
        with open(tmp / "conditions.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        (tmp / RECIPE_FILE).write_text(json.dumps(recipe) + "\n")
    if not quiet:
        print(f"wrote {n_utterances} clean/noisy pairs to {out_dir}/clean and {out_dir}/noisy")
    return out_dir
