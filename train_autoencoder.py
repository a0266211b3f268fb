"""Train a denoising autoencoder that maps noisy log-mel frames (with context) to the clean centre frame.

Usage: python train_autoencoder.py [--model_type 1|2] [--epochs 30] [--features data/features/sample] ...

MODEL_TYPE 1 is the dense deep denoising autoencoder of Lu et al. (Interspeech 2013): the noisy frame with
+-k context frames, flattened, through dense layers with a bottleneck. MODEL_TYPE 2 is a convolutional
encoder-decoder over (frames x mel bands) patches. CONTEXT_FUTURE = 0 gives a causal model for streaming.
Early stopping watches the validation loss (patience PATIENCE) and restores the best weights. The best
model is saved as MODELS_DIR/<run>/model.keras with its feature settings and normalisation statistics;
MODEL_LOGS_DIR/<run>/ gets a per-epoch CSV, a TensorBoard log and a training-curve PNG.
"""

FEATURES = "data/features/sample"  # a feature set written by extract_features.py
MODEL_TYPE = 1  # 1 = dense (Lu et al. 2013), 2 = convolutional
CONTEXT_PAST = 5  # past context frames
CONTEXT_FUTURE = 5  # future context frames (0 = causal, for streaming)
UNITS = "512,256,128,256,512"  # type 1: hidden layer widths (bottleneck in the middle)
FILTERS = "16,32"  # type 2: encoder channels; each layer halves the mel axis
DROPOUT = 0.0  # type 1: dropout after each hidden layer
TARGET = "mask"  # what the model outputs: 'mask' (mel-band gain in [0, 1], measured best on real speech) or 'logmel' (clean log-mel, Lu et al.)
EPOCHS = 30  # upper limit; early stopping usually ends sooner
PATIENCE = 5  # early stopping patience (epochs without a better validation loss)
BATCH_SIZE = 256  # frames per batch
FRAMES_PER_EPOCH = 0  # frames drawn (fresh, at random) for each epoch; 0 = the whole training split
LEARNING_RATE = 0.001  # Adam learning rate
REDUCE_LR_PATIENCE = 0  # halve the learning rate after this many epochs without progress (0 = never)
SEED = 0  # seed for weights and batch order
THREADS = 0  # CPU threads for TensorFlow (0 = all)
MODELS_DIR = "models"  # runs are saved to MODELS_DIR/<run>/
MODEL_LOGS_DIR = "model_logs"  # CSV, TensorBoard and curve per run
RESUME = ""  # name of an interrupted run to continue (its settings are reused; see the message on Ctrl-C)

from ddae.cli import resolve_settings, run


def main(cfg):
    from ddae.train_run import train

    train(cfg)


if __name__ == "__main__":
    run(main, resolve_settings(globals(), __doc__))
