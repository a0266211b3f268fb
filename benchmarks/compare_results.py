"""Put the systems of several evaluate.py runs side by side: compact improvement tables per condition.

Usage: python benchmarks/compare_results.py --results results/dev2,results/dev2_old [--out results/compare.md]

Reads each folder's per_file.csv, keeps the files that every run scored (the same files for every system;
runs at other input gains of the same files add rows),
and prints one table per condition column: a row per system, each cell the mean improvement over the noisy
input as 'PESQ / STOI / SI-SDR dB'. With several input gains (evaluate.py --input_gains_db), a last table
gives each system's change of improvement at every gain against gain 0 (level dependence). With --paired A,B
a last table gives system B minus system A file by file: the mean difference of improvement with its 95 %
confidence interval, overall and per condition (is B better than A, or is it noise?).
"""

RESULTS = ""  # comma-separated result folders of evaluate.py (each with per_file.csv)
PAIRED = ""  # 'A,B': also the paired difference of system B minus system A ('' = none)
OUT = ""  # also write the tables to this markdown file ('' = print only)

import csv  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ddae.cli import resolve_settings, run  # noqa: E402


def _rows(folder: Path) -> list[dict]:
    from ddae.errors import DenoiserError
    from ddae.metrics import METRICS

    path = folder / "per_file.csv"
    if not path.is_file():
        raise DenoiserError(f"{path}: no such file (run evaluate.py with --out_dir {folder})")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    numeric = {f"{p}{m}{q}" for m in METRICS for p, q in (("", ""), ("input_", ""), ("", "_imp"))}
    for r in rows:
        r["input_gain_db"] = f"{float(r.get('input_gain_db') or 0):g}"  # a run at gain 0 only has no such column
        for k in numeric & set(r):
            r[k] = float(r[k]) if r[k] not in ("", "nan") else float("nan")
    return rows


def level_table(rows: list[dict]) -> list[str]:
    """Change of mean improvement at each input gain against gain 0, per system (same files)."""
    from ddae.evaluation import mean_ci

    gains = sorted({r["input_gain_db"] for r in rows}, key=float)
    others = [g for g in gains if float(g) != 0.0]
    systems = [s for s in dict.fromkeys(r["system"] for r in rows) if s != "noisy"]
    out = ["## Level dependence: improvement at each input gain minus improvement at 0 dB (PESQ / STOI / SI-SDR dB)", "",
           "| system | " + " | ".join(f"{g} dB" for g in others) + " |", "|---" * (len(others) + 1) + "|"]
    for name in [s for s in systems if len({r["input_gain_db"] for r in rows if r["system"] == s}) == len(gains)]:
        base = {m: mean_ci([r[m] for r in rows if r["system"] == name and float(r["input_gain_db"]) == 0.0])[0]
                for m in ("pesq_imp", "stoi_imp", "si_sdr_imp")}
        cells = []
        for g in others:
            d = {m: mean_ci([r[m] for r in rows if r["system"] == name and r["input_gain_db"] == g])[0] - base[m]
                 for m in base}
            cells.append(f"{d['pesq_imp']:+.3f} / {d['stoi_imp']:+.4f} / {d['si_sdr_imp']:+.2f}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out + [""]


def main(cfg):
    from ddae.errors import DenoiserError
    from ddae.evaluation import improvement_tables, paired_tables

    folders = [Path(p.strip()) for p in cfg["RESULTS"].split(",") if p.strip()]
    if not folders:
        raise DenoiserError("give --results with one or more result folders")
    runs = [_rows(f) for f in folders]
    key = lambda r: (Path(r["noisy"]).name, r.get("input_gain_db", "0"))  # noqa: E731
    name = lambda r: Path(r["noisy"]).name  # noqa: E731
    common_files = set.intersection(*({name(r) for r in rows} for rows in runs))  # every input gain of them is kept
    common = {key(r) for rows in runs for r in rows if name(r) in common_files}
    merged, seen = [], set()
    for rows in runs:
        for r in rows:
            if key(r) in common and (key(r), r["system"]) not in seen:
                seen.add((key(r), r["system"]))
                merged.append(r)
    gains = sorted({r.get("input_gain_db", "0") for r in merged}, key=float)
    lines = [f"{len(common_files)} files scored by every run, at input gains {', '.join(gains)} dB", ""] + \
        improvement_tables(merged)
    if len({r.get("input_gain_db") for r in merged}) > 1:
        lines += level_table(merged)
    if cfg["PAIRED"]:
        names = [n.strip() for n in cfg["PAIRED"].split(",")]
        if len(names) != 2 or not all(names):
            raise DenoiserError(f"--paired takes two system names, 'A,B', got {cfg['PAIRED']!r}")
        lines += paired_tables(merged, *names)
    text = "\n".join(lines)
    if cfg["OUT"]:  # first: a closed pipe on stdout must not lose the file
        Path(cfg["OUT"]).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    run(main, resolve_settings(globals(), __doc__))
