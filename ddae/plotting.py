"""Figures: clean / noisy / denoised log-mel panels, training curves, evaluation bars. Files only, no windows."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .settings import FeatureSettings


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def mel_band_edges_hz(s: FeatureSettings) -> np.ndarray:
    from .features import mel_frequencies

    return mel_frequencies(s.n_mels + 2, s.fmin, s.fmax)


def save_reconstruction(path: Path, panels: list[tuple[str, np.ndarray]], s: FeatureSettings, title: str) -> None:
    """Stacked log-mel panels (frames x bands) with time in s, mel-band centre frequency in Hz, one colour scale."""
    plt = _pyplot()
    from matplotlib.ticker import FuncFormatter

    centres = mel_band_edges_hz(s)[1:-1]
    vmax = max(float(np.max(p)) for _, p in panels)
    vmin = max(min(float(np.min(p)) for _, p in panels), vmax - 20.0)  # 20 nepers ~ 87 dB of range
    n_frames = max(len(p) for _, p in panels)
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 2.6 * len(panels) + 0.6), sharex=True, squeeze=False)
    duration = n_frames * s.hop_length / s.sample_rate
    image = None
    for ax, (label, feats) in zip(axes[:, 0], panels):
        image = ax.imshow(feats.T, origin="lower", aspect="auto", cmap="magma", vmin=vmin, vmax=vmax,
                          extent=(0, len(feats) * s.hop_length / s.sample_rate, -0.5, s.n_mels - 0.5),
                          interpolation="nearest")
        ax.set_ylabel("mel band centre (Hz)")
        ax.set_title(label, loc="left", fontsize=10)
        ticks = np.linspace(0, s.n_mels - 1, 6).round().astype(int)
        ax.set_yticks(ticks)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{centres[int(np.clip(round(v), 0, s.n_mels - 1))]:.0f}"))
        ax.set_xlim(0, duration)
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(title, fontsize=11)
    fig.colorbar(image, ax=axes[:, 0].tolist(), label="log mel power (natural log)", shrink=0.9)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_training_curve(path: Path, history: dict, identity_val: float, title: str, loss_name: str = "loss") -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    ax.plot(epochs, history.get("loss", []), "o-", label="training loss")
    ax.plot(epochs, history.get("val_loss", []), "o-", label="validation loss")
    ax.axhline(identity_val, color="grey", linestyle="--", label=f"all gains 1, input unchanged (val) = {identity_val:.3f}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(loss_name)
    best = int(np.nanargmin(history["val_loss"])) if np.any(np.isfinite(history.get("val_loss", [np.nan]))) else None
    if best is not None:
        ax.plot(epochs[best], history["val_loss"][best], "k*", markersize=12, label=f"best (epoch {best + 1}), kept")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
