import time

from ddae.runs import new_run_name


def test_runs_started_in_the_same_second_never_share_a_log_folder(tmp_path, monkeypatch):
    """Two runs named in the same second, into different models folders, get different names and log folders."""
    monkeypatch.setattr(time, "strftime", lambda fmt: "20261207-063055")
    logs = tmp_path / "model_logs"
    first = new_run_name(3, False, "mixed", tmp_path / "models_a", logs)
    second = new_run_name(3, False, "mixed", tmp_path / "models_b", logs)
    assert first == "type3_mixed_20261207-063055"
    assert second == "type3_mixed_20261207-063055-2"
    assert sorted(p.name for p in logs.iterdir()) == [first, second]


def test_a_name_taken_in_the_models_folder_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(time, "strftime", lambda fmt: "20261207-063055")
    (tmp_path / "models" / ".type1_20261207-063055.partial").mkdir(parents=True)
    assert new_run_name(1, models_dir=tmp_path / "models") == "type1_20261207-063055-2"
