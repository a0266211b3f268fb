"""Objective metrics: PESQ (pesq package), STOI and extended STOI (pystoi), SI-SDR (numpy)."""

from __future__ import annotations

import numpy as np

from .audio import resample
from .errors import DenoiserError

MAX_LENGTH_DIFF_S = 0.01  # reference and estimate may differ by this much (codec padding); more is an error


def align(ref: np.ndarray, est: np.ndarray, sample_rate: int, what: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Truncate to the shorter of two signals that differ by a few samples; a bigger difference is an error."""
    if abs(len(ref) - len(est)) > MAX_LENGTH_DIFF_S * sample_rate:
        raise DenoiserError(f"{what}lengths differ by {abs(len(ref) - len(est))} samples "
                            f"({len(ref)} vs {len(est)}): not the same recording")
    n = min(len(ref), len(est))
    return ref[:n].astype(np.float64), est[:n].astype(np.float64)


def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """Scale-invariant SDR in dB (means removed)."""
    ref = ref - ref.mean()
    est = est - est.mean()
    energy = np.dot(ref, ref)
    if energy <= 0:
        return float("nan")
    target = np.dot(est, ref) / energy * ref
    noise = est - target
    return float(10 * np.log10(np.dot(target, target) / max(np.dot(noise, noise), 1e-20)))


def pesq_score(ref: np.ndarray, est: np.ndarray, sample_rate: int) -> tuple[float, str]:
    """(PESQ, '') or (NaN, reason): wide-band at 16 kHz, narrow-band at 8 kHz, other rates resampled to 16 kHz."""
    from pesq import pesq

    if sample_rate not in (8000, 16000):
        ref, est = resample(ref, sample_rate, 16000), resample(est, sample_rate, 16000)
        sample_rate = 16000
    try:
        return float(pesq(sample_rate, ref, est, "wb" if sample_rate == 16000 else "nb")), ""
    except Exception as e:  # pesq raises for silent references, too-short files, etc.
        return float("nan"), f"PESQ failed: {type(e).__name__}: {str(e).strip()[:120]}"


def stoi_scores(ref: np.ndarray, est: np.ndarray, sample_rate: int) -> tuple[float, float]:
    from pystoi import stoi

    try:
        return float(stoi(ref, est, sample_rate, extended=False)), float(stoi(ref, est, sample_rate, extended=True))
    except Exception:
        return float("nan"), float("nan")


METRICS = ("pesq", "stoi", "estoi", "si_sdr")


def all_metrics(ref: np.ndarray, est: np.ndarray, sample_rate: int) -> dict:
    p, why = pesq_score(ref, est, sample_rate)
    s, e = stoi_scores(ref, est, sample_rate)
    return {"pesq": p, "stoi": s, "estoi": e, "si_sdr": si_sdr(ref, est), "error": why}
