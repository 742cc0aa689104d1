"""The `[filter]` and `[clips]` sections of a training profile: which samples to keep and how to cut them."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ..errors import ConfigError

CLIP_MODES = ("none", "fixed", "scenes")


@dataclass(frozen=True)
class FilterRules:
    """Thresholds of the sample filters; `None` switches a filter off."""
    min_duration_s: float | None = 1.0
    max_duration_s: float | None = None
    min_width: int | None = None           # of the upright picture (SAR and rotation applied)
    min_height: int | None = None
    min_aspect: float | None = None        # upright width / height
    max_aspect: float | None = None
    max_black_fraction: float | None = 0.5     # share of sampled frames that are (nearly) black
    black_luma: float = 24.0                   # mean luma (0-255) under which a frame counts as black
    max_static_fraction: float | None = 0.9    # share of sample-to-sample steps with no visible change
    static_diff: float = 1.0                   # mean |difference| (0-255) under which two samples are the same
    min_bits_per_pixel: float | None = 0.005   # video bitrate / (width x height x fps)

    def __post_init__(self):
        for name in ("max_black_fraction", "max_static_fraction"):
            v = getattr(self, name)
            if v is not None and not 0 <= v <= 1:
                raise ConfigError(f"[filter] {name} = {v} must be between 0 and 1")


@dataclass(frozen=True)
class ClipRules:
    """How a source is cut into clips: not at all, in fixed-length windows, or at scene changes."""
    mode: str = "none"
    length_s: float = 4.0           # fixed: window length
    min_length_s: float = 1.0       # shorter pieces are dropped (fixed: the tail; scenes: short scenes)
    max_length_s: float = 10.0      # scenes: longer scenes are split into pieces of at most this
    scene_threshold: float = 0.12   # scenes: mean |difference| of small grey frames (0-1) that marks a cut
    max_clips: int | None = None    # per source

    def __post_init__(self):
        if self.mode not in CLIP_MODES:
            raise ConfigError(f"[clips] mode = {self.mode!r} is not allowed", hint="use " + ", ".join(CLIP_MODES))
        if self.min_length_s <= 0 or self.length_s <= 0 or self.max_length_s <= 0:
            raise ConfigError("[clips] lengths must be positive")
        if self.min_length_s > self.max_length_s:
            raise ConfigError(f"[clips] min_length_s ({self.min_length_s}) is above max_length_s "
                              f"({self.max_length_s})")


def _from_table(cls, table: dict[str, Any] | None, section: str, source: str | None):
    table = dict(table or {})
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(table) - set(known))
    where = f"{source}: " if source else ""
    if unknown:
        raise ConfigError(f"{where}[{section}] has unknown field(s) {', '.join(unknown)}",
                          hint="allowed: " + ", ".join(known))
    for key, value in table.items():
        if isinstance(value, bool) or (value is not None and not isinstance(value, (int, float, str))):
            raise ConfigError(f"{where}[{section}] {key} = {value!r} has the wrong type")
    try:
        return cls(**table)
    except ConfigError as exc:
        raise ConfigError(where + exc.message, hint=exc.hint) from None
    except TypeError as exc:
        raise ConfigError(f"{where}[{section}]: {exc}") from None


def filter_rules(table: dict[str, Any] | None, source: str | None = None) -> FilterRules:
    """FilterRules from a profile's [filter] table; "off" or false for a threshold switches it off."""
    table = {k: (None if v in ("off", False) else v) for k, v in (table or {}).items()}
    return _from_table(FilterRules, table, "filter", source)


def clip_rules(table: dict[str, Any] | None, source: str | None = None) -> ClipRules:
    return _from_table(ClipRules, table, "clips", source)
