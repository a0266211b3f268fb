"""report.html: the evaluation as a page to open in a browser, in a folder that works anywhere.

The page has the summary tables (from summary.md), the improvement plot, and one entry per file (at most
`max_files`: the worst, median and best files by the first denoiser's PESQ improvement, while the tables
cover every file): its metrics per system, and for the noisy input, each system's output and the clean
reference an audio player (16-bit wav copies) and a spectrogram (one colour scale per file, time and
frequency axes). Every link is relative (report_files/...), nothing comes from the network, and the rows
sort by any column with a few lines of plain JavaScript.
"""

from __future__ import annotations

import html
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .audio import atomic_output

ASSETS = "report_files"
SHOWN = (("pesq", "PESQ", 3), ("stoi", "STOI", 3), ("si_sdr", "SI-SDR", 2))
DYNAMIC_RANGE_DB = 80.0

_SCRIPT = """
function sortBy(th) {
  const table = th.closest('table'), col = +th.dataset.col, asc = th.dataset.dir !== 'asc';
  table.querySelectorAll('th').forEach(h => { delete h.dataset.dir; h.classList.remove('asc', 'desc'); });
  th.dataset.dir = asc ? 'asc' : 'desc'; th.classList.add(asc ? 'asc' : 'desc');
  const groups = Array.from(table.querySelectorAll('tbody.file'));
  const key = g => { const c = g.rows[0].cells[col], v = c.dataset.value;
                     return v === undefined ? c.textContent : (v === 'nan' ? NaN : parseFloat(v)); };
  groups.sort((a, b) => { const x = key(a), y = key(b);
    if (typeof x === 'string') return asc ? x.localeCompare(y) : y.localeCompare(x);
    if (isNaN(x)) return 1; if (isNaN(y)) return -1; return asc ? x - y : y - x; });
  groups.forEach(g => table.appendChild(g));
}
"""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.6em 0 1.4em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
th { background: #f2f2f2; } td:first-child, th:first-child { text-align: left; }
table.files th[data-col] { cursor: pointer; } th.asc::after { content: ' \\25B2'; } th.desc::after { content: ' \\25BC'; }
tbody.file tr.media td { text-align: left; background: #fafafa; }
tbody.file tr.media div { position: sticky; left: 0; max-width: 96vw; }
figure { display: inline-block; margin: 4px 8px 8px 0; vertical-align: top; }
figure img { display: block; width: 300px; } figure audio { width: 300px; } figcaption { font-size: 12px; }
"""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "system"


def markdown_to_html(text: str) -> str:
    """The subset summary.md uses: '#' headings, '|' tables, paragraphs, `code`."""
    out, table = [], []

    def inline(s):
        return re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(s))

    def flush():
        if table:
            rows = [[c.strip() for c in r.strip().strip("|").split("|")] for r in table if not set(r) <= set("|-: ")]
            out.append("<table><tr>" + "".join(f"<th>{inline(c)}</th>" for c in rows[0]) + "</tr>" +
                       "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in rows[1:]) +
                       "</table>")
            table.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")) + 1, 4)
            out.append(f"<h{level}>{inline(line.lstrip('#').strip())}</h{level}>")
        elif line.strip():
            out.append(f"<p>{inline(line)}</p>")
    flush()
    return "\n".join(out)


def pick_files(rows: list[dict], max_files: int) -> list[tuple]:
    """File keys (noisy, input gain) to show: all, or the worst, median and best by the first denoiser's
    PESQ improvement (files without a PESQ last)."""
    key = lambda r: (r["noisy"], r.get("input_gain_db", 0.0))  # noqa: E731
    systems = [s for s in dict.fromkeys(r["system"] for r in rows) if s != "noisy"]
    ranker = systems[0] if systems else "noisy"
    score = {key(r): r["pesq_imp"] for r in rows if r["system"] == ranker}
    keys = sorted(score, key=lambda k: (not np.isfinite(score[k]), score[k] if np.isfinite(score[k]) else 0.0))
    keys += [k for k in dict.fromkeys(key(r) for r in rows) if k not in score]
    if max_files <= 0 or len(keys) <= max_files:
        return keys
    third = max_files // 3
    mid = len(keys) // 2 - (max_files - 2 * third) // 2
    chosen = keys[:third] + keys[mid:mid + max_files - 2 * third] + keys[len(keys) - third:] if third else keys[mid:mid + max_files]
    return list(dict.fromkeys(chosen))


def spectrogram_png(path: Path, x: np.ndarray, sr: int, vmax: float) -> None:
    from .plotting import _pyplot

    plt = _pyplot()
    n_fft = 512 if sr <= 16000 else 1024
    db = _spectrum_db(x, sr, n_fft)
    fig, ax = plt.subplots(figsize=(4.0, 2.0), dpi=75)
    ax.imshow(db.T, origin="lower", aspect="auto", cmap="magma", vmin=vmax - DYNAMIC_RANGE_DB, vmax=vmax,
              extent=(0, len(x) / sr, 0, sr / 2000))
    ax.set_xlabel("time (s)", fontsize=8)
    ax.set_ylabel("kHz", fontsize=8)
    ax.tick_params(labelsize=7)
    fig.tight_layout(pad=0.3)
    fig.savefig(path, format="png")
    plt.close(fig)


def _spectrum_db(x: np.ndarray, sr: int, n_fft: int) -> np.ndarray:
    hop = n_fft // 4
    x = np.concatenate([np.asarray(x, np.float64), np.zeros(n_fft)])
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    spec = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=-1)) ** 2 / (np.hanning(n_fft).sum() ** 2 / 4)
    return 10 * np.log10(spec + 1e-12)


def write_report(out_dir: Path, rows: list[dict], summary_md: str, outputs, max_files: int, progress=None) -> Path:
    """Write out_dir/report.html and out_dir/report_files/ (replacing earlier ones only when complete).

    `outputs(key)` returns (clean, sr, {system: signal}) for a file key (noisy path, input gain)."""
    import soundfile as sf

    out_dir = Path(out_dir)
    systems = list(dict.fromkeys(r["system"] for r in rows))
    by_key = {}
    for r in rows:
        by_key.setdefault((r["noisy"], r.get("input_gain_db", 0.0)), {})[r["system"]] = r
    keys = pick_files(rows, max_files)
    conditions = [c for c in ("condition", "snr_db", "noise", "room", "input_gain_db") if any(c in r for r in rows)]
    staging = Path(tempfile.mkdtemp(prefix=".report.", dir=out_dir))
    try:
        assets = staging / ASSETS
        (assets / "audio").mkdir(parents=True)
        (assets / "spectrograms").mkdir()
        if (out_dir / "improvement.png").is_file():
            shutil.copy(out_dir / "improvement.png", assets / "improvement.png")
        head = ["#", "file"] + conditions + [f"{name}: {label}" for name in systems for _, label, _ in SHOWN]
        body = []
        for i, key in enumerate(progress(keys) if progress else keys):
            clean, sr, signals = outputs(key)
            signals = {**signals, "clean": clean}
            vmax = max(float(_spectrum_db(signals[s], sr, 512 if sr <= 16000 else 1024).max()) for s in ("noisy", "clean"))
            figures = []
            for name in ["noisy"] + [s for s in systems if s != "noisy"] + ["clean"]:
                if name not in signals:
                    continue
                stem = f"{i:03d}_{_slug(name)}"
                wav, png = f"{ASSETS}/audio/{stem}.wav", f"{ASSETS}/spectrograms/{stem}.png"
                sf.write(staging / wav, np.clip(signals[name], -1.0, 1.0), sr, subtype="PCM_16")
                spectrogram_png(staging / png, signals[name], sr, vmax)
                figures.append(f'<figure><figcaption>{html.escape(name)}</figcaption>'
                               f'<audio controls preload="metadata" src="{wav}" data-samples="{len(signals[name])}" '
                               f'data-rate="{sr}"></audio><img src="{png}" alt="spectrogram of {html.escape(name)}"></figure>')
            first = next(iter(by_key[key].values()))
            cells = [f'<td data-value="{i}">{i}</td>', f"<td>{html.escape(Path(key[0]).name)}</td>"]
            cells += [f"<td>{html.escape(str(first.get(c, '')))}</td>" for c in conditions]
            for name in systems:
                r = by_key[key].get(name, {})
                for m, _, digits in SHOWN:
                    v = r.get(m, float("nan"))
                    cells.append(f'<td data-value="{v!r}">{"-" if not np.isfinite(v) else f"{v:.{digits}f}"}</td>')
            body.append(f'<tbody class="file"><tr class="metrics">{"".join(cells)}</tr>'
                        f'<tr class="media"><td colspan="{len(head)}"><div>{"".join(figures)}</div></td></tr></tbody>')
        header = "".join(f'<th data-col="{j}" onclick="sortBy(this)">{html.escape(h)}</th>' for j, h in enumerate(head))
        n_files = len(by_key)
        ranker = next((s for s in systems if s != "noisy"), "noisy")
        note = (f"All {n_files} files" if len(keys) == n_files else
                f"{len(keys)} of {n_files} files (the worst, median and best by {ranker}'s "
                f"PESQ improvement; the tables above cover every file)")
        page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Evaluation report</title>"
                f"<style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>"
                f"{markdown_to_html(summary_md)}"
                + (f'<h2>Improvement per condition</h2><img src="{ASSETS}/improvement.png" alt="improvement plot" style="max-width:100%">'
                   if (assets / "improvement.png").is_file() else "")
                + f"<h2>Files</h2><p>{note}. Click a column to sort. Spectrograms share one colour scale per file "
                f"({DYNAMIC_RANGE_DB:.0f} dB below the loudest bin of its noisy input or clean reference).</p>"
                f'<table class="files"><thead><tr>{header}</tr></thead>{"".join(body)}</table></body></html>')
        (staging / "report.html").write_text(page, encoding="utf-8")
        old = out_dir / ASSETS
        if old.exists():
            shutil.rmtree(old)
        (staging / ASSETS).rename(old)
        with atomic_output(out_dir / "report.html") as out:
            shutil.copy(staging / "report.html", out.tmp)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir / "report.html"

