"""Long recordings from short pairs: utterances where the spans say, gaps of the documented kinds."""

import numpy as np
import pytest

from ddae.errors import DenoiserError
from ddae.longform import long_recording


def _pairs():
    rng = np.random.default_rng(0)
    out = []
    for n in (3000, 5000):
        clean = rng.standard_normal(n) * 0.1
        out.append((clean, clean + rng.standard_normal(n) * 0.01 * (1 + len(out))))
    return out


@pytest.mark.parametrize("kind", ["noise", "quiet", "loud", "switch", "silence"])
def test_utterances_sit_at_their_spans_after_gaps_of_the_kind_asked(kind):
    pairs, sr = _pairs(), 1000
    clean, noisy, spans = long_recording(pairs, kind, 2.0, sr, gap_dbfs=-40.0)
    assert spans == [(2000, 5000), (7000, 12000)] and len(clean) == len(noisy) == 12000
    assert noisy.dtype == np.float32
    for (a, b), (c, n) in zip(spans, pairs):
        assert np.array_equal(clean[a:b], c) and np.allclose(noisy[a:b], n, atol=1e-7)
    for i, ((a, _), (c, n)) in enumerate(zip(spans, pairs)):
        gap_clean, gap = clean[a - 2000:a], noisy[a - 2000:a].astype(np.float64)
        assert np.all(gap_clean == 0)
        if kind == "noise":  # the utterance's own noise, tiled
            assert np.allclose(gap, np.resize(n - c, 2000), atol=1e-7)
        elif kind == "switch":  # the other pair's noise (the pairs' noises differ in level by 2x), at this one's level
            c2, n2 = pairs[i - 1]
            want = (n2 - c2) * np.sqrt(np.mean((n - c) ** 2) / np.mean((n2 - c2) ** 2))
            assert np.allclose(gap, np.resize(want, 2000), atol=1e-6)
            assert abs(np.sqrt(np.mean(gap ** 2)) / np.sqrt(np.mean((n - c) ** 2)) - 1) < 0.05
        elif kind in ("quiet", "loud"):  # white noise at the level asked
            assert abs(20 * np.log10(np.sqrt(np.mean(gap ** 2))) + 40) < 0.5
        else:
            assert np.all(gap == 0)


def test_bad_gaps_and_pairs_are_refused():
    with pytest.raises(DenoiserError, match="gap must be one of"):
        long_recording(_pairs(), "hum", 1.0, 1000)
    with pytest.raises(DenoiserError, match="same length"):
        long_recording([(np.zeros(10), np.zeros(11))], "noise", 1.0, 1000)
    with pytest.raises(DenoiserError, match="no pairs"):
        long_recording([], "noise", 1.0, 1000)
