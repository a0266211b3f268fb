import numpy as np
import pytest

from ddae.errors import DenoiserError
from ddae.metrics import align, all_metrics, pesq_score, si_sdr, stoi_scores

from conftest import tone_in_noise


def test_si_sdr_is_scale_invariant_and_recovers_a_known_snr(rng):
    clean = rng.standard_normal(16000)
    noise = rng.standard_normal(16000)
    noise -= noise @ clean / (clean @ clean) * clean  # orthogonal to the reference
    noise *= np.sqrt((clean @ clean) / (noise @ noise) / 10 ** (10 / 10))  # exactly 10 dB
    est = clean + noise
    assert si_sdr(clean, est) == pytest.approx(10.0, abs=0.05)
    assert si_sdr(clean, 0.1 * est) == pytest.approx(si_sdr(clean, est), abs=1e-9)
    assert si_sdr(clean, est + 3.0) == pytest.approx(si_sdr(clean, est), abs=1e-6)  # mean removed


def test_pesq_and_stoi_are_in_range_and_rank_clean_above_noisy():
    clean, noisy = tone_in_noise(3.0, snr_db=0.0)
    for sr in (16000, 8000):
        c, n = (clean, noisy) if sr == 16000 else (clean[::2], noisy[::2])
        p_clean, _ = pesq_score(c, c, sr)
        p_noisy, why = pesq_score(c, n, sr)
        assert why == "" and 1.0 <= p_noisy < p_clean <= 4.65
    s_clean, e_clean = stoi_scores(clean, clean, 16000)
    s_noisy, e_noisy = stoi_scores(clean, noisy, 16000)
    assert 0 <= s_noisy < s_clean <= 1.0001 and e_noisy < e_clean


def test_pesq_failure_is_nan_with_a_reason():
    score, why = pesq_score(np.zeros(16000), np.zeros(16000), 16000)
    assert np.isnan(score) and "PESQ failed" in why
    m = all_metrics(np.zeros(8000), np.zeros(8000), 16000)
    assert np.isnan(m["pesq"]) and m["error"]


def test_other_rates_are_resampled_for_pesq():
    clean, noisy = tone_in_noise(2.0, sr=22050, snr_db=5.0)
    score, why = pesq_score(clean, noisy, 22050)
    assert why == "" and 1.0 <= score <= 4.65


def test_align_truncates_small_differences_and_refuses_big_ones():
    a, b = align(np.ones(1000), np.ones(1003), 16000)
    assert len(a) == len(b) == 1000
    with pytest.raises(DenoiserError, match="lengths differ"):
        align(np.ones(1000), np.ones(2000), 16000)
