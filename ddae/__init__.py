"""ddae: a speech denoiser built on the deep denoising autoencoder of Lu et al. (Interspeech 2013).

Noisy log-mel filterbank frames go in, clean log-mel frames come out; the ratio of the two becomes
mel-band gains that are applied to the noisy STFT, so the toolkit produces real audio, not only pictures.
"""

__version__ = "0.2.0"

from .api import Denoiser  # noqa: E402,F401  (the one-call API; imports numpy and soundfile, never TensorFlow)
