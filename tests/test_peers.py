"""The peers of evaluate.py: aligned with their input, same length, at 8 and 16 kHz (skipped if not installed)."""

import numpy as np
import pytest

from ddae.errors import DenoiserError
from ddae.peers import DENOISERS, PEERS, available
from ddae.synth import sample_pairs


@pytest.fixture(scope="module")
def speech():
    (_, clean, noisy, _), = sample_pairs(1, 16000, seed=2, snr_range=(10.0, 10.0))
    return clean, noisy


def _lag(a, b):
    n = len(a)
    c = np.fft.irfft(np.fft.rfft(b, 2 * n) * np.conj(np.fft.rfft(a, 2 * n)))
    k = int(np.argmax(c))
    return k if k < n else k - 2 * n


@pytest.mark.parametrize("name", PEERS)
@pytest.mark.parametrize("sr", [8000, 16000])
def test_peer_output_is_aligned_and_keeps_the_length(name, sr, speech):
    have, _ = available([name])
    if not have:
        pytest.skip(f"{name} is not installed (requirements-peers.txt)")
    from ddae.audio import resample

    clean, noisy = (resample(x, 16000, sr) for x in speech)
    y = DENOISERS[name](noisy, sr)
    assert y.shape == noisy.shape and np.all(np.isfinite(y))
    assert abs(_lag(clean, y)) <= 1  # the peer's own delay is removed
    assert np.corrcoef(clean, y)[0, 1] > 0.5


def test_unknown_peer_is_refused():
    with pytest.raises(DenoiserError, match="unknown peer"):
        available(["rnnoise", "dfn9"])
