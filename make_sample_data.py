"""Write a deterministic sample data set: eSpeak NG speech mixed with generated noises.

Usage: python make_sample_data.py [--n_utterances 50] [--out_dir data/sample] [--seed 0]

Writes OUT_DIR/clean/*.wav and OUT_DIR/noisy/*.wav (same names) and OUT_DIR/conditions.csv.
Nothing is downloaded; the same settings give the same files, bit for bit.
"""

N_UTTERANCES = 50  # number of clean/noisy pairs (2-4 s each)
OUT_DIR = "data/sample"  # where clean/ and noisy/ go
SAMPLE_RATE = 16000  # Hz
SEED = 0  # random seed for voices, noises and SNRs
MIN_SNR_DB = -5.0  # lowest mixing SNR
MAX_SNR_DB = 15.0  # highest mixing SNR
OVERWRITE = False  # replace an existing sample set

from ddae.cli import resolve_settings, run


def main(cfg):
    from ddae.sample_data import write_sample_set

    write_sample_set(cfg["OUT_DIR"], cfg["N_UTTERANCES"], cfg["SAMPLE_RATE"], cfg["SEED"],
                     (cfg["MIN_SNR_DB"], cfg["MAX_SNR_DB"]), overwrite=cfg["OVERWRITE"])


if __name__ == "__main__":
    run(main, resolve_settings(globals(), __doc__))
