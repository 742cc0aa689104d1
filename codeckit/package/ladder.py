"""Bitrate ladders: named static ladders shipped as TOML, user ladders from a file, and the rungs a source gets."""
from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ConfigError, PlanError
from ..probe import MediaInfo, VideoStreamInfo
from ..profiles.fields import check_declared, choice, declarations, declared, number, text, whole
from ..stream_args import _bits_per_s
from ..video_filters import even

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: The shipped ladders (package data: codeckit/package/ladders/*.toml).
LADDER_DIR = Path(__file__).parent / "ladders"


def _rate(v) -> int:
    """A bitrate: bits/s as a number, or a string with k/M ("2000k", "2.5M")."""
    try:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            rate = float(v)
        elif isinstance(v, str):
            rate = _bits_per_s(v)
        else:
            raise TypeError
    except (TypeError, ValueError):
        raise ValueError('bits/s, a number or a string such as "2000k" or "2.5M"') from None
    if not (0 < rate < float("inf")):
        raise ValueError("a positive bitrate")
    return int(round(rate))


def _factors(v) -> dict:
    """[bitrate_factor]: codec -> how many bits it needs for the same quality as the ladder's codec."""
    check = number(0, above=True)
    if not isinstance(v, dict) or any(k not in CODECS for k in v):
        raise ValueError(f"a table of codec = factor ({', '.join(CODECS)})")
    return {k: check(x) for k, x in v.items()}


#: The codecs a ladder's bitrates may be written for (and [bitrate_factor] may name).
CODECS = ("h264", "hevc", "av1", "vp9")


@dataclass(frozen=True)
class Rung:
    """One rendition: its picture size (upright, what the player shows), the bitrate cap and the knob."""
    width: int = declared(check=whole(1), doc="picture width (the box the source's aspect is fitted in)")
    height: int = declared(check=whole(1), doc="picture height")
    # bits/s: the cap (maxrate); the ladder's average for static ladders
    bitrate: int = declared(check=_rate, doc='the cap (maxrate), bits/s or "2000k"')
    # the encoder's native quality value (per-title); None: the ladder's quality
    knob: float | None = declared(None, check=lambda v: None if v is None else number(0)(v),
                                  doc="the encoder's own quality value")

    def __post_init__(self):
        check_declared(self, "rung")

    @property
    def name(self) -> str:
        return f"{self.height}p-{self.bitrate // 1000}k"

    def to_dict(self) -> dict:
        return {"width": self.width, "height": self.height, "bitrate": self.bitrate, "knob": self.knob}


@dataclass(frozen=True)
class Ladder:
    name: str = declared(check=text, doc="the ladder's name")
    title: str = declared(check=text, doc="one line saying what it is")
    codec: str = declared(check=choice(CODECS), doc="the codec the bitrates are written for")
    rungs: tuple[Rung, ...] = ()
    quality: float = declared(70.0, check=number(0, 100), doc="common 0-100 quality of the capped CRF/CQ")
    bufsize_factor: float = declared(2.0, check=number(0, above=True), doc="bufsize = this x maxrate")
    bitrate_factor: dict = declared(default_factory=dict, check=_factors,
                                    doc="codec = bits it needs for the ladder's quality, relative")

    def __post_init__(self):
        check_declared(self, "ladder")

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


def _keys(cls) -> list[str]:
    return [d.key for d in declarations(cls)]


def _checked(cls, raw: dict, path: Path, where: str, **given):
    """cls(**raw) with every declared check run; a mistake is a ConfigError naming the file and the key."""
    unknown = sorted(set(raw) - set(_keys(cls)))
    if unknown:
        raise ConfigError(f"{where}unknown key {unknown[0]!r}", path=path, code="unknown_field",
                          hint="known: " + ", ".join(_keys(cls) + (["rung"] if cls is Ladder else [])))
    try:
        return cls(**raw, **given)
    except ConfigError as exc:
        raise ConfigError(where + exc.message, path=path, hint=exc.hint, code=exc.code) from None


def _ladder_from_raw(raw: dict, path: Path) -> Ladder:
    entries = raw.pop("rung", [])
    if not isinstance(entries, list) or not all(isinstance(r, dict) for r in entries):
        raise ConfigError("rung must be a list of [[rung]] tables (width, height, bitrate)", path=path,
                          code="invalid_value")
    if not entries:
        raise ConfigError("the ladder has no [[rung]] entries", path=path)
    rungs = sorted((_checked(Rung, r, path, f"rung {i + 1}: ") for i, r in enumerate(entries)),
                   key=lambda r: (r.height * r.width, r.bitrate))
    fields = {"name": path.stem, "title": path.stem, "codec": "h264", **raw}
    return _checked(Ladder, fields, path, "", rungs=tuple(rungs))


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
    A source smaller than every rung gets one rung at its own size (its short side at most `max_height`) with
    the lowest rung's bitrate."""
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
        scale = min(1.0, max_height / min(src_w, src_h)) if max_height else 1.0
        out = [replace(ladder.rungs[0], width=max(2, even(src_w * scale)), height=max(2, even(src_h * scale)))]
    if count and count < len(out):
        out = _spread(out, count)
    return out


def _spread(rungs: list[Rung], count: int) -> list[Rung]:
    if count == 1:
        return [rungs[-1]]
    picks = sorted({round(i * (len(rungs) - 1) / (count - 1)) for i in range(count)})
    return [rungs[i] for i in picks]


__all__ = ["LADDER_DIR", "Ladder", "Rung", "fit_size", "ladder_names", "load_ladder", "select_rungs"]
