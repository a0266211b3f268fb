"""Denoise speech files or folders with a trained model.

Usage: python denoise.py INPUT [INPUT ...] -o OUTPUT [--model PATH] [--max_attenuation_db 30] [--mix 1.0]
       [--pitch_filter 0.5]

INPUT is an audio file or a folder (searched recursively for .wav, .flac, .ogg). With one input file,
OUTPUT is the output file (or an existing folder); otherwise OUTPUT is a folder that mirrors the inputs'
relative paths. Outputs keep the input's sample rate (8-48 kHz), channel count (each channel denoised on
its own), exact length and, where the format allows, its subtype. Files are written to a temporary name
and renamed when complete; an input is never overwritten. Long files are processed in blocks, so memory
stays bounded. If some files fail, the others are still processed and the failures are listed at the end
(exit status 1).
"""

MODEL = "default"  # 'default' (shipped pretrained model, else newest run), 'latest', 'pretrained' or a run folder
MAX_ATTENUATION_DB = 30.0  # gain floor: no band is attenuated by more than this (lower = gentler); 30 measured best
MIX = 1.0  # dry/wet: 1 = fully denoised, 0 = the input unchanged
PITCH_FILTER = 0.5  # comb at the voice's pitch period before the band gains, RNNoise's (0 = off, 1 = RNNoise's strength); 0.5 measured best
RATE_MODE = "native"  # 'native': apply band gains at the file's own rate; 'resample': denoise at the model's rate
SCENE_CHANGES = True  # start afresh where sound rises far above a quieter stretch or falls far below a louder one
BLOCK_SECONDS = 30.0  # block length for long files (memory is bounded by this, not by the file)
MODELS_DIR = "models"  # where 'default' and 'latest' look
BACKEND = "auto"  # 'auto' (ONNX Runtime when the run has model.onnx and onnxruntime is installed: no TensorFlow), 'onnx' or 'keras'
THREADS = 0  # CPU threads for the model (0 = all)
CLUSTER = ""  # '' = this process; 'local' = a Dask LocalCluster of worker processes here; or a Dask scheduler's address (tcp://host:8786)
WORKERS = 0  # CLUSTER = 'local': worker processes, one thread each (0 = one per CPU core)

from ddae.cli import resolve_settings, run


def _arguments(parser):
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files or folders")
    parser.add_argument("-o", "--output", required=True, metavar="OUTPUT", help="output file or folder")


def main(cfg):
    from ddae.api import Denoiser
    from ddae.cli import report_failures
    from ddae.enhance import plan_jobs
    from ddae.errors import DenoiserError

    jobs = plan_jobs(cfg["INPUTS"], cfg["OUTPUT"])
    denoiser = Denoiser.load(cfg["MODEL"], cfg["BACKEND"], cfg["THREADS"], cfg["MAX_ATTENUATION_DB"], cfg["MIX"],
                             cfg["MODELS_DIR"], cfg["SCENE_CHANGES"], cfg["PITCH_FILTER"])
    model = denoiser.run
    failures, where = _on_cluster(cfg, jobs, model) if cfg["CLUSTER"] else (_here(cfg, jobs, denoiser), "")
    done = len(jobs) - len(failures)
    if done:
        print(f"denoised {done} file(s) with {model.path} ({model.backend}){where} -> "
              f"{jobs[0].target if len(jobs) == 1 else cfg['OUTPUT']}")
    if failures and len(jobs) == 1:
        raise DenoiserError(failures[0])
    return report_failures(failures, "file(s) failed")


def _here(cfg, jobs, denoiser) -> list[str]:
    """Every file in this process; returns the failures."""
    from tqdm import tqdm

    from ddae.errors import DenoiserError

    failures = []
    bar = tqdm(total=len(jobs), unit="file", desc=f"denoising with {denoiser.name}", disable=len(jobs) < 2 or None)
    for job in jobs:
        seconds_bar, rate = None, 1
        try:
            if len(jobs) == 1:  # one file: over a minute long, a bar in seconds of audio
                from ddae.audio import audio_info

                info = audio_info(job.source)
                rate, total = info.samplerate, info.frames / info.samplerate
                seconds_bar = tqdm(total=round(total), unit="s", desc=job.source.name, disable=None if total >= 60 else True)
            denoiser.denoise_file(job.source, job.target, cfg["RATE_MODE"], cfg["BLOCK_SECONDS"],
                                  on_block=(lambda n: seconds_bar.update(n / rate)) if seconds_bar else None)
        except DenoiserError as e:
            failures.append(str(e))
        finally:
            if seconds_bar is not None:
                seconds_bar.close()
        bar.update(1)
    bar.close()
    return failures


def _on_cluster(cfg, jobs, model) -> tuple[list[str], str]:
    """Every file on Dask workers; returns the failures and how many workers did it."""
    from tqdm import tqdm

    from ddae.cluster import connect, denoise_on_cluster

    with connect(cfg["CLUSTER"], cfg["WORKERS"]) as client:
        n = len(client.scheduler_info()["workers"])
        failures = denoise_on_cluster(client, jobs, str(model.path.resolve()), model.backend, cfg["MAX_ATTENUATION_DB"],
                                      cfg["MIX"], cfg["RATE_MODE"], cfg["BLOCK_SECONDS"],
                                      scene_changes=cfg["SCENE_CHANGES"], pitch_filter=cfg["PITCH_FILTER"],
                                      progress=lambda total: tqdm(total=total, unit="file", disable=None,
                                                                  desc=f"denoising with {model.name} on {n} workers"))
        if cfg["CLUSTER"] == "local":
            client.shutdown()
    return failures, f" on {n} Dask workers"


if __name__ == "__main__":
    run(main, resolve_settings(globals(), __doc__, extra=_arguments))
