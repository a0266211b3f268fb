"""Batches made in worker processes: the same batches, in order, as the source makes itself; errors surface."""

import numpy as np
import pytest

from ddae.material import Material
from ddae.normalise import Normaliser
from ddae.onthefly import AudioBatches
from ddae.prefetch import Prefetcher
from ddae.settings import FeatureSettings


class Failing:
    """A batch source whose third batch fails."""

    epoch = 0

    def __len__(self):
        return 4

    def batch(self, i):
        if i == 2:
            raise ValueError("batch 2 is broken")
        return np.full((1, 2, 3), i, np.float32), np.full((1, 2, 4), self.epoch, np.float32)


@pytest.fixture(scope="module")
def source(shared):
    norm = Normaliser("running", np.zeros(64), np.ones(64), 300)
    return AudioBatches(Material(shared, "train"), FeatureSettings(), norm, 1, 3, 3, seed=4)


def test_workers_give_the_batches_the_source_gives_in_order_across_epochs(source):
    keys = [(e, i) for e in (0, 1) for i in range(len(source))]
    with Prefetcher(source, workers=2, ahead=2) as p:
        made = list(p.batches(iter(keys)))
    assert len(made) == len(keys)
    for (epoch, i), (x, y) in zip(keys, made):
        source.epoch = epoch
        x0, y0 = source.batch(i)
        assert x.shape == x0.shape and np.array_equal(x, x0) and np.array_equal(y, y0), (epoch, i)
    assert not np.array_equal(made[0][1], made[len(source)][1])  # epoch 1 differs from epoch 0


def test_a_batch_that_fails_in_a_worker_raises_in_the_consumer():
    with Prefetcher(Failing(), workers=1) as p:
        got = []
        with pytest.raises(ValueError, match="batch 2 is broken"):
            for x, y in p.batches(iter([(5, i) for i in range(4)])):
                got.append(int(x[0, 0, 0]))
    assert got == [0, 1]
    assert p.pool._state != "RUN"  # closed on leaving the block
