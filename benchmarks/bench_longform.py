"""Utterances inside a long recording against the same utterances on their own (a check of running state).

Usage: python benchmarks/bench_longform.py [--model default,models/pretrained/ddae_causal] [--peers rnnoise]
       [--gaps noise,quiet,loud,switch,silence] [--splice 0.25,0.5,1] [--scene_changes_off true] [--clean_input true]
       [--paired true]

The 16 kHz pairs of the development set (every STRIDE-th), GROUP at a time, become one long recording each
(ddae.longform): every utterance follows a gap of GAP_SECONDS, its own noise ('noise'), white noise at
GAP_DBFS ('quiet') or at LOUD_DBFS ('loud'), the previous utterance's noise at this one's level ('switch'), or
digital zeros ('silence'). Each model (and peer) denoises the long recording in one stream and
every utterance alone; printed: PESQ, STOI and SI-SDR of the utterance cut from the long output minus alone,
paired, mean and 95 % interval. A denoiser whose state follows the gap down (a running normaliser, say)
shows it here and nowhere in the development set, whose files are short. With SPLICE, each utterance's long
output is also spliced, that many seconds in, with the utterance denoised on its own from there: the best a
fresh start detected that late after the gap could do (one more row per model, gap and time). With
SCENE_CHANGES_OFF, each model also denoises every long recording with its scene-change restart switched off
(ddae.normalise, 'Scene changes'), and a row gives the long output with it minus without, utterance by utterance.
With PAIRED, every system after the first also gets rows of its scores minus the first system's, utterance by
utterance: in the long recordings (the same ones for both) and on their own (is B better than A in a long recording?).
"""

PAIRS = "data/devset_v2/pairs.csv"  # pairs CSV with a sample_rate column (dev set v2: evaluate.py --make_devset true)
MODEL = "default,models/pretrained/ddae_causal"  # comma-separated models
PEERS = "rnnoise"  # peers measured the same way (comma-separated; '' = none; skipped with a note if not installed)
GAPS = "noise,quiet,loud,silence"  # gap kinds to measure (comma-separated; also 'switch': the previous utterance's noise at this one's level)
GAP_SECONDS = 10.0  # length of every gap
GAP_DBFS = -70.0  # level of the 'quiet' gaps
LOUD_DBFS = -10.0  # level of the 'loud' gaps (white noise too)
SPLICE = ""  # comma-separated seconds into each utterance: also score the long output spliced there with the utterance denoised alone ('' = none)
CLEAN_INPUT = False  # feed the clean references in place of the noisy files: what each denoiser does to clean speech
SCENE_CHANGES_OFF = False  # also run the models without their scene-change restart: one more row, with minus without
PAIRED = False  # also print each system's scores minus the first system's, in the long recordings and alone
GROUP = 10  # utterances per long recording
STRIDE = 2  # every STRIDE-th 16 kHz pair
MODELS_DIR = "models"  # where 'latest' and 'pretrained' look

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ddae.cli import resolve_settings  # noqa: E402


def main(cfg):
    import numpy as np
    from tqdm import tqdm

    from ddae.audio import read_audio
    from ddae.cli import quiet_tensorflow
    from ddae.evaluation import read_pairs
    from ddae.inference import denoise_array
    from ddae.longform import long_recording
    from ddae.metrics import all_metrics
    from ddae.peers import DENOISERS, LABELS, available
    from ddae.runs import load_run, resolve_run_path

    quiet_tensorflow()
    systems, runs = {}, {}
    for m in [m for m in cfg["MODEL"].split(",") if m]:
        run = load_run(resolve_run_path(m, cfg["MODELS_DIR"]))
        systems[run.name], runs[run.name] = (lambda x, run=run: denoise_array(run, x, 16000)), run
    have, missing = available([p for p in cfg["PEERS"].split(",") if p])
    if missing:
        print(f"note: {', '.join(missing)} not installed (pip install -r requirements-peers.txt); skipped")
    systems.update({LABELS[p]: lambda x, p=p: DENOISERS[p](x, 16000) for p in have})
    pairs = [p for p in read_pairs("", "", cfg["PAIRS"]) if str(p.get("sample_rate", "16000")) == "16000"]
    pairs = pairs[:: max(1, cfg["STRIDE"])]
    data = [(read_audio(p["clean"], 16000)[0], read_audio(p["clean" if cfg["CLEAN_INPUT"] else "noisy"], 16000)[0])
            for p in pairs]
    data = [(c, n.astype(np.float32)) for c, n in data]
    keys = ("pesq", "stoi", "si_sdr")
    alone = {name: [all_metrics(c, f(n), 16000) for c, n in tqdm(data, desc=f"{name} alone", leave=False)]
             for name, f in systems.items()}
    print(f"{len(data)} utterances from {cfg['PAIRS']} in recordings of {cfg['GROUP']}, gaps of {cfg['GAP_SECONDS']} s; "
          f"long minus alone, paired (mean and 95 % interval):")
    splices = [float(v) for v in str(cfg["SPLICE"]).split(",") if v.strip()]
    for gap in cfg["GAPS"].split(","):
        long_scores = {}  # system -> [[pesq, stoi, si_sdr] of each utterance in the long output]
        for name, f in systems.items():
            diffs = {s: [] for s in [None] + splices}
            off = [] if cfg["SCENE_CHANGES_OFF"] and name in runs else None
            for g0 in range(0, len(data), cfg["GROUP"]):
                level = cfg["LOUD_DBFS"] if gap == "loud" else cfg["GAP_DBFS"]
                clean, noisy, spans = long_recording(data[g0:g0 + cfg["GROUP"]], gap, cfg["GAP_SECONDS"], 16000,
                                                     level, seed=g0)
                y = f(noisy)
                if off is not None:
                    off += _with_minus_without(runs[name], y, clean, noisy, spans, keys)
                for i, (a, b) in enumerate(spans):
                    ref, n = alone[name][g0 + i], data[g0 + i][1]
                    for s, out in diffs.items():
                        at = b - a if s is None else min(b - a, int(round(s * 16000)))
                        yi = y[a:b] if at == b - a else np.concatenate([y[a:a + at], f(n[at:])]).astype(np.float32)
                        m = all_metrics(clean[a:b], yi, 16000)
                        out.append([m[k] - ref[k] for k in keys])
                        if s is None:
                            long_scores.setdefault(name, []).append([m[k] for k in keys])
            levels = {"quiet": cfg["GAP_DBFS"], "loud": cfg["LOUD_DBFS"]}
            label = f"{gap} ({levels[gap]:g} dBFS)" if gap in levels else gap
            rows = [(label + ('' if s is None else f', spliced at {s:g} s'), out) for s, out in diffs.items()]
            for what, out in rows + ([(label + ", with scene changes minus without", off)] if off is not None else []):
                _row(name, what, out)
        if cfg["PAIRED"]:
            first, *others = list(systems)
            for name in others:
                _row(name, f"{gap}, minus {first} in the long recordings",
                     np.array(long_scores[name]) - np.array(long_scores[first]))
                _row(name, f"{gap}, minus {first} alone",
                     [[alone[name][i][k] - alone[first][i][k] for k in keys] for i in range(len(data))])
    return 0


def _row(name, what, out):
    import numpy as np

    d = np.array(out, np.float64)
    mu, ci = np.nanmean(d, 0), 1.96 * np.nanstd(d, 0, ddof=1) / np.sqrt(len(d))
    print(f"  {name:20s} {what:17s} PESQ {mu[0]:+.3f} ± {ci[0]:.3f}  "
          f"STOI {mu[1]:+.4f} ± {ci[1]:.4f}  SI-SDR {mu[2]:+.2f} ± {ci[2]:.2f} dB  "
          f"(worst PESQ {np.nanmin(d[:, 0]):+.2f})", flush=True)


def _with_minus_without(run, y, clean, noisy, spans, keys):
    """Each utterance's scores in the long output `y` minus those with the scene-change restart switched off."""
    from ddae.inference import denoise_array
    from ddae.metrics import all_metrics

    run.norm.scene_changes = False
    try:
        y_off = denoise_array(run, noisy, 16000)
    finally:
        run.norm.scene_changes = True
    out = []
    for a, b in spans:
        on, off = all_metrics(clean[a:b], y[a:b], 16000), all_metrics(clean[a:b], y_off[a:b], 16000)
        out.append([on[k] - off[k] for k in keys])
    return out


if __name__ == "__main__":
    sys.exit(main(resolve_settings(globals(), __doc__)))
