"""Score denoisers with PESQ, STOI, ESTOI and SI-SDR against the noisy input, peers, a baseline and the oracle.

Usage:
  python evaluate.py --clean_dir C --noisy_dir N [--model PATH[,PATH...]] [--enhanced_dir E[,E...]] --out_dir R
  python evaluate.py --pairs data/devset_v2/pairs.csv --model default --out_dir results/dev2
  python evaluate.py --make_devset true            # build data/devset_v2/ from ../shared/data (held-out material)
  python evaluate.py --pairs data/devset_v2/pairs.csv --model default --input_gains_db 0,-25,10
  python evaluate.py --pairs data/devset/pairs.csv --enhanced_dir E   # after: python denoise.py data/devset/noisy -o E

Files are paired by relative path (or listed in a CSV with 'clean' and 'noisy' columns; any other columns,
such as condition, snr_db or noise, are conditions). Writes OUT_DIR/per_file.csv (one row per file and
system), OUT_DIR/summary.md (mean and 95 % CI per system, overall and per condition; also printed) and
OUT_DIR/improvement.png, and OUT_DIR/report.html: the same tables with audio players and spectrograms per
file, to open in a browser (a self-contained folder: move or zip it). PESQ is wide-band at 16 kHz, narrow-band at 8 kHz; other rates are resampled to
16 kHz for PESQ. A file where PESQ fails gets NaN and the reason. Peers that are not installed are skipped
with a note (pip install -r requirements-peers.txt installs them).
"""

CLEAN_DIR = ""  # clean references
NOISY_DIR = ""  # noisy inputs (same relative paths)
PAIRS = ""  # or a CSV with clean,noisy[,conditions...] columns (paths relative to the CSV)
MODEL = ""  # comma-separated models to run on the fly: 'default', 'pretrained', 'latest' or run folders
ENHANCED_DIR = ""  # comma-separated folders of already denoised files (same relative paths as the noisy ones)
OUT_DIR = "results"  # where per_file.csv, summary.md, improvement.png and report.html go
BASELINE = True  # include the decision-directed Wiener filter
PEERS = "rnnoise,webrtc,logmmse,noisereduce"  # the denoisers people would pick instead (comma-separated; '' = none)
ORACLE = True  # include the oracle band gain (mel-band gains from the true clean signal)
MAX_ATTENUATION_DB = 30.0  # gain floor for the models and the oracle (denoise.py default; the Wiener baseline keeps its own 20 dB)
PITCH_FILTER = 0.5  # the models' pitch filter (denoise.py default; 0 = band gains only; the oracle has none)
INPUT_GAINS_DB = "0"  # scale every pair by these gains first (comma-separated; e.g. 0,-25,10: the same files quieter and louder)
LIMIT = 0  # evaluate only the first LIMIT pairs (0 = all)
MAKE_DEVSET = False  # build the development set from SHARED_DATA into DEVSET_DIR, then evaluate it
DEVSET_VERSION = 2  # 2: conditions (levels, telephone, rooms) x SNR x noise source; 1: the earlier set
SHARED_DATA = "../shared/data"  # the training material (speech.csv, noise.csv, rir/)
DEVSET_DIR = ""  # where the development set goes ('' = data/devset_v2, or data/devset for version 1)
MODELS_DIR = "models"  # where 'latest' and 'pretrained' look
BACKEND = "auto"  # what runs the models: 'auto' (ONNX Runtime where a run has model.onnx), 'onnx' or 'keras'
REPORT = True  # write report.html (+ report_files/): tables, plot, players and spectrograms per file
REPORT_MAX_FILES = 30  # files with players in the report: the worst, median and best (0 = all); the tables cover all

from ddae.cli import resolve_settings, run


def main(cfg):
    import sys
    from pathlib import Path

    from ddae.cli import progress, report_failures
    from ddae.audio import atomic_output
    from ddae.errors import DenoiserError
    from ddae.settings import FeatureSettings
    from ddae.evaluation import evaluate, improvement_plot, read_pairs, summary_markdown, write_per_file
    from ddae.peers import available
    from ddae.runs import load_run, resolve_run_path

    pairs_csv = cfg["PAIRS"]
    if cfg["MAKE_DEVSET"]:
        from ddae.devset import build_devset, build_devset_v2

        if cfg["DEVSET_VERSION"] not in (1, 2):
            raise DenoiserError(f"devset_version must be 1 or 2, got {cfg['DEVSET_VERSION']}")
        out = Path(cfg["DEVSET_DIR"] or ("data/devset_v2" if cfg["DEVSET_VERSION"] == 2 else "data/devset"))
        (build_devset_v2 if cfg["DEVSET_VERSION"] == 2 else build_devset)(cfg["SHARED_DATA"], out)
        print(f"built the development set (version {cfg['DEVSET_VERSION']}) in {out}")
        pairs_csv = pairs_csv or str(out / "pairs.csv")
        if not (cfg["CLEAN_DIR"] or cfg["PAIRS"] or cfg["MODEL"] or cfg["ENHANCED_DIR"]):
            return 0
    pairs = read_pairs(cfg["CLEAN_DIR"], cfg["NOISY_DIR"], pairs_csv)
    if cfg["LIMIT"] > 0:
        pairs = pairs[: cfg["LIMIT"]]
    peers, missing = available([p.strip() for p in cfg["PEERS"].split(",") if p.strip()])
    if missing:
        print(f"note: peer(s) {', '.join(missing)} not installed and left out (pip install -r requirements-peers.txt)",
              file=sys.stderr)
    models = []
    if cfg["MODEL"]:
        models = [load_run(resolve_run_path(m.strip(), cfg["MODELS_DIR"]), cfg["BACKEND"]) for m in cfg["MODEL"].split(",")
                  if m.strip()]
    enhanced = [d.strip() for d in cfg["ENHANCED_DIR"].split(",") if d.strip()]
    failures = []
    gains = _gains(cfg["INPUT_GAINS_DB"])
    rows = evaluate(pairs, models, enhanced, cfg["BASELINE"], cfg["ORACLE"], cfg["MAX_ATTENUATION_DB"],
                    progress=lambda it: progress(it, "evaluating"), peers=peers, failures=failures,
                    input_gain_db=gains, pitch_filter=cfg["PITCH_FILTER"])
    if not rows:
        raise DenoiserError(f"none of the {len(pairs)} pair(s) could be evaluated: " + "; ".join(failures[:5]))
    out = Path(cfg["OUT_DIR"])
    out.mkdir(parents=True, exist_ok=True)
    write_per_file(rows, out / "per_file.csv")
    text = summary_markdown(rows)
    with atomic_output(out / "summary.md") as f:
        f.tmp.write_text(text)
    improvement_plot(rows, out / "improvement.png")
    print(text)
    written = f"{out}/per_file.csv, {out}/summary.md, {out}/improvement.png"
    if cfg["REPORT"]:
        from ddae.evaluation import system_outputs
        from ddae.report import write_report

        by_key = {str(p["noisy"]): p for p in pairs}
        settings = models[0].settings if models else FeatureSettings()

        def outputs(key):  # the systems' outputs for one file again, for its players and spectrograms
            return system_outputs(by_key[key[0]], models, enhanced, cfg["BASELINE"], cfg["ORACLE"],
                                  cfg["MAX_ATTENUATION_DB"], peers, settings, float(key[1]), cfg["PITCH_FILTER"])

        report = write_report(out, rows, text, outputs, cfg["REPORT_MAX_FILES"],
                              progress=lambda it: progress(it, "report", unit="file"))
        written += f" and {report} (open it in a browser)"
    print(f"wrote {written}")
    return report_failures(failures, "pair(s) could not be evaluated and are left out")


def _gains(text: str) -> list[float]:
    from ddae.errors import DenoiserError

    try:
        gains = [float(g) for g in text.split(",") if g.strip()]
    except ValueError:
        raise DenoiserError(f"input_gains_db must be comma-separated numbers (dB), got {text!r}") from None
    return gains or [0.0]


if __name__ == "__main__":
    run(main, resolve_settings(globals(), __doc__))
