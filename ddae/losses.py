"""Training losses on the model's band gains, and the target layout they read.

Targets are packed per frame as [|Y| (bins), |S| (bins), noisy log-mel, clean log-mel, weight]: the noisy and
clean STFT magnitudes (absent, 0 bins, when training from a feature set), the raw log-mel of both and a
weight that is 0 for frames outside the utterance (padding, or the model's lookahead at the start).

- 'compressed' (default): what listeners hear is the masked spectrum, so compare the power-compressed
  magnitude (exponent 0.3) of the masked noisy spectrum with that of the clean one, with the band gains
  spread onto STFT bins inside the graph (on mel-band magnitudes when training from a feature set).
  Magnitudes are divided by the segment's noisy RMS magnitude first, so the loss does not depend on level
  (reference 'noisy'); with reference 'speech', by the clean RMS magnitude instead (floored at REF_FLOOR of the
  noisy one), so that a noisy segment's speech weighs as much as a clean one's, and low-SNR segments more.
- 'mixed': 'compressed' plus LINEAR_WEIGHT times the same comparison on linear magnitudes, which weighs loud
  (speech-dominated) bins as SI-SDR does, against speech distortion.
- `low_snr_weight` W ('compressed'/'mixed'): frames with speech in them (clean energy within 30 dB of the
  segment's loudest) count up to 1 + W times as much as the rest, fully at a frame SNR of -5 dB or less,
  not at all from 10 dB up (linear in dB between): the frames where denoisers lose intelligibility.
- 'mask': MSE between the gains and the ideal band mask sqrt(clean / noisy power) clipped to [0, 1].
- 'logmel': Lu et al.'s objective: MSE between the clean log-mel estimate (noisy log-mel + 2 log gain) and
  the clean log-mel, each band divided by its spread in the training data.
"""

from __future__ import annotations

import numpy as np

from .errors import DenoiserError

LOSSES = ("compressed", "mixed", "mask", "logmel")
REFERENCES = ("noisy", "speech")
REF_FLOOR = 0.1  # reference 'speech': the clean RMS magnitude is taken as at least this share of the noisy one
COMPRESSION = 0.3
LINEAR_WEIGHT = 0.3  # 'mixed': weight of the linear-magnitude term
EPS = 1e-4
LOW_SNR_DB = (-5.0, 10.0)  # low_snr_weight: full extra weight at or below the first frame SNR, none from the second
SPEECH_RANGE_DB = 30.0  # low_snr_weight: a frame has speech when its clean energy is within this of the segment's peak


def _one_of(value: str, allowed: tuple, setting: str) -> str:
    if value not in allowed:
        raise DenoiserError(f"{setting} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def check_loss(kind: str) -> str:
    return _one_of(kind, LOSSES, "loss")


def check_reference(reference: str) -> str:
    return _one_of(reference, REFERENCES, "loss_reference")


def pack_targets(noisy_logmel, clean_logmel, noisy_mag=None, clean_mag=None, valid=None, delay: int = 0) -> np.ndarray:
    """(T, 2 bins + 2 n_mels + 1) targets, shifted by `delay` frames so row t belongs to output t."""
    n = len(noisy_logmel)
    valid = np.ones(n, np.float32) if valid is None else np.asarray(valid, np.float32)
    parts = ([noisy_mag, clean_mag] if noisy_mag is not None else []) + [noisy_logmel, clean_logmel, valid[:, None]]
    y = np.concatenate([np.asarray(p, np.float32) for p in parts], axis=1)
    if delay:
        y = np.concatenate([np.zeros((delay, y.shape[1]), np.float32), y[: n - delay]]) if delay < n else np.zeros_like(y)
    return y


def check_low_snr_weight(weight, kind: str = "compressed") -> float:
    weight = float(weight)
    if not np.isfinite(weight) or weight < 0:
        raise DenoiserError(f"loss_low_snr_weight must be 0 or more, got {weight}")
    if weight and kind not in ("compressed", "mixed"):
        raise DenoiserError(f"loss_low_snr_weight applies to the 'compressed' and 'mixed' losses, not {kind!r}")
    return weight


def make_loss(kind: str, n_mels: int, spread: np.ndarray | None = None, scale: np.ndarray | None = None,
              reference: str = "noisy", low_snr_weight: float = 0.0):
    """A Keras loss(y_true, gains). `spread` (bins x n_mels), the band-to-bin matrix, is given exactly when the
    targets carry STFT magnitudes (training from audio); `scale` divides log-mel errors per band ('logmel');
    `reference` ('noisy' or 'speech') is the RMS magnitude the compared spectra are divided by;
    `low_snr_weight` the extra weight of low-SNR speech frames ('compressed'/'mixed')."""
    import keras
    from keras import ops

    check_loss(kind)
    check_reference(reference)
    low_snr_weight = check_low_snr_weight(low_snr_weight, kind)
    bins = 0 if spread is None else spread.shape[0]
    spread_t = None if spread is None else ops.convert_to_tensor(np.asarray(spread.T, np.float32))
    inv_scale = ops.convert_to_tensor(np.float32(1.0) / (np.ones(n_mels, np.float32) if scale is None else np.asarray(scale, np.float32)))

    def split(y):
        y_mag, s_mag = y[..., :bins], y[..., bins:2 * bins]
        n_lm, c_lm = y[..., 2 * bins:2 * bins + n_mels], y[..., 2 * bins + n_mels:2 * bins + 2 * n_mels]
        return y_mag, s_mag, n_lm, c_lm, y[..., -1]

    def weighted(per_frame, w):
        return ops.sum(per_frame * w) / ops.maximum(ops.sum(w), 1.0)

    def low_snr_frames(noisy, clean, w):
        """Per-frame weights 1 + low_snr_weight x (speech present) x (how low the frame SNR is), times w."""
        e_clean, e_noisy = ops.mean(ops.square(clean), axis=-1), ops.mean(ops.square(noisy), axis=-1)
        peak = ops.max(e_clean * w, axis=1, keepdims=True)
        present = ops.cast(e_clean * 10.0 ** (SPEECH_RANGE_DB / 10) >= peak, "float32") * ops.cast(peak > 0, "float32")
        snr_db = 10.0 / np.log(10.0) * ops.log((e_clean + 1e-20) / (ops.maximum(e_noisy - e_clean, 0.0) + 1e-20))
        low = ops.clip((LOW_SNR_DB[1] - snr_db) / (LOW_SNR_DB[1] - LOW_SNR_DB[0]), 0.0, 1.0)
        return w * (1.0 + low_snr_weight * present * low)

    def loss(y_true, gains):
        y_mag, s_mag, n_lm, c_lm, w = split(y_true)
        if kind == "mask":
            ideal = ops.clip(ops.exp(0.5 * (c_lm - n_lm)), 0.0, 1.0)
            return weighted(ops.mean(ops.square(gains - ideal), axis=-1), w)
        if kind == "logmel":
            est = n_lm + 2.0 * ops.log(ops.maximum(gains, EPS))
            return weighted(ops.mean(ops.square((est - c_lm) * inv_scale), axis=-1), w)
        if bins:
            noisy, clean = y_mag, s_mag
            g = ops.matmul(gains, spread_t)
        else:  # a feature set has no STFT: compare mel-band magnitudes instead
            noisy, clean = ops.exp(0.5 * n_lm), ops.exp(0.5 * c_lm)
            g = gains
        w3 = w[..., None]

        def rms(mag):
            return ops.sqrt(ops.sum(ops.square(mag) * w3, axis=(1, 2), keepdims=True)
                            / ops.maximum(ops.sum(w3, axis=(1, 2), keepdims=True) * mag.shape[-1], 1.0))

        ref = rms(noisy)
        if reference == "speech":
            ref = ops.maximum(rms(clean), REF_FLOOR * ref)
        ref = ref + 1e-9
        est, target = g * noisy / ref, clean / ref
        per_frame = ops.mean(ops.square(ops.power(est + EPS, COMPRESSION) - ops.power(target + EPS, COMPRESSION)), axis=-1)
        if kind == "mixed":
            per_frame = per_frame + LINEAR_WEIGHT * ops.mean(ops.square(est - target), axis=-1)
        if low_snr_weight:
            w = low_snr_frames(noisy, clean, w)
        return weighted(per_frame, w)

    loss.__name__ = f"{kind}_loss"
    del keras
    return loss


def identity_loss(loss_fn, batches, n_mels: int) -> float:
    """The loss of leaving the input as it is (all gains 1), averaged over (x, y) batches like Keras does."""
    total, n = 0.0, 0
    for x, y in batches:
        total += float(loss_fn(y, np.ones((*x.shape[:2], n_mels), np.float32))) * len(x)
        n += len(x)
    return total / max(n, 1)
