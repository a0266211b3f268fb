"""Training batches made ahead in worker processes, so mixing on the fly does not hold up the model.

Mixing a batch (reading, augmenting, STFT, log-mel, normalising) is numpy work in Python: in the training
process it shares the interpreter with Keras's loop and runs between steps. `Prefetcher` runs `batch(i)` of
a batch source (an object with `epoch`, `__len__` and `batch(i)`) in worker processes instead, a bounded
number of batches ahead, and hands them back in order. Batch i of epoch e is a function of (seed, e, i)
only, so the batches are the same, bit for bit, whichever process makes them.

Workers start through a forkserver (a clean interpreter: TensorFlow's threads are never forked), get the
source once, and run numpy on one thread each.
"""

from __future__ import annotations

import collections
import multiprocessing as mp

_SOURCE = None


def _start_worker(source) -> None:
    global _SOURCE
    import signal

    from .engines import limit_native_threads

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the training process's to handle: it ends the pool

    limit_native_threads(1)
    _SOURCE = source


def _make(epoch: int, i: int):
    _SOURCE.epoch = epoch
    return _SOURCE.batch(i)


class Prefetcher:
    """`batches(keys)` yields source.batch(i) for each (epoch, i) in `keys` (an iterable, endless or not),
    made by `workers` processes, at most `ahead` batches ahead of the consumer (memory: about `ahead`
    batches)."""

    def __init__(self, source, workers: int, ahead: int = 0):
        self.ahead = ahead or 2 * workers + 1
        self.pool = mp.get_context("forkserver").Pool(workers, initializer=_start_worker, initargs=(source,))

    def batches(self, keys):
        queue = collections.deque()
        for epoch, i in keys:
            queue.append(self.pool.apply_async(_make, (epoch, i)))
            if len(queue) >= self.ahead:
                yield queue.popleft().get()
        while queue:
            yield queue.popleft().get()

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
