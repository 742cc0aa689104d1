"""The Target (what one output should be) and its containers; every profile field is declared here, once.

Each field of VideoTarget, AudioTarget and Target carries its profile key, check and doc (`fields.declared`);
KEYS, the table of every key, is read off them. Normalization (issue 5) builds Targets the same way, so every
field has a default and `Target()` alone is a valid "H.264 in MP4, keep everything" target.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Iterable

from ..codecs import BY_NAME, CODECS, SPEEDS
from ..codecs.select import PREFERENCES
from ..codecs.table import SPEED_CHOICES, resolve_codec, speed_index
from ..errors import ConfigError
from .fields import Declared, boolean, choice, declarations, declared, number, table, text, whole

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


# ---------------------------------------------------------------- checks only a Target uses

def _codec(v):
    try:
        return resolve_codec(str(v)).name
    except ConfigError:
        raise ValueError(", ".join(CODECS)) from None


def speed_value(v):
    """A speed's canonical name (slowest .. fastest, or 0-6 given); ValueError names the choices."""
    try:
        return SPEEDS[speed_index(v)]
    except ConfigError:
        raise ValueError(SPEED_CHOICES) from None


def implementation_value(v):
    """hardware | software | an implementation name; ValueError names the choices."""
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


def _keyint(v) -> tuple[int | None, float | None]:
    """One key, two attributes: a whole number is frames (keyint), "2s" is seconds (keyint_s)."""
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


def _show_keyint(v: "VideoTarget"):
    if v.keyint is not None:
        return v.keyint
    return f"{v.keyint_s:g}s" if v.keyint_s is not None else None


_BITRATE = re.compile(r"^\d+(\.\d+)?[kKmM]?$")


def _bitrate(v):
    if isinstance(v, int) and not isinstance(v, bool) and v > 0:
        return str(v)
    if isinstance(v, str) and _BITRATE.match(v.strip()):
        return v.strip()
    raise ValueError("a bitrate such as 128k, 1.5M or 192000")


def _audio_codec(v):
    if isinstance(v, str) and v.lower() in AUDIO_CODECS:
        return v.lower()
    raise ValueError(", ".join(AUDIO_CODECS))


# ---------------------------------------------------------------- the target

@dataclass(frozen=True)
class VideoTarget:
    """The [video] table. Quality: at most one of quality, knob, vmaf decides it."""
    codec: str = declared("h264", check=_codec, doc="video codec (h264, hevc, av1, vp9, ffv1, prores)")
    quality: float | None = declared(
        None, check=number(0, 100), aliases=("quality.common",),
        doc="common 0-100 quality scale; none: 70, each encoder's usual default")
    knob: float | None = declared(
        None, check=number(0, 255), key="quality.knob", aliases=("quality.crf", "quality.cq", "quality.qp",
                                                                 "quality.q"),
        doc="a native value of the chosen encoder (CRF, CQ, QP)")
    vmaf: float | None = declared(
        None, check=number(1, 100), key="quality.vmaf",
        doc="a VMAF score to reach: a sample search finds the knob value before planning")
    speed: str = declared("medium", check=speed_value, doc="slowest .. fastest (or 0-6): the encoder's preset")
    implementation: str = declared(
        "hardware", check=implementation_value,
        doc="hardware (first, then software) | software (only) | an implementation name")
    bit_depth: int | str = declared(8, check=_bit_depth, doc="8 | 10 | source (8 or 10, as the source)")
    pix_fmt: str | None = declared(
        None, check=_pix_fmt, doc="none: the encoder's for the bit depth | source | a pix_fmt name")
    size: str = declared("keep", check=choice(SIZE_MODES),
                         doc="keep | fit (within width x height) | exact (width x height)")
    width: int | None = declared(None, check=_dimension, doc="pixels, for size fit or exact")
    height: int | None = declared(None, check=_dimension, doc="pixels, for size fit or exact")
    aspect: str = declared("pad", check=choice(ASPECT_MODES),
                           doc="exact size: pad (fit inside, bars) | crop (fill, cut the edges)")
    upscale: bool = declared(False, check=boolean, doc="fit: enlarge smaller sources too")
    fps: str | None = declared(None, check=_fps, doc="none: keep the source's timing; 30, 30000/1001")
    fps_mode: str = declared("constant", check=choice(FPS_MODES),
                             doc="with fps: constant (every output at fps) | cap (only faster sources)")
    deinterlace: str = declared("auto", check=choice(DEINTERLACE),
                                doc="auto (bwdif when interlaced) | bwdif | yadif | off")
    hdr: str = declared("keep", check=choice(HDR_MODES),
                        doc="keep (tags and 10-bit) | tonemap (to SDR BT.709) | reject")
    keyint: int | None = declared(None, check=_keyint, fills=("keyint", "keyint_s"), show=_show_keyint,
                                  doc="fixed keyframe interval: frames (48) or seconds (\"2s\")")
    keyint_s: float | None = None            # set through keyint = "2s" (seconds of the output frame rate)
    remux: bool = declared(True, check=boolean,
                           doc="stream-copy video already in the target codec and limits")


@dataclass(frozen=True)
class AudioTarget:
    """The [audio] table."""
    mode: str = declared("copy", check=choice(AUDIO_MODES),
                         doc="copy (re-encode only what the container cannot hold) | encode | drop")
    codec: str = declared("aac", check=_audio_codec, doc="audio codec when encoding")
    bitrate: str = declared("128k", check=_bitrate, doc="audio bitrate when encoding (128k, 1.5M, 192000)")
    channels: int | None = declared(None, check=whole(1, 8, none_ok=True), doc="none: as the source")
    sample_rate: int | None = declared(None, check=whole(8000, 192000, none_ok=True), doc="Hz; none: as the source")


@dataclass(frozen=True)
class Target:
    """What one output should be: video, audio, subtitles, metadata, container."""
    name: str = "custom"
    description: str = declared("", check=text, doc="one line for `codeckit profiles`")
    container: str = declared("mp4", check=choice(CONTAINERS), doc="mp4 | mov | mkv | webm")
    faststart: bool = declared(True, check=boolean,
                               doc="MP4/MOV: index at the front, playable while downloading")
    video: VideoTarget = table(VideoTarget)
    audio: AudioTarget = table(AudioTarget)
    subtitles: str = declared("copy", check=choice(SUBTITLE_MODES), key="subtitles.mode",
                              doc="copy (converted to what the container holds) | drop")
    metadata: bool = declared(True, check=boolean, key="metadata.keep",
                              doc="container and stream metadata (creation_time, title, ...)")
    chapters: bool = declared(True, check=boolean, key="metadata.chapters", doc="keep chapters")
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
        from .tables import apply_sets, target_from_raw, target_to_raw  # they build Targets: import here
        raw = target_to_raw(self)
        origins: dict[str, str] = {}
        apply_sets(raw, sets, origins)
        return target_from_raw(raw, name=self.name, source=self.source, origins=origins)


# ---------------------------------------------------------------- the key table, read off the declarations

#: Every profile key, in the order `codeckit profiles NAME` shows them.
KEYS: dict[str, Declared] = {d.key: d for d in declarations(Target)}
#: Other names of a key ("video.quality.crf" -> "video.quality.knob").
ALIASES: dict[str, str] = {alias: d.key for d in KEYS.values() for alias in d.spec.aliases}
#: The tables the keys sit in ([video], [audio], [subtitles], [metadata]).
SECTIONS = tuple(dict.fromkeys(k.split(".")[0] for k in KEYS if "." in k))
# Tables other jobs read from the same profile file: left alone here (their own code validates them).
OTHER_SECTIONS = {"filter": "codeckit normalize", "clips": "codeckit normalize"}
