"""One clip of a source: its EncodeJob (from `codeckit.plan`, cut with input seeking), run by `codeckit.encode`,
whose verification checks it against the profile exactly (`exact_expectation`).

Thin adapter over the transcode core: `plan()` knows nothing of clips, so a clip's job is the source's job
with `-ss START -t LENGTH` before the input and the frame count fixed with `-frames:v`. The plan never
remuxes when the profile fixes the keyframe interval (it cannot see the keyframes); the scan can, so a
source whose keyframes already fall every `keyint` frames, and that meets the profile otherwise, is
stream-copied here (the fast path).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from fractions import Fraction
from pathlib import Path

from ..plan import KEYINT_BLOCKER, EncodeJob, Expectation
from ..verify import VerifyReport, describe_output
from .steps import ClipSpan


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
    implementation: str | None = None


@dataclass
class ClipJob(EncodeJob):
    """An EncodeJob for a piece of the source. `plan()` knows nothing of clips, and a job it composes again
    after an encoder failure (`fall_back`) would lose the cut: this keeps it."""
    clip_input: list[str] = field(default_factory=list)      # -ss START -t LENGTH, before the input
    clip_video: list[str] = field(default_factory=list)      # -frames:v N
    clip_expect: object = None
    samples_rate: float | None = None   # also write the scan's samples, this many a second (`samples_path`)

    @classmethod
    def of(cls, job: EncodeJob, clip_input: list[str], clip_video: list[str], expect, duration_s: float,
           samples_rate: float | None = None):
        kw = {f.name: getattr(job, f.name) for f in fields(EncodeJob)}
        kw.update(input_options=[*clip_input, *job.input_options], video_args=[*job.video_args, *clip_video],
                  expect=expect, duration_s=duration_s)
        return cls(**kw, clip_input=clip_input, clip_video=clip_video, clip_expect=expect, samples_rate=samples_rate)

    def fall_back(self, error: str):
        nxt = super().fall_back(error)
        if nxt is None:
            return None
        return ClipJob.of(nxt, self.clip_input, self.clip_video, self.clip_expect, self.duration_s,
                          self.samples_rate)

    def args(self, output=None) -> list[str]:
        """FFmpeg's arguments; with `samples_rate`, the decoded source frames also go, split off before any
        filter, to the scan's samples in `samples_path(output)` (raw grey frames: the encode's own decode
        serves the black and static filters; a 12 s 1080p source's encode cost 6.19 and 6.05 CPU-s with them,
        6.11 and 6.09 without)."""
        args = super().args(output)
        if not self.samples_rate or self.remux:
            return args
        return with_samples(args, samples_path(output if output is not None else self.output), self.samples_rate)

    def without_samples(self) -> "ClipJob":
        return replace(self, samples_rate=None)


#: FFmpeg's exit status when more of the input's frames failed to decode than `-max_error_rate` allows. With the
#: samples taken from the encode, the scan no longer decodes the source's frames beyond its keyframes, so the
#: encode counts what that decode counted (a frame that fails outright; a concealed one passes both), at rate 0.
DECODE_ERRORS_EXIT = 69

#: Filter-graph labels of the samples branch (not FFmpeg's or the plan's: theirs are [0:N] and [sN]).
_SPLIT_IN, _SPLIT_SAMPLES, _SAMPLES_OUT = "[ckin]", "[cksplit]", "[cksamples]"


def samples_path(output: str | Path) -> Path:
    """Where an encode to `output` (its temporary name, `encode.temp_path_for`) writes the scan's samples:
    beside it, a temporary name too (a killed run's are swept with the clips' temporaries)."""
    out = Path(output)
    return out.with_name(out.name + ".gray")


def with_samples(args: list[str], path: Path, rate: float) -> list[str]:
    """`args` with the decoded video also split off to `encode_samples_filter` and written raw to `path`."""
    import re
    from ..ffmpeg import input_url
    from .scan import encode_samples_filter
    args = list(args)
    m = args.index("-map")
    if "-filter_complex" in args:
        g = args.index("-filter_complex") + 1
        src = re.search(r"\[0:\d+\]", args[g]).group(0)
        args[g] = (f"{src}split{_SPLIT_IN}{_SPLIT_SAMPLES};{_SPLIT_SAMPLES}{encode_samples_filter(rate)}{_SAMPLES_OUT};"
                   + args[g].replace(src, _SPLIT_IN, 1))
    else:
        src = "[" + args[m + 1] + "]"
        graph = f"{src}split[ckv]{_SPLIT_SAMPLES};{_SPLIT_SAMPLES}{encode_samples_filter(rate)}{_SAMPLES_OUT}"
        args[m + 1] = "[ckv]"
        args[m:m] = ["-filter_complex", graph]
    return ["-max_error_rate", "0", *args, "-map", _SAMPLES_OUT, "-c:v", "rawvideo", "-f", "rawvideo",
            "-fps_mode", "passthrough", input_url(path)]


def conforms(info, scan, target) -> list[str]:
    """Why the source cannot be stream-copied into the target (empty: it can)."""
    from ..plan import remux_blockers
    why = remux_blockers(info, target)
    keyint = target.video.keyint
    if keyint and any(b.code == KEYINT_BLOCKER for b in why):
        # a fixed keyframe interval in frames the source may meet already: its keyframes decide
        why = [b for b in why if b.code != KEYINT_BLOCKER]
        gaps = scan.keyframe_interval_frames()
        first_is_key = bool(scan.keyframe_times) and bool(scan.frame_times) and \
            abs(scan.keyframe_times[0] - scan.frame_times[0]) < 1e-6
        if not first_is_key or (gaps and gaps != {keyint}) or \
                (not gaps and len(scan.frame_times) > keyint):
            why.append(f"keyframes are not every {keyint} frames ({sorted(gaps)[:4] or 'one keyframe'})")
    if target.video.keyint_s is not None:
        why.append("the target fixes the keyframe interval in seconds")
    return why


def clip_job(info, scan, target, clip: ClipSpan, whole: bool, output: Path, *, capabilities=None,
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
    if whole or job.remux or not fps:
        frames = round(clip.duration_s * float(fps)) if fps else None
        clip_input = [] if whole else ["-ss", f"{clip.start_s:.6f}", "-t", f"{clip.duration_s:.6f}"]
        clip_video = ["-frames:v", str(frames)] if frames and not job.remux else []
    else:
        clip_input, clip_video, frames = cut_args(info, scan, clip, fps)
    return ClipJob.of(job, clip_input, clip_video, exact_expectation(job, target, clip.duration_s, frames),
                      clip.duration_s)


def exact_expectation(job: EncodeJob, target, duration_s: float, frames: int | None) -> Expectation:
    """What the clip must be, exactly: the profile's codec, size, square pixels, frame rate, pixel format and
    keyframe interval, the frame count (exact unless stream-copied), nothing besides the expected streams.
    `codeckit.verify` checks it from its one demux, before the rename."""
    t = target.video
    size = (t.width, t.height) if t.size == "exact" else (job.expect.width, job.expect.height)
    return replace(job.expect, duration_s=duration_s, frames=frames, frames_exact=not job.remux, exact=True,
                   width=size[0], height=size[1], fps=t.fps, pix_fmt=t.pix_fmt, keyint=t.keyint)


#: Demuxers whose seek is not exact (no index: a byte search that lands on any packet before the time, so
#: decoding starts at the next keyframe, possibly after the clip's start). Measured: `-ss 4` on the bench's
#: interlaced MPEG-2 TS (keyframes at 3.60 and 4.08 s) starts at 4.08: 46 frames, not 48.
INEXACT_SEEK = frozenset({"mpegts", "mpeg", "mpegvideo", "h264", "hevc", "m4v", "mjpeg", "dv"})
#: Before a keyframe in such a file, seek this far back: its packet's DTS is earlier than its PTS by the
#: reordering delay (a few frames).
INEXACT_SEEK_MARGIN_S = 0.5


def cut_args(info, scan, clip: ClipSpan, fps: Fraction) -> tuple[list[str], list[str], int]:
    """(input options, output options, frames) that encode exactly the frames the whole source's encode
    would hold between the clip's start and end, and the count of them the source really holds.

    Plain `-ss START` loses a frame in two cases, so the input is then sought earlier (pre-roll) and the
    output trimmed with `-ss` at a whole number of output frames (the fps filter's grid stays the clip's):
    the container's seek is not exact (INEXACT_SEEK), or no source frame lies within half an output frame
    of the start (the fps filter anchors its grid on the first frame it sees, rounded: `-ss 5.291667` on a
    25 fps source starts its 24 fps grid one frame late). A clip that runs to the source's end holds what
    the source covers, which can be one frame fewer than its length (measured: 64, not 65)."""
    start, dur, rate = clip.start_s, clip.duration_s, float(fps)
    want = round(dur * rate)
    before = [t for t in scan.frame_times if t <= start + 1e-6]
    after = next((t for t in scan.frame_times if t >= start - 1e-6), None)
    seek_to = None
    if start > 1e-6 and info.container.split(",")[0] in INEXACT_SEEK:
        keys = [k for k in scan.keyframe_times if k <= start + 1e-6]
        seek_to = (keys[-1] if keys else 0.0) - INEXACT_SEEK_MARGIN_S
    elif start > 1e-6 and after is not None and after - start >= 0.5 / rate and before:
        seek_to = before[-1]
    end = scan.end_s or start + dur
    frames = max(0, min(want, math.floor((end - start) * rate + 0.5 + 1e-6)))
    if seek_to is None:
        return ["-ss", f"{start:.6f}", "-t", f"{dur:.6f}"], ["-frames:v", str(frames)], frames
    pre = max(1, math.ceil((start - seek_to) * rate - 1e-6))
    seek = start - pre / rate
    if seek < 1e-6:
        pre, seek = round(start * rate), 0.0
    head = ["-ss", f"{seek:.6f}"] if seek else []
    # the output trim half a frame before the clip's first frame: no rounding of 6 decimals can drop it
    trim = ["-ss", f"{(pre - 0.5) / rate:.6f}"]
    return [*head, "-t", f"{start + dur - seek:.6f}"], [*trim, "-frames:v", str(frames)], frames


def encode_clip(job, cancel=None, accept=None) -> ClipOutput:
    """Encode (or copy) through `codeckit.encode` (temporary name, verification, atomic rename); the job's
    `exact_expectation` makes the verification check the clip against the profile exactly, so a clip that does
    not conform is never renamed into place (VerifyError, naming the source and each problem). `cancel` is
    encode's: once set, FFmpeg is stopped and nothing is renamed (Cancelled). `accept(samples)`, for a job with
    `samples_rate`, judges the samples the encode wrote before the clip is renamed into place (what it raises,
    e.g. Rejected, leaves nothing behind)."""
    from ..encode import encode, temp_path_for
    samples = samples_path(temp_path_for(job.output))
    try:
        res = encode(job, verify="sample", cancel=cancel,
                     before_rename=(lambda _tmp: accept(samples)) if accept is not None else None)
    finally:
        try:
            samples.unlink(missing_ok=True)
        except OSError:     # no folder to hold it (the encode's own error says why): nothing to remove
            pass
    final = Path(job.output)
    out = clip_output(res.verify, final)
    # the command that made the clip, as the manifest records it: the same with the samples put off or not
    out.cpu_s, out.wall_s, out.args = res.encode_cpu_s, res.wall_s, job.without_samples().args(final)
    out.implementation = res.implementation
    return out


def clip_output(report: VerifyReport, path: Path) -> ClipOutput:
    """The clip as its verification read it (no second open of the file)."""
    return ClipOutput(codec=report.video_codec or "", width=report.width or 0, height=report.height or 0,
                      sar=report.sar or "0:1", fps=report.fps or "", pix_fmt=report.pix_fmt or "",
                      frames=report.video_packets, keyframes=list(report.keyframe_indices),
                      duration_s=report.duration_s or 0.0, bytes=path.stat().st_size,
                      extra_streams=report.streams - 1)


def read_clip(path: Path) -> ClipOutput:
    """A clip's properties, read by verify's demux (no decoding, nothing checked): for comparing clips."""
    return clip_output(describe_output(path), path)
