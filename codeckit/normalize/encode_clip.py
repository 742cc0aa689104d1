"""One clip of a source: its EncodeJob (from `codeckit.plan`, cut with input seeking), the run, the check.

Thin adapter over the transcode core: `plan()` knows nothing of clips, so a clip's job is the source's job
with `-ss START -t LENGTH` before the input and the frame count fixed with `-frames:v`. The plan never
remuxes when the profile fixes the keyframe interval (it cannot see the keyframes); the scan can, so a
source whose keyframes already fall every `keyint` frames, and that meets the profile otherwise, is
stream-copied here (the fast path).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

from ..errors import CodeckitError
from ..ffmpeg import run_ffmpeg
from .steps import ClipSpec

_KEYINT_BLOCKER = "the target fixes the keyframe interval"


class VerifyError(CodeckitError):
    """An output that is not exactly what the profile asks for."""


@dataclass
class ClipOutput:
    """What one written clip is, read back from the file."""
    codec: str
    width: int
    height: int
    sar: str
    fps: str
    pix_fmt: str
    frames: int
    keyframes: list[int]
    duration_s: float
    bytes: int
    extra_streams: int
    cpu_s: float = 0.0
    wall_s: float = 0.0
    args: list[str] = field(default_factory=list)


def conforms(info, scan, target) -> list[str]:
    """Why the source cannot be stream-copied into the target (empty: it can)."""
    from ..plan import remux_blockers
    why = remux_blockers(info, target)
    keyint = target.video.keyint
    if _KEYINT_BLOCKER in why and keyint:
        why.remove(_KEYINT_BLOCKER)
        gaps = scan.keyframe_interval_frames()
        first_is_key = bool(scan.keyframe_times) and bool(scan.frame_times) and \
            abs(scan.keyframe_times[0] - scan.frame_times[0]) < 1e-6
        if not first_is_key or (gaps and gaps != {keyint}) or \
                (not gaps and len(scan.frame_times) > keyint):
            why.append(f"keyframes are not every {keyint} frames ({sorted(gaps)[:4] or 'one keyframe'})")
    if target.video.keyint_s is not None:
        why.append("the target fixes the keyframe interval in seconds")
    return why


def clip_job(info, scan, target, clip: ClipSpec, whole: bool, output: Path, *, capabilities=None,
             threads: int | None = None, force_encode: bool = False):
    """The EncodeJob that writes `clip` of the source to `output`."""
    from ..plan import plan

    fps = Fraction(target.video.fps) if target.video.fps else None
    remux = not force_encode and not conforms(info, scan, target)
    if remux and not whole and fps and target.video.keyint:
        # a copied clip must start and end on keyframes (every keyint frames of the source)
        step = Fraction(target.video.keyint) / fps
        on_grid = all(abs(t / step - round(t / step)) < 1e-6 for t in (Fraction(str(clip.start_s)),))
        at_end = abs(clip.end_s - (scan.end_s or 0)) < 0.5 / float(fps)
        on_grid = on_grid and (at_end or abs(Fraction(str(clip.end_s)) / step
                                              - round(Fraction(str(clip.end_s)) / step)) < 1e-6)
        remux = on_grid
    if remux:
        t = replace(target, video=replace(target.video, keyint=None))
        job = plan(info, t, output, capabilities=capabilities, threads=threads)
        if not job.remux:  # pragma: no cover - plan and conforms disagree: encode to be safe
            job = plan(info, target, output, capabilities=capabilities, threads=threads, force_encode=True)
        job.target = target
    else:
        job = plan(info, target, output, capabilities=capabilities, threads=threads, force_encode=True)
    frames = round(clip.duration_s * float(fps)) if fps else None
    if not whole:
        job.input_options = ["-ss", f"{clip.start_s:.6f}", "-t", f"{clip.duration_s:.6f}", *job.input_options]
    if frames and not job.remux:
        job.video_args = [*job.video_args, "-frames:v", str(frames)]
    job.expect = replace(job.expect, duration_s=clip.duration_s, frames=frames, frames_exact=not job.remux)
    job.duration_s = clip.duration_s
    return job


def run_clip(job, *, timeout: float | None = None) -> ClipOutput:
    """Run the job into a temporary name beside the output, check it, rename it into place.

    Falls back to the next encoder implementation when one fails (hardware first profiles)."""
    final = Path(job.output)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.stem}.tmp{os.getpid()}{final.suffix}")
    try:
        while True:
            try:
                res = run_ffmpeg(job.args(tmp), subject=job.input, timeout=timeout, duration_s=job.duration_s,
                                 loglevel="error")
                break
            except CodeckitError as exc:
                nxt = job.fall_back(exc.message) if not job.remux else None
                if nxt is None:
                    raise
                nxt.input_options, nxt.video_args = job.input_options, nxt.video_args + (
                    job.video_args[-2:] if "-frames:v" in job.video_args else [])
                nxt.expect, nxt.duration_s = job.expect, job.duration_s
                job = nxt
        out = verify_clip(tmp, job)
        out.cpu_s, out.wall_s, out.args = res.cpu_s, res.wall_s, job.args(final)
        os.replace(tmp, final)
        return out
    finally:
        if tmp.exists():
            tmp.unlink()


def read_clip(path: Path) -> ClipOutput:
    """Demux the whole file (no decoding) and read its first video stream's properties."""
    import av
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        cc = s.codec_context
        sar = s.sample_aspect_ratio or Fraction(1)
        rate = s.average_rate or s.base_rate
        frames, keys = 0, []
        pts = []
        for p in c.demux(s):
            if p.size == 0:
                continue
            if p.pts is not None:
                pts.append((p.pts, p.is_keyframe))
            frames += 1
        pts.sort()
        keys = [i for i, (_, k) in enumerate(pts) if k]
        duration = float(s.duration * s.time_base) if s.duration else (c.duration or 0) / 1e6
        return ClipOutput(codec=cc.name, width=cc.width, height=cc.height, sar=f"{sar.numerator}:{sar.denominator}",
                          fps=f"{rate.numerator}/{rate.denominator}" if rate else "", pix_fmt=cc.pix_fmt or "",
                          frames=frames, keyframes=keys, duration_s=round(duration, 6), bytes=path.stat().st_size,
                          extra_streams=len(c.streams) - 1)


def verify_clip(path: Path, job) -> ClipOutput:
    """The written clip holds exactly what the profile asks: codec, size, square pixels, rate, pixel format,
    frame count, keyframes every keyint frames, no other streams; and its last GOP decodes."""
    import av
    t = job.target.video
    out = read_clip(path)
    problems = []
    if out.codec != t.codec:
        problems.append(f"codec {out.codec}, not {t.codec}")
    if t.size == "exact" and (out.width, out.height) != (t.width, t.height):
        problems.append(f"size {out.width}x{out.height}, not {t.width}x{t.height}")
    if out.sar not in ("1:1", "0:1"):
        problems.append(f"SAR {out.sar}")
    if t.fps and Fraction(out.fps or "0") != Fraction(t.fps):
        problems.append(f"frame rate {out.fps}, not {t.fps}")
    if t.pix_fmt and out.pix_fmt != t.pix_fmt:
        problems.append(f"pixel format {out.pix_fmt}, not {t.pix_fmt}")
    want = job.expect.frames
    if want and job.expect.frames_exact and out.frames != want:
        problems.append(f"{out.frames} frames, not {want}")
    elif want and abs(out.frames - want) > max(2, want * 0.05):
        problems.append(f"{out.frames} frames, expected about {want}")
    if t.keyint and out.keyframes != list(range(0, out.frames, t.keyint)):
        problems.append(f"keyframes at {out.keyframes[:6]}..., not every {t.keyint} frames")
    if out.extra_streams and job.expect.audio_streams == 0 and job.expect.subtitle_streams == 0:
        problems.append(f"{out.extra_streams} stream(s) besides the video")
    if not problems:
        try:  # the last GOP decodes (the rest was demuxed above; a cut file fails here)
            with av.open(str(path)) as c:
                s = c.streams.video[0]
                c.seek(max(0, int((out.duration_s - 0.01) / s.time_base)) if s.time_base else 0, stream=s,
                       backward=True)
                n = sum(1 for _ in c.decode(s))
            if n == 0:
                problems.append("the last GOP does not decode")
        except av.error.FFmpegError as exc:
            problems.append(f"does not decode: {exc}")
    if problems:
        raise VerifyError("output check failed: " + "; ".join(problems), path=job.output)
    return out
