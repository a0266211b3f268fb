"""Turn clean/noisy wav pairs into log-mel filterbank features for training.

Usage: python extract_features.py [--clean_dir D] [--noisy_dir D] [--name sample] [--n_mels 64] ...

Files are paired by relative path (a file without its partner is an error). Other sample rates are
resampled, multichannel files averaged. Utterances are split into train/val/test (frames of one file never
cross splits); normalisation statistics are fitted on the training split only. Output, under
OUT_ROOT/NAME/: {train,val,test}_{noisy,clean,lengths}.npy, {split}_files.txt, feature_settings.json,
norm_stats.npz, summary.json.
With the default folders, the sample data set is generated first if it is not there yet.
"""

CLEAN_DIR = "data/sample/clean"  # clean speech files (wav/flac/ogg, searched recursively)
NOISY_DIR = "data/sample/noisy"  # noisy versions, same relative paths
OUT_ROOT = "data/features"  # feature sets are written to OUT_ROOT/NAME
NAME = "sample"  # name of this feature set
SAMPLE_RATE = 16000  # Hz; files at other rates are resampled
N_FFT = 512  # FFT size (samples)
WIN_LENGTH = 400  # Hann window length (samples): 25 ms
HOP_LENGTH = 160  # frame step (samples): 10 ms
N_MELS = 64  # mel bands
FMIN = 0.0  # lowest band edge (Hz)
FMAX = 8000.0  # highest band edge (Hz)
LOG_FLOOR = 1e-14  # features are log(mel power + LOG_FLOOR)
VAL_FRACTION = 0.1  # share of utterances for validation (early stopping)
TEST_FRACTION = 0.1  # share of utterances held out for reconstructions and tests
SEED = 0  # seed of the utterance split
SPLIT_BY = "file"  # 'file', or 'folder': all files of a top-level folder (e.g. a speaker) go to one split

from ddae.cli import resolve_settings, run


def main(cfg):
    from pathlib import Path

    from ddae.cli import progress
    from ddae.dataset import extract_feature_set, pair_files
    from ddae.settings import FeatureSettings

    settings = FeatureSettings(sample_rate=cfg["SAMPLE_RATE"], n_fft=cfg["N_FFT"], win_length=cfg["WIN_LENGTH"],
                               hop_length=cfg["HOP_LENGTH"], n_mels=cfg["N_MELS"], fmin=cfg["FMIN"],
                               fmax=cfg["FMAX"], log_floor=cfg["LOG_FLOOR"])
    if (cfg["CLEAN_DIR"], cfg["NOISY_DIR"]) == (CLEAN_DIR, NOISY_DIR) and not Path(CLEAN_DIR).exists():
        from ddae.sample_data import write_sample_set

        print("no sample data yet: generating it (make_sample_data.py)")
        write_sample_set(Path(CLEAN_DIR).parent, 50, 16000, 0)
    pairs = pair_files(cfg["CLEAN_DIR"], cfg["NOISY_DIR"])
    out = Path(cfg["OUT_ROOT"]) / cfg["NAME"]
    summary = extract_feature_set(pairs, out, settings, cfg["VAL_FRACTION"], cfg["TEST_FRACTION"], cfg["SEED"],
                                  progress=lambda it: progress(it, "extracting"), split_by=cfg["SPLIT_BY"])
    splits = ", ".join(f"{k} {v['files']} files / {v['frames']} frames" for k, v in summary["splits"].items())
    print(f"wrote features to {out}: {splits}")


if __name__ == "__main__":
    run(main, resolve_settings(globals(), __doc__))
