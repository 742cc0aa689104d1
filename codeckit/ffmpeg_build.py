"""The FFmpeg binary and what its build can do: which binary ($CODECKIT_FFMPEG or imageio-ffmpeg's), its version,
encoders and filters, and the options an encoder documents (`ffmpeg -h encoder=NAME`), parsed once and cached."""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Iterable

from .errors import FeatureMissing, FFmpegNotFound

#: Environment variable naming the FFmpeg binary to use instead of imageio-ffmpeg's.
FFMPEG_ENV = "CODECKIT_FFMPEG"


def ffmpeg_exe() -> str:
    """Path of the FFmpeg binary: $CODECKIT_FFMPEG if set, else the one shipped by imageio-ffmpeg."""
    override = os.environ.get(FFMPEG_ENV)
    if override:
        found = shutil.which(override) if os.sep not in override else override
        if not found or not os.path.isfile(found) or not os.access(found, os.X_OK):
            raise FFmpegNotFound(f"{FFMPEG_ENV}={override!r} is not an executable FFmpeg binary",
                                 hint=f"point {FFMPEG_ENV} at an ffmpeg executable or unset it")
        return os.path.abspath(found)
    try:
        import imageio_ffmpeg
        exe = _known_bundled_exe() or imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:  # imageio-ffmpeg raises RuntimeError when its binary is missing
        raise FFmpegNotFound(f"no FFmpeg binary found ({exc})",
                             hint=f"pip install imageio-ffmpeg, or set {FFMPEG_ENV}") from exc
    return exe


def _known_bundled_exe() -> str | None:
    """imageio-ffmpeg's own binary when this exact file (path, size, modification time) already ran as FFmpeg
    here (build_info's cache file of it exists: written only after its `-version` answered), else None: then
    imageio_ffmpeg.get_ffmpeg_exe() decides, as it always did. get_ffmpeg_exe() runs `ffmpeg -version` once per
    process to check the binary: 10 CPU-ms for every command and every worker process, measured."""
    if os.environ.get("IMAGEIO_FFMPEG_EXE"):   # imageio's own override, which it does not check: its choice
        return None
    try:
        from imageio_ffmpeg._definitions import FNAME_PER_PLATFORM, get_platform
        from imageio_ffmpeg._utils import _get_bin_dir
        exe = os.path.join(_get_bin_dir(), FNAME_PER_PLATFORM[get_platform()])
        st = os.stat(exe)
        return exe if _build_cache_path(exe, st.st_size, st.st_mtime).is_file() else None
    except Exception:   # another imageio-ffmpeg layout, no binary of ours: ask imageio
        return None


@dataclass(frozen=True)
class FFmpegBuild:
    """What one FFmpeg binary is and what it was built with."""
    path: str
    version: str
    configuration: str
    encoders: dict[str, str]          # name -> description, video and audio
    filters: frozenset[str]
    size: int
    mtime: float

    @property
    def key(self) -> str:
        """Identifies this exact build: for caches that must be redone when FFmpeg changes."""
        return f"{self.path}|{self.version}|{self.size}|{int(self.mtime)}"

    def has_encoder(self, name: str) -> bool:
        return name in self.encoders

    def has_filter(self, name: str) -> bool:
        return name in self.filters

    def require_encoder(self, name: str) -> None:
        if name not in self.encoders:
            raise FeatureMissing(f"this FFmpeg ({self.version}, {self.path}) has no encoder {name!r}",
                                 hint=f"set {FFMPEG_ENV} to an FFmpeg built with it, or choose another encoder")

    def require_filter(self, name: str, what: str | None = None) -> None:
        if name not in self.filters:
            raise FeatureMissing(f"this FFmpeg ({self.version}, {self.path}) has no {what or name} filter {name!r}",
                                 hint=f"set {FFMPEG_ENV} to an FFmpeg built with it")


def _capture(exe: str, *args: str) -> str:
    try:
        proc = subprocess.run([exe, "-hide_banner", *args], capture_output=True, text=True,
                              errors="replace", timeout=60, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise FFmpegNotFound(f"cannot run FFmpeg at {exe}: {exc}") from exc
    return proc.stdout + proc.stderr


_ENCODER_LINE = re.compile(r"^\s([VAS])[\w.]{5}\s+(\S+)\s+(.*)$")
_FILTER_LINE = re.compile(r"^\s[\w.]{2,3}\s+(\S+)\s+\S+->\S+\s")


@functools.lru_cache(maxsize=4)
def _build_info(exe: str, size: int, mtime: float) -> FFmpegBuild:
    """From the cache file of this exact binary (path, size, modification time), else asked of FFmpeg and
    cached: the three runs cost every command about 30 CPU-ms (10 each, measured) before it starts."""
    import json
    import logging
    from .fileio import atomic_write_text
    path = _build_cache_path(exe, size, mtime)
    try:
        d = json.loads(path.read_text())
        return FFmpegBuild(path=exe, version=d["version"], configuration=d["configuration"],
                           encoders=dict(d["encoders"]), filters=frozenset(d["filters"]), size=size, mtime=mtime)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    build = _ask_build(exe, size, mtime)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({"exe": exe, "version": build.version, "configuration": build.configuration,
                                            "encoders": build.encoders, "filters": sorted(build.filters)}))
    except OSError as exc:
        logging.getLogger(__name__).warning("could not write the FFmpeg build cache %s: %s", path, exc)
    return build


def _build_cache_path(exe: str, size: int, mtime: float):
    import hashlib
    from .codecs.capability import cache_dir
    return cache_dir() / f"ffmpeg-build-{hashlib.sha1(f'{exe}|{size}|{mtime!r}'.encode()).hexdigest()[:16]}.json"


def _ask_build(exe: str, size: int, mtime: float) -> FFmpegBuild:
    version_text = _capture(exe, "-version")
    first = version_text.splitlines()[0] if version_text else ""
    m = re.match(r"ffmpeg version (\S+)", first)
    if not m:
        raise FFmpegNotFound(f"{exe} does not look like FFmpeg (it printed {first!r})")
    conf = next((ln.split(":", 1)[1].strip() for ln in version_text.splitlines()
                 if ln.startswith("configuration:")), "")
    encoders = {}
    for line in _capture(exe, "-encoders").splitlines():
        em = _ENCODER_LINE.match(line)
        if em and em.group(2) != "=":
            encoders[em.group(2)] = em.group(3).strip()
    filters = set()
    for line in _capture(exe, "-filters").splitlines():
        fm = _FILTER_LINE.match(line)
        if fm:
            filters.add(fm.group(1))
    return FFmpegBuild(path=exe, version=m.group(1), configuration=conf, encoders=encoders,
                       filters=frozenset(filters), size=size, mtime=mtime)


def build_info(exe: str | None = None) -> FFmpegBuild:
    """The build of the FFmpeg binary in use (cached per binary)."""
    exe = exe or ffmpeg_exe()
    st = os.stat(exe)
    return _build_info(exe, st.st_size, st.st_mtime)


_OPTION_LINE = re.compile(r"^  -(\S+)\s+<(\w+)>\s+\S+\s*(.*)$")
_CONST_LINE = re.compile(r"^     (\S+)\s+(-?\w+)?\s+[E.][\w.]{9,}")
_RANGE = re.compile(r"\(from (\S+) to (\S+)\)")


@dataclass(frozen=True)
class AVOption:
    """One AVOption an encoder documents in `ffmpeg -h encoder=NAME`."""
    name: str
    type: str
    min: float | None
    max: float | None
    constants: frozenset[str]


@dataclass(frozen=True)
class EncoderHelp:
    name: str
    pix_fmts: tuple[str, ...]
    options: dict[str, AVOption]


def _parse_avoptions(lines: Iterable[str]) -> dict[str, AVOption]:
    options: dict[str, AVOption] = {}
    current: dict | None = None

    def close():
        if current:
            options[current["name"]] = AVOption(current["name"], current["type"], current["min"],
                                                 current["max"], frozenset(current["consts"]))
    for line in lines:
        om = _OPTION_LINE.match(line)
        if om:
            close()
            rng = _RANGE.search(om.group(3))
            lo = hi = None
            if rng:
                lo, hi = (_num(rng.group(1)), _num(rng.group(2)))
            current = {"name": om.group(1), "type": om.group(2), "min": lo, "max": hi, "consts": set()}
            continue
        cm = _CONST_LINE.match(line)
        if cm and current is not None:
            current["consts"].add(cm.group(1))
    close()
    return options


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:  # INT_MAX, FLT_MAX, I64_MAX, ... : unbounded for our purposes
        return None


@functools.lru_cache(maxsize=64)
def encoder_help(name: str, exe: str | None = None) -> EncoderHelp:
    """Parse `ffmpeg -h encoder=NAME`: the encoder's pixel formats and private options."""
    exe = exe or ffmpeg_exe()
    text = _capture(exe, "-h", f"encoder={name}")
    if f"Codec '{name}' is not recognized" in text or "is not recognized by FFmpeg" in text:
        raise FeatureMissing(f"this FFmpeg has no encoder {name!r}")
    pix_fmts: tuple[str, ...] = ()
    for line in text.splitlines():
        if "Supported pixel formats:" in line:
            pix_fmts = tuple(line.split(":", 1)[1].split())
    return EncoderHelp(name=name, pix_fmts=pix_fmts, options=_parse_avoptions(text.splitlines()))


@functools.lru_cache(maxsize=2)
def codec_context_options(exe: str | None = None) -> dict[str, AVOption]:
    """Generic AVCodecContext options every encoder takes (b, g, bf, global_quality, ...)."""
    exe = exe or ffmpeg_exe()
    text = _capture(exe, "-h", "full")
    lines = text.splitlines()
    try:
        start = next(i for i, ln in enumerate(lines) if ln.startswith("AVCodecContext AVOptions"))
    except StopIteration:
        return {}
    end = next((i for i in range(start + 1, len(lines)) if lines[i].endswith("AVOptions:")), len(lines))
    return _parse_avoptions(lines[start + 1:end])
