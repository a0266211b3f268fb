"""What every script shares: settings from the command line, one-line errors, quiet TensorFlow, progress bars."""

from __future__ import annotations

import os
import sys

from .errors import DenoiserError
from .settings import resolve_settings  # noqa: F401  (re-exported for the scripts)


def run(main, cfg: dict) -> None:
    """Call main(cfg); a DenoiserError or Ctrl-C becomes a one-line message and a non-zero exit."""
    try:
        status = main(cfg)
    except DenoiserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.code)
    except KeyboardInterrupt:
        print("interrupted: nothing half-written was kept", file=sys.stderr)
        sys.exit(130)
    sys.exit(int(status or 0))


def report_failures(failures: list[str], what: str) -> int:
    """List what failed on stderr after the rest was done; the exit status: 1 if anything failed."""
    if failures:
        print(f"{len(failures)} {what}:", file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
    return 1 if failures else 0


def quiet_tensorflow(threads: int = 0) -> None:
    """Silence TensorFlow's start-up chatter; with threads > 0, limit it (and numpy's BLAS) to that many."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if "tensorflow" not in sys.modules:  # its C++ start-up lines ignore TF_CPP_MIN_LOG_LEVEL: hide them
        sys.stderr.flush()
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    if threads > 0:
        from .engines import limit_native_threads

        limit_native_threads(threads)
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:
            pass  # already initialised in this process


def progress(iterable, desc: str, total=None, unit="file"):
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=None, dynamic_ncols=True)
