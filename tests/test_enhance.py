"""denoise.py's file layer: outputs keep rate, channels, length and subtype; bad input never crashes."""

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from ddae.enhance import denoise_file, plan_jobs, soft_limit
from ddae.errors import DenoiserError
from ddae.runs import load_run

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


def test_odd_but_valid_files_just_work(runs, tmp_path):
    """Silence, 10 samples, clipped full scale, 6 channels at 48 kHz and 8 kHz: all denoised, shapes kept."""
    (tmp_path / "in").mkdir()
    cases = {"silence.wav": (np.zeros(16000, np.float32), 16000), "ten.wav": (np.full(10, 0.1, np.float32), 16000),
             "clipped.wav": (np.clip(tone_in_noise(0.5)[1] * 100, -1, 1), 16000),
             "six.wav": (np.stack([tone_in_noise(0.5, sr=48000, seed=c)[1] for c in range(6)], 1), 48000),
             "phone.wav": (tone_in_noise(0.5, sr=8000)[1], 8000)}
    for name, (x, sr) in cases.items():
        sf.write(tmp_path / "in" / name, x, sr, subtype="FLOAT")
    r = _denoise(tmp_path / "in", "-o", tmp_path / "out", "--model", runs["dense"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for name, (x, sr) in cases.items():
        y, sr_out = sf.read(tmp_path / "out" / name, always_2d=True)
        assert sr_out == sr and y.shape == (len(x), 1 if x.ndim == 1 else x.shape[1])
        assert np.all(np.isfinite(y)) and np.max(np.abs(y)) < 1.0
    assert np.all(sf.read(tmp_path / "out/silence.wav")[0] == 0)


@pytest.mark.parametrize("make,reason", [
    (lambda p: p.write_bytes(open(__file__, "rb").read()[:0]), "empty file"),
    (lambda p: p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt "), "not a readable audio file"),
    (lambda p: sf.write(p, np.zeros((0, 1)), 16000), "no audio"),
    (lambda p: sf.write(p, np.zeros(100), 4000), "outside the supported"),
])
def test_broken_or_unsupported_single_files_are_one_line_errors(runs, tmp_path, make, reason):
    src = tmp_path / "in.wav"
    make(src)
    before = src.read_bytes()
    r = _denoise(src, "-o", tmp_path / "out.wav", "--model", runs["dense"], cwd=tmp_path)
    assert r.returncode == 1 and reason in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav"] and src.read_bytes() == before


def test_unsupported_formats_are_refused(runs, tmp_path):
    sf.write(tmp_path / "in.wav", tone_in_noise(0.3)[1], 16000)
    r = _denoise(tmp_path / "in.wav", "-o", tmp_path / "out.mp4", "--model", runs["dense"], cwd=tmp_path)
    assert r.returncode == 1 and "output must end in .wav, .flac or .ogg" in r.stderr
    (tmp_path / "in.mp3").write_bytes(b"ID3\x03\x00\x00\x00" + bytes(100))
    r = _denoise(tmp_path / "in.mp3", "-o", tmp_path / "out.wav", "--model", runs["dense"], cwd=tmp_path)
    assert r.returncode == 1 and "unsupported format .mp3" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp3", "in.wav"]


def test_unwritable_output_folder(runs, tmp_path, dense, monkeypatch):
    sf.write(tmp_path / "in.wav", tone_in_noise(0.3)[1], 16000)
    (tmp_path / "afile").write_text("a file, not a folder")
    r = _denoise(tmp_path / "in.wav", "-o", tmp_path / "afile/out.wav", "--model", runs["dense"], cwd=tmp_path)
    assert r.returncode == 1 and "afile: cannot write there (Not a directory)" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    import tempfile

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # what a read-only folder does (tests may run as root)
    with pytest.raises(DenoiserError, match="cannot write there \\(Permission denied\\)"):
        denoise_file(dense, tmp_path / "in.wav", tmp_path / "out.wav", 20.0, 1.0)
    assert not (tmp_path / "out.wav").exists()


def test_full_disk_leaves_no_partial_file(dense, tmp_path, monkeypatch):
    import shutil

    sf.write(tmp_path / "in.wav", tone_in_noise(2.0)[1], 16000)
    (tmp_path / "out").mkdir()
    calls = {"n": 0}
    real_write = sf.SoundFile.write

    def write(self, data):
        calls["n"] += 1
        if calls["n"] == 2:  # the second block hits a full disk
            raise sf.LibsndfileError(2, "")  # libsndfile's 'System error', as on ENOSPC
        return real_write(self, data)

    monkeypatch.setattr(sf.SoundFile, "write", write)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10 ** 9, 10 ** 9, 0))
    with pytest.raises(DenoiserError, match="the disk is full"):
        denoise_file(dense, tmp_path / "in.wav", tmp_path / "out/out.wav", 20.0, 1.0, block_seconds=0.5)
    assert list((tmp_path / "out").iterdir()) == []


def test_interruption_mid_file_leaves_no_partial_output(dense, tmp_path):
    sf.write(tmp_path / "in.wav", tone_in_noise(3.0)[1], 16000)

    def ctrl_c(n):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        denoise_file(dense, tmp_path / "in.wav", tmp_path / "out.wav", 20.0, 1.0, block_seconds=0.5, on_block=ctrl_c)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav"]


def test_sigint_to_the_script_exits_130_and_leaves_nothing(runs, tmp_path):
    """A real Ctrl-C while a long file is being written: exit 130, no output, no temporary file."""
    import signal
    import time

    sr = 16000
    x = (0.05 * np.random.default_rng(0).standard_normal(sr * 60 * 20)).astype(np.float32)  # 20 minutes
    sf.write(tmp_path / "long.wav", x, sr)
    (tmp_path / "out").mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, str(ROOT / "denoise.py"), str(tmp_path / "long.wav"), "-o",
                          str(tmp_path / "out/long.wav"), "--model", str(runs["dense"]), "--block_seconds", "1",
                          "--threads", "1"],
                         cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         # a test run started in the background inherits SIGINT ignored: give the child the default
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None and not any((tmp_path / "out").iterdir()):
        time.sleep(0.01)
    assert p.poll() is None, "finished before it could be interrupted"
    time.sleep(0.05)  # 20 minutes take a few seconds even on ONNX Runtime
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert list((tmp_path / "out").iterdir()) == []
