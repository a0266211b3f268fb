import numpy as np
import pytest

from ddae.audio import resample


@pytest.mark.parametrize("sr_in, sr_out", [(16000, 8000), (44100, 16000), (8000, 16000), (22050, 16000)])
@pytest.mark.parametrize("n", [1, 1001, 48001])
def test_resample_is_librosas_soxr_hq_for_mono_and_channels(sr_in, sr_out, n):
    import librosa

    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, 2)).astype(np.float32)
    y = resample(x, sr_in, sr_out)
    for c in range(2):
        ref = librosa.resample(x[:, c].copy(), orig_sr=sr_in, target_sr=sr_out, res_type="soxr_hq")
        assert y.shape == (len(ref), 2) and y.dtype == np.float32
        np.testing.assert_allclose(y[:, c], ref, atol=1e-6)
    np.testing.assert_array_equal(resample(x[:, 0], sr_in, sr_out), y[:, 0])
