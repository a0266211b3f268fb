"""denoise.py's file layer: outputs keep rate, channels, length and subtype; bad input never crashes."""

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from ddae.enhance import denoise_file, plan_jobs, soft_limit
from ddae.errors import DenoiserError
from ddae.models import load_run

from conftest import ROOT, tone_in_noise


@pytest.fixture(scope="module")
def dense(runs):
    return load_run(runs["dense"])


@pytest.mark.parametrize("sr,channels,subtype,ext", [(16000, 1, "PCM_16", "wav"), (8000, 1, "PCM_16", "flac"),
                                                     (44100, 2, "PCM_24", "wav"), (48000, 6, "FLOAT", "wav")])
def test_output_keeps_rate_channels_length_and_subtype(dense, tmp_path, sr, channels, subtype, ext):
    _, x = tone_in_noise(1.3, sr=sr)
    x = np.stack([x * (0.5 + 0.1 * c) for c in range(channels)], 1)
    src = tmp_path / f"in.{ext}"
    sf.write(src, x, sr, subtype=subtype)
    denoise_file(dense, src, tmp_path / f"out.{ext}", 30.0, 1.0)
    info = sf.info(tmp_path / f"out.{ext}")
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (sr, channels, len(x), subtype)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_clipped_full_scale_input_does_not_clip(dense, tmp_path):
    _, x = tone_in_noise(1.0)
    x = np.clip(x * 100, -1, 1)
    sf.write(tmp_path / "in.wav", x, 16000, subtype="FLOAT")
    denoise_file(dense, tmp_path / "in.wav", tmp_path / "out.wav", 30.0, 1.0)
    y, _ = sf.read(tmp_path / "out.wav")
    assert np.max(np.abs(y)) < 1.0
    assert np.all(np.abs(soft_limit(np.linspace(-3, 3, 101))) < 1.0)


def test_block_size_does_not_change_the_file(dense, tmp_path):
    _, x = tone_in_noise(2.0)
    sf.write(tmp_path / "in.wav", x, 16000, subtype="FLOAT")
    denoise_file(dense, tmp_path / "in.wav", tmp_path / "a.wav", 30.0, 1.0, block_seconds=100)
    denoise_file(dense, tmp_path / "in.wav", tmp_path / "b.wav", 30.0, 1.0, block_seconds=0.1)
    a, _ = sf.read(tmp_path / "a.wav", dtype="float32")
    b, _ = sf.read(tmp_path / "b.wav", dtype="float32")
    assert np.max(np.abs(a - b)) < 1e-4


def test_plan_jobs(tmp_path):
    for rel in ("a.wav", "sub/b.flac", "notes.txt"):
        (tmp_path / "in" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / rel).write_bytes(b"x")
    jobs = plan_jobs([str(tmp_path / "in")], str(tmp_path / "out"))
    assert [j.target.relative_to(tmp_path / "out").as_posix() for j in jobs] == ["a.wav", "sub/b.flac"]
    one = plan_jobs([str(tmp_path / "in/a.wav")], str(tmp_path / "x.wav"))
    assert one[0].target == tmp_path / "x.wav"
    with pytest.raises(DenoiserError, match="overwrite an input"):
        plan_jobs([str(tmp_path / "in/a.wav")], str(tmp_path / "in/a.wav"))
    with pytest.raises(DenoiserError, match="overwrite an input"):
        plan_jobs([str(tmp_path / "in")], str(tmp_path / "in"))
    with pytest.raises(DenoiserError, match="no such file"):
        plan_jobs([str(tmp_path / "missing.wav")], str(tmp_path / "o.wav"))


def _denoise(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "denoise.py"), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_folder_with_bad_files_processes_the_good_ones(runs, tmp_path):
    good = tone_in_noise(0.5)[1]
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in/good.wav", good, 16000)
    (tmp_path / "in/text.wav").write_text("this is not audio")
    (tmp_path / "in/empty.wav").write_bytes(b"")
    sf.write(tmp_path / "in/nan.wav", np.full(1000, np.nan, np.float32), 16000, subtype="FLOAT")
    r = _denoise(tmp_path / "in", "-o", tmp_path / "out", "--model", runs["dense"], cwd=tmp_path)
    assert r.returncode == 1
    assert (tmp_path / "out/good.wav").is_file()
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == ["good.wav"]  # nothing half-written
    for name, reason in (("text.wav", "not a readable audio file"), ("empty.wav", "empty file"), ("nan.wav", "NaN")):
        assert name in r.stderr and reason in r.stderr
    assert "Traceback" not in r.stderr


def test_single_bad_file_is_one_line(runs, tmp_path):
    r = _denoise(tmp_path / "missing.wav", "-o", tmp_path / "o.wav", "--model", runs["dense"], cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.strip() == f"error: {tmp_path / 'missing.wav'}: no such file or folder"
    (tmp_path / "notamodel").mkdir()
    sf.write(tmp_path / "a.wav", tone_in_noise(0.3)[1], 16000)
    r = _denoise(tmp_path / "a.wav", "-o", tmp_path / "o.wav", "--model", tmp_path / "notamodel", cwd=tmp_path)
    assert r.returncode == 1 and "not a model run" in r.stderr and len(r.stderr.strip().splitlines()) == 1
