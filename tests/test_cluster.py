"""Corpus denoising on Dask (ddae/cluster.py): a LocalCluster of two worker processes gives the same files,
bit for bit, as one process; a worker killed in the middle of a file loses nothing and leaves nothing partial."""

import os
import sys
from pathlib import Path

import pytest

from ddae.audio import write_audio
from ddae.cluster import batches, connect, denoise_job, denoise_on_cluster
from ddae.enhance import plan_jobs

from conftest import tone_in_noise

pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    for i in range(6):
        write_audio(root / "in" / f"sub{i % 2}" / f"f{i}.wav", tone_in_noise(0.5 + 0.2 * i, seed=i)[1], 16000)
    return root


@pytest.fixture(scope="module")
def client():
    with connect("local", workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def one(corpus, runs):
    """The files denoised in this process, one after the other."""
    jobs = plan_jobs([str(corpus / "in")], str(corpus / "one"))
    for j in jobs:
        assert denoise_job(str(j.source), str(j.target), str(runs["dense"]), "auto", 20.0, 1.0, "native", 30.0) == ""
    return jobs


def test_cluster_outputs_equal_one_process_bit_for_bit(corpus, client, runs, one):
    many = plan_jobs([str(corpus / "in")], str(corpus / "many"))
    assert denoise_on_cluster(client, many, str(runs["dense"]), "auto", 20.0, 1.0, "native", 30.0) == []
    for a, b in zip(one, many):
        assert a.target.read_bytes() == b.target.read_bytes()


def crash_once(source, target, *args):
    """A worker that dies (os._exit) halfway through writing its first file, the first time only."""
    marker = Path(target).parents[2] / "crashed"
    if Path(source).name == "f3.wav" and not marker.exists():
        marker.write_text("once")
        partial = Path(target).parent / f".{Path(target).name}.deadbeef.part{Path(target).suffix}"
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(b"RIFF half a file")
        os._exit(1)
    return denoise_job(source, target, *args)


def test_a_worker_killed_mid_file_loses_nothing(corpus, client, runs, one):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    jobs = plan_jobs([str(corpus / "in")], str(corpus / "crash" / "out"))
    failures = denoise_on_cluster(client, jobs, str(runs["dense"]), "auto", 20.0, 1.0, "native", 30.0, task=crash_once,
                                  per_worker=1)  # two groups of three files: f3 dies in the middle of the second
    assert failures == [] and (corpus / "crash" / "crashed").exists()  # it did crash, and the group was redone
    assert all(j.target.is_file() and j.target.stat().st_size > 1000 for j in jobs)
    assert not [p for p in (corpus / "crash").rglob(".*") if p.is_file()]  # no partial file left
    for a, b in zip(one, jobs):
        assert a.target.read_bytes() == b.target.read_bytes()


def test_a_bad_file_is_reported_and_the_rest_are_written(corpus, client, runs, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bad.wav").write_bytes(b"not audio")
    write_audio(tmp_path / "in" / "good.wav", tone_in_noise(0.5)[1], 16000)
    jobs = plan_jobs([str(tmp_path / "in")], str(tmp_path / "out"))
    failures = denoise_on_cluster(client, jobs, str(runs["dense"]), "auto", 20.0, 1.0, "native", 30.0)
    assert len(failures) == 1 and "bad.wav" in failures[0]
    assert (tmp_path / "out" / "good.wav").is_file() and not (tmp_path / "out" / "bad.wav").exists()


def test_files_travel_in_groups_balanced_by_size(tmp_path):
    for i, seconds in enumerate([8, 1, 1, 1, 1, 1, 1, 1, 1, 4, 4]):
        write_audio(tmp_path / "in" / f"f{i:02d}.wav", tone_in_noise(seconds, seed=i)[1], 16000)
    jobs = plan_jobs([str(tmp_path / "in")], str(tmp_path / "out"))
    groups = batches(jobs, workers=2, per_worker=3)  # 24 s in 6 groups: at most 4 s each, unless one file is longer
    assert [j for g in groups for j in g] == jobs  # every file once, in order
    assert [len(g) for g in groups] == [1, 3, 3, 2, 1, 1]  # 8 s | 1+1+1 | 1+1+1 | 1+1 | 4 | 4
    assert [len(g) for g in batches(jobs, workers=1, per_worker=1, most=5)] == [5, 5, 1]  # never more than `most`
    assert [len(g) for g in batches(jobs, workers=100)] == [1] * len(jobs)


def test_an_unreachable_scheduler_is_one_clear_error():
    from ddae.errors import DenoiserError

    with pytest.raises(DenoiserError, match="cannot reach the Dask scheduler"):
        connect("tcp://127.0.0.1:9", 0)
