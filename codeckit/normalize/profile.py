"""A training profile: a profile (TOML, validated into a Target by `codeckit.profiles`) plus its [filter] and
[clips] tables, which only normalize reads (the profile loader leaves them alone); this validates those two
and routes `--set filter.*` / `--set clips.*` overrides to them."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Iterable

from ..errors import ConfigError
from .rules import ClipRules, FilterRules, clip_rules, filter_rules

DEFAULT_PROFILE = "training-480p24"
NORMALIZE_SECTIONS = ("filter", "clips")


@dataclass(frozen=True)
class TrainingProfile:
    name: str
    target: Any               # codeckit.profiles.Target
    filters: FilterRules
    clips: ClipRules
    source: str | None

    def fingerprint(self) -> str:
        """Changes whenever what a source becomes would change: keys the journal."""
        text = json.dumps([self.target.fingerprint(), asdict(self.filters), asdict(self.clips)], sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    @property
    def fps(self) -> float | None:
        from fractions import Fraction
        return float(Fraction(self.target.video.fps)) if self.target.video.fps else None


def load_training_profile(name_or_file: str, sets: Iterable[str] = (),
                          clips: dict[str, Any] | None = None) -> TrainingProfile:
    """Load a profile by name or file; `sets` are `key=value` overrides (`filter.*` and `clips.*` keys are
    normalize's, the rest go to the profile loader); `clips` overrides fields of [clips] (the --clips option)."""
    from ..profiles import apply_sets, find_profile, parse_value, read_profile, target_from_raw

    path = find_profile(name_or_file)
    raw = read_profile(path)
    ours: dict[str, dict] = {}
    for sec in NORMALIZE_SECTIONS:
        if sec in raw:
            table = raw.pop(sec)
            if not isinstance(table, dict):
                raise ConfigError(f"[{sec}] must be a table", path=path)
            ours.setdefault(sec, {}).update(table)
    theirs = []
    for item in sets:
        key, sep, text = item.partition("=")
        section, _, field = key.strip().partition(".")
        if sep and section in NORMALIZE_SECTIONS and field:
            ours.setdefault(section, {})[field] = parse_value(text.strip())
        else:
            theirs.append(item)
    if clips:
        ours.setdefault("clips", {}).update(clips)
    origins: dict[str, str] = {}
    apply_sets(raw, theirs, origins)
    target = target_from_raw(raw, name=path.stem, source=str(path), origins=origins)
    return TrainingProfile(name=path.stem, target=target, filters=filter_rules(ours.get("filter"), str(path)),
                           clips=clip_rules(ours.get("clips"), str(path)), source=str(path))


def parse_clips_option(text: str | None) -> dict[str, Any] | None:
    """`--clips none`, `--clips fixed:4` (seconds), `--clips scenes`, `--clips scenes:1-8` (min-max seconds)."""
    if not text:
        return None
    mode, _, arg = text.strip().partition(":")
    mode = mode.lower()
    try:
        if mode == "fixed":
            return {"mode": "fixed", **({"length_s": float(arg)} if arg else {})}
        if mode == "scenes":
            if not arg:
                return {"mode": "scenes"}
            lo, _, hi = arg.partition("-")
            return {"mode": "scenes", "min_length_s": float(lo), **({"max_length_s": float(hi)} if hi else {})}
        if mode == "none" and not arg:
            return {"mode": "none"}
    except ValueError:
        pass
    raise ConfigError(f"--clips {text!r} is not understood",
                      hint="use none, fixed:SECONDS, scenes or scenes:MIN-MAX (seconds)")
