"""Long recordings built from short pairs: utterances in a row, each after a gap, to see what a denoiser's
running state (normaliser, recurrent layers) does to an utterance that follows a change or a quiet stretch.

Gap kinds: 'noise' (the utterance's own noise, noisy minus clean, tiled: a pause in the same scene),
'quiet' (white noise at `gap_dbfs`, -70 dBFS say: a quieter stretch, as when a noise or a microphone switches
on), 'loud' (the same at a high `gap_dbfs`, -10 dBFS say: a loud noise that stops before the utterance),
'switch' (the previous utterance's noise, the last one's before the first, scaled to this utterance's noise
level: one noise replaced by another at the same level) and 'silence' (digital zeros: a muted or gated
stretch). The clean recording holds zeros in every gap.
"""

from __future__ import annotations

import numpy as np

from .augment import rms
from .errors import DenoiserError

GAP_KINDS = ("noise", "quiet", "loud", "switch", "silence")


def gap_signal(kind: str, n: int, clean: np.ndarray, noisy: np.ndarray, gap_dbfs: float,
               rng: np.random.Generator, other: np.ndarray | None = None) -> np.ndarray:
    """`other`: for 'switch', the noise that plays in the gap (scaled to the level of this pair's noise)."""
    if kind in ("noise", "switch"):
        noise = np.asarray(noisy, np.float64) - clean
        if kind == "switch" and len(noise):
            level = rms(other) if other is not None and len(other) else 0.0
            noise = other * (rms(noise) / level) if level > 0 else np.zeros(0)
        return np.resize(noise, n) if len(noise) else np.zeros(n)
    if kind in ("quiet", "loud"):
        return rng.standard_normal(n) * 10 ** (gap_dbfs / 20)
    if kind == "silence":
        return np.zeros(n)
    raise DenoiserError(f"gap must be one of {', '.join(GAP_KINDS)}, got {kind!r}")


def long_recording(items, kind: str, gap_seconds: float, sample_rate: int, gap_dbfs: float = -70.0, seed: int = 0):
    """(clean, noisy, spans) from [(clean, noisy), ...] at one rate: gap, utterance, gap, utterance, ...;
    spans[i] = (start, end) of utterance i in the long recording."""
    rng = np.random.default_rng(seed)
    g = int(round(gap_seconds * sample_rate))
    items = [(np.asarray(c, np.float64), np.asarray(n, np.float64)) for c, n in items]
    cleans, noisies, spans, at = [], [], [], 0
    for i, (clean, noisy) in enumerate(items):
        if clean.shape != noisy.shape or clean.ndim != 1:
            raise DenoiserError(f"each pair must be two mono signals of the same length, got {clean.shape} and {noisy.shape}")
        before = items[i - 1][1] - items[i - 1][0] if kind == "switch" else None
        cleans += [np.zeros(g), clean]
        noisies += [gap_signal(kind, g, clean, noisy, gap_dbfs, rng, before), noisy]
        spans.append((at + g, at + g + len(clean)))
        at += g + len(clean)
    if not spans:
        raise DenoiserError("no pairs to build a long recording from")
    return np.concatenate(cleans), np.concatenate(noisies).astype(np.float32), spans
