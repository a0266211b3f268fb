"""Build training mixtures from the real recordings in ../shared/data (the pretrained model's recipe).

Usage: python make_training_data.py [--passes 2] [--out_dir data/train_real] [--seed 0]

Mixes every training utterance PASSES times with recorded noise, babble built from other training
speakers or generated stationary noise, at -5..20 dB SNR and random level; 15 % reverberated with the
room impulse responses, 15 % band-limited through 8 kHz. The development set's speakers and noise files
(see ddae/devset.py) are left out. Writes OUT_DIR/clean/<speaker>/*.wav, OUT_DIR/noisy/<speaker>/*.wav and
OUT_DIR/pairs.csv; then: python extract_features.py --clean_dir OUT_DIR/clean --noisy_dir OUT_DIR/noisy
--name real --split_by folder. Deterministic: the same seed gives the same files.
"""

SHARED_DATA = "../shared/data"  # the training material (speech.csv, noise.csv, rir/)
OUT_DIR = "data/train_real"  # where clean/, noisy/ and pairs.csv go
PASSES = 2  # mixtures per training utterance (each with fresh noise, SNR and level)
SEED = 0  # random seed of the recipe
SAMPLE_RATE = 16000  # Hz

from ddae.cli import resolve_settings, run


def main(cfg):
    from ddae.cli import progress
    from ddae.mixtures import build_training_set

    summary = build_training_set(cfg["SHARED_DATA"], cfg["OUT_DIR"], cfg["PASSES"], cfg["SEED"],
                                 cfg["SAMPLE_RATE"], progress=lambda it, what: progress(it, what))
    print(f"wrote {summary['pairs']} pairs ({summary['hours']:.2f} h) from {summary['speakers']} speakers, "
          f"{summary['noise_files']} noise files and {summary['rirs']} impulse responses to {cfg['OUT_DIR']}")


if __name__ == "__main__":
    run(main, resolve_settings(globals(), __doc__))
