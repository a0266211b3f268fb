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
from .pitch import DEFAULT_PITCH_FILTER

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


def _denoiser(model: str, backend: str, max_att: float, mix: float, scene_changes: bool = True,
              pitch_filter: float = DEFAULT_PITCH_FILTER):
    from .api import Denoiser

    key = (model, backend, max_att, mix, scene_changes, pitch_filter)
    if not _LOADED:
        _malloc_like_a_plain_process()
    if key not in _LOADED:
        _LOADED[key] = Denoiser.load(model, backend, threads=1, max_attenuation_db=max_att, mix=mix,
                                     scene_changes=scene_changes, pitch_filter=pitch_filter)
    return _LOADED[key]


def denoise_job(source: str, target: str, model: str, backend: str, max_att: float, mix: float, rate_mode: str,
                block_seconds: float, scene_changes: bool = True, pitch_filter: float = DEFAULT_PITCH_FILTER) -> str:
    """One file, on a worker: '' when done, else the reason it failed (raised errors would be retried)."""
    try:
        _denoiser(model, backend, max_att, mix, scene_changes, pitch_filter).denoise_file(source, target, rate_mode,
                                                                                          block_seconds)
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
        quiet = {"distributed.worker.multiprocessing-method": method,
                 "distributed.worker.profile.enabled": False,
                 "distributed.admin.tick.interval": "1s",
                 "distributed.worker.memory.monitor-interval": "1s",
                 "distributed.admin.system-monitor.interval": "2s",
                 "distributed.scheduler.work-stealing": False}
        with dask.config.set(quiet):
            return Client(LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None))
    try:
        return Client(cluster, timeout="20s")
    except (OSError, TimeoutError) as e:
        raise DenoiserError(f"cannot reach the Dask scheduler at {cluster} ({e})") from None


def batches(jobs, workers: int, per_worker: int = 8, most: int = 64) -> list[list]:
    """Consecutive jobs grouped into about `per_worker` tasks per worker, balanced by file size: Dask costs some
    milliseconds per task, as much as denoising a 3 s file, so short files travel in groups."""
    sizes = [max(1, Path(j.source).stat().st_size) if Path(j.source).is_file() else 1 for j in jobs]
    target = sum(sizes) / max(1, workers * per_worker)
    groups, group, size = [], [], 0
    for job, n in zip(jobs, sizes):
        if group and (size + n > target or len(group) >= most):
            groups.append(group)
            group, size = [], 0
        group.append(job)
        size += n
    return groups + ([group] if group else [])


def denoise_batch(task, pairs, *args) -> list[str]:
    """Several files on one worker, one after the other: the failures' reasons."""
    return [r for r in (task(source, target, *args) for source, target in pairs) if r]


def denoise_on_cluster(client, jobs, model: str, backend: str, max_att: float, mix: float, rate_mode: str,
                       block_seconds: float, progress=None, task=denoise_job, retries: int = 3,
                       per_worker: int = 8, scene_changes: bool = True,
                       pitch_filter: float = DEFAULT_PITCH_FILTER) -> list[str]:
    """Run every job on the cluster; returns the failures ('path: reason'). `progress(total=...)` makes a bar
    (tqdm's interface) that advances by files. A group whose worker died is run again (its finished files are
    rewritten, identically); leftover temporary files of crashed attempts are removed."""
    import uuid

    from dask.distributed import as_completed

    token = uuid.uuid4().hex[:12]
    workers = max(1, len(client.scheduler_info()["workers"]))
    futures = {client.submit(denoise_batch, task, [(str(j.source), str(j.target)) for j in group], model, backend,
                             max_att, mix, rate_mode, block_seconds, scene_changes, pitch_filter,
                             key=f"denoise-{token}-{i}",
                             retries=retries, pure=False): group
               for i, group in enumerate(batches(jobs, workers, per_worker))}  # keys of their own: never an earlier run's result
    failures = []
    bar = progress(total=len(jobs)) if progress else None
    for future in as_completed(futures):
        group = futures[future]
        try:
            failures += future.result()
        except Exception as e:  # the task itself kept failing (a worker died on it every time, say)
            failures += [f"{j.source}: failed on the cluster ({type(e).__name__}: {str(e)[:200]})" for j in group]
        if bar is not None:
            bar.update(len(group))
    if bar is not None:
        bar.close()
    for job in jobs:  # a worker killed while writing leaves its temporary file: remove it
        for stale in Path(job.target).parent.glob(f".{Path(job.target).name}.*.part{Path(job.target).suffix}"):
            stale.unlink(missing_ok=True)
    return failures
