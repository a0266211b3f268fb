"""Feature settings (the one source of truth) and the command-line layer shared by every script."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from .errors import DenoiserError

SETTINGS_FILE = "feature_settings.json"


@dataclasses.dataclass(frozen=True)
class FeatureSettings:
    """How audio becomes log-mel features. Saved next to every feature set and every model."""

    sample_rate: int = 16000  # Hz; other rates are resampled (features) or mapped band by band (denoising)
    n_fft: int = 512  # FFT size in samples
    win_length: int = 400  # analysis window in samples (25 ms), Hann, centred in n_fft
    hop_length: int = 160  # frame step in samples (10 ms)
    n_mels: int = 64  # mel bands
    fmin: float = 0.0  # lowest mel-band edge in Hz
    fmax: float = 8000.0  # highest mel-band edge in Hz
    log_floor: float = 1e-14  # features are log(mel power + log_floor): finite on digital silence, below the quietest band of speech at -70 dBFS
    context_past: int = 5  # frames of past context given to the model
    context_future: int = 5  # frames of future context (0 for a causal, streamable model)

    def __post_init__(self):
        if self.hop_length <= 0 or self.win_length > self.n_fft or self.win_length < self.hop_length:
            raise DenoiserError("feature settings need 0 < hop_length <= win_length <= n_fft")
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise DenoiserError(f"feature settings need 0 <= fmin < fmax <= sample_rate/2, got {self.fmin}..{self.fmax}")
        if self.n_mels < 2 or self.log_floor <= 0 or self.context_past < 0 or self.context_future < 0:
            raise DenoiserError("feature settings need n_mels >= 2, log_floor > 0 and context frames >= 0")

    @property
    def context(self) -> int:
        return self.context_past + 1 + self.context_future

    @property
    def causal(self) -> bool:
        return self.context_future == 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureSettings":
        names = {f.name for f in dataclasses.fields(cls)}
        missing = names - set(d)
        if missing:
            raise DenoiserError(f"feature settings are missing {sorted(missing)}")
        return cls(**{k: d[k] for k in names})

    def save(self, folder: Path) -> None:
        (Path(folder) / SETTINGS_FILE).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path) -> "FeatureSettings":
        path = Path(folder) / SETTINGS_FILE
        if not path.is_file():
            raise DenoiserError(f"{path} is missing: {folder} has no feature settings")
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (ValueError, TypeError) as e:
            raise DenoiserError(f"{path} is not valid feature settings: {e}") from None

    def differences(self, other: "FeatureSettings", ignore=()) -> list[str]:
        a, b = self.to_dict(), other.to_dict()
        return [f"{k}: {a[k]} vs {b[k]}" for k in a if k not in ignore and a[k] != b[k]]


def _parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _typed(default):
    if isinstance(default, bool):
        return _parse_bool
    if isinstance(default, int):
        return int
    if isinstance(default, float):
        return float
    return str


def _join_negative_values(argv: list[str]) -> list[str]:
    """`--opt -25,10` -> `--opt=-25,10`: argparse would take a negative list for an option of its own."""
    out: list[str] = []
    for arg in argv:
        if (out and out[-1].startswith("--") and "=" not in out[-1] and len(arg) > 1 and arg[0] == "-"
                and (arg[1].isdigit() or arg[1] == ".")):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def resolve_settings(defaults: dict, doc: str | None = None, argv: list[str] | None = None, extra=None) -> dict:
    """Build a parser from a script's UPPER_CASE constants; return {UPPER_NAME: value} after overrides.

    Every constant becomes `--lower_name VALUE`, typed from its default (booleans take true/false);
    unknown options are rejected and `--help` lists every setting with its default. `extra(parser)` may
    add positional or other arguments; their values come back under their upper-cased names.
    """
    consts = {k: v for k, v in defaults.items()
              if k.isupper() and not k.startswith("_") and isinstance(v, (bool, int, float, str))}
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, value in consts.items():
        parser.add_argument(f"--{name.lower()}", type=_typed(value), default=value, metavar=type(value).__name__.upper(),
                            help=f"default: {value!r}")
    if extra is not None:
        extra(parser)
    argv = _join_negative_values(sys.argv[1:] if argv is None else argv)
    names = [n.lower() for n in consts]

    def full_name(given_name: str) -> str:  # argparse accepts unambiguous abbreviations: count them as the option
        if given_name in names:
            return given_name
        matches = [n for n in names if n.startswith(given_name)]
        return matches[0] if len(matches) == 1 else given_name

    given = [full_name(a.split("=", 1)[0][2:]) for a in argv if a.startswith("--") and len(a) > 2]
    for name in sorted({g for g in given if given.count(g) > 1 and g.upper() in consts}):
        parser.error(f"--{name} is given more than once (the last would silently win); give it once"
                     f"{', with its values comma-separated' if isinstance(consts[name.upper()], str) else ''}")
    args = parser.parse_args(argv)
    return {name.upper(): value for name, value in vars(args).items()}
