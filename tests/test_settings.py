import json

import pytest

from ddae.errors import DenoiserError
from ddae.settings import FeatureSettings, resolve_settings

DEFAULTS = {"EPOCHS": 30, "LEARNING_RATE": 0.001, "NAME": "sample", "CAUSAL": False, "lowercase": 1, "_PRIVATE": 2}


def test_defaults_are_kept_and_typed():
    cfg = resolve_settings(DEFAULTS, argv=[])
    assert cfg == {"EPOCHS": 30, "LEARNING_RATE": 0.001, "NAME": "sample", "CAUSAL": False}


def test_overrides_are_typed_from_the_default():
    cfg = resolve_settings(DEFAULTS, argv=["--epochs", "3", "--learning_rate", "2e-4", "--name", "x", "--causal", "true"])
    assert cfg["EPOCHS"] == 3 and isinstance(cfg["EPOCHS"], int)
    assert cfg["LEARNING_RATE"] == pytest.approx(2e-4)
    assert cfg["NAME"] == "x" and cfg["CAUSAL"] is True
    assert resolve_settings(DEFAULTS, argv=["--causal", "no"])["CAUSAL"] is False


def test_negative_values_and_lists_follow_their_option():
    defaults = {"GAINS": "0", "SHIFT": 0.5}
    cfg = resolve_settings(defaults, argv=["--gains", "-25,10", "--shift", "-1.5"])
    assert cfg == {"GAINS": "-25,10", "SHIFT": -1.5}
    assert resolve_settings(defaults, argv=["--gains=-3"])["GAINS"] == "-3"


@pytest.mark.parametrize("argv", [["--bogus", "1"], ["--epochs", "three"], ["--causal", "maybe"], ["--lowercase", "2"]])
def test_bad_or_unknown_options_are_rejected(argv, capsys):
    with pytest.raises(SystemExit) as e:
        resolve_settings(DEFAULTS, argv=argv)
    assert e.value.code == 2


@pytest.mark.parametrize("argv", [["--name", "a", "--name", "b"], ["--name=a", "--epochs", "2", "--name", "b"],
                                  ["--na", "a", "--name", "b"], ["--nam=a", "--n", "b"]])
def test_an_option_given_twice_is_refused_not_silently_overridden(argv, capsys):
    with pytest.raises(SystemExit) as e:
        resolve_settings(DEFAULTS, argv=argv)
    assert e.value.code == 2
    assert "--name is given more than once" in capsys.readouterr().err
    assert resolve_settings(DEFAULTS, argv=["--name", "a,b"])["NAME"] == "a,b"
    assert resolve_settings(DEFAULTS, argv=["--na", "a", "--epochs", "2"])["NAME"] == "a"  # one abbreviation is fine


def test_help_lists_every_setting_with_its_default(capsys):
    with pytest.raises(SystemExit):
        resolve_settings(DEFAULTS, "Doc line.", argv=["--help"])
    out = capsys.readouterr().out
    for name in ("--epochs", "--learning_rate", "--name", "--causal"):
        assert name in out
    assert "default: 30" in out and "Doc line." in out


def test_feature_settings_round_trip_and_checks(tmp_path):
    s = FeatureSettings(n_mels=40, context_future=0)
    s.save(tmp_path)
    assert FeatureSettings.load(tmp_path) == s
    assert s.causal and s.context == 6
    assert FeatureSettings().differences(s) == ["n_mels: 64 vs 40", "context_future: 5 vs 0"]


def test_missing_or_partial_settings_are_refused(tmp_path):
    with pytest.raises(DenoiserError, match="missing"):
        FeatureSettings.load(tmp_path)
    d = FeatureSettings().to_dict()
    del d["n_mels"]
    (tmp_path / "feature_settings.json").write_text(json.dumps(d))
    with pytest.raises(DenoiserError, match="n_mels"):
        FeatureSettings.load(tmp_path)


def test_inconsistent_settings_are_refused():
    with pytest.raises(DenoiserError):
        FeatureSettings(win_length=1024)
    with pytest.raises(DenoiserError):
        FeatureSettings(fmax=9000.0)
