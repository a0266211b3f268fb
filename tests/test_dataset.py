import numpy as np
import pytest

from ddae.audio import write_audio
from ddae.dataset import SPLITS, extract_feature_set, load_feature_set, load_pair, pair_files, split_names
from ddae.errors import DenoiserError
from ddae.settings import FeatureSettings


def _wav(path, n=1600, sr=16000, channels=1):
    x = np.random.default_rng(len(str(path))).uniform(-0.1, 0.1, (n, channels)).astype(np.float32)
    write_audio(path, x[:, 0] if channels == 1 else x, sr)


def test_pairs_by_relative_path_including_subfolders(tmp_path):
    for rel in ("a.wav", "sub/b.wav"):
        _wav(tmp_path / "clean" / rel)
        _wav(tmp_path / "noisy" / rel)
    pairs = pair_files(tmp_path / "clean", tmp_path / "noisy")
    assert [rel for _, _, rel in pairs] == ["a.wav", "sub/b.wav"]
    assert pairs[1][1] == tmp_path / "noisy" / "sub" / "b.wav"


def test_unmatched_files_are_listed(tmp_path):
    _wav(tmp_path / "clean" / "a.wav")
    _wav(tmp_path / "clean" / "only_clean.wav")
    _wav(tmp_path / "noisy" / "a.wav")
    _wav(tmp_path / "noisy" / "only_noisy.wav")
    with pytest.raises(DenoiserError, match="only_clean.wav") as e:
        pair_files(tmp_path / "clean", tmp_path / "noisy")
    assert "only_noisy.wav" in str(e.value)


def test_missing_and_empty_folders_are_errors(tmp_path):
    with pytest.raises(DenoiserError, match="no such folder"):
        pair_files(tmp_path / "nope", tmp_path)
    (tmp_path / "c").mkdir()
    (tmp_path / "n").mkdir()
    with pytest.raises(DenoiserError, match="no audio files"):
        pair_files(tmp_path / "c", tmp_path / "n")


def test_splits_are_disjoint_complete_and_seeded():
    names = [f"u{i:02d}.wav" for i in range(30)]
    a = split_names(names, 0.1, 0.2, seed=5)
    assert sorted(sum(a.values(), [])) == names
    assert len(a["val"]) == 3 and len(a["test"]) == 6
    assert a == split_names(list(reversed(names)), 0.1, 0.2, seed=5)
    assert a != split_names(names, 0.1, 0.2, seed=6)
    with pytest.raises(DenoiserError):
        split_names(["a", "b"], 0.1, 0.1, 0)


def test_mismatched_pair_lengths_are_an_error(tmp_path):
    _wav(tmp_path / "c.wav", n=16000)
    _wav(tmp_path / "n.wav", n=8000)
    with pytest.raises(DenoiserError, match="not a matching pair"):
        load_pair(tmp_path / "c.wav", tmp_path / "n.wav", FeatureSettings())


def test_other_rates_and_channels_are_resampled_and_averaged(tmp_path):
    _wav(tmp_path / "c.wav", n=44100, sr=44100, channels=2)
    _wav(tmp_path / "n.wav", n=44100, sr=44100, channels=2)
    clean, noisy = load_pair(tmp_path / "c.wav", tmp_path / "n.wav", FeatureSettings())
    assert clean.ndim == 1 and abs(len(clean) - 16000) <= 1 and len(clean) == len(noisy)


def test_feature_set_layout(feature_dir):
    total = 0
    for split in SPLITS:
        fs = load_feature_set(feature_dir, split)
        assert fs.noisy.shape == fs.clean.shape and fs.noisy.shape[1] == 64
        assert fs.lengths.sum() == len(fs.noisy) and len(fs.files) == len(fs.lengths) > 0
        total += len(fs.files)
    assert total == 8
    sets = [set(load_feature_set(feature_dir, s).files) for s in SPLITS]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert FeatureSettings.load(feature_dir) == FeatureSettings()


def test_bad_pairs_are_all_listed_and_nothing_is_written(tmp_path):
    for name in ("a", "b", "c", "d"):
        _wav(tmp_path / "clean" / f"{name}.wav")
        _wav(tmp_path / "noisy" / f"{name}.wav")
    (tmp_path / "noisy" / "b.wav").write_bytes(b"")
    (tmp_path / "clean" / "c.wav").write_text("not audio")
    with pytest.raises(DenoiserError) as e:
        extract_feature_set(pair_files(tmp_path / "clean", tmp_path / "noisy"), tmp_path / "feats", FeatureSettings(),
                            0.25, 0.25, 0)
    assert "2 of 4 pair(s)" in str(e.value) and "b.wav: empty file" in str(e.value) and "c.wav: not a readable" in str(e.value)
    assert not (tmp_path / "feats").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["clean", "noisy"]


def test_split_by_folder_keeps_each_folder_in_one_split():
    names = [f"spk{s}/u{u}.wav" for s in range(10) for u in range(5)]
    splits = split_names(names, 0.2, 0.1, 0, split_by="folder")
    assert sorted(sum(splits.values(), [])) == sorted(names)
    where = {n.split("/")[0]: k for k, v in splits.items() for n in v}
    for k, v in splits.items():
        assert all(where[n.split("/")[0]] == k for n in v)
    assert len({n.split("/")[0] for n in splits["val"]}) == 2 and len({n.split("/")[0] for n in splits["test"]}) == 1
    with pytest.raises(DenoiserError, match="split_by"):
        split_names(names, 0.2, 0.1, 0, split_by="speaker")
