"""Speed and memory of denoising: real-time factor per model type, and peak memory on a one-hour file.

Usage: python benchmarks/bench_denoise.py [--models_dir models] [--seconds 60] [--long_minutes 60] [--pitch_filter 0]

RTF = processing time / audio duration, on ONE thread (TensorFlow and BLAS), model loading and start-up
excluded, best of 3 runs. Peak memory: `denoise.py` on a generated LONG_MINUTES file in a fresh process
(ru_maxrss of the child). Uses the newest run of each type in MODELS_DIR (and the pretrained models).
"""

import os

os.environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", TF_NUM_INTEROP_THREADS="1",
                  TF_NUM_INTRAOP_THREADS="1")

MODELS_DIR = "models"  # where the runs are
SECONDS = 60.0  # length of the RTF test signal
LONG_MINUTES = 60.0  # length of the memory test file (0 = skip)
REPEATS = 3  # RTF: best of this many runs
BACKEND = "auto"  # 'auto' (ONNX Runtime where a run has model.onnx), 'onnx' or 'keras'
PITCH_FILTER = 0.5  # the denoiser's pitch filter (its default; 0 = band gains only, to time it)

import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ddae.cli import resolve_settings  # noqa: E402
from ddae.synth import benchmark_signal  # noqa: E402


def main(cfg):
    from ddae.cli import quiet_tensorflow

    from ddae.runs import list_runs, pretrained_runs

    runs = {}
    for path in list_runs(cfg["MODELS_DIR"]):
        runs[path.name.split("_")[0] + ("_causal" if "causal" in path.name else "")] = path  # newest per kind
    runs.update({f"pretrained/{p.name}": p for p in pretrained_runs(cfg["MODELS_DIR"])})
    if not runs:
        print("no trained models: run the quick start first")
        return 1
    if cfg["LONG_MINUTES"] > 0:  # first, while this process is small: a forked child inherits its RSS peak
        _memory(cfg, sorted(runs.values())[0])
    quiet_tensorflow(threads=1)
    from ddae.inference import denoise_array
    from ddae.runs import load_run

    x = benchmark_signal(cfg["SECONDS"])
    print(f"real-time factor on one thread, {cfg['SECONDS']:.0f} s of 16 kHz audio (best of {cfg['REPEATS']}), "
          f"pitch filter {cfg['PITCH_FILTER']:g}:")
    for kind, path in sorted(runs.items()):
        model = load_run(path, cfg["BACKEND"], threads=1)
        denoise_array(model, x[:16000], pitch_filter=cfg["PITCH_FILTER"])  # warm-up: first calls trace and allocate
        best = min(_timed(lambda: denoise_array(model, x, pitch_filter=cfg["PITCH_FILTER"])) for _ in range(cfg["REPEATS"]))
        print(f"  {kind:28s} {path.name:34s} {model.backend:5s} RTF {best / cfg['SECONDS']:.4f}  ({cfg['SECONDS'] / best:.0f}x real time)")
    return 0


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _memory(cfg, run_path):
    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        long = Path(tmp) / "long.wav"
        minute = benchmark_signal(60.0)
        with sf.SoundFile(long, "w", 16000, 1, subtype="PCM_16") as f:
            for _ in range(int(cfg["LONG_MINUTES"])):
                f.write(minute)
        t = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "denoise.py"), str(long), "-o", str(Path(tmp) / "out.wav"),
                        "--model", str(run_path), "--threads", "1"], check=True, cwd=ROOT)
        took = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"one {cfg['LONG_MINUTES']:.0f}-minute file ({long.stat().st_size / 2**20:.0f} MiB wav) with "
              f"{run_path.name}: peak RSS {peak:.0f} MiB, {took:.0f} s wall (start-up included)")


if __name__ == "__main__":
    sys.exit(main(resolve_settings(globals(), __doc__)))
