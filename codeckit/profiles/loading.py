"""Finding and reading profile files: shipped ones beside this module, then $CODECKIT_PROFILE_PATH."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterable

from ..errors import ConfigError
from .tables import apply_sets, target_from_raw
from .target import Target

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: Where the shipped profiles live (package data: codeckit/profiles/*.toml).
PROFILE_DIR = Path(__file__).parent
#: Extra folders searched for NAME.toml before the shipped ones (os.pathsep-separated).
PROFILE_PATH_ENV = "CODECKIT_PROFILE_PATH"


def _search_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get(PROFILE_PATH_ENV, "").split(os.pathsep) if p]
    return extra + [PROFILE_DIR]


def profile_names() -> list[str]:
    """Names of the profiles found (shipped ones and those on $CODECKIT_PROFILE_PATH)."""
    names = set()
    for d in _search_dirs():
        if d.is_dir():
            names.update(p.stem for p in d.glob("*.toml"))
    return sorted(names)


def find_profile(name_or_file: str | os.PathLike) -> Path:
    """The file of a profile given by name (searched) or by path."""
    text = os.fspath(name_or_file)
    p = Path(text)
    if text.endswith(".toml") or os.sep in text or (os.altsep and os.altsep in text):
        if not p.is_file():
            raise ConfigError("no such profile file", path=p,
                              hint="give a TOML file, or one of: " + ", ".join(profile_names()), code="unknown_profile")
        return p
    for d in _search_dirs():
        candidate = d / f"{text}.toml"
        if candidate.is_file():
            return candidate
    raise ConfigError(f"unknown profile {text!r}", hint="known profiles: " + ", ".join(profile_names()),
                      code="unknown_profile")


def read_profile(path: Path) -> dict[str, Any]:
    """A profile file's raw TOML tables; ConfigError naming the file when it cannot be read or parsed."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"is not valid TOML: {exc}", path=path, code="unreadable_profile") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", path=path, code="unreadable_profile") from None


def load_profile(name_or_file: str | os.PathLike, sets: Iterable[str] = ()) -> Target:
    """Load, override (`key=value` strings, as --set) and validate a profile into a Target."""
    path = find_profile(name_or_file)
    raw = read_profile(path)
    origins: dict[str, str] = {}
    apply_sets(raw, sets, origins)
    return target_from_raw(raw, name=path.stem, source=str(path), origins=origins)
