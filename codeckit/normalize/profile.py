"""A training profile: a profile (TOML, validated into a Target by `codeckit.profiles`) plus its [filter] and
[clips] tables, which only normalize reads (the profile loader leaves them alone); this declares and validates
those two (each field once: type, default, check, doc) and routes `--set filter.*` / `--set clips.*` to them."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any, Iterable

from ..errors import ConfigError
from ..profiles import apply_sets, find_profile, parse_value, read_profile, target_from_raw
from ..profiles.fields import boolean, check_declared, choice, declared, number, whole
from .cuts import DETECTORS

DEFAULT_PROFILE = "training-480p24"
NORMALIZE_SECTIONS = ("filter", "clips")
CLIP_MODES = ("none", "fixed", "scenes")

# Thresholds keep the number as written (1 stays 1, 300.0 stays 300.0): TrainingProfile.fingerprint hashes them.
_SECONDS = number(0, none_ok=True, convert=None)
_PIXELS = whole(1, 16384, none_ok=True, convert=None)
_ASPECT = number(0, 100, above=True, none_ok=True, convert=None)
_FRACTION = number(0, 1, none_ok=True, convert=None)
_LEVEL = number(0, 255, convert=None)
_LENGTH = number(0, above=True, convert=None)


@dataclass(frozen=True)
class FilterRules:
    """The [filter] table: thresholds of the source filters; `None` ("off" in a profile) switches one off."""
    min_duration_s: float | None = declared(1.0, check=_SECONDS, doc="shorter sources are dropped")
    max_duration_s: float | None = declared(None, check=_SECONDS, doc="longer sources are dropped")
    min_width: int | None = declared(None, check=_PIXELS, doc="of the upright picture (SAR and rotation applied)")
    min_height: int | None = declared(None, check=_PIXELS, doc="of the upright picture")
    min_aspect: float | None = declared(None, check=_ASPECT, doc="upright width / height")
    max_aspect: float | None = declared(None, check=_ASPECT, doc="upright width / height")
    max_black_fraction: float | None = declared(0.5, check=_FRACTION,
                                                doc="share of sampled frames that are (nearly) black")
    black_luma: float = declared(24.0, check=_LEVEL, doc="mean luma (0-255) under which a frame counts as black")
    max_static_fraction: float | None = declared(0.9, check=_FRACTION,
                                                 doc="share of sample-to-sample steps with no visible change")
    static_diff: float = declared(1.0, check=_LEVEL,
                                  doc="mean |difference| (0-255) under which two frame samples are the same")
    min_bits_per_pixel: float | None = declared(0.005, check=number(0, none_ok=True, convert=None),
                                                doc="video bitrate / (width x height x fps)")

    def __post_init__(self):
        check_declared(self, "filter")


@dataclass(frozen=True)
class ClipRules:
    """The [clips] table: how a source is cut into clips: not at all, in fixed-length windows, or at scene changes."""
    mode: str = declared("none", check=choice(CLIP_MODES), doc="none | fixed (windows) | scenes (at cuts)")
    length_s: float = declared(4.0, check=_LENGTH, doc="fixed: window length")
    min_length_s: float = declared(1.0, check=_LENGTH,
                                   doc="shorter pieces are dropped (fixed: the tail; scenes: short scenes)")
    max_length_s: float = declared(10.0, check=_LENGTH,
                                   doc="scenes: longer scenes are split into pieces of at most this")
    # adaptive: 16/16 hard cuts, no false one on bench/bench_cuts.py; content 15/16 (missed a jump cut in
    # upscaled low-resolution footage, at threshold 27 and 22); luma 15/16 with 21 false cuts in a fade
    detector: str = declared("adaptive", check=choice(DETECTORS),
                             doc="scenes: adaptive | content (PySceneDetect's AdaptiveDetector, ContentDetector; "
                                 "the `scenes` extra) | luma (codeckit's first detector, no extra)")
    content_threshold: float = declared(27.0, check=number(0, 255, above=True, convert=None),
                                        doc="scenes, content: HSV difference of consecutive frames (0-255) "
                                            "that marks a cut (PySceneDetect's default)")
    adaptive_threshold: float = declared(3.0, check=number(0, above=True, convert=None),
                                         doc="scenes, adaptive: a frame's difference over its neighbours' "
                                             "average that marks a cut (PySceneDetect's default)")
    scene_threshold: float = declared(0.12, check=number(0, 1, convert=None),
                                      doc="scenes, luma: mean |difference| of small grey frames (0-1) that marks a cut")
    min_scene_s: float = declared(0.5, check=_LENGTH,
                                  doc="scenes: a cut closer than this to the one before is a flash, not a cut")
    trim_transitions: bool = declared(True, check=boolean,
                                      doc="scenes: leave fades, dissolves and black out of every clip")
    transition_change: float = declared(12.0, check=number(0, 255, above=True, convert=None),
                                        doc="scenes: mean |difference| (0-255) of frames 0.4 s apart above "
                                            "which a blend of the two counts as a transition")
    max_clips: int | None = declared(None, check=whole(1, none_ok=True, convert=None), doc="per source; none: no limit")

    def __post_init__(self):
        check_declared(self, "clips")
        if self.min_length_s > self.max_length_s:
            err = ConfigError(f"[clips] min_length_s ({self.min_length_s}) is above max_length_s "
                              f"({self.max_length_s})", code="conflicting_fields")
            err.fields = ("min_length_s", "max_length_s")
            raise err


def _from_table(cls, table: dict[str, Any] | None, section: str, source: str | None,
                origins: dict[str, str] | None = None):
    """`origins` maps a field to the option that set it (`--set clips.length_s=2`); the rest came from `source`."""
    table = dict(table or {})
    origins = origins or {}
    known = [f.name for f in fields(cls)]
    unknown = sorted(set(table) - set(known))
    if unknown:
        where = " and ".join(dict.fromkeys(origins.get(k, source or "profile") for k in unknown))
        raise ConfigError(f"[{section}] has unknown field(s) {', '.join(unknown)}", path=where,
                          hint="allowed: " + ", ".join(known), code="unknown_field")
    try:
        return cls(**table)
    except ConfigError as exc:   # name where the value came from: the file, or the option
        named = getattr(exc, "fields", ()) or tuple(table)
        where = " and ".join(dict.fromkeys(origins.get(k, source or "profile") for k in named)) or source
        raise ConfigError(exc.message, path=where, hint=exc.hint, code=exc.code) from None


def filter_rules(table: dict[str, Any] | None, source: str | None = None,
                 origins: dict[str, str] | None = None) -> FilterRules:
    """FilterRules from a profile's [filter] table; "off" or false for a threshold switches it off."""
    table = {k: (None if v in ("off", False) else v) for k, v in (table or {}).items()}
    return _from_table(FilterRules, table, "filter", source, origins)


def clip_rules(table: dict[str, Any] | None, source: str | None = None,
               origins: dict[str, str] | None = None) -> ClipRules:
    """ClipRules from a profile's [clips] table (or the --clips option)."""
    return _from_table(ClipRules, table, "clips", source, origins)


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
    path = find_profile(name_or_file)
    raw = read_profile(path)
    ours: dict[str, dict] = {}
    for sec in NORMALIZE_SECTIONS:
        if sec in raw:
            table = raw.pop(sec)
            if not isinstance(table, dict):
                raise ConfigError(f"[{sec}] must be a table", path=path, code="invalid_value")
            ours.setdefault(sec, {}).update(table)
    theirs = []
    given: dict[str, dict[str, str]] = {sec: {} for sec in NORMALIZE_SECTIONS}  # field -> the option that set it
    for item in sets:
        key, sep, text = item.partition("=")
        section, _, field = key.strip().partition(".")
        if sep and section in NORMALIZE_SECTIONS and field:
            ours.setdefault(section, {})[field] = parse_value(text.strip())
            given[section][field] = f"--set {item}"
        else:
            theirs.append(item)
    if clips:
        ours.setdefault("clips", {}).update(clips)
        given["clips"].update(dict.fromkeys(clips, "--clips"))
    origins: dict[str, str] = {}
    apply_sets(raw, theirs, origins)
    target = target_from_raw(raw, name=path.stem, source=str(path), origins=origins)
    return TrainingProfile(name=path.stem, target=target,
                           filters=filter_rules(ours.get("filter"), str(path), given["filter"]),
                           clips=clip_rules(ours.get("clips"), str(path), given["clips"]), source=str(path))


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
                      hint="use none, fixed:SECONDS, scenes or scenes:MIN-MAX (seconds)", code="bad_option")
