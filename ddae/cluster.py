"""Denoising a corpus on Dask: files spread over the worker processes of a dask.distributed cluster.

`cluster="local"` starts a LocalCluster of worker processes on this machine (one thread each); any other value
is the address of a running scheduler (started by dask-jobqueue on SLURM or PBS, dask-kubernetes, or `dask
scheduler` plus `dask worker` by hand). Each worker loads the model once (the ONNX path: no TensorFlow on
workers when the run has model.onnx) and denoises whole files with the same code as a single process, each
written to a temporary name and renamed when complete; so outputs are the same files, bit for bit. A file
that fails is reported with its reason; a worker that dies has its files run again elsewhere (Dask's
retries), and the temporary file it was writing is removed at the end.
"""

from __future__ import annotations

from pathlib import Path

from .errors import DenoiserError

_LOADED: dict = {}  # per worker process: the Denoiser of each model settings, loaded once


def _malloc_like_a_plain_process() -> None:
    """Dask starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also stops glibc from adapting its mmap
    threshold: every large numpy array is then mapped and unmapped afresh, and denoising ran 1.7x slower in a
    worker than in a plain process (measured). Give this worker glibc's usual behaviour back (Linux only)."""
    import ctypes
    import sys

    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt(-3, 32 * 2 ** 20)  # M_MMAP_THRESHOLD: arrays up to 32 MiB from the heap
            libc.mallopt(-1, 64 * 2 ** 20)  # M_TRIM_THRESHOLD
        except (OSError, AttributeError):
            pass


def _denoiser(model: str, backend: str, max_att: float, mix: float):
    from .api import Denoiser

    key = (model, backend, max_att, mix)
    if not _LOADED:
        _malloc_like_a_plain_process()
    if key not in _LOADED:
        _LOADED[key] = Denoiser.load(model, backend, threads=1, max_attenuation_db=max_att, mix=mix)
    return _LOADED[key]


def denoise_job(source: str, target: str, model: str, backend: str, max_att: float, mix: float, rate_mode: str,
                block_seconds: float) -> str:
    """One file, on a worker: '' when done, else the reason it failed (raised errors would be retried)."""
    try:
        _denoiser(model, backend, max_att, mix).denoise_file(source, target, rate_mode, block_seconds)
    except DenoiserError as e:
        return str(e)
    return ""


def connect(cluster: str, workers: int = 0):
    """A dask.distributed Client: a LocalCluster of `workers` single-threaded processes, or a scheduler's address."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise DenoiserError("--cluster needs Dask: pip install -r requirements.txt (or pip install '.[dask]')") from None
    if cluster == "local":
        import os
        import sys

        import dask

        n = workers or os.cpu_count() or 1
        # forkserver (Linux): workers start from a small server process instead of a fresh interpreter each,
        # about 1 s sooner on this machine (what a small corpus pays); elsewhere Dask's default (spawn)
        method = "forkserver" if sys.platform.startswith("linux") else dask.config.get("distributed.worker.multiprocessing-method")
        with dask.config.set({"distributed.worker.multiprocessing-method": method}):
            return Client(LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None))
    try:
        return Client(cluster, timeout="20s")
    except (OSError, TimeoutError) as e:
        raise DenoiserError(f"cannot reach the Dask scheduler at {cluster} ({e})") from None


def denoise_on_cluster(client, jobs, model: str, backend: str, max_att: float, mix: float, rate_mode: str,
                       block_seconds: float, progress=None, task=denoise_job, retries: int = 3) -> list[str]:
    """Run every job on the cluster; returns the failures ('path: reason'). Leftover temporary files of
    crashed attempts are removed."""
    import uuid

    from dask.distributed import as_completed

    token = uuid.uuid4().hex[:12]

    futures = {client.submit(task, str(j.source), str(j.target), model, backend, max_att, mix, rate_mode,
                             block_seconds, key=f"denoise-{token}-{i}", retries=retries, pure=False): j
               for i, j in enumerate(jobs)}  # keys of their own: never the result of an earlier run's task
    failures = []
    done = as_completed(futures)
    for future in (progress(done, total=len(futures)) if progress else done):
        job = futures[future]
        try:
            reason = future.result()
        except Exception as e:  # the task itself kept failing (a worker died on it every time, say)
            reason = f"{job.source}: failed on the cluster ({type(e).__name__}: {str(e)[:200]})"
        if reason:
            failures.append(reason)
    for job in jobs:  # a worker killed while writing leaves its temporary file: remove it
        for stale in Path(job.target).parent.glob(f".{Path(job.target).name}.*.part{Path(job.target).suffix}"):
            stale.unlink(missing_ok=True)
    return failures
