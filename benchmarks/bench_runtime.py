"""The whole denoise.py command as a user runs it: cold start, peak memory, marginal real-time factor, and
the API in a virtual environment made with only `pip install <repo>` (no TensorFlow).

Usage: python benchmarks/bench_runtime.py [--backends auto,keras] [--long_minutes 60] [--pip_check true]

- cold start: wall time of `python denoise.py a_3_second_file.wav -o out.wav --threads 1`, best of REPEATS;
- peak RSS of that command on a generated LONG_MINUTES-minute 16 kHz file (ru_maxrss of the child);
- marginal RTF on one core: (time for a MARGINAL_SECONDS file - time for a 1 s file) / (MARGINAL_SECONDS - 1),
  for the shipped default model and for the newest type 1 run in MODELS_DIR (if any);
- with PIP_CHECK: a fresh venv, `pip install` of this repository, the API's output against denoise.py's.
Each command runs in a fresh process with OMP/BLAS threads set to 1 and --threads 1.
"""

MODELS_DIR = "models"  # where the newest type 1 run is looked for
BACKENDS = "auto,keras"  # denoise.py --backend values to measure
REPEATS = 3  # cold start and marginal RTF: best of this many runs
MARGINAL_SECONDS = 300.0  # long file of the marginal real-time factor
LONG_MINUTES = 60.0  # file of the peak-memory measurement (0 = skip)
PIP_CHECK = False  # also build a venv with only `pip install <repo>` and compare the API with denoise.py

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ddae.cli import resolve_settings  # noqa: E402

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "TF_NUM_INTEROP_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}


def _command(args, python=sys.executable, cwd=ROOT):
    """(wall seconds, peak RSS MiB) of one command in a fresh process."""
    t = time.perf_counter()
    p = subprocess.Popen([python, *map(str, args)], cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    out, err = p.communicate()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(map(str, args))}\n{err.decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def _write(path: Path, seconds: float) -> Path:
    import soundfile as sf

    from ddae.synth import benchmark_signal

    minute = benchmark_signal(min(seconds, 60.0))
    with sf.SoundFile(path, "w", 16000, 1, subtype="PCM_16") as f:
        left = seconds
        while left > 0:
            f.write(minute[: int(min(left, 60.0) * 16000)])
            left -= 60.0
    return path


def _denoise(src, out, model, backend):
    return _command([ROOT / "denoise.py", src, "-o", out, "--model", model, "--backend", backend, "--threads", 1])


def main(cfg):
    from ddae.runs import list_runs, resolve_run_path

    models = {"default (pretrained ddae)": str(resolve_run_path("default", cfg["MODELS_DIR"]))}
    type1 = [p for p in list_runs(cfg["MODELS_DIR"]) if p.name.startswith("type1")]
    if type1:
        models[f"type 1 ({type1[-1].name})"] = str(type1[-1])
    else:
        print("no type 1 run in models/: the quick start trains one")
    backends = [b.strip() for b in cfg["BACKENDS"].split(",") if b.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        short, one, marginal = _write(tmp / "3s.wav", 3.0), _write(tmp / "1s.wav", 1.0), _write(tmp / "long.wav", cfg["MARGINAL_SECONDS"])
        for backend in backends:
            print(f"--backend {backend}")
            for name, model in models.items():
                cold = min(_denoise(short, tmp / "o.wav", model, backend)[0] for _ in range(cfg["REPEATS"]))
                t1 = min(_denoise(one, tmp / "o.wav", model, backend)[0] for _ in range(cfg["REPEATS"]))
                tl = min(_denoise(marginal, tmp / "o.wav", model, backend)[0] for _ in range(cfg["REPEATS"]))
                rtf = (tl - t1) / (cfg["MARGINAL_SECONDS"] - 1.0)
                print(f"  {name:45s} cold start (3 s file) {cold:.2f} s   marginal RTF {rtf:.4f} "
                      f"({cfg['MARGINAL_SECONDS']:.0f} s file {tl:.2f} s, 1 s file {t1:.2f} s)")
            if cfg["LONG_MINUTES"] > 0:
                long = _write(tmp / "hour.wav", 60.0 * cfg["LONG_MINUTES"])
                wall, peak = _denoise(long, tmp / "o.wav", models["default (pretrained ddae)"], backend)
                print(f"  one {cfg['LONG_MINUTES']:.0f}-minute file, default model: peak RSS {peak:.0f} MiB, {wall:.1f} s wall")
                long.unlink()
        if cfg["PIP_CHECK"]:
            _pip_check(tmp, short)
    return 0


def _pip_check(tmp: Path, wav: Path):
    import numpy as np
    import soundfile as sf

    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    t = time.perf_counter()
    subprocess.run([str(py), "-m", "pip", "install", "-q", str(ROOT)], check=True, cwd=tmp, env=ENV)
    print(f"pip install <repo> into a fresh venv: {time.perf_counter() - t:.0f} s")
    code = ("import sys, numpy as np, soundfile as sf; from ddae import Denoiser; d = Denoiser.load(); "
            f"x, sr = sf.read({str(wav)!r}, dtype='float32'); np.save({str(tmp / 'api.npy')!r}, d.denoise(x, sr)); "
            "print(d.backend, 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    r = subprocess.run([str(py), "-c", code], cwd=tmp, env=ENV, capture_output=True, text=True, check=True)
    pkgs = subprocess.run([str(py), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True).stdout.split()
    _denoise(wav, tmp / "script.wav", "default", "auto")
    script, _ = sf.read(tmp / "script.wav", dtype="float32")
    diff = np.max(np.abs(np.load(tmp / "api.npy") - script)) * 32768
    print(f"API in the pip-installed venv (backend, tensorflow imported, keras imported): {r.stdout.strip()}; "
          f"{len(pkgs)} packages installed; largest difference from denoise.py's 16-bit output: {diff:.2f} LSB")


if __name__ == "__main__":
    sys.exit(main(resolve_settings(globals(), __doc__)))
