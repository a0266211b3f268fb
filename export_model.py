"""Export trained runs to ONNX, so that denoise.py, evaluate.py and the Python API run them without TensorFlow.

Usage: python export_model.py --model RUN[,RUN...]    (a run folder, 'latest', 'default' or 'pretrained')
       python export_model.py --model all              (every run in MODELS_DIR and the shipped models)

Writes RUN/model.onnx: the stream form of the model (frames and state in, band gains and new state out),
checked against the Keras model at two lengths (within 1e-4) before it replaces an older one. Training
exports every new run itself; this script is for older runs, or after editing a model by hand.
"""

MODEL = "latest"  # run folder(s), comma-separated; 'latest', 'default', 'pretrained' or 'all'
MODELS_DIR = "models"  # where 'latest', 'default' and 'all' look

from ddae.cli import resolve_settings, run


def main(cfg):
    from ddae.export import export_onnx
    from ddae.runs import list_runs, pretrained_runs, resolve_run_path

    if cfg["MODEL"] == "all":
        paths = list_runs(cfg["MODELS_DIR"]) + pretrained_runs(cfg["MODELS_DIR"])
    else:
        paths = [resolve_run_path(spec.strip(), cfg["MODELS_DIR"]) for spec in cfg["MODEL"].split(",") if spec.strip()]
    for path in paths:
        print(f"exported {export_onnx(path)}")
    return 0


if __name__ == "__main__":
    run(main, resolve_settings(globals(), __doc__))
