"""Profiles: what a file should become, loaded from TOML and validated into a Target.

A profile is one TOML file (shipped ones live in `codeckit/profiles/`); a Target is the validated, typed form
that `plan.plan()` turns into an EncodeJob. Normalization (issue 5) builds Targets the same way, so every field
has a default and `Target()` alone is a valid "H.264 in MP4, keep everything" target.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterable

from .codecs import BY_NAME, CODECS, SPEEDS
from .codecs.table import resolve_codec
from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: Where the shipped profiles live (package data).
PROFILE_DIR = Path(__file__).with_name("profiles")
#: Extra folders searched for NAME.toml before the shipped ones (os.pathsep-separated).
PROFILE_PATH_ENV = "CODECKIT_PROFILE_PATH"

# ---------------------------------------------------------------- containers

@dataclass(frozen=True)
class Container:
    """What a container can hold, and how FFmpeg names it."""
    name: str
    format: str                         # FFmpeg muxer name (-f)
    extension: str
    video: frozenset[str]               # codec names (codecs.CODECS)
    audio: frozenset[str] | None        # None: any
    text_subtitles: str | None          # the codec text subtitles become ("copy": as they are); None: dropped
    bitmap_subtitles: bool              # can carry DVD/PGS/DVB subtitles as they are
    faststart: bool = False             # takes -movflags +faststart


CONTAINERS: dict[str, Container] = {c.name: c for c in (
    Container("mp4", "mp4", ".mp4", frozenset({"h264", "hevc", "av1", "vp9"}),
              frozenset({"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}), "mov_text", False, True),
    Container("mov", "mov", ".mov", frozenset({"h264", "hevc", "prores", "av1"}),
              frozenset({"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s24le"}), "mov_text", False, True),
    Container("mkv", "matroska", ".mkv", frozenset(CODECS), None, "copy", True),
    Container("webm", "webm", ".webm", frozenset({"vp9", "av1"}), frozenset({"opus", "vorbis"}), "webvtt", False),
)}

AUDIO_CODECS = ("aac", "opus", "flac", "mp3", "ac3", "eac3", "alac", "vorbis", "pcm_s16le", "pcm_s24le")
# FFmpeg encoder for each audio codec name (the native encoders where FFmpeg has one).
AUDIO_ENCODERS = {"aac": "aac", "opus": "libopus", "flac": "flac", "mp3": "libmp3lame", "ac3": "ac3",
                  "eac3": "eac3", "alac": "alac", "vorbis": "libvorbis", "pcm_s16le": "pcm_s16le",
                  "pcm_s24le": "pcm_s24le"}
LOSSLESS_AUDIO = {"flac", "alac", "pcm_s16le", "pcm_s24le"}

SIZE_MODES = ("keep", "fit", "exact")
ASPECT_MODES = ("pad", "crop")
FPS_MODES = ("constant", "cap")
DEINTERLACE = ("auto", "bwdif", "yadif", "off")
HDR_MODES = ("keep", "tonemap", "reject")
AUDIO_MODES = ("copy", "encode", "drop")
SUBTITLE_MODES = ("copy", "drop")
PREFERENCES = ("hardware", "software")


# ---------------------------------------------------------------- the target

@dataclass(frozen=True)
class VideoTarget:
    codec: str = "h264"
    # Quality: exactly one of these decides it. `quality` is the common 0-100 scale (None: 70, each encoder's
    # usual default); `knob` a native value of the chosen implementation (CRF, CQ, QP); `vmaf` a VMAF score
    # the output must reach: a search (codeckit.search, issue 4) finds the knob value before planning and
    # passes it to plan(..., knob_value=).
    quality: float | None = None
    knob: float | None = None
    vmaf: float | None = None
    speed: str = "medium"                    # SPEEDS name or "0".."6"
    implementation: str = "hardware"         # hardware (first) | software (only) | an implementation name
    bit_depth: int | str = 8                 # 8 | 10 | "source" (8 or 10, as the source)
    pix_fmt: str | None = None               # None: the encoder's for the bit depth | "source" | a pix_fmt name
    size: str = "keep"                       # keep | fit (within width x height) | exact (width x height)
    width: int | None = None
    height: int | None = None
    aspect: str = "pad"                      # exact size: pad (fit inside, bars) | crop (fill, cut the edges)
    upscale: bool = False                    # fit: enlarge smaller sources too
    fps: str | None = None                   # None: keep the source's timing; "30", "30000/1001"
    fps_mode: str = "constant"               # with fps: constant (every output at fps) | cap (only faster sources)
    deinterlace: str = "auto"                # auto (bwdif when interlaced) | bwdif | yadif | off
    hdr: str = "keep"                        # keep (tags and 10-bit) | tonemap (to SDR BT.709) | reject
    keyint: int | None = None                # fixed keyframe interval in frames
    keyint_s: float | None = None            # ... or in seconds (of the output frame rate)
    remux: bool = True                       # stream-copy video already in the target codec and limits


@dataclass(frozen=True)
class AudioTarget:
    mode: str = "copy"                       # copy (re-encode only what the container cannot hold) | encode | drop
    codec: str = "aac"
    bitrate: str = "128k"
    channels: int | None = None              # None: as the source
    sample_rate: int | None = None


@dataclass(frozen=True)
class Target:
    """What one output should be: video, audio, subtitles, metadata, container."""
    name: str = "custom"
    description: str = ""
    container: str = "mp4"
    faststart: bool = True                   # MP4/MOV: index at the front, playable while downloading
    video: VideoTarget = field(default_factory=VideoTarget)
    audio: AudioTarget = field(default_factory=AudioTarget)
    subtitles: str = "copy"                  # copy (converted to what the container holds) | drop
    metadata: bool = True                    # container and stream metadata (creation_time, title, ...)
    chapters: bool = True
    source: str | None = None                # the file it was loaded from, for messages
    # tables of the file that other jobs read (OTHER_SECTIONS), not part of what this target produces
    other_sections: tuple[str, ...] = field(default=(), compare=False)

    @property
    def container_info(self) -> Container:
        return CONTAINERS[self.container]

    @property
    def extension(self) -> str:
        return CONTAINERS[self.container].extension

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("source")
        d.pop("other_sections")
        return d

    def fingerprint(self) -> str:
        """Identifies what this target produces (not its name or file): for journals and caches."""
        d = self.to_dict()
        d.pop("name")
        d.pop("description")
        text = json.dumps(d, sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    def with_overrides(self, sets: Iterable[str]) -> "Target":
        """This target with `key=value` overrides applied (as `--set` does), validated again."""
        raw = target_to_raw(self)
        origins: dict[str, str] = {}
        apply_sets(raw, sets, origins)
        return target_from_raw(raw, name=self.name, source=self.source, origins=origins)


# ---------------------------------------------------------------- fields and their validation

def _fail(key: str, value: Any, allowed: str, origins: dict[str, str], source: str | None,
          problem: str = "is not allowed") -> ConfigError:
    where = origins.get(key) or source or "profile"
    return ConfigError(f"{key} = {value!r} {problem}", path=where, hint=f"allowed: {allowed}")


def _choice(options: Iterable[str]):
    options = tuple(options)

    def check(v):
        if isinstance(v, str) and v.strip().lower() in options:
            return v.strip().lower()
        raise ValueError(", ".join(options))
    return check


def _bool(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false", "yes", "no", "on", "off", "1", "0"):
        return v.lower() in ("true", "yes", "on", "1")
    raise ValueError("true, false")


def _int_range(lo: int, hi: int, none_ok: bool = False):
    def check(v):
        if none_ok and v in (None, "none", "auto"):
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v or not lo <= v <= hi:
            raise ValueError(f"a whole number from {lo} to {hi}" + (" (or \"none\")" if none_ok else ""))
        return int(v)
    return check


def _number(lo: float, hi: float):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
            raise ValueError(f"a number from {lo:g} to {hi:g}")
        return float(v)
    return check


def _codec(v):
    try:
        return resolve_codec(str(v)).name
    except ConfigError:
        raise ValueError(", ".join(CODECS)) from None


def _speed(v):
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < len(SPEEDS):
        return SPEEDS[v]
    if isinstance(v, str) and v.strip().lower() in SPEEDS:
        return v.strip().lower()
    if isinstance(v, str) and v.strip().isdigit() and int(v) < len(SPEEDS):
        return SPEEDS[int(v)]
    raise ValueError(", ".join(SPEEDS) + f", or 0-{len(SPEEDS) - 1}")


def _implementation(v):
    if isinstance(v, str) and (v.lower() in PREFERENCES or v in BY_NAME):
        return v.lower() if v.lower() in PREFERENCES else v
    raise ValueError("hardware, software, or an implementation name (" + ", ".join(BY_NAME) + ")")


def _bit_depth(v):
    if v in (8, 10):
        return v
    if isinstance(v, str) and v.strip().lower() in ("8", "10", "source"):
        s = v.strip().lower()
        return s if s == "source" else int(s)
    raise ValueError("8, 10, source")


_PIX_FMT = re.compile(r"^[a-z0-9_]+$")


def _pix_fmt(v):
    if v in (None, "", "auto", "none"):
        return None
    if isinstance(v, str) and _PIX_FMT.match(v):
        return v
    raise ValueError("a pixel format name (yuv420p, yuv420p10le, yuv422p10le, ...), \"source\" or \"auto\"")


def _dimension(v):
    if v in (None, "none"):
        return None
    if isinstance(v, int) and not isinstance(v, bool) and 16 <= v <= 16384:
        return v
    raise ValueError("a whole number of pixels from 16 to 16384")


def _fps(v):
    if v in (None, "keep", "source"):
        return None
    try:
        if isinstance(v, bool):
            raise ValueError
        f = Fraction(str(v)) if not isinstance(v, float) else Fraction(v).limit_denominator(1001)
    except (ValueError, ZeroDivisionError):
        raise ValueError("keep, or a frame rate such as 30, 29.97 or 30000/1001") from None
    if not 1 <= f <= 480:
        raise ValueError("keep, or a frame rate from 1 to 480")
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


_BITRATE = re.compile(r"^\d+(\.\d+)?[kKmM]?$")


def _bitrate(v):
    if isinstance(v, int) and not isinstance(v, bool) and v > 0:
        return str(v)
    if isinstance(v, str) and _BITRATE.match(v.strip()):
        return v.strip()
    raise ValueError("a bitrate such as 128k, 1.5M or 192000")


def _text(v):
    if isinstance(v, str):
        return v
    raise ValueError("a string")


def _audio_codec(v):
    if isinstance(v, str) and v.lower() in AUDIO_CODECS:
        return v.lower()
    raise ValueError(", ".join(AUDIO_CODECS))


# key -> (validator, attribute path on Target). Order is the order `codeckit profiles NAME` shows.
FIELDS: dict[str, tuple[Callable[[Any], Any], tuple[str, ...]]] = {
    "description": (_text, ("description",)),
    "container": (_choice(CONTAINERS), ("container",)),
    "faststart": (_bool, ("faststart",)),
    "video.codec": (_codec, ("video", "codec")),
    "video.quality": (_number(0, 100), ("video", "quality")),
    "video.quality.knob": (_number(0, 255), ("video", "knob")),
    "video.quality.vmaf": (_number(1, 100), ("video", "vmaf")),
    "video.speed": (_speed, ("video", "speed")),
    "video.implementation": (_implementation, ("video", "implementation")),
    "video.bit_depth": (_bit_depth, ("video", "bit_depth")),
    "video.pix_fmt": (_pix_fmt, ("video", "pix_fmt")),
    "video.size": (_choice(SIZE_MODES), ("video", "size")),
    "video.width": (_dimension, ("video", "width")),
    "video.height": (_dimension, ("video", "height")),
    "video.aspect": (_choice(ASPECT_MODES), ("video", "aspect")),
    "video.upscale": (_bool, ("video", "upscale")),
    "video.fps": (_fps, ("video", "fps")),
    "video.fps_mode": (_choice(FPS_MODES), ("video", "fps_mode")),
    "video.deinterlace": (_choice(DEINTERLACE), ("video", "deinterlace")),
    "video.hdr": (_choice(HDR_MODES), ("video", "hdr")),
    "video.keyint": (None, ("video", "keyint")),          # frames, or "2s"; checked in _keyint
    "video.remux": (_bool, ("video", "remux")),
    "audio.mode": (_choice(AUDIO_MODES), ("audio", "mode")),
    "audio.codec": (_audio_codec, ("audio", "codec")),
    "audio.bitrate": (_bitrate, ("audio", "bitrate")),
    "audio.channels": (_int_range(1, 8, none_ok=True), ("audio", "channels")),
    "audio.sample_rate": (_int_range(8000, 192000, none_ok=True), ("audio", "sample_rate")),
    "subtitles.mode": (_choice(SUBTITLE_MODES), ("subtitles",)),
    "metadata.keep": (_bool, ("metadata",)),
    "metadata.chapters": (_bool, ("chapters",)),
}
# Names the native knob may be given under in `quality = { crf = 23 }`.
KNOB_ALIASES = ("knob", "crf", "cq", "qp", "q")
SECTIONS = ("video", "audio", "subtitles", "metadata")
# Tables other jobs read from the same profile file: left alone here (their own code validates them).
OTHER_SECTIONS = {"filter": "codeckit normalize", "clips": "codeckit normalize"}


def _keyint(v) -> tuple[int | None, float | None]:
    if v in (None, "none", "auto", 0):
        return None, None
    if isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 10000:
        return v, None
    if isinstance(v, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*s\s*", v)
        if m and 0 < float(m.group(1)) <= 600:
            return None, float(m.group(1))
        if v.strip().isdigit() and 1 <= int(v) <= 10000:
            return int(v), None
    raise ValueError("a number of frames (e.g. 48), seconds such as \"2s\", or \"none\"")


def _flatten(raw: dict, origins: dict[str, str], source: str | None) -> dict[str, Any]:
    """The profile's nested tables as dotted keys; unknown keys are errors that list the known ones."""
    flat: dict[str, Any] = {}
    known_top = [k for k in FIELDS if "." not in k] + list(SECTIONS) + list(OTHER_SECTIONS) + ["name"]
    for key, value in raw.items():
        if key in SECTIONS and isinstance(value, dict):
            for sub, v in value.items():
                dotted = f"{key}.{sub}"
                if dotted == "video.quality" and isinstance(v, dict):
                    flat.update(_quality_table(v, origins, source))
                elif dotted in FIELDS:
                    flat[dotted] = v
                else:
                    known = [k.split(".", 1)[1] for k in FIELDS if k.startswith(key + ".")
                             and k.count(".") == 1]
                    raise _fail(dotted, v, ", ".join(sorted(set(known))), origins, source,
                                problem="is not a known field")
        elif key in SECTIONS:
            raise _fail(key, value, f"a [{key}] table", origins, source, problem="must be a table")
        elif key in OTHER_SECTIONS and isinstance(value, dict):
            continue
        elif key in FIELDS or key == "name":
            flat[key] = value
        else:
            raise _fail(key, value, ", ".join(known_top), origins, source, problem="is not a known field")
    return flat


def _quality_table(table: dict, origins, source) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in table.items():
        if k == "vmaf":
            out["video.quality.vmaf"] = v
            origins.setdefault("video.quality.vmaf", origins.get("video.quality", source or "profile"))
        elif k in KNOB_ALIASES:
            out["video.quality.knob"] = v
            origins.setdefault("video.quality.knob", origins.get("video.quality", source or "profile"))
        elif k == "common":
            out["video.quality"] = v
        else:
            raise _fail(f"video.quality.{k}", v, "vmaf, knob (or crf, cq, qp), common", origins, source,
                        problem="is not a known field")
    return out


def target_from_raw(raw: dict, *, name: str = "custom", source: str | None = None,
                    origins: dict[str, str] | None = None) -> Target:
    """Validate a profile's parsed TOML (nested tables) into a Target.

    Raises ConfigError naming the file (or the --set option) that gave the value, the field, and the allowed
    values.
    """
    origins = dict(origins or {})
    flat = _flatten(raw, origins, source)
    values: dict[tuple[str, ...], Any] = {}
    for key, value in flat.items():
        if key == "name":
            continue
        if key == "video.keyint":
            try:
                frames, seconds = _keyint(value)
            except ValueError as exc:
                raise _fail(key, value, str(exc), origins, source) from None
            values[("video", "keyint")] = frames
            values[("video", "keyint_s")] = seconds
            continue
        check, attr = FIELDS[key]
        try:
            values[attr] = check(value)
        except ValueError as exc:
            raise _fail(key, value, str(exc), origins, source) from None

    video = replace(VideoTarget(), **{a[1]: v for a, v in values.items() if a[0] == "video"})
    audio = replace(AudioTarget(), **{a[1]: v for a, v in values.items() if a[0] == "audio"})
    top = {a[0]: v for a, v in values.items() if len(a) == 1}
    others = tuple(k for k in OTHER_SECTIONS if isinstance(raw.get(k), dict))
    target = Target(name=str(raw.get("name") or name), video=video, audio=audio, source=source,
                    other_sections=others, **top)
    _check_consistency(target, flat, origins, source)
    return target


def _check_consistency(t: Target, flat: dict, origins: dict[str, str], source: str | None) -> None:
    v = t.video
    cont = CONTAINERS[t.container]
    if v.codec not in cont.video:
        holders = [c.name for c in CONTAINERS.values() if v.codec in c.video]
        raise _fail("container", t.container, ", ".join(holders) + f" (for {v.codec})", origins, source,
                    problem=f"cannot hold {v.codec} video")
    if t.audio.mode == "encode" and cont.audio is not None and t.audio.codec not in cont.audio:
        raise _fail("audio.codec", t.audio.codec, ", ".join(sorted(cont.audio)) + f" (in {t.container})",
                    origins, source, problem=f"cannot go into {t.container}")
    if v.implementation not in PREFERENCES and BY_NAME[v.implementation].codec != v.codec:
        same = [i for i in BY_NAME.values() if i.codec == v.codec]
        raise _fail("video.implementation", v.implementation,
                    "hardware, software, " + ", ".join(i.name for i in same), origins, source,
                    problem=f"does not encode {v.codec}")
    given = [k for k in ("video.quality", "video.quality.knob", "video.quality.vmaf") if k in flat]
    if len(given) > 1:
        raise _fail(given[1], flat[given[1]], "one of quality = N (0-100), quality = { knob = N }, "
                    "quality = { vmaf = N }", origins, source, problem=f"conflicts with {given[0]}")
    if v.size in ("fit", "exact") and (v.width is None or v.height is None):
        missing = "video.width" if v.width is None else "video.height"
        raise _fail(missing, None, f"a number of pixels (needed by video.size = {v.size!r})", origins, source,
                    problem="is missing")
    if v.size in ("fit", "exact") and (v.width % 2 or v.height % 2):
        key = "video.width" if v.width % 2 else "video.height"
        raise _fail(key, getattr(v, key.split(".")[1]), "an even number of pixels", origins, source,
                    problem="is odd")
    if v.keyint is not None and v.keyint_s is not None:  # pragma: no cover - one field sets both
        raise _fail("video.keyint", v.keyint, "frames or seconds, not both", origins, source)


# ---------------------------------------------------------------- --set

def parse_value(text: str) -> Any:
    """A `--set` value: TOML when it parses (numbers, booleans, quoted strings, tables), else the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_sets(raw: dict, sets: Iterable[str], origins: dict[str, str]) -> dict:
    """Apply `key=value` overrides (dotted keys: video.quality=80, audio.mode=drop) to a parsed profile."""
    for item in sets:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r} is not key=value", hint="e.g. --set video.quality=80")
        parts = key.split(".")
        value = parse_value(text.strip())
        known = set(FIELDS) | {"video.keyint"} | {f"video.quality.{a}" for a in KNOB_ALIASES}
        if parts[0] in OTHER_SECTIONS and len(parts) > 1:
            raise ConfigError(f"--set {key}: [{parts[0]}] is read by {OTHER_SECTIONS[parts[0]]} only")
        if key not in known:
            raise ConfigError(f"--set {key}: not a known field", path=None,
                              hint="known: " + ", ".join(sorted(set(FIELDS) - {"video.quality.knob"})))
        if key.startswith("video.quality"):
            video = raw.setdefault("video", {})
            video.pop("quality", None)   # one way of giving quality replaces the other
            if key == "video.quality":
                video["quality"] = value
            else:
                video["quality"] = {parts[2]: value}
            origins["video.quality"] = f"--set {item}"
            origins[key if parts[-1] in ("vmaf", "common") else "video.quality.knob"] = f"--set {item}"
            continue
        node = raw
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
        origins[key] = f"--set {item}"
    return raw


def target_to_raw(t: Target) -> dict:
    """A Target as the nested tables of a profile (the inverse of target_from_raw)."""
    v = t.video
    video: dict[str, Any] = {}
    for key, (_, attr) in FIELDS.items():
        if attr[0] != "video":
            continue
        value = getattr(v, attr[1])
        if key.startswith("video.quality") or value is None:
            continue
        video[key.split(".")[1]] = value
    if v.keyint is not None:
        video["keyint"] = v.keyint
    elif v.keyint_s is not None:
        video["keyint"] = f"{v.keyint_s:g}s"
    if v.vmaf is not None:
        video["quality"] = {"vmaf": v.vmaf}
    elif v.knob is not None:
        video["quality"] = {"knob": v.knob}
    elif v.quality is not None:
        video["quality"] = v.quality
    audio = {k: val for k, val in asdict(t.audio).items() if val is not None}
    return {"name": t.name, "description": t.description, "container": t.container, "faststart": t.faststart,
            "video": video, "audio": audio, "subtitles": {"mode": t.subtitles},
            "metadata": {"keep": t.metadata, "chapters": t.chapters}}


# ---------------------------------------------------------------- loading

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
                              hint="give a TOML file, or one of: " + ", ".join(profile_names()))
        return p
    for d in _search_dirs():
        candidate = d / f"{text}.toml"
        if candidate.is_file():
            return candidate
    raise ConfigError(f"unknown profile {text!r}", hint="known profiles: " + ", ".join(profile_names()))


def read_profile(path: Path) -> dict[str, Any]:
    """A profile file's raw TOML tables; ConfigError naming the file when it cannot be read or parsed."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"is not valid TOML: {exc}", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", path=path) from None


def load_profile(name_or_file: str | os.PathLike, sets: Iterable[str] = ()) -> Target:
    """Load, override (`key=value` strings, as --set) and validate a profile into a Target."""
    path = find_profile(name_or_file)
    raw = read_profile(path)
    origins: dict[str, str] = {}
    apply_sets(raw, sets, origins)
    return target_from_raw(raw, name=path.stem, source=str(path), origins=origins)


def describe_target(t: Target) -> dict[str, Any]:
    """Every field with its value, as dotted keys (for `codeckit profiles NAME`)."""
    out: dict[str, Any] = {}
    for key, (_, attr) in FIELDS.items():
        obj: Any = t
        for a in attr:
            obj = getattr(obj, a)
        out[key] = obj
    out["video.keyint"] = t.video.keyint if t.video.keyint is not None else (
        f"{t.video.keyint_s:g}s" if t.video.keyint_s is not None else None)
    return out


__all__ = ["AUDIO_CODECS", "AUDIO_ENCODERS", "CONTAINERS", "Container", "AudioTarget", "Target", "VideoTarget",
           "apply_sets", "describe_target", "find_profile", "load_profile", "parse_value", "profile_names",
           "target_from_raw", "target_to_raw"]
