"""Beyond one process: corpus denoising on a Dask LocalCluster, and training memory against the hours of material.

Usage: python benchmarks/bench_scale.py [--files 200] [--seconds 20] [--workers 2] [--hours 1,10]

1. FILES generated files of SECONDS each: `denoise.py --threads 1` in one process, then `denoise.py --cluster
   local --workers WORKERS` (one thread per worker), REPEATS times each, alternating: best wall times (start-up
   included), speed-up, and whether the outputs are identical, byte for byte.
2. For each number of HOURS: a generated material folder of that much audio (speech/ and noise/, files of
   15 s), then a short training run mixing on the fly from it with MATERIAL_CACHE (shards on disk): peak
   RSS of the training process (ru_maxrss). With the material in memory instead (MEMORY_TOO), for contrast.
"""

FILES = 200  # files to denoise
SECONDS = 20.0  # length of each
WORKERS = 2  # Dask worker processes
REPEATS = 3  # runs of each (alternating); the best of each is compared, as in bench_runtime.py
HOURS = "1,10"  # material sizes to train from (comma-separated; '' = skip the training part)
MEMORY_TOO = False  # also train with the material in memory (the contrast; needs that much RAM)
WORK_DIR = ""  # where the generated files go ('' = a temporary folder, removed afterwards)

import filecmp  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ddae.cli import resolve_settings  # noqa: E402

from benchmarks.bench_runtime import _command as _run  # noqa: E402  (wall s, peak RSS MiB of a fresh process)


def corpus(work: Path, cfg) -> None:
    import numpy as np
    import soundfile as sf

    from ddae.synth import benchmark_signal

    src = work / "corpus"
    base = benchmark_signal(cfg["SECONDS"])
    for i in range(cfg["FILES"]):
        (src / f"d{i % 10}").mkdir(parents=True, exist_ok=True)
        sf.write(src / f"d{i % 10}" / f"f{i:04d}.wav", np.roll(base, 997 * i), 16000, subtype="PCM_16")
    ones, manys = [], []
    for _ in range(max(1, cfg["REPEATS"])):
        for out in ("one", "many"):
            shutil.rmtree(work / out, ignore_errors=True)
        ones.append(_run([ROOT / "denoise.py", src, "-o", work / "one", "--threads", 1])[0])
        manys.append(_run([ROOT / "denoise.py", src, "-o", work / "many", "--cluster", "local", "--workers",
                           cfg["WORKERS"]])[0])
    one, many = min(ones), min(manys)
    cmp = filecmp.dircmp(work / "one", work / "many")
    same = _identical(work / "one", work / "many")
    print(f"{cfg['FILES']} files of {cfg['SECONDS']:.0f} s: one process {one:.1f} s, Dask LocalCluster of "
          f"{cfg['WORKERS']} workers {many:.1f} s (best of {len(ones)}; start-up included): {one / many:.2f}x; "
          f"each run: one process {' / '.join(f'{t:.1f}' for t in ones)} s, cluster "
          f"{' / '.join(f'{t:.1f}' for t in manys)} s; outputs identical: {same}"
          f"{'' if not cmp.left_only else f' (missing: {cmp.left_only[:3]})'}")


def _identical(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a) for p in a.rglob("*.wav"))
    return bool(files) and all((b / f).is_file() and (a / f).read_bytes() == (b / f).read_bytes() for f in files) \
        and len(files) == len(list(b.rglob("*.wav")))


def material(work: Path, hours: float) -> Path:
    import numpy as np
    import soundfile as sf

    root = work / f"material_{hours:g}h"
    rng = np.random.default_rng(0)
    n = 15 * 16000
    t = np.arange(n) / 16000
    for k in range(int(hours * 3600 / 15) // 2):  # half speech, half noise
        (root / "speech" / f"s{k % 40}").mkdir(parents=True, exist_ok=True)
        voice = 0.1 * np.sin(2 * np.pi * (100 + k % 97) * t) * (np.sin(2 * np.pi * 3 * t) > 0)
        sf.write(root / "speech" / f"s{k % 40}" / f"u{k}.flac", voice.astype(np.float32), 16000)
        (root / "noise" / f"src{k % 4}").mkdir(parents=True, exist_ok=True)
        sf.write(root / "noise" / f"src{k % 4}" / f"n{k}.flac", (0.05 * rng.standard_normal(n)).astype(np.float32), 16000)
    return root


def training_memory(work: Path, cfg) -> None:
    for hours in [float(h) for h in cfg["HOURS"].split(",") if h.strip()]:
        root = material(work, hours)
        for cache in [work / f"cache_{hours:g}h"] + ([""] if cfg["MEMORY_TOO"] else []):
            wall, peak = _run([ROOT / "train_autoencoder.py", "--material", root, "--model_type", 3, "--epochs", 1,
                               "--steps_per_epoch", 5, "--val_batches", 1, "--batch_size", 8, "--threads", 1,
                               "--data_workers", 0,  # the training process alone, as measured before workers
                               "--material_cache", cache, "--models_dir", work / "models",
                               "--model_logs_dir", work / "logs"])
            print(f"training from {hours:g} h of material ({'shards on disk' if cache else 'in memory'}): "
                  f"peak RSS {peak:.0f} MiB ({wall:.0f} s, start-up and sharding included)")


def main(cfg):
    work = Path(cfg["WORK_DIR"]) if cfg["WORK_DIR"] else Path(tempfile.mkdtemp(prefix="bench_scale."))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if cfg["FILES"] > 0:
            corpus(work, cfg)
        if cfg["HOURS"]:
            training_memory(work, cfg)
    finally:
        if not cfg["WORK_DIR"]:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(resolve_settings(globals(), __doc__)))
