"""Training material (ddae/material.py): in memory or as shards on disk (lazy), the same draws either way, and
memory that does not grow with the hours of material when lazy."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from ddae.material import Material
from ddae.normalise import Normaliser
from ddae.onthefly import AudioBatches
from ddae.settings import FeatureSettings

from conftest import ROOT


def test_lazy_material_gives_the_same_batches_as_in_memory(shared, tmp_path):
    norm = Normaliser("running", np.zeros(64), np.ones(64), 300)
    memory = Material(shared, "train")
    lazy = Material(shared, "train", cache_dir=tmp_path / "cache")
    assert lazy.hours == pytest.approx(memory.hours) and lazy.speaker_names == memory.speaker_names
    for i in range(3):
        a = AudioBatches(memory, FeatureSettings(), norm, 0, 4, 3, seed=7).batch(i)
        b = AudioBatches(lazy, FeatureSettings(), norm, 0, 4, 3, seed=7).batch(i)
        assert all(np.array_equal(p, q) for p, q in zip(a, b))


def test_shards_are_written_once_and_redone_when_a_file_changes(shared, tmp_path):
    cache = tmp_path / "cache"
    Material(shared, "val", cache_dir=cache)
    shards = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.npy")}
    assert shards and not list(cache.glob(".*"))  # no temporary files left
    Material(shared, "val", cache_dir=cache)
    assert {p.name: p.stat().st_mtime_ns for p in cache.glob("*.npy")} == shards


def _material(root, minutes):
    """speech/<speaker>/ and noise/<source>/ with `minutes` of audio in all, in files of 15 s (more material is
    more files, as in a real corpus)."""
    rng = np.random.default_rng(0)
    n = 15 * 16000
    t = np.arange(n) / 16000
    for k in range(int(minutes * 4) // 2):
        (root / "speech" / f"s{k % 6}").mkdir(parents=True, exist_ok=True)
        sf.write(root / "speech" / f"s{k % 6}" / f"u{k}.wav",
                 (0.1 * np.sin(2 * np.pi * (100 + 7 * k) * t)).astype(np.float32), 16000)
        (root / "noise" / f"src{k % 2}").mkdir(parents=True, exist_ok=True)
        sf.write(root / "noise" / f"src{k % 2}" / f"n{k}.wav", (0.05 * rng.standard_normal(n)).astype(np.float32), 16000)
    return root


_PEAK = """
import json, sys
import numpy as np
from ddae.material import Material
from ddae.normalise import Normaliser
from ddae.onthefly import AudioBatches
from ddae.settings import FeatureSettings
m = Material(sys.argv[1], "train", cache_dir=sys.argv[2] or None)
b = AudioBatches(m, FeatureSettings(), Normaliser("running", np.zeros(64), np.ones(64), 300), 0, 8, 6, seed=0)
for i in range(6):
    b.batch(i)
# VmHWM, not ru_maxrss: a child keeps the ru_maxrss of the (large) test process it was forked from
print(json.dumps(next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024))
"""


def _peak_mib(material, cache):
    r = subprocess.run([sys.executable, "-c", _PEAK, str(material), str(cache)], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_lazy_memory_stays_flat_as_the_material_grows_tenfold(tmp_path):
    small, large = _material(tmp_path / "small", 2.0), _material(tmp_path / "large", 20.0)  # 3.8 MB vs 38 MB of 16-bit
    lazy_small, lazy_large = _peak_mib(small, tmp_path / "c1"), _peak_mib(large, tmp_path / "c2")
    memory_large = _peak_mib(large, "")
    assert memory_large - lazy_large > 25  # the material itself: what the lazy mode does not hold
    assert lazy_large < lazy_small * 1.10, (lazy_small, lazy_large)
