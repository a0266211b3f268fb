"""Measurements behind denoise.py's defaults: rate mode (native vs resample) and the attenuation floor.

Usage: python benchmarks/compare_settings.py [--pairs data/devset/pairs.csv] [--model latest] [--n_files 20]

1. RATE_MODE: the first N_FILES pairs resampled to 8 kHz and 44.1 kHz, denoised with the band gains applied
   at the file's own rate ('native') or after resampling to the model's rate and back ('resample');
   PESQ (nb at 8 kHz, wb after resampling to 16 kHz otherwise) and SI-SDR against the clean file at that rate.
2. MAX_ATTENUATION_DB: 10, 20, 30, 40 and 60 dB at 16 kHz on the same files.
"""

PAIRS = "data/devset/pairs.csv"  # pairs CSV (clean, noisy columns)
MODEL = "latest"  # model to measure
N_FILES = 20  # how many pairs
MODELS_DIR = "models"  # where 'latest' looks

import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ddae.cli import resolve_settings  # noqa: E402


def main(cfg):
    import numpy as np
    import soundfile as sf

    from ddae.audio import read_audio, resample
    from ddae.cli import quiet_tensorflow
    from ddae.enhance import denoise_file
    from ddae.evaluation import read_pairs
    from ddae.inference import denoise_array
    from ddae.metrics import pesq_score, si_sdr
    from ddae.runs import load_run, resolve_run_path

    quiet_tensorflow()
    run = load_run(resolve_run_path(cfg["MODEL"], cfg["MODELS_DIR"]))
    pairs = read_pairs("", "", cfg["PAIRS"])[: cfg["N_FILES"]]
    print(f"model {run.path}, {len(pairs)} pairs from {cfg['PAIRS']}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for sr in (8000, 44100):
            res = {"noisy": [], "native": [], "resample": []}
            for i, p in enumerate(pairs):
                clean, _ = read_audio(p["clean"], sr)
                noisy, _ = read_audio(p["noisy"], sr)
                sf.write(tmp / "in.wav", noisy, sr, subtype="FLOAT")
                res["noisy"].append((pesq_score(clean, noisy, sr)[0], si_sdr(clean, noisy)))
                for mode in ("native", "resample"):
                    denoise_file(run, tmp / "in.wav", tmp / f"{mode}.wav", 30.0, 1.0, rate_mode=mode)
                    y, _ = sf.read(tmp / f"{mode}.wav", dtype="float32")
                    res[mode].append((pesq_score(clean, y, sr)[0], si_sdr(clean, y)))
            for k, v in res.items():
                v = np.array(v)
                print(f"  {sr} Hz {k:9s} PESQ {np.nanmean(v[:, 0]):.3f}  SI-SDR {np.nanmean(v[:, 1]):6.2f} dB")
        print("attenuation floor at 16 kHz:")
        data = [(read_audio(p["clean"])[0], read_audio(p["noisy"])[0]) for p in pairs]
        base = np.array([(pesq_score(c, n, 16000)[0], si_sdr(c, n)) for c, n in data])
        print(f"  noisy      PESQ {np.nanmean(base[:, 0]):.3f}  SI-SDR {np.nanmean(base[:, 1]):6.2f} dB")
        for att in (10.0, 20.0, 30.0, 40.0, 60.0):
            v = np.array([(pesq_score(c, y, 16000)[0], si_sdr(c, y))
                          for c, n in data for y in [denoise_array(run, n, max_attenuation_db=att)]])
            print(f"  {att:4.0f} dB    PESQ {np.nanmean(v[:, 0]):.3f}  SI-SDR {np.nanmean(v[:, 1]):6.2f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main(resolve_settings(globals(), __doc__)))
