"""Evaluation: systems (noisy input, models, enhanced folders, a classic baseline, the oracle band gain)
scored per file with PESQ / STOI / ESTOI / SI-SDR, summarised per condition with 95 % confidence intervals."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from .audio import read_audio
from .baseline import wiener_denoise
from .dataset import pair_files
from .errors import DenoiserError
from .features import framing_for
from .inference import OracleEstimator, denoise_array
from .metrics import METRICS, align, all_metrics
from .pitch import DEFAULT_PITCH_FILTER
from .settings import FeatureSettings


def read_pairs(clean_dir: str, noisy_dir: str, pairs_csv: str) -> list[dict]:
    """[{'clean': Path, 'noisy': Path, 'rel': str, <condition>: value, ...}] from folders or a CSV."""
    if pairs_csv:
        path = Path(pairs_csv)
        if not path.is_file():
            raise DenoiserError(f"{path}: no such pairs file")
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows or not {"clean", "noisy"} <= set(rows[0]):
            raise DenoiserError(f"{path}: needs a header with 'clean' and 'noisy' columns and at least one row")
        base = path.parent
        out = []
        for r in rows:
            c, n = Path(r["clean"]), Path(r["noisy"])
            out.append({**{k: v for k, v in r.items() if k not in ("clean", "noisy")},
                        "clean": c if c.is_absolute() else base / c, "noisy": n if n.is_absolute() else base / n})
        # where `denoise.py NOISY_FOLDER -o E` puts each output: its path below the noisy files' common folder
        root = Path(os.path.commonpath([str(p["noisy"].resolve().parent) for p in out]))
        for p in out:
            p["rel"] = str(p["noisy"].resolve().relative_to(root))
        return out
    if not clean_dir or not noisy_dir:
        raise DenoiserError("give --clean_dir and --noisy_dir, or --pairs FILE.csv")
    return [{"clean": c, "noisy": n, "rel": rel} for c, n, rel in pair_files(clean_dir, noisy_dir)]


class _SettingsOnly:
    """What StreamingDenoiser needs of a run when the gains come from elsewhere (the oracle)."""

    def __init__(self, s: FeatureSettings):
        self.settings = s


def oracle_denoise(clean: np.ndarray, noisy: np.ndarray, sr: int, s: FeatureSettings, max_att: float) -> np.ndarray:
    """Mel-band gains from the true clean signal: the ceiling of this band-gain representation."""
    f = framing_for(s, sr)
    clean_logmel = f.logmel(f.spectra(f.frames(clean)), s.log_floor)
    return denoise_array(_SettingsOnly(s), noisy, sr, max_attenuation_db=max_att, estimator=OracleEstimator(clean_logmel),
                         pitch_filter=0.0)  # band gains only


def evaluate(pairs: list[dict], models: list, enhanced_dirs: list[str], baseline: bool, oracle: bool,
             max_att: float, progress=None, peers=(), failures: list | None = None, input_gain_db=0.0,
             pitch_filter: float = DEFAULT_PITCH_FILTER) -> list[dict]:
    """One row per (file, system) with input_<m>, <m>, <m>_imp and any condition columns.

    `peers` names denoisers of ddae.peers to run. `input_gain_db` (a number or a list of them) scales each
    pair (clean and noisy alike, in floating point) before anything runs: the same files, quieter or louder;
    with several gains, or one other than 0, the gain is a condition column `input_gain_db`.
    With a `failures` list, a pair that cannot be read is skipped and its error appended there;
    without one, the first bad pair raises. `pitch_filter` is the models' (ddae.pitch)."""
    s = models[0].settings if models else FeatureSettings()
    gains = [float(g) for g in (input_gain_db if isinstance(input_gain_db, (list, tuple)) else [input_gain_db])]
    rows, jobs = [], [(p, g) for p in pairs for g in gains]
    for pair, gain in (progress(jobs) if progress else jobs):
        try:
            new = _score_pair(pair, models, enhanced_dirs, baseline, oracle, max_att, peers, s, gain, pitch_filter)
        except DenoiserError as e:
            if failures is None:
                raise
            if gain == gains[0]:
                failures.append(str(e))
            continue
        if gains != [0.0]:
            for r in new:
                r["input_gain_db"] = gain
        rows.extend(new)
    return rows


def system_outputs(pair, models, enhanced_dirs, baseline, oracle, max_att, peers, s, input_gain_db=0.0,
                   pitch_filter: float = DEFAULT_PITCH_FILTER):
    """(clean, sr, {system: output}) for one pair, "noisy" first: what every system makes of it."""
    from .peers import DENOISERS, LABELS

    clean, sr = read_audio(pair["clean"])
    noisy, sr_n = read_audio(pair["noisy"])
    if sr != sr_n:
        raise DenoiserError(f"{pair['noisy']}: {sr_n} Hz but its clean reference is {sr} Hz")
    clean, noisy = align(clean, noisy, sr, f"{pair['noisy']}: ")
    gain = 10 ** (input_gain_db / 20)
    clean, noisy_in = clean * gain, noisy
    noisy = (noisy * gain).astype(np.float32)
    systems = {"noisy": noisy}
    for run in models:
        systems[run.name] = denoise_array(run, noisy, sr, max_attenuation_db=max_att, pitch_filter=pitch_filter)
    for d in enhanced_dirs:
        path = Path(d) / pair["rel"]
        if not path.is_file():
            raise DenoiserError(f"{path}: no enhanced file for {pair['noisy']} (expected the output of "
                                f"`denoise.py NOISY_FOLDER -o {d}`, which mirrors the paths below the noisy folder)")
        est, sr_e = read_audio(path)
        if sr_e != sr:
            raise DenoiserError(f"{path}: {sr_e} Hz, but the reference is {sr} Hz")
        est = align(clean, est, sr, f"{path}: ")[1]
        if len(est) == len(noisy_in) and np.array_equal(est, noisy_in):
            raise DenoiserError(f"{path}: identical to its noisy input {pair['noisy']} (was the denoiser run on it?)")
        systems[f"enhanced:{Path(d).name}"] = est * gain
    if baseline:
        systems["wiener (baseline)"] = wiener_denoise(noisy, sr, s)  # at its own best floor
    for name in peers:
        systems[LABELS[name]] = DENOISERS[name](noisy, sr)
    if oracle:
        systems["oracle band gain"] = oracle_denoise(clean, noisy, sr, s, max_att)
    return clean, sr, systems


def _score_pair(pair, models, enhanced_dirs, baseline, oracle, max_att, peers, s, input_gain_db=0.0,
                pitch_filter: float = DEFAULT_PITCH_FILTER) -> list[dict]:
    """The rows of one pair: every system scored against the clean reference."""
    rows = []
    clean, sr, systems = system_outputs(pair, models, enhanced_dirs, baseline, oracle, max_att, peers, s, input_gain_db,
                                        pitch_filter)
    scores = {name: all_metrics(clean, est, sr) for name, est in systems.items()}
    conditions = {k: v for k, v in pair.items() if k not in ("clean", "noisy", "rel")}
    for name, sc in scores.items():
        row = {"noisy": str(pair["noisy"]), "system": name, **conditions}
        for m in METRICS:
            row[f"input_{m}"] = scores["noisy"][m]
            row[m] = sc[m]
            row[f"{m}_imp"] = sc[m] - scores["noisy"][m]
        row["error"] = sc["error"]
        rows.append(row)
    return rows


def mean_ci(values) -> tuple[float, float, int]:
    """Mean and half-width of the 95 % confidence interval (Student t), ignoring NaN."""
    from scipy.stats import t

    v = np.asarray([x for x in values if np.isfinite(x)], np.float64)
    if len(v) == 0:
        return float("nan"), float("nan"), 0
    if len(v) == 1:
        return float(v[0]), float("nan"), 1
    return float(v.mean()), float(t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))), len(v)


def condition_columns(rows: list[dict]) -> list[str]:
    skip = {"noisy", "system", "error", "file", "noise_file", "speech_file", "speaker"} | \
        {f"{p}{m}{q}" for m in METRICS for p, q in (("", ""), ("input_", ""), ("", "_imp"))}
    cols = [k for k in rows[0] if k not in skip] if rows else []
    return [c for c in cols if 1 < len({r[c] for r in rows}) <= 12]


def _sort_key(v):
    try:
        return (0, float(v), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(v))


def _file_key(row: dict) -> tuple:
    """One scored file: its noisy input at its input gain."""
    return row["noisy"], row.get("input_gain_db", 0.0)


def same_files(rows: list[dict]) -> tuple[list[dict], dict]:
    """Rows in which a metric that failed (NaN) for any system of a file is NaN for every system of that file,
    so that every mean is over the same files; and, per metric, how many files that drops."""
    dropped, out = {}, [dict(r) for r in rows]
    for m in METRICS:
        bad = {_file_key(r) for r in rows if not np.isfinite(r[m]) or not np.isfinite(r[f"input_{m}"])}
        if bad:
            dropped[m] = len(bad)
            for r in out:
                if _file_key(r) in bad:
                    r[m] = r[f"input_{m}"] = r[f"{m}_imp"] = float("nan")
    return out, dropped


def summary_markdown(rows: list[dict]) -> str:
    rows, dropped = same_files(rows)
    systems = list(dict.fromkeys(r["system"] for r in rows))
    lines = ["# Evaluation summary", "",
             f"{len({r['noisy'] for r in rows})} files; mean ± 95 % confidence interval. "
             "`noisy` is the unprocessed input; `_imp` columns are improvements over it.", ""]
    if dropped:
        lines += ["Every system is averaged over the same files: " + "; ".join(
            f"{m.upper()} failed on {n} file(s) for at least one system, so those files are left out of every "
            f"system's {m.upper()} mean" for m, n in dropped.items()) + ".", ""]

    def table(subset, title):
        lines.extend([f"## {title}", "", "| system | n | PESQ | STOI | ESTOI | SI-SDR (dB) | PESQ imp | STOI imp | SI-SDR imp (dB) |",
                      "|---|---|---|---|---|---|---|---|---|"])
        for sys_name in systems:
            sr = [r for r in subset if r["system"] == sys_name]
            cells = []
            for m in ("pesq", "stoi", "estoi", "si_sdr", "pesq_imp", "stoi_imp", "si_sdr_imp"):
                mu, ci, _ = mean_ci([r[m] for r in sr])
                digits = 2 if "si_sdr" in m else 3
                cells.append(f"{mu:.{digits}f} ± {ci:.{digits}f}" if np.isfinite(ci) else f"{mu:.{digits}f}")
            lines.append(f"| {sys_name} | {len(sr)} | " + " | ".join(cells) + " |")
        lines.append("")

    lines.extend(improvement_tables(rows))
    table(rows, "All files")
    for col in condition_columns(rows):
        for value in sorted({r[col] for r in rows}, key=_sort_key):
            table([r for r in rows if r[col] == value], f"{col} = {value}")
    failures = [r for r in rows if r.get("error")]
    if failures:
        lines.append(f"PESQ failed on {len(failures)} file/system pairs (NaN, excluded): first: {failures[0]['error']}")
    return "\n".join(lines) + "\n"


def improvement_tables(rows: list[dict]) -> list[str]:
    """Compact tables: one per condition column, a row per system, a column per value, each cell the mean
    improvement 'PESQ / STOI / SI-SDR dB' (a mean over the same files for every system)."""
    rows = same_files(rows)[0]
    systems = [s for s in dict.fromkeys(r["system"] for r in rows) if s != "noisy"]
    out = []
    for col in [None] + condition_columns(rows):
        values = ["all"] if col is None else sorted({r[col] for r in rows}, key=_sort_key)
        out += [f"## Improvement over the noisy input{'' if col is None else f' by {col}'} (PESQ / STOI / SI-SDR dB)", "",
                "| system | " + " | ".join(str(v) if str(v) != "" else "(none)" for v in values) + " |", "|---" * (len(values) + 1) + "|"]
        for name in systems:
            cells = []
            for v in values:
                sub = [r for r in rows if r["system"] == name and (col is None or r[col] == v)]
                if not sub:
                    cells.append("not run")
                    continue
                p, st, sd = (mean_ci([r[m] for r in sub])[0] for m in ("pesq_imp", "stoi_imp", "si_sdr_imp"))
                cells.append(f"{p:+.2f} / {st:+.3f} / {sd:+.1f}")
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        out.append("")
    return out


def paired_tables(rows: list[dict], base: str, other: str) -> list[str]:
    """`other` minus `base`, file by file (and input gain by input gain): the mean difference of improvement with
    its 95 % confidence interval, overall and per condition value, and the share of files on which `other` scores
    higher. Paired over the same files, so a difference far smaller than either system's own interval can still
    be told from zero; the share shows when a mean is carried by a few files and the typical file goes the other
    way."""
    from .errors import DenoiserError

    rows = same_files(rows)[0]
    by_system = {name: {_file_key(r): r for r in rows if r["system"] == name} for name in (base, other)}
    for name, found in by_system.items():
        if not found:
            known = ", ".join(s for s in dict.fromkeys(r["system"] for r in rows) if s != "noisy")
            raise DenoiserError(f"no system {name!r} in these results (there are: {known})")
    shared = [k for k in by_system[base] if k in by_system[other]]
    if not shared:
        raise DenoiserError(f"{base!r} and {other!r} share no scored file")
    pairs = [(by_system[base][k], by_system[other][k]) for k in shared]
    metrics = ("pesq_imp", "stoi_imp", "si_sdr_imp")
    digits = {"pesq_imp": 3, "stoi_imp": 4, "si_sdr_imp": 2}
    out = [f"## {other} minus {base}, paired over {len(pairs)} files: mean difference of improvement ± 95 % "
           f"confidence interval, and the share of files on which {other} scores higher", "",
           "| condition | n | PESQ | STOI | SI-SDR (dB) | higher on (PESQ / STOI / SI-SDR) |", "|---|---|---|---|---|---|"]
    groups = [("all", pairs)] + [(f"{col} = {v}", [(a, b) for a, b in pairs if a[col] == v])
                                for col in condition_columns(rows)
                                for v in sorted({a[col] for a, _ in pairs}, key=_sort_key)]
    for label, sub in groups:
        cells, shares = [], []
        for m in metrics:
            diffs = [b[m] - a[m] for a, b in sub]
            mu, ci, _ = mean_ci(diffs)
            d = digits[m]
            cells.append(f"{mu:+.{d}f} ± {ci:.{d}f}" if np.isfinite(ci) else f"{mu:+.{d}f}")
            finite = [x for x in diffs if np.isfinite(x)]
            shares.append(f"{100 * np.mean(np.array(finite) > 0):.0f} %" if finite else "-")
        out.append(f"| {label} | {len(sub)} | " + " | ".join(cells) + " | " + " / ".join(shares) + " |")
    return out + [""]


def write_per_file(rows: list[dict], path: Path) -> None:
    from .audio import atomic_output

    fields = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_output(path) as out, open(out.tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def improvement_plot(rows: list[dict], path: Path) -> None:
    from .plotting import _pyplot

    plt = _pyplot()
    rows = same_files(rows)[0]
    cols = condition_columns(rows)
    col = "snr_db" if "snr_db" in cols else (cols[0] if cols else None)
    groups = sorted({r[col] for r in rows}, key=_sort_key) if col else ["all"]
    systems = [s for s in dict.fromkeys(r["system"] for r in rows) if s != "noisy"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    width = 0.8 / max(1, len(systems))
    for ax, (m, label) in zip(axes, (("pesq_imp", "PESQ improvement"), ("stoi_imp", "STOI improvement"),
                                     ("si_sdr_imp", "SI-SDR improvement (dB)"))):
        for i, sys_name in enumerate(systems):
            stats = [mean_ci([r[m] for r in rows if r["system"] == sys_name and (col is None or r[col] == g)])
                     for g in groups]
            x = np.arange(len(groups)) + (i - (len(systems) - 1) / 2) * width
            ax.bar(x, [s[0] for s in stats], width, yerr=[0 if not np.isfinite(s[1]) else s[1] for s in stats],
                   label=sys_name, capsize=2)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(np.arange(len(groups)), [str(g) for g in groups])
        ax.set_xlabel(col or "")
        ax.set_title(label)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    from .audio import atomic_output

    with atomic_output(path) as out:
        fig.savefig(out.tmp, dpi=100, format="png")
    plt.close(fig)
