"""Load a trained model and save images of clean, noisy and denoised log-mel features.

Usage: python load_autoencoder_reconstructions.py [--model default|latest|PATH] [--n_reconstructions 2] [--split test]

For each chosen utterance of the feature set's SPLIT, one PNG with three stacked panels (clean, noisy,
denoised = the autoencoder's estimate), with time (s) and mel-band frequency (Hz) axes and one colour
scale, goes to IMAGES_DIR/<run>_<utterance>.png. A model whose feature settings differ from the
features' is refused.
"""

MODEL = "default"  # 'default' (shipped pretrained model, else newest run), 'latest', 'pretrained' or a run folder
FEATURES = ""  # feature set folder; empty = the one the model was trained on, if here, else FALLBACK_FEATURES
FALLBACK_FEATURES = "data/features/sample"  # used when the model's own feature set is not on this machine
N_RECONSTRUCTIONS = 2  # how many utterances to draw
SPLIT = "test"  # which split to draw from: train, val or test
IMAGES_DIR = "images"  # where the PNGs go
MODELS_DIR = "models"  # where MODEL = 'latest' looks

from ddae.cli import resolve_settings, run


def main(cfg):
    from pathlib import Path

    import numpy as np

    from ddae.dataset import SPLITS, load_feature_set
    from ddae.errors import DenoiserError
    from ddae.inference import predict_logmel
    from ddae.runs import load_run, resolve_run_path
    from ddae.plotting import save_reconstruction
    from ddae.settings import FeatureSettings

    if cfg["SPLIT"] not in SPLITS:
        raise DenoiserError(f"split must be one of {', '.join(SPLITS)}, got {cfg['SPLIT']!r}")
    model = load_run(resolve_run_path(cfg["MODEL"], cfg["MODELS_DIR"]))
    own = model.config.get("features", "")  # a model trained on audio mixed on the fly has no feature set
    features = Path(cfg["FEATURES"] or own or cfg["FALLBACK_FEATURES"])
    if not cfg["FEATURES"] and not features.is_dir():
        features = Path(cfg["FALLBACK_FEATURES"])
    if not str(features) or not features.is_dir():
        raise DenoiserError(f"feature set {str(features)!r} not found: pass --features (run extract_features.py first)")
    model.check_features(FeatureSettings.load(features), f"the feature set {features}")
    fs = load_feature_set(features, cfg["SPLIT"])
    if not fs.files:
        raise DenoiserError(f"the {cfg['SPLIT']} split of {features} is empty")
    images = Path(cfg["IMAGES_DIR"])
    images.mkdir(parents=True, exist_ok=True)
    for name, noisy, clean in list(fs.utterances())[: max(0, cfg["N_RECONSTRUCTIONS"])]:
        denoised = predict_logmel(model, noisy)
        mse = lambda a: float(np.mean((a - clean) ** 2))  # noqa: E731
        out = images / f"{model.name}_{Path(name).stem}.png"
        tmp = out.with_name(f".{out.stem}.part.png")
        save_reconstruction(tmp, [("clean", clean), (f"noisy (MSE to clean {mse(noisy):.2f})", noisy),
                                  (f"denoised by {model.name} (MSE to clean {mse(denoised):.2f})", denoised)],
                            model.settings, f"{name}")
        tmp.replace(out)
        print(f"saved {out}")


if __name__ == "__main__":
    run(main, resolve_settings(globals(), __doc__))
