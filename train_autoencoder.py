"""Train a denoising autoencoder: noisy log-mel frames in, mel-band gains out.

Usage: python train_autoencoder.py [--model_type 1|2|3] [--features data/features/sample] ...
       python train_autoencoder.py --material ../shared/data --model_type 3      # audio mixed on the fly

Every model maps a sequence of normalised noisy log-mel frames to per-frame mel-band gains in [0, 1].
MODEL_TYPE 1 is the dense deep denoising autoencoder of Lu et al. (Interspeech 2013) over CONTEXT_PAST + 1 +
CONTEXT_FUTURE frames; 2 is a convolutional encoder-decoder over (frames x mel bands) patches; 3 is a causal
recurrent model (two causal Conv1D layers, RECURRENT_LAYERS GRUs, a dense gain layer) whose state carries across chunks.
CONTEXT_FUTURE is the lookahead in frames (0 = causal, for streaming; type 3 uses it too).
Data: a feature set from extract_features.py (FEATURES), or, with MATERIAL set, speech and noise mixed on the
fly with augmentation over levels, EQ, rooms, telephone band and clipping (see ddae/onthefly.py).
Early stopping watches the validation loss (patience PATIENCE) and keeps the best weights, also across an
interruption (--resume). The best model is saved as MODELS_DIR/<run>/model.keras with its feature settings,
normaliser and architecture; MODEL_LOGS_DIR/<run>/ gets a per-epoch CSV, a TensorBoard log and a training-curve PNG.
"""

FEATURES = "data/features/sample"  # a feature set written by extract_features.py (used when MATERIAL is empty)
MATERIAL = ""  # or: a folder of speech and noise to mix on the fly (../shared/data, or speech/<speaker>/ + noise/<source>/)
MATERIAL_CACHE = ""  # mixing on the fly: '' = material in memory; a folder = 16-bit shards written there once and read as drawn (memory flat, whatever the hours)
AUGMENTATION = "full"  # mixing on the fly: 'full' (levels, EQ, rooms, telephone band, clipping), 'rooms' (full with more and longer rooms), 'speed' (rooms, and speech and noise played 0.85-1.15x as fast), 'noises' (rooms, and a second noise on 40 % of the mixtures), 'tones' (rooms, with 12 % of the noises tonal: chirps, beeps, whines), 'whistles' (tones with 1-7 kHz whistles instead of the voice-like whines), 'pauses' (whistles, with the first 0.3-2 s of 20 % of the segments 20-60 dB quieter or silent, as after a pause in a long recording), 'switches' (whistles, with the noise changing partway through 30 % of the noisy segments: another noise at -6..+6 dB before it) or 'basic' (noises and SNRs only)
MODEL_TYPE = 1  # 1 = dense (Lu et al. 2013), 2 = convolutional, 3 = recurrent (GRU)
CONTEXT_PAST = 5  # types 1 and 2: past frames in the window (type 3 remembers through its state)
CONTEXT_FUTURE = 5  # lookahead frames (0 = causal, for streaming)
UNITS = "512,256,128,256,512"  # type 1: hidden layer widths (bottleneck in the middle)
FILTERS = "16,32"  # type 2: encoder channels; each layer halves the mel axis
RECURRENT_UNITS = 192  # type 3: width of the conv front end and of each GRU (the shipped models: 192)
RECURRENT_LAYERS = 2  # type 3: GRU layers (the shipped models: 2); with INIT_FROM a run with fewer, the new ones are added on top (their weights into the gain layer start at zero)
GROW_LOOKAHEAD = 0  # type 3 with INIT_FROM: give the run this many more frames of lookahead (the same weights; the gains are then held back longer)
GROW_UNITS = 0  # type 3 with INIT_FROM: widen the run's front end and GRUs by this many units (the new units' weights into the old ones and into the gain layer start at zero)
BAND_FILTERS = 0  # type 3: channels of a band front end (two convolutions along the mel axis of each frame, GTCRN-style) feeding the first front-end layer; 0 = none; with INIT_FROM a run without it, it is added (its weights into the front end start at zero)
LOOKAHEAD_SKIP = True  # type 3 with a lookahead: the gain layer also gets the front-end output of the frame it gains, held back CONTEXT_FUTURE frames (not only through the GRUs' memory); with INIT_FROM a run without it, the skip is added (its new weights start at zero)
DROPOUT = 0.0  # type 1: dropout before each hidden dense layer
LOSS = "compressed"  # 'compressed' (masked vs clean power-compressed magnitude), 'mixed' (compressed + linear), 'mask' (MSE of the band mask) or 'logmel' (Lu et al.)
LOSS_REFERENCE = "noisy"  # 'compressed'/'mixed': divide the compared spectra by each segment's 'noisy' RMS magnitude or by its clean 'speech' one (weighs low-SNR segments more)
LOSS_LOW_SNR_WEIGHT = 0.0  # 'compressed'/'mixed': frames with speech count up to 1 + this times as much at a frame SNR of -5 dB or less (none from 10 dB up); 0 = all frames alike
TEACHER = ""  # mixing on the fly: a trained run ('default', a run name or path) whose denoised output is blended into the clean target (distillation); '' = none
TEACHER_WEIGHT = 0.5  # with TEACHER: the target is (1 - this) x clean + this x the teacher's output (magnitudes); validation keeps the clean target
NORMALISATION = "running"  # 'running' (causal per-band running mean: level- and channel-independent), 'running+floor' (also each band above a tracked noise floor) or 'global' (training statistics)
NORM_TAU_S = 3.0  # running normalisation: time constant in seconds
PRIME_SECONDS = 0.0  # running normalisation: start each file from the levels of its first seconds (offline models; 0 = causal from the first frame)
EPOCHS = 30  # upper limit; early stopping usually ends sooner
PATIENCE = 5  # early stopping patience (epochs without a better validation loss)
MAX_MINUTES = 0.0  # stop at the first epoch end after this much training time (0 = no limit); the best epoch is kept
BATCH_SIZE = 16  # segments per batch
SEGMENT_SECONDS = 1.0  # feature sets: length of the training segments cut from utterances
STEPS_PER_EPOCH = 0  # batches per epoch (0 = the whole feature set; 150 when mixing on the fly)
DATA_WORKERS = 2  # mixing on the fly: processes that mix training batches ahead of the model (0 = in the training process)
VAL_BATCHES = 8  # mixing on the fly: fixed validation batches (3 s segments from held-out speakers and noises)
LEARNING_RATE = 0.001  # Adam learning rate
CLIPNORM = 3.0  # gradient norm clipping (0 = off)
REDUCE_LR_PATIENCE = 0  # halve the learning rate after this many epochs without progress (0 = never)
LR_SCHEDULE = "plateau"  # 'plateau' (LEARNING_RATE, halved as REDUCE_LR_PATIENCE says) or 'cosine' (decays over EPOCHS epochs to 2 % of it)
SAMPLE_RATE = 16000  # mixing on the fly: the model's sample rate
LOG_FLOOR = 1e-14  # mixing on the fly: features are log(mel power + LOG_FLOOR)
SEED = 0  # seed for weights, batches and mixtures
THREADS = 0  # CPU threads for TensorFlow (0 = all)
DEVICES = 1  # devices to train on with tf.distribute.MirroredStrategy (GPUs; without GPUs, the CPU split into logical devices)
MODELS_DIR = "models"  # runs are saved to MODELS_DIR/<run>/
MODEL_LOGS_DIR = "model_logs"  # CSV, TensorBoard and curve per run
INIT_FROM = ""  # fine-tune: start from the weights of a finished run ('default', a run name or path); its architecture and input settings are used
RESUME = ""  # name of an interrupted run to continue (its settings are reused; see the message on Ctrl-C)

from ddae.cli import resolve_settings, run


def main(cfg):
    from ddae.cli import progress, quiet_tensorflow
    from ddae.train_run import split_cpu, train

    if cfg["DEVICES"] > 1:
        quiet_tensorflow(cfg["THREADS"])
        split_cpu(cfg["DEVICES"])

    train(cfg, progress=lambda it, what: progress(it, what))


if __name__ == "__main__":
    run(main, resolve_settings(globals(), __doc__))
