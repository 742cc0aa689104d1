"""Which implementations really work here: a tiny real test encode through each, cached per machine and FFmpeg build."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import CodeckitError, failure_line
from ..fileio import atomic_write_text
from ..ffmpeg import FFmpegBuild, build_info, run_ffmpeg
from .table import IMPLEMENTATIONS, Implementation, encoder_args

log = logging.getLogger(__name__)

CACHE_ENV = "CODECKIT_CACHE_DIR"
# Bump when the test encode itself changes, so old verdicts are not trusted.
PROBE_VERSION = 1

# Hardware encoders have minimum sizes (NVENC, QSV): 320x240 clears them all and is still instant.
TEST_SOURCE = "testsrc2=size=320x240:rate=25"
TEST_FRAMES = 5
TEST_TIMEOUT_S = 60

# Words in FFmpeg's first error line that mean "the device or its driver is not there".
_NO_DEVICE_HINTS = ("cannot load", "could not dynamically load", "libcuda", "no va display", "failed to initialise",
                    "failed to initialize", "device creation failed", "no device", "dll", "mfx session",
                    "no capable devices", "unsupported device", "driver", "cannot open", "/dev/dri",
                    "failed to create", "no vulkan", "no usable", "nvenc api", "openencodesessionex failed")


@dataclass
class Capability:
    name: str
    codec: str
    kind: str
    available: bool
    reason: str          # "ok", or why not: not in this FFmpeg build / no device: ... / test encode failed: ...
    checked_s: float = 0.0


def cache_dir() -> Path:
    base = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "codeckit")
    return Path(base)


def _table_fingerprint() -> str:
    # The cache must be redone when an implementation's test arguments change.
    text = repr([(i.name, encoder_args(i, speed="fastest", bit_depth=min(i.bit_depths)).all_args())
                 for i in IMPLEMENTATIONS])
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def cache_path(build: FFmpegBuild) -> Path:
    key = f"{build.key}|{platform.node()}|{PROBE_VERSION}|{_table_fingerprint()}"
    return cache_dir() / f"encoders-{hashlib.sha1(key.encode()).hexdigest()[:16]}.json"


def test_encode_args(impl: Implementation) -> list[str]:
    """The command line of the tiny test encode: lavfi source -> encoder -> null muxer."""
    enc = encoder_args(impl, speed="fastest", bit_depth=min(impl.bit_depths))
    vf = ",".join(enc.filters) if enc.filters else None
    args = [*enc.global_args, "-f", "lavfi", "-i", TEST_SOURCE, "-frames:v", str(TEST_FRAMES)]
    if vf:
        args += ["-vf", vf]
    return args + enc.output_args + ["-f", "null", "-"]


def check_implementation(impl: Implementation, build: FFmpegBuild) -> Capability:
    start = time.monotonic()
    if not build.has_encoder(impl.name):
        return Capability(impl.name, impl.codec, impl.kind, False, "not in this FFmpeg build")
    if impl.hw and impl.hw.api == "vaapi" and sys.platform.startswith("linux") and \
            not any(Path("/dev/dri").glob("renderD*")):
        return Capability(impl.name, impl.codec, impl.kind, False, "no device: no /dev/dri render node")
    try:
        run_ffmpeg(test_encode_args(impl), subject=f"test encode with {impl.name}", timeout=TEST_TIMEOUT_S,
                   exe=build.path, loglevel="error")
    except CodeckitError as exc:
        line = failure_line(exc)
        low = (exc.stderr_tail or line).lower()
        if impl.hardware and any(h in low for h in _NO_DEVICE_HINTS):
            reason = f"no device: {line}"
        else:
            reason = f"test encode failed: {line}"
        return Capability(impl.name, impl.codec, impl.kind, False, reason, time.monotonic() - start)
    return Capability(impl.name, impl.codec, impl.kind, True, "ok", time.monotonic() - start)


def probe_capabilities(*, refresh: bool = False, build: FFmpegBuild | None = None,
                       implementations=IMPLEMENTATIONS) -> dict[str, Capability]:
    """Every implementation's availability on this machine; from the cache unless `refresh`.

    A cache that cannot be read or written is logged as a warning and otherwise ignored.
    """
    build = build or build_info()
    path = cache_path(build)
    if not refresh:
        try:
            data = json.loads(path.read_text())
            caps = {d["name"]: Capability(**d) for d in data["implementations"]}
            if all(i.name in caps for i in implementations):
                return {i.name: caps[i.name] for i in implementations}
        except FileNotFoundError:
            pass
        except Exception as exc:
            log.warning("ignoring unreadable encoder cache %s: %s", path, exc)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda i: check_implementation(i, build), implementations))
    caps = {c.name: c for c in results}
    try:
        atomic_write_text(path, json.dumps({"ffmpeg": build.path, "ffmpeg_version": build.version,
                                            "host": platform.node(), "checked_at": time.time(),
                                            "implementations": [asdict(c) for c in results]}, indent=1))
    except OSError as exc:
        log.warning("could not write encoder cache %s: %s", path, exc)
    return caps
