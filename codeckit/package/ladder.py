"""Bitrate ladders: named static ladders shipped as TOML, user ladders from a file, and the rungs a source gets."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import ConfigError, PlanError
from ..probe import MediaInfo, VideoStreamInfo
from ..stream_args import _bits_per_s
from ..video_filters import even

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: The shipped ladders (package data: codeckit/package/ladders/*.toml).
LADDER_DIR = Path(__file__).parent / "ladders"


@dataclass(frozen=True)
class Rung:
    """One rendition: its picture size (upright, what the player shows), the bitrate cap and the knob."""
    width: int
    height: int
    bitrate: int                    # bits/s: the cap (maxrate); the ladder's average for static ladders
    knob: float | None = None       # the encoder's native quality value (per-title); None: the ladder's quality

    @property
    def name(self) -> str:
        return f"{self.height}p-{self.bitrate // 1000}k"

    def to_dict(self) -> dict:
        return {"width": self.width, "height": self.height, "bitrate": self.bitrate, "knob": self.knob}


@dataclass(frozen=True)
class Ladder:
    name: str
    title: str
    codec: str                      # the codec the bitrates are written for
    rungs: tuple[Rung, ...]
    quality: float = 70.0           # common 0-100 quality of the capped CRF/CQ
    bufsize_factor: float = 2.0
    bitrate_factor: dict = field(default_factory=dict)

    def for_codec(self, codec: str) -> "Ladder":
        """The same rungs with bitrates for `codec` (the ladder's own factor table)."""
        if codec == self.codec:
            return self
        factor = float(self.bitrate_factor.get(codec, 1.0)) / float(self.bitrate_factor.get(self.codec, 1.0))
        rungs = tuple(replace(r, bitrate=int(round(r.bitrate * factor))) for r in self.rungs)
        return replace(self, codec=codec, rungs=rungs)


def ladder_names() -> list[str]:
    return sorted(p.stem for p in LADDER_DIR.glob("*.toml"))


def load_ladder(name_or_path: str | Path) -> Ladder:
    """A shipped ladder by name (apple, apple-hevc) or a ladder TOML file (same shape)."""
    p = Path(name_or_path)
    if not (p.suffix == ".toml" and p.is_file()):
        p = LADDER_DIR / f"{name_or_path}.toml"
        if not p.is_file():
            raise ConfigError(f"unknown ladder {str(name_or_path)!r}",
                              hint="shipped: " + ", ".join(ladder_names()) + ", per-title, or a FILE.toml")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the ladder: {exc}", path=p) from exc
    return _ladder_from_raw(raw, p)


def _ladder_from_raw(raw: dict, path: Path) -> Ladder:
    rungs = []
    for i, r in enumerate(raw.get("rung", [])):
        try:
            w, h, rate = int(r["width"]), int(r["height"]), _bits_per_s(str(r["bitrate"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise ConfigError(f"rung {i + 1} needs width, height and bitrate (e.g. \"2000k\"): {exc}",
                              path=path) from exc
        if w <= 0 or h <= 0 or rate <= 0:
            raise ConfigError(f"rung {i + 1}: width, height and bitrate must be positive", path=path)
        rungs.append(Rung(w, h, int(rate), r.get("knob")))
    if not rungs:
        raise ConfigError("the ladder has no [[rung]] entries", path=path)
    rungs.sort(key=lambda r: (r.height * r.width, r.bitrate))
    return Ladder(name=str(raw.get("name", path.stem)), title=str(raw.get("title", path.stem)),
                  codec=str(raw.get("codec", "h264")), rungs=tuple(rungs), quality=float(raw.get("quality", 70)),
                  bufsize_factor=float(raw.get("bufsize_factor", 2.0)),
                  bitrate_factor=dict(raw.get("bitrate_factor", {})))


def fit_size(v: VideoStreamInfo, box_w: int, box_h: int) -> tuple[int, int]:
    """The rung's picture for this source: the source's display aspect (SAR and rotation applied) fitted in
    the rung's box (turned for portrait sources), even dimensions."""
    sw, sh = v.upright_width, v.upright_height
    if sh > sw and box_w > box_h:  # a portrait source fills the box turned on its side
        box_w, box_h = box_h, box_w
    scale = min(box_w / sw, box_h / sh)
    return max(2, even(sw * scale)), max(2, even(sh * scale))


def select_rungs(info: MediaInfo, ladder: Ladder, *, max_height: int | None = None,
                 count: int | None = None) -> list[Rung]:
    """The rungs this source gets, lowest first: sized to its display aspect, none above the source (never
    upscaled), none taller than `max_height`, and `count` of them spread over the rest (top and bottom kept).
    A source smaller than every rung gets one rung at its own size with the lowest rung's bitrate."""
    v = info.primary_video
    if v is None:
        raise PlanError("has no video stream to package", path=info.path, code="no_video")
    src_w, src_h = even(v.upright_width), even(v.upright_height)
    out: list[Rung] = []
    for r in ladder.rungs:
        w, h = fit_size(v, r.width, r.height)
        if w > src_w or h > src_h or (max_height and min(w, h) > max_height):
            continue
        out.append(replace(r, width=w, height=h))
    if not out:
        out = [replace(ladder.rungs[0], width=src_w, height=src_h)]
    if count and count < len(out):
        out = _spread(out, count)
    return out


def _spread(rungs: list[Rung], count: int) -> list[Rung]:
    if count == 1:
        return [rungs[-1]]
    picks = sorted({round(i * (len(rungs) - 1) / (count - 1)) for i in range(count)})
    return [rungs[i] for i in picks]


__all__ = ["LADDER_DIR", "Ladder", "Rung", "fit_size", "ladder_names", "load_ladder", "select_rungs"]
