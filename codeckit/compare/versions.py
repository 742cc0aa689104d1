"""What the numbers were measured with: the FFmpeg build, each encoder's library version, libvmaf, the machine."""
from __future__ import annotations

import functools
import os
import platform
import re
import tempfile
from pathlib import Path

from ..batch import cpu_count
from ..errors import CodeckitError
from ..ffmpeg import build_info, input_url, run_ffmpeg

# Where each library says its version: x264 and x265 write it into an SEI of the stream itself, SVT-AV1,
# libaom, rav1e and libvpx print it at -loglevel info. FFmpeg's own `-encoders` list has no versions.
_VERSION_PATTERNS = (
    re.compile(rb"x264 - (core \d+(?: r\d+ [0-9a-f]+)?)"),
    re.compile(rb"x265 \(build \d+\) - ([\w.+-]+)"),
    re.compile(rb"SVT-AV1 Encoder Lib (v[\w.+-]+)"),
    re.compile(rb"libaom-av1 @ [^\]]*\] (v?[\d.]+[\w.+-]*)"),
    re.compile(rb"rav1e (\d[\w.+-]*)"),
    re.compile(rb"libvpx-vp9 @ [^\]]*\] (v[\d.]+[\w.+-]*)"),
)


@functools.lru_cache(maxsize=32)
def _encoder_version(name: str, build_key: str) -> str | None:
    with tempfile.TemporaryDirectory(prefix="codeckit-version-") as tmp:
        out = Path(tmp) / "v.mkv"
        try:
            run = run_ffmpeg(["-y", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=25:duration=0.12",
                              "-c:v", name, "-pix_fmt", "yuv420p", "-f", "matroska", input_url(out)],
                             loglevel="info", timeout=60)
        except CodeckitError:
            return None
        blob = run.stderr_tail.encode() + (out.read_bytes() if out.exists() else b"")
    for pattern in _VERSION_PATTERNS:
        m = pattern.search(blob)
        if m:
            return m.group(1).decode("ascii", "replace")
    return None


def encoder_version(name: str) -> str | None:
    """The library version of FFmpeg encoder `name` where it reports one (None where it does not), from a
    tiny real encode; cached per FFmpeg build for the process."""
    return _encoder_version(name, build_info().key)


def machine() -> dict:
    """CPU model, the cores this process may use, and the OS."""
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "processor\t: arm")):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model or platform.processor() or platform.machine(), "cores": cpu_count(),
            "logical_cpus": os.cpu_count(), "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version()}


def versions(encoders: list[str]) -> dict:
    """The `versions` block of a report (also part of every result's cache key)."""
    from .. import __version__
    build = build_info()
    return {"codeckit": __version__, "ffmpeg": build.version, "ffmpeg_path": build.path,
            "encoders": {name: encoder_version(name) for name in sorted(set(encoders))}}


__all__ = ["encoder_version", "machine", "versions"]
