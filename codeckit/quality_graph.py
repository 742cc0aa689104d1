"""The FFmpeg command that scores a distorted video against its reference: both inputs aligned (start, tags,
frame rate, size, pixel format) and fed to libvmaf (and FFmpeg's xpsnr)."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from .batch import cpu_count
from .ffmpeg import input_url
from .video_filters import even
from .vmaf_models import AUTO_MODEL, EXTRA_METRICS, MODELS, VmafModel, model_for_size, resolve_model

if TYPE_CHECKING:
    from .quality import QualitySettings

# Pixel formats libvmaf takes: (chroma, bit depth) -> pix_fmt.
_LIBVMAF_FORMATS = {(c, d): f"yuv{c}p" + ("" if d == 8 else f"{d}le")
                    for c in ("420", "422", "444") for d in (8, 10, 12, 16)}


@dataclass(frozen=True)
class InputVideo:
    """What the comparison needs to know of one input."""
    path: Path
    index: int               # the stream's index in the file
    width: int               # as FFmpeg's decoder hands frames over: rotation applied (ffmpeg autorotates)
    height: int
    sar: str
    fps: Fraction | None
    vfr: bool
    pix_fmt: str | None
    duration_s: float | None
    color_space: str = "unknown"     # the YUV matrix tag (probe's names, which are FFmpeg's)
    color_range: str = "unknown"


@dataclass(frozen=True)
class ComparedSpan:
    """Where each input's compared part starts, and how much of each is left from there (None: unknown)."""
    reference_start_s: float
    distorted_start_s: float
    reference_left_s: float | None
    distorted_left_s: float | None


@dataclass
class Alignment:
    """What was done to make the two videos comparable, frame for frame."""
    reference_size: tuple[int, int]
    distorted_size: tuple[int, int]
    compared_size: tuple[int, int]
    scaled: list[str]                 # e.g. ["distorted 88x72 -> 176x144 (bicubic)"]
    reference_fps: str | None
    distorted_fps: str | None
    fps_converted: bool               # the distorted was resampled to the reference's rate
    pix_fmt: str                      # what libvmaf was fed
    reference_start_s: float
    distorted_start_s: float
    duration_s: float | None          # what was compared (None: to the end)
    retagged: list[str] = field(default_factory=list)   # e.g. ["reference matrix unknown -> bt709 (label only)"]


@dataclass
class ScoringCommand:
    """FFmpeg's arguments for one comparison, and where libvmaf and xpsnr write their logs."""
    args: list[str]
    alignment: Alignment
    models: list[VmafModel]
    log_path: Path
    xpsnr_path: Path | None
    expected_duration_s: float | None


def _format_facts(pix_fmt: str | None) -> tuple[str, int]:
    """(chroma "420"/"422"/"444", bit depth) of a pixel format; unknown formats count as 4:2:0 8-bit.

    RGB and 4:4:4 formats map to 4:4:4; gray, 4:1:1, 4:4:0 and friends to 4:2:0 (libvmaf takes no others).
    """
    if not pix_fmt:
        return "420", 8
    try:
        import av
        fmt = av.VideoFormat(pix_fmt, 16, 16)   # a sized format tells the chroma planes' size
        comps = fmt.components
        depth = max(c.bits for c in comps)
        if fmt.is_rgb:
            return "444", depth
        if len(comps) < 3:
            return "420", depth
        wsub, hsub = comps[0].width // max(1, comps[1].width), comps[0].height // max(1, comps[1].height)
        return {(1, 1): "444", (2, 1): "422"}.get((wsub, hsub), "420"), depth
    except Exception:
        return "420", 8


def libvmaf_pix_fmt(reference_pix_fmt: str | None, distorted_pix_fmt: str | None) -> str:
    """The pixel format both inputs are fed to libvmaf in: the reference's chroma subsampling at the
    higher of the two bit depths (8, 10, 12 or 16), so that neither side loses precision."""
    chroma, rdepth = _format_facts(reference_pix_fmt)
    _, ddepth = _format_facts(distorted_pix_fmt)
    depth = max(rdepth, ddepth)
    depth = min((d for d in (8, 10, 12, 16) if d >= depth), default=16)
    return _LIBVMAF_FORMATS[(chroma, depth)]


def fps_text(f: Fraction | None) -> str | None:
    return None if f is None else f"{f.numerator}/{f.denominator}"


def metric_names(models: Sequence[VmafModel]) -> list[str]:
    """The first model's score is "vmaf" (as libvmaf calls a lone model's); the others keep their names."""
    names = ["vmaf"]
    for m in models[1:]:
        n = re.sub(r"[^A-Za-z0-9_.]", "_", m.name)
        while n in names:
            n += "_"
        names.append(n)
    return names


def scoring_command(ref: InputVideo, dist: InputVideo, s: "QualitySettings", span: ComparedSpan,
                    workdir: Path) -> ScoringCommand:
    """The whole comparison as one FFmpeg run: each step below makes the two inputs agree on one thing."""
    import ffmpeg as ffmpeg_python  # ffmpeg-python: builds the -filter_complex graph and its escaping

    d, r = _open_inputs(ffmpeg_python, ref, dist, s, span)
    outs, cmd = _pair(ffmpeg_python, d, r, ref, dist, s, span, workdir)
    cmd.args = ffmpeg_python.output(*outs, "-", f="null").get_args()
    return cmd


def batch_scoring_command(ref: InputVideo, dists: Sequence[InputVideo], s: "QualitySettings",
                          spans: Sequence[ComparedSpan], workdir: Path) -> list[ScoringCommand]:
    """Several distorted videos against one reference in one FFmpeg run: the reference read and trimmed once
    and split, one libvmaf per distorted (each with its own log in `workdir`/N/), so each scores exactly as
    in its own run. The spans must trim the reference alike. Every command returned carries the same args."""
    import ffmpeg as ffmpeg_python

    if len({(sp.reference_start_s, sp.reference_left_s) for sp in spans}) > 1:
        raise ValueError("a batch's distorted videos must compare the same part of the reference")
    r_all = _open_input(ffmpeg_python, ref, spans[0].reference_start_s, _reference_t(s, spans[0]))
    rs = r_all.split() if len(dists) > 1 else None
    outs, cmds = [], []
    for i, (dist, span) in enumerate(zip(dists, spans)):
        folder = workdir / str(i)
        folder.mkdir(parents=True, exist_ok=True)
        d = _open_input(ffmpeg_python, dist, span.distorted_start_s, _distorted_t(s, span))
        r = (rs[i] if rs is not None else r_all).filter("setpts", expr="PTS-STARTPTS")
        o, cmd = _pair(ffmpeg_python, d.filter("setpts", expr="PTS-STARTPTS"), r, ref, dist, s, span, folder)
        outs += o
        cmds.append(cmd)
    args = ffmpeg_python.output(*outs, "-", f="null").get_args()
    for cmd in cmds:
        cmd.args = args
    return cmds


@dataclass
class ChainedScoring:
    """Several distorted videos against one reference through one libvmaf: each pair's frames fed one span
    after another, so that only the frames kept are scored (see `chained_scoring_command`)."""
    args: list[str]
    commands: list[ScoringCommand]       # one per distorted (alignment, models); their log is the run's
    log_path: Path
    kept: list[list[int]]                # per distorted: the run's frame indices scored, in its frame order
    frame_numbers: list[int]             # the kept frames' numbers within each pair's compared span
    checks: list[Path]                   # files that each hold one frame when every span was as long as planned


#: Frames fed ahead of a later span's first kept frame. libvmaf's one temporal feature in the built-in
#: models (motion2) reads frame k's neighbours k-1 and k+1 only; two frames make every span's length a
#: multiple of the subsample step (see `chained_scoring_command`).
CHAIN_CONTEXT = 2


def span_frames(t_s: float, fps: Fraction) -> int | None:
    """Frames a trim to `t_s` seconds (as an input's -t, from its first frame) keeps at a constant `fps`; None
    when its end falls within a millisecond of a frame: FFmpeg then keeps that frame or not depending on the
    file's time base (24 fps, 0.541667 s: 13 frames from a NUT window or an MKV, where 13/24 s < 0.541667)."""
    frames = Fraction(f"{t_s:.6f}") * fps
    if abs(frames - round(frames)) < fps / 1000:
        return None
    return math.ceil(frames)


def frame_exact_trim(start_s: float, duration_s: float, fps: Fraction) -> tuple[float, float]:
    """(start, duration) of an input trim (-ss, -t) that keeps the frames the plain one keeps at a constant
    `fps` (the first frame at or after `start_s`, then those that start within `duration_s` of it: a frame
    exactly at the start is kept, one exactly at the end is not), with both ends moved half a frame off any
    frame. Where a trim's end falls on a frame (0.5 s samples scored from a lead frame: 13 frames at 24 fps,
    16 at 30, 26 at 50, 31 at 60), the plain trim's count rests on how FFmpeg rounds the timestamps of that
    file, and a chained score (`span_frames`) cannot plan its spans; this one's count is known."""
    first = math.ceil(Fraction(f"{start_s:.6f}") * fps - Fraction(1, 1000))
    count = math.ceil(Fraction(f"{duration_s:.6f}") * fps - Fraction(1, 1000))
    return max(0.0, float((first - Fraction(1, 2)) / fps)), float((count - Fraction(1, 2)) / fps)


def chained_scoring_command(ref: InputVideo, dists: Sequence[InputVideo], s: "QualitySettings",
                            spans: Sequence[ComparedSpan], workdir: Path) -> ChainedScoring | None:
    """`batch_scoring_command` with the first frame of each pair not scored (a lead frame: libvmaf's motion is 0
    on the first frame it sees), or None where that cannot be done exactly.

    libvmaf scores the frames whose index in the run is a multiple of the subsample step n, and the first
    frame it sees is always one. So the pairs go through one libvmaf, one after another (each side
    concatenated, frames paired by their order): the first pair from its frame 0 (scored, dropped by the
    caller) to the frame after its last kept one (K, the last multiple of n in the span), each later pair from
    its frame 2 to K+1, n | K frames, so its kept frames land on multiples of n with their neighbours either
    side, and motion2 (frame k's: min(motion(k-1, k), motion(k, k+1))) is the pair's own. A span whose last
    frame is kept (K = its last) is followed by its frame K-1 again: motion(K, K-1) = motion(K-1, K), as when
    it was the last frame of a run. Span lengths are planned from the duration and the rate; `checks` tells
    whether each input trim kept that many frames (the caller falls back when not)."""
    import ffmpeg as ffmpeg_python

    # the rate: the reference's where it has one (a decoded window in NUT: exact), else the distorted's; an
    # MKV's rate is read from its millisecond timestamps (59.94 fps: 19001/317), so the rates need only agree
    # as `_match_rates` takes them (none is resampled)
    n, fps = int(s.subsample), ref.fps or dists[0].fps
    if (n < 1 + CHAIN_CONTEXT or len(dists) < 2 or "xpsnr" in s.metrics or s.size is None or not fps or ref.vfr
            or any(d.vfr or not _same_rate(d.fps, fps) for d in dists) or s.duration_s is None
            or any(m != AUTO_MODEL and m not in MODELS for m in s.model_names)
            or len({(sp.reference_start_s, sp.reference_left_s) for sp in spans}) > 1):
        return None
    frames = span_frames(s.duration_s, fps)
    if frames is None or any(span_frames(_distorted_t(s, sp) or s.duration_s, fps) != frames for sp in spans):
        return None
    last_kept = (frames - 1) // n * n
    if last_kept < n:
        return None
    workdir.mkdir(parents=True, exist_ok=True)
    r_all = _open_input(ffmpeg_python, ref, spans[0].reference_start_s, s.duration_s)
    rs = r_all.split()
    checks, outs, d_segs, r_segs, cmds, kept = [], [], [], [], [], []
    at = 0
    for i, (dist, span) in enumerate(zip(dists, spans)):
        d_in = _open_input(ffmpeg_python, dist, span.distorted_start_s, _distorted_t(s, span)).split()
        for what, stream in (("r", rs[len(dists)]), ("d", d_in[1])) if i == 0 else (("d", d_in[1]),):
            checks.append(workdir / f"{what}{i}.crc")
            outs.append(stream.filter("select", f"gte(n,{frames - 1})").output(str(checks[-1]), f="framecrc"))
        # each side cut to the frames fed before it is scaled (the filters take one frame at a time)
        first = 0 if i == 0 else CHAIN_CONTEXT
        o, cmd = _pair(ffmpeg_python, _span_frames(ffmpeg_python, d_in[0], first, last_kept, frames),
                       _span_frames(ffmpeg_python, rs[i], first, last_kept, frames), ref, dist, s, span, workdir,
                       scorers=False)
        d_segs.append(o[0])
        r_segs.append(o[1])
        kept.append([at + k - first for k in range(n, last_kept + 1, n)])
        at += last_kept + 2 - first
        cmds.append(cmd)
    restamp = f"N*{fps.denominator}/({fps.numerator}*TB)"
    d = ffmpeg_python.concat(*d_segs, v=1, a=0).filter("setpts", expr=restamp)
    r = ffmpeg_python.concat(*r_segs, v=1, a=0).filter("setpts", expr=restamp)
    log_path = workdir / "vmaf.json"
    scorer = ffmpeg_python.filter([d, r], "libvmaf", **_libvmaf_options(s, cmds[0].models, log_path))
    args = ffmpeg_python.merge_outputs(ffmpeg_python.output(scorer, "-", f="null"), *outs).get_args()
    for cmd in cmds:
        cmd.args, cmd.log_path = args, log_path
    return ChainedScoring(args, cmds, log_path, kept, list(range(n, last_kept + 1, n)), checks)


def _same_rate(a: Fraction | None, b: Fraction) -> bool:
    """Whether a distorted at rate `a` plays at a reference's rate `b` (`_match_rates` leaves it unresampled)."""
    return bool(a) and abs(float(a) - float(b)) <= 1e-4 * float(b)


def _span_frames(ffmpeg_python, stream, first: int, last_kept: int, frames: int):
    """One pair's side as fed to the chain: its frames `first`..last_kept+1, or ..last_kept and then
    last_kept-1 again when the span ends on a kept frame; starting at time zero."""
    def cut(s, a, b):
        return s.filter("trim", start_frame=a, end_frame=b).filter("setpts", expr="PTS-STARTPTS")
    if last_kept + 1 < frames:
        return cut(stream, first, last_kept + 2)
    parts = stream.split()
    a, b = parts[0], parts[1]
    return ffmpeg_python.concat(cut(a, first, last_kept + 1), cut(b, last_kept - 1, last_kept), v=1, a=0)


def _pair(ffmpeg_python, d, r, ref: InputVideo, dist: InputVideo, s: "QualitySettings", span: ComparedSpan,
          workdir: Path, scorers: bool = True) -> tuple[list, ScoringCommand]:
    """The scorers' outputs of one pair (both inputs opened and trimmed), and its command (args unset);
    scorers=False: the pair's two streams as libvmaf would take them instead of the scorers' outputs."""
    models = [model_for_size(ref.width, ref.height) if m == AUTO_MODEL else resolve_model(m)
              for m in s.model_names]
    d, r, retagged = _match_color_tags(d, r, ref, dist)
    d, r, fps_converted = _match_rates(d, r, ref, dist)
    d, r, size, scaled = _match_sizes(d, r, ref, dist, s, models[0])
    pix_fmt = libvmaf_pix_fmt(ref.pix_fmt, dist.pix_fmt)
    d = d.filter("format", pix_fmts=pix_fmt)
    r = r.filter("format", pix_fmts=pix_fmt)

    log_path = workdir / "vmaf.json"
    xpsnr_path = workdir / "xpsnr.txt" if "xpsnr" in s.metrics else None
    outs = _scorers(ffmpeg_python, d, r, _libvmaf_options(s, models, log_path), xpsnr_path) if scorers else [d, r]

    ref_left, dist_left = span.reference_left_s, span.distorted_left_s
    expected = None if ref_left is None or dist_left is None else min(ref_left, dist_left)
    alignment = Alignment(
        reference_size=(ref.width, ref.height), distorted_size=(dist.width, dist.height), compared_size=size,
        scaled=scaled, reference_fps=fps_text(ref.fps), distorted_fps=fps_text(dist.fps),
        fps_converted=fps_converted, pix_fmt=pix_fmt, reference_start_s=span.reference_start_s,
        distorted_start_s=span.distorted_start_s, duration_s=s.duration_s, retagged=retagged)
    return outs, ScoringCommand(args=[], alignment=alignment, models=models, log_path=log_path,
                                xpsnr_path=xpsnr_path, expected_duration_s=expected)


def _open_input(ffmpeg_python, v: InputVideo, ss: float, t: float | None, same_file: bool = False):
    """One input's video stream, trimmed by input options (a seek and a duration)."""
    kw = {"protocol_whitelist": "file"}
    if same_file:
        # a file against itself: ffmpeg-python would merge two identical inputs into one node and then
        # refuse the graph; a (harmless) different queue size keeps them two inputs
        kw["thread_queue_size"] = 16
    if ss > 0:
        kw["ss"] = f"{ss:.6f}"
    if t is not None:
        kw["t"] = f"{t:.6f}"
    return ffmpeg_python.input(input_url(v.path), **kw)[str(v.index)]


def _distorted_t(s: "QualitySettings", span: ComparedSpan) -> float | None:
    # The distorted drives the output (one score per distorted frame; libvmaf repeats the last reference
    # frame past the reference's end), so a distorted a frame or two longer is cut to the reference.
    ref_left, dist_left = span.reference_left_s, span.distorted_left_s
    if ref_left is not None and dist_left is not None and dist_left > ref_left:
        return ref_left
    return s.duration_s


def _reference_t(s: "QualitySettings", span: ComparedSpan) -> float | None:
    # The reference is read for as long as it says it lasts, as the distorted is cut to that (above). A
    # container may declare less than its frames last: an MP4 of x264 (B-frames) of a VFR clip says 1.8 s
    # while its last frame starts at 1.88 s; read to its end, those last frames met a distorted cut at
    # 1.8 s and frozen there, and a lossless copy scored 33.7 on them (93.1 in all, 98.8 read alike).
    return span.reference_left_s if span.reference_left_s is not None else s.duration_s


def _open_inputs(ffmpeg_python, ref: InputVideo, dist: InputVideo, s: "QualitySettings", span: ComparedSpan):
    """Both inputs trimmed to the compared span, each starting at time zero."""
    d = _open_input(ffmpeg_python, dist, span.distorted_start_s, _distorted_t(s, span))
    r = _open_input(ffmpeg_python, ref, span.reference_start_s, _reference_t(s, span),
                    same_file=ref.path == dist.path)
    # Both start at zero, whatever their containers' start times or edit lists say.
    return d.filter("setpts", expr="PTS-STARTPTS"), r.filter("setpts", expr="PTS-STARTPTS")


def _match_color_tags(d, r, ref: InputVideo, dist: InputVideo):
    """libvmaf's two inputs must agree on the YUV matrix and range tags, and FFmpeg converts one side to the
    other's when they differ: a matrix through RGB. A side tagged "unknown" is not in another matrix, it
    is unlabelled: it takes the other side's label instead of a conversion. (An untagged 10-bit encode
    against its BT.709-tagged source lost 4.7 VMAF to that round trip; so does a raw `ffmpeg -lavfi
    libvmaf`.) Two different known tags are a real difference and are converted as FFmpeg does."""
    retagged: list[str] = []
    for what, option, rv, dv in (("matrix", "colorspace", ref.color_space, dist.color_space),
                                 ("range", "range", ref.color_range, dist.color_range)):
        if rv == dv or (what == "range" and "pc" in (rv, dv)):
            continue                 # an unknown range means limited (tv): against full range it is converted
        if dv == "unknown":
            d = d.filter("setparams", **{option: rv})
            retagged.append(f"distorted {what} unknown -> {rv} (label only)")
        elif rv == "unknown":
            r = r.filter("setparams", **{option: dv})
            retagged.append(f"reference {what} unknown -> {dv} (label only)")
    return d, r, retagged


def _match_rates(d, r, ref: InputVideo, dist: InputVideo):
    """Frame rates differ (or wander): the distorted is resampled to the reference's rate, so each reference
    frame meets the distorted frame shown at that moment."""
    if not ref.fps or not (ref.vfr or dist.vfr or not _same_rate(dist.fps, ref.fps)):
        return d, r, False
    d = d.filter("fps", fps=fps_text(ref.fps))
    if ref.vfr:
        r = r.filter("fps", fps=fps_text(ref.fps))
    return d, r, True


def _match_sizes(d, r, ref: InputVideo, dist: InputVideo, s: "QualitySettings", model: VmafModel):
    """Sizes are the coded ones: the SAR is carried along untouched (scaling to a display size would turn
    an anamorphic pair such as carphone's 176x144 at SAR 128:117 into a size mismatch)."""
    scaled: list[str] = []
    target = (ref.width, ref.height)
    if s.size is not None:
        return _to_display_size(d, r, ref, dist, s.size)
    if s.scale == "model":
        mh = model.size[1]
        target = (even(mh * ref.width / ref.height), mh)
    if (dist.width, dist.height) != target:
        d = d.filter("scale", w=target[0], h=target[1], flags="bicubic")
        scaled.append(f"distorted {dist.width}x{dist.height} -> {target[0]}x{target[1]} (bicubic)")
    if (ref.width, ref.height) != target:
        r = r.filter("scale", w=target[0], h=target[1], flags="bicubic")
        scaled.append(f"reference {ref.width}x{ref.height} -> {target[0]}x{target[1]} (bicubic)")
    if scaled and dist.sar != ref.sar:
        d = d.filter("setsar", sar=ref.sar.replace(":", "/"))
    return d, r, target, scaled


def _to_display_size(d, r, ref: InputVideo, dist: InputVideo, size: tuple[int, int]):
    """Both scaled to one display size with square pixels (each side's SAR applied by the scale): how a
    viewer sees every rendition of a ladder, upscaled to its top rung (Netflix's per-title scoring)."""
    scaled = []
    for name, v in (("distorted", dist), ("reference", ref)):
        if (v.width, v.height) != tuple(size) or v.sar not in (None, "1:1", "0:1"):
            scaled.append(f"{name} {v.width}x{v.height} -> {size[0]}x{size[1]} (bicubic, square pixels)")
    d = d.filter("scale", w=size[0], h=size[1], flags="bicubic").filter("setsar", sar="1")
    r = r.filter("scale", w=size[0], h=size[1], flags="bicubic").filter("setsar", sar="1")
    return d, r, tuple(size), scaled


def _libvmaf_options(s: "QualitySettings", models: list[VmafModel], log_path: Path) -> dict:
    if len(models) == 1:
        model_arg = models[0].spec
    else:
        model_arg = "|".join(f"{m.spec}:name={n}" for m, n in zip(models, metric_names(models)))
    # Pair each distorted frame with the reference frame nearest in time. libvmaf's default pairs it with
    # the last reference frame at or before it, which is one frame off whenever a container rounds the
    # timestamps (MKV/WebM keep milliseconds: 33 ms is before 33.37 ms at 29.97 fps).
    # Threads: the cores this process may use (affinity and cgroup limits), not every core of the machine.
    opts = {"model": model_arg, "log_fmt": "json", "log_path": str(log_path),
            "n_threads": s.threads or cpu_count(), "ts_sync_mode": "nearest"}
    if s.subsample > 1:
        opts["n_subsample"] = int(s.subsample)
    features = [f"name={f}" for m in s.metrics for f in EXTRA_METRICS[m]]
    if features:
        opts["feature"] = "|".join(features)
    return opts


def _scorers(ffmpeg_python, d, r, libvmaf_options: dict, xpsnr_path: Path | None) -> list:
    """libvmaf on the pair; with XPSNR asked for, both inputs split and xpsnr beside it."""
    if not xpsnr_path:
        return [ffmpeg_python.filter([d, r], "libvmaf", **libvmaf_options)]
    ds, rs = d.split(), r.split()
    return [ffmpeg_python.filter([ds[0], rs[0]], "libvmaf", **libvmaf_options),
            ffmpeg_python.filter([ds[1], rs[1]], "xpsnr", stats_file=str(xpsnr_path), ts_sync_mode="nearest")]


__all__ = ["Alignment", "CHAIN_CONTEXT", "ChainedScoring", "ComparedSpan", "InputVideo", "ScoringCommand",
           "batch_scoring_command", "chained_scoring_command", "frame_exact_trim", "span_frames", "libvmaf_pix_fmt",
           "metric_names", "scoring_command"]
