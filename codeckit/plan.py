"""Plan: MediaInfo + Target -> EncodeJob, the one concrete FFmpeg run that turns a source into its target.

Every video filter codeckit applies is built here, in one order:
deinterlace -> frame rate -> rotation -> scale (SAR to square pixels, fit/exact size) -> crop/pad -> setsar=1
-> tone mapping -> the encoder's own (pixel format, hardware upload).
Shared by `codeckit transcode` (issue 3) and corpus normalization (issue 5).
"""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from .codecs import EncoderChoice, EncoderRequest, Selection, choose_encoder, implementations_of
from .codecs.capability import Capability
from .errors import CodeckitError, ConfigError
from .ffmpeg import encoder_help, input_args, input_url
from .probe import MediaInfo, VideoStreamInfo
from .profiles import AUDIO_ENCODERS, CONTAINERS, LOSSLESS_AUDIO, Target

# Bumped when the same MediaInfo + Target would give a different command: journals key on it.
PLAN_VERSION = 1

TEXT_SUBTITLES = {"subrip", "srt", "ass", "ssa", "webvtt", "mov_text", "text", "ttml"}
# Decoders that hand out frames flagged as full range under another name.
_SAME_PIX_FMT = {"yuvj420p": "yuv420p", "yuvj422p": "yuv422p", "yuvj444p": "yuv444p"}
# Encoders that always code every frame as a keyframe: a keyframe interval means nothing to them.
_INTRA_ONLY = {"ffv1", "prores_ks", "prores_videotoolbox"}


from .errors import PlanError  # noqa: E402,F401  (defined with every other error; kept importable from here)


@dataclass(frozen=True)
class Filter:
    """One FFmpeg filter: its name, positional and named options."""
    name: str
    args: tuple = ()
    kwargs: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, name: str, *args, **kwargs) -> "Filter":
        return cls(name, tuple(args), tuple(kwargs.items()))

    def __str__(self) -> str:
        return _filter_chain([self])


def _filter_chain(filters: list[Filter], source: str | None = None) -> str:
    """A filter chain rendered by ffmpeg-python (it escapes option values as FFmpeg's graph parser wants)."""
    import ffmpeg
    stream = ffmpeg.input("in")
    stream = stream[source] if source else stream
    for f in filters:
        stream = stream.filter(f.name, *f.args, **dict(f.kwargs))
    graph = ffmpeg.output(stream, "out").get_args()
    text = graph[graph.index("-filter_complex") + 1]
    if source:
        return text
    # without an input label, drop the [0]...[sN] plumbing: a plain chain such as "scale=w=2:h=2,setsar=1"
    parts = text.split(";")
    return ",".join(p[p.index("]") + 1:p.rindex("[")] if p.startswith("[") else p[:p.rindex("[")]
                    for p in parts)


def _graph(filters: list[Filter], video_index: int) -> tuple[str, str]:
    """The -filter_complex text taking input stream 0:INDEX, and the label of its output for -map."""
    text = _filter_chain(filters, source=str(video_index))
    return text, text[text.rindex("["):]


@dataclass
class Expectation:
    """What a correct output holds: verification checks the written file against it."""
    video_codec: str
    audio_streams: int
    subtitle_streams: int
    duration_s: float | None
    frames: int | None                # video frames, if known
    frames_exact: bool                # False: an estimate (duration x rate), checked loosely
    width: int | None = None
    height: int | None = None


@dataclass
class EncodeJob:
    """Everything about one FFmpeg run: input, output, filter graph, implementation and arguments."""
    input: str
    output: str
    remux: bool                             # video stream-copied (audio/subtitles still per the target)
    implementation: str | None              # FFmpeg encoder, None when remuxing
    reason: str                             # why this implementation, or why remux
    filters: list[str]                      # the video filter chain, one filter each, in order
    filter_graph: str | None                # what -filter_complex gets
    input_options: list[str]                # before -i (e.g. -display_rotation 0)
    video_args: list[str]                   # -map and codec arguments of the video stream
    stream_args: list[str]                  # audio, subtitles, metadata, chapters, container
    global_args: list[str]                  # before the inputs (hardware device setup)
    duration_s: float | None
    expect: Expectation
    target: Target = field(repr=False)
    notes: list[str] = field(default_factory=list)
    knob_value: float | None = None
    selection: Selection | None = field(default=None, repr=False, compare=False)
    _spec: Any = field(default=None, repr=False, compare=False)

    def args(self, output: str | os.PathLike | None = None) -> list[str]:
        """FFmpeg's arguments (everything after the binary) writing to `output` (default: self.output)."""
        out = input_url(output if output is not None else self.output)
        graph = ["-filter_complex", self.filter_graph] if self.filter_graph else []
        return ["-y", *self.global_args, *self.input_options, *input_args(self.input), *graph,
                *self.video_args, *self.stream_args, out]

    def command(self, exe: str = "ffmpeg") -> list[str]:
        return [exe, "-hide_banner", *self.args()]

    @property
    def fell_back(self) -> bool:
        return bool(self.selection and self.selection.fell_back)

    def fall_back(self, error: str) -> "EncodeJob | None":
        """Record that this job's implementation failed at run time; the same job on the next one, or None."""
        if self.selection is None or self._spec is None:
            return None
        error = error.removeprefix("FFmpeg failed: ")
        choice = self.selection.fall_back(error)
        if choice is None:
            return None
        return _compose(self._spec, choice, self.selection)

    def describe(self) -> dict:
        return {"input": self.input, "output": self.output, "remux": self.remux,
                "implementation": self.implementation, "reason": self.reason, "knob_value": self.knob_value,
                "filters": list(self.filters), "filter_graph": self.filter_graph, "notes": list(self.notes),
                "command": self.command()}

    def __str__(self) -> str:
        what = "remux (video stream copy)" if self.remux else f"encode with {self.implementation}"
        lines = [f"{self.input} -> {self.output}", f"  {what}: {self.reason}"]
        if self.filters:
            lines.append("  filters: " + ",".join(self.filters))
        lines += [f"  note: {n}" for n in self.notes]
        lines.append("  " + shlex.join(self.command()))
        return "\n".join(lines)


@dataclass
class _Spec:
    """The encoder-independent part of a plan; composed with an EncoderChoice into an EncodeJob."""
    info: MediaInfo
    target: Target
    output: str
    video: VideoStreamInfo
    bit_depth: int
    input_options: list[str]
    filters: list[Filter]
    color_args: list[str]
    keyint: int | None
    threads: int | None
    stream_args: list[str]
    expect: Expectation
    notes: list[str]
    knob_value: float | None


# ---------------------------------------------------------------- planning

def plan(info: MediaInfo, target: Target, output: str | os.PathLike, *, knob_value: float | None = None,
         force_encode: bool = False, threads: int | None = None,
         capabilities: dict[str, Capability] | None = None, selection: Selection | None = None) -> EncodeJob:
    """The EncodeJob that makes `output` from the source described by `info`, as `target` says.

    `knob_value` (a native CRF/CQ/QP) wins over the target's quality; a target with a VMAF goal needs one (the
    quality search finds it). `threads` caps the encoder's threads (the batch sizes jobs x threads to the
    cores). `capabilities` replaces the machine's cached encoder checks (tests); `selection` reuses one.
    Raises PlanError when the source cannot become the target.
    """
    v = info.primary_video
    if v is None:
        raise PlanError("has no video stream (audio only?); nothing to transcode", path=info.path)
    tv = target.video
    notes: list[str] = []
    if len(info.video) > 1:
        notes.append(f"only the first video stream (#{v.index}) is kept; {len(info.video) - 1} more dropped")
    if v.hdr and tv.hdr == "reject":
        raise PlanError(f"is HDR ({v.hdr}); the profile rejects HDR sources (video.hdr = reject)", path=info.path,
                        hint="set video.hdr = tonemap or keep")
    depth = _bit_depth(v, target)
    tonemap = bool(v.hdr) and tv.hdr == "tonemap"
    if v.hdr and not tonemap and depth < 10:
        raise PlanError(f"is HDR ({v.hdr}) but the target is {depth}-bit, which cannot carry it", path=info.path,
                        hint="set video.hdr = tonemap (to SDR) or video.bit_depth = 10")
    if tv.vmaf is not None and knob_value is None and tv.knob is None:
        raise ConfigError(f"quality = {{ vmaf = {tv.vmaf:g} }} needs a VMAF search to find the encoder's "
                          "quality value first", path=target.source,
                          hint="run the search (codeckit.search) and pass plan(..., knob_value=), or give "
                               "video.quality instead")
    stream_args, audio_n, subs_n = _stream_args(info, target, notes)
    out_fps, frames, frames_exact = _output_timing(v, info, target)
    expect = Expectation(video_codec=tv.codec, audio_streams=audio_n, subtitle_streams=subs_n,
                         duration_s=_duration(info, v), frames=frames, frames_exact=frames_exact)

    if not force_encode and tv.remux:
        why_not = remux_blockers(info, target, depth)
        if not why_not:
            return _remux_job(info, target, str(output), v, stream_args, expect, notes)
        notes.append("re-encode: " + "; ".join(why_not))

    input_options, filters, (w, h) = _video_filters(v, target, notes, tonemap)
    expect.width, expect.height = w, h
    keyint = None
    if tv.keyint is not None:
        keyint = tv.keyint
    elif tv.keyint_s is not None:
        keyint = max(1, round(tv.keyint_s * float(out_fps))) if out_fps else None
        if keyint is None:
            notes.append("keyframe interval in seconds ignored: the frame rate is unknown")
    spec = _Spec(info=info, target=target, output=str(output), video=v, bit_depth=depth,
                 input_options=input_options, filters=filters, color_args=_color_args(v, tonemap),
                 keyint=keyint, threads=threads, stream_args=stream_args, expect=expect, notes=notes,
                 knob_value=knob_value if knob_value is not None else tv.knob)
    if selection is None:
        request = EncoderRequest(codec=tv.codec, quality=tv.quality, knob_value=spec.knob_value, speed=tv.speed,
                                 bit_depth=depth, prefer=tv.implementation)
        selection = choose_encoder(request, capabilities)
    return _compose(spec, selection.current, selection)


def _bit_depth(v: VideoStreamInfo, target: Target) -> int:
    want = target.video.bit_depth
    if want == "source":
        want = 10 if (v.bit_depth or 8) > 8 else 8
    impls = implementations_of(target.video.codec)
    if not any(want in i.pix_fmts for i in impls):  # e.g. ProRes: 10-bit only
        depths = sorted({d for i in impls for d in i.pix_fmts})
        want = min(depths, key=lambda d: (abs(d - want), -d))
    return int(want)


def _duration(info: MediaInfo, v: VideoStreamInfo) -> float | None:
    return v.duration_s or info.duration_s


def _output_timing(v: VideoStreamInfo, info: MediaInfo, target: Target):
    """(output frame rate or None, expected frame count, whether the count is exact)."""
    fps = _fps_change(v, target)
    if fps is None:
        if v.avg_fps_fraction:
            rate = Fraction(v.avg_fps_fraction)
        else:
            rate = Fraction(str(v.nominal_fps)) if v.nominal_fps else None
        return rate, v.frame_count, v.frame_count_exact
    duration = _duration(info, v)
    frames = round(duration * float(fps)) if duration else None
    return fps, frames, False


def _fps_change(v: VideoStreamInfo, target: Target) -> Fraction | None:
    """The fps filter's rate, when the target changes the source's timing; None to keep it."""
    tv = target.video
    if tv.fps is None:
        return None
    want = Fraction(tv.fps)
    rates = [r for r in (v.avg_fps, v.nominal_fps) if r]
    if tv.fps_mode == "cap":
        return want if any(r > float(want) * 1.001 for r in rates) else None
    if not v.vfr and rates and all(abs(r - float(want)) <= float(want) * 0.0005 for r in rates):
        return None  # already constant at that rate
    return want


def remux_blockers(info: MediaInfo, target: Target, depth: int | None = None) -> list[str]:
    """Why the source's video cannot simply be copied into the target; empty when it can."""
    v = info.primary_video
    tv = target.video
    if v is None:
        return ["no video stream"]
    depth = depth if depth is not None else _bit_depth(v, target)
    why = []
    if v.codec != tv.codec:
        why.append(f"video is {v.codec}, the target is {tv.codec}")
        return why
    if v.codec not in CONTAINERS[target.container].video:
        why.append(f"{target.container} cannot hold {v.codec}")
    if (v.bit_depth or 8) != depth:
        why.append(f"{v.bit_depth}-bit, the target is {depth}-bit")
    want_fmt = _wanted_pix_fmt(target, v, depth)
    if want_fmt and _SAME_PIX_FMT.get(v.pix_fmt or "", v.pix_fmt) != want_fmt:
        why.append(f"pixel format {v.pix_fmt}, the target is {want_fmt}")
    if v.sar not in ("1:1", "0:1"):
        why.append(f"non-square pixels (SAR {v.sar})")
    if v.width % 2 or v.height % 2:
        why.append(f"odd size {v.width}x{v.height}")
    w, h = v.upright_width, v.upright_height
    if tv.size == "fit" and (w > tv.width or h > tv.height):
        why.append(f"{w}x{h} exceeds {tv.width}x{tv.height}")
    elif tv.size == "fit" and tv.upscale and w < tv.width and h < tv.height:
        why.append(f"{w}x{h} is to be enlarged to fit {tv.width}x{tv.height} (upscale)")
    if tv.size == "exact" and (w, h) != (tv.width, tv.height):
        why.append(f"{w}x{h} is not {tv.width}x{tv.height}")
    if _fps_change(v, target) is not None:
        why.append(f"frame rate {v.avg_fps:g}{' (VFR)' if v.vfr else ''} does not meet fps "
                   f"{tv.fps} ({tv.fps_mode})" if v.avg_fps else "frame rate unknown")
    if v.interlaced and tv.deinterlace != "off":
        why.append("interlaced")
    if v.hdr and tv.hdr == "tonemap":
        why.append(f"HDR ({v.hdr}) to tone-map")
    if tv.keyint is not None or tv.keyint_s is not None:
        why.append("the target fixes the keyframe interval")
    return why


def _wanted_pix_fmt(target: Target, v: VideoStreamInfo, depth: int) -> str | None:
    """The pixel format a compliant source must already have (None: any of the bit depth)."""
    pf = target.video.pix_fmt
    if pf == "source":
        return None
    if pf:
        return pf
    software = [i for i in implementations_of(target.video.codec) if not i.hardware and depth in i.pix_fmts]
    return software[0].pix_fmts[depth] if software else None


def _remux_job(info, target, output, v, stream_args, expect, notes) -> EncodeJob:
    video_args = ["-map", f"0:{v.index}", "-c:v", "copy"]
    if v.codec == "hevc" and target.container in ("mp4", "mov"):
        video_args += ["-tag:v", "hvc1"]  # the tag Apple players require for HEVC
    if v.rotation:
        notes.append(f"rotation {v.rotation}° kept as the display matrix (stream copy)")
    expect.width, expect.height = v.width, v.height
    reason = f"source video is already {v.codec} within the profile's limits (--force-encode re-encodes it)"
    return EncodeJob(input=info.path, output=output, remux=True, implementation=None, reason=reason, filters=[],
                     filter_graph=None, input_options=[], video_args=video_args, stream_args=stream_args,
                     global_args=[], duration_s=expect.duration_s, expect=expect, target=target, notes=notes)


# ---------------------------------------------------------------- video filters

def _even(x: float) -> int:
    return max(2, int(x / 2 + 0.5) * 2)


def _video_filters(v: VideoStreamInfo, target: Target, notes: list[str], tonemap: bool):
    """Input options and the encoder-independent filter chain; and the output's width x height."""
    tv = target.video
    input_options: list[str] = []
    filters: list[Filter] = []

    if v.interlaced and tv.deinterlace != "off":
        name = "bwdif" if tv.deinterlace == "auto" else tv.deinterlace
        # one frame per frame (send_frame) keeps the frame rate and the frame count
        filters.append(Filter.of(name, mode="send_frame", parity="auto", deint="all"))
        notes.append(f"deinterlace ({name}): the source is interlaced ({v.field_order})")
    elif v.interlaced:
        notes.append(f"interlaced source ({v.field_order}) kept interlaced (video.deinterlace = off)")

    fps = _fps_change(v, target)
    if fps is not None:
        filters.append(Filter.of("fps", fps=str(fps)))
        src = f"{v.avg_fps:g} fps" + (" VFR" if v.vfr else "") if v.avg_fps else "unknown rate"
        notes.append(f"frame rate {src} -> constant {fps} fps")

    # FFmpeg turns rotated pictures upright itself (autorotate) and then drops the display matrix. We do it
    # in the graph instead, so the printed plan is the whole truth: -display_rotation 0 before the input
    # makes FFmpeg see no rotation (no autorotate, identity matrix on the output), and transpose does it.
    rot = v.rotation % 360
    if rot in (90, 180, 270):
        input_options = ["-display_rotation", "0"]
        if rot == 90:
            filters.append(Filter.of("transpose", dir="cclock"))
        elif rot == 270:
            filters.append(Filter.of("transpose", dir="clock"))
        else:
            filters += [Filter.of("hflip"), Filter.of("vflip")]
        notes.append(f"rotation {rot}° applied to the pixels; the output has no display matrix")
    elif rot:
        notes.append(f"rotation {rot}° is not a multiple of 90; FFmpeg's autorotate handles it")

    # Geometry in upright display space: SAR applied (square pixels out), then the size policy.
    sar = Fraction(v.sar.replace(":", "/")) if v.sar not in ("0:1", "1:1") else Fraction(1)
    disp_w, disp_h = v.upright_width, v.upright_height
    coded_w, coded_h = (v.height, v.width) if rot in (90, 270) else (v.width, v.height)
    out_w, out_h = disp_w, disp_h
    crop_pad: Filter | None = None
    if tv.size == "keep":
        if sar != 1:
            out_w, out_h = _even(disp_w), _even(disp_h)
        elif coded_w % 2 or coded_h % 2:
            # odd size: cut the last column/row rather than resample the whole picture
            out_w, out_h = coded_w - coded_w % 2, coded_h - coded_h % 2
            crop_pad = Filter.of("crop", w=out_w, h=out_h, x=0, y=0)
            notes.append(f"odd size {coded_w}x{coded_h} cropped to {out_w}x{out_h}")
    elif tv.size == "fit":
        s = min(tv.width / disp_w, tv.height / disp_h)
        if not tv.upscale:
            s = min(1.0, s)
        out_w, out_h = _even(disp_w * s), _even(disp_h * s)
        if s == 1.0 and sar == 1 and not (coded_w % 2 or coded_h % 2):
            out_w, out_h = coded_w, coded_h
    else:  # exact
        W, H = tv.width, tv.height
        if tv.aspect == "pad":
            s = min(W / disp_w, H / disp_h)
            out_w, out_h = min(W, _even(disp_w * s)), min(H, _even(disp_h * s))
            if (out_w, out_h) != (W, H):
                crop_pad = Filter.of("pad", w=W, h=H, x=(W - out_w) // 4 * 2, y=(H - out_h) // 4 * 2,
                                     color="black")
        else:
            s = max(W / disp_w, H / disp_h)
            out_w, out_h = max(W, _even(disp_w * s)), max(H, _even(disp_h * s))
            if (out_w, out_h) != (W, H):
                crop_pad = Filter.of("crop", w=W, h=H, x=(out_w - W) // 4 * 2, y=(out_h - H) // 4 * 2)
    scaled = (out_w, out_h) != (coded_w, coded_h) and not (crop_pad is not None and crop_pad.name == "crop"
                                                             and tv.size == "keep")
    if scaled:
        filters.append(Filter.of("scale", w=out_w, h=out_h))
        why = [] if sar == 1 else [f"SAR {v.sar} to square pixels"]
        if tv.size != "keep" and (out_w, out_h) != (_even(disp_w), _even(disp_h)):
            why.append(f"{tv.size} {tv.width}x{tv.height}")
        notes.append(f"scale {disp_w}x{disp_h} -> {out_w}x{out_h} ({', '.join(why) or 'even size'})")
    if crop_pad is not None:
        filters.append(crop_pad)
        if tv.size == "exact":
            notes.append(f"{crop_pad.name} to {tv.width}x{tv.height} (aspect = {tv.aspect})")
    if scaled or sar != 1:
        filters.append(Filter.of("setsar", "1"))
    final_w, final_h = (tv.width, tv.height) if (tv.size == "exact" and crop_pad is not None) else (out_w, out_h)

    if tonemap:
        filters += _tonemap_filters(v)
        notes.append(f"HDR ({v.hdr}) tone-mapped to SDR BT.709 (zscale + tonemap=hable)")
    elif v.hdr:
        notes.append(f"HDR ({v.hdr}) kept: {v.color_primaries}/{v.color_transfer}/{v.color_space} tags")
    return input_options, filters, (final_w, final_h)


def _tonemap_filters(v: VideoStreamInfo) -> list[Filter]:
    """HDR (PQ or HLG) to SDR BT.709: linear light, hable curve, back to BT.709 limited range."""
    first: dict[str, Any] = {"transfer": "linear", "npl": 100}
    # name the input's colors: zscale would otherwise trust tags some files leave out
    if v.color_transfer in ("smpte2084", "arib-std-b67"):
        first["tin"] = v.color_transfer
    if v.color_primaries == "bt2020":
        first["pin"] = "bt2020"
    if v.color_space in ("bt2020nc", "bt2020c"):
        first["min"] = v.color_space
    if v.color_range in ("tv", "pc"):
        first["rin"] = v.color_range
    return [Filter.of("zscale", **first), Filter.of("format", "gbrpf32le"), Filter.of("zscale", primaries="bt709"),
            Filter.of("tonemap", tonemap="hable", desat=0),
            Filter.of("zscale", transfer="bt709", matrix="bt709", range="tv")]


def _color_args(v: VideoStreamInfo, tonemap: bool) -> list[str]:
    """Tag the output with the colors it really has, so players do not guess."""
    if tonemap:
        return ["-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv"]
    args = []
    for opt, value in (("-color_primaries", v.color_primaries), ("-color_trc", v.color_transfer),
                       ("-colorspace", v.color_space), ("-color_range", v.color_range)):
        if value and value not in ("unknown", "reserved") and not value.isdigit():
            args += [opt, value]
    return args


# ---------------------------------------------------------------- composing with an implementation

def _compose(spec: _Spec, choice: EncoderChoice, selection: Selection) -> EncodeJob:
    impl = choice.implementation
    enc = choice.args
    notes = list(spec.notes)
    output_args = list(enc.output_args)
    pix_fmt = enc.pix_fmt
    wanted = spec.target.video.pix_fmt
    if wanted and wanted != pix_fmt and not impl.hardware:  # (asking FFmpeg what the encoder takes costs a run)
        supported = encoder_help(impl.name).pix_fmts
        if wanted == "source":
            src = spec.video.pix_fmt
            src = _SAME_PIX_FMT.get(src or "", src)
            if src in supported:
                pix_fmt = src
            else:
                notes.append(f"{impl.name} cannot take the source's {src}; using {pix_fmt}")
        elif wanted in supported:
            pix_fmt = wanted
        else:
            raise ConfigError(f"video.pix_fmt = {wanted!r} is not allowed for {impl.name}",
                              path=spec.target.source, hint="allowed: " + ", ".join(supported))
        if "-pix_fmt" in output_args:
            output_args[output_args.index("-pix_fmt") + 1] = pix_fmt
    chain = list(spec.filters)
    filters_text = [str(f) for f in chain] + list(enc.filters)
    if spec.keyint:
        output_args = _keyint_args(impl.name, impl.hardware, spec.keyint, output_args, notes)
    if spec.threads:
        output_args = _thread_args(impl.name, spec.threads, output_args)
    video_args: list[str]
    graph = None
    hw_chain = [Filter(f.split("=", 1)[0], tuple(f.split("=", 1)[1:])) for f in enc.filters]
    if chain or hw_chain:
        graph, label = _graph(chain + hw_chain, spec.video.index)
        video_args = ["-map", label]
    else:
        video_args = ["-map", f"0:{spec.video.index}"]
    video_args += output_args
    # keep the source's timestamps (VFR stays VFR): the MP4 muxer would otherwise make it constant-rate
    video_args += ["-fps_mode", "vfr", *spec.color_args]
    if spec.target.video.codec == "hevc" and spec.target.container in ("mp4", "mov"):
        video_args += ["-tag:v", "hvc1"]
    what = f"knob {enc.knob_value:g}" if enc.knob_value is not None else "lossless"
    if impl.knob is not None and enc.knob_value is not None:
        what = f"{impl.knob.option.lstrip('-')} {enc.knob_value:g}"
    reason = f"{choice.reason} ({what}, {spec.bit_depth}-bit {pix_fmt})"
    expect = replace(spec.expect)
    return EncodeJob(input=spec.info.path, output=spec.output, remux=False, implementation=impl.name,
                     reason=reason, filters=filters_text, filter_graph=graph, input_options=list(spec.input_options),
                     video_args=video_args, stream_args=list(spec.stream_args), global_args=list(enc.global_args),
                     duration_s=expect.duration_s, expect=expect, target=spec.target, notes=notes,
                     knob_value=enc.knob_value, selection=selection, _spec=spec)


def _keyint_args(name: str, hardware: bool, n: int, args: list[str], notes: list[str]) -> list[str]:
    """Exactly one keyframe every n frames: each encoder family has its own way to stop scene-cut keyframes."""
    if name in _INTRA_ONLY:
        notes.append(f"{name} codes every frame as a keyframe; keyint {n} has nothing to do")
        return args
    notes.append(f"keyframe every {n} frames (fixed GOP)")
    if name == "libx264":
        return args + ["-g", str(n), "-keyint_min", str(n), "-sc_threshold", "0"]
    if name == "libx265":  # x265 reads its own params; one -x265-params only, so merge into it
        extra = f"keyint={n}:min-keyint={n}:scenecut=0"
        return _merge_params(args, "-x265-params", extra)
    if name == "libsvtav1":  # SVT-AV1 inserts no scene-change keyframes unless asked (scd=0 by default)
        return args + ["-g", str(n)]
    if name in ("libaom-av1", "libvpx-vp9", "librav1e"):
        return args + ["-g", str(n), "-keyint_min", str(n)]
    # hardware encoders: a GOP length plus keyframes forced on the frame numbers
    return args + ["-g", str(n), "-force_key_frames", f"expr:eq(mod(n,{n}),0)"]


def _thread_args(name: str, threads: int, args: list[str]) -> list[str]:
    if name == "libx265":  # libx265 sizes its own thread pool and ignores -threads
        return _merge_params(args, "-x265-params", f"pools={threads}")
    return args + ["-threads", str(threads)]


def _merge_params(args: list[str], option: str, extra: str) -> list[str]:
    args = list(args)
    if option in args:
        i = args.index(option) + 1
        args[i] = f"{args[i]}:{extra}"
    else:
        args += [option, extra]
    return args


# ---------------------------------------------------------------- audio, subtitles, metadata, container

def _bits_per_s(text: str) -> float:
    t = text.strip().lower()
    mult = 1000.0 if t.endswith("k") else 1e6 if t.endswith("m") else 1.0
    return float(t.rstrip("km")) * mult


def _stream_args(info: MediaInfo, target: Target, notes: list[str]) -> tuple[list[str], int, int]:
    """-map and codec arguments for audio and subtitles, then metadata, chapters and muxer options."""
    cont = CONTAINERS[target.container]
    ta = target.audio
    args: list[str] = []
    n_audio = 0
    if ta.mode == "drop" and info.audio:
        notes.append(f"{len(info.audio)} audio stream(s) dropped (audio.mode = drop)")
    for a in info.audio if ta.mode != "drop" else []:
        k = n_audio
        fits = cont.audio is None or a.codec in cont.audio
        if ta.mode == "copy":
            copy = fits
            if not fits:
                notes.append(f"audio #{a.index} ({a.codec}) cannot go into {target.container}: "
                             f"re-encoded to {_audio_codec_for(ta.codec, cont)}")
        else:
            copy = fits and a.codec == ta.codec and (
                ta.codec in LOSSLESS_AUDIO or (a.bit_rate or 0) and a.bit_rate <= _bits_per_s(ta.bitrate) * 1.05) \
                and (ta.channels is None or a.channels <= ta.channels) \
                and (ta.sample_rate is None or a.sample_rate == ta.sample_rate)
            if copy:
                notes.append(f"audio #{a.index} is already {a.codec} within the profile's limits: copied")
        args += ["-map", f"0:{a.index}"]
        if copy:
            args += [f"-c:a:{k}", "copy"]
        else:
            codec = _audio_codec_for(ta.codec, cont)
            args += [f"-c:a:{k}", AUDIO_ENCODERS[codec]]
            if codec not in LOSSLESS_AUDIO:
                args += [f"-b:a:{k}", ta.bitrate]
            if ta.channels is not None and a.channels > ta.channels:
                args += [f"-ac:a:{k}", str(ta.channels)]
            if ta.sample_rate is not None:
                args += [f"-ar:a:{k}", str(ta.sample_rate)]
            elif codec == "opus" and a.sample_rate not in (8000, 12000, 16000, 24000, 48000):
                args += [f"-ar:a:{k}", "48000"]  # libopus takes only these rates
        n_audio += 1

    n_subs = 0
    if target.subtitles == "drop" and info.subtitles:
        notes.append(f"{len(info.subtitles)} subtitle stream(s) dropped (subtitles.mode = drop)")
    for s in info.subtitles if target.subtitles == "copy" else []:
        text = s.codec in TEXT_SUBTITLES
        if text and cont.text_subtitles:
            codec = cont.text_subtitles
            if codec == "copy" and s.codec == "mov_text":
                codec = "srt"  # Matroska cannot hold mov_text
        elif not text and cont.bitmap_subtitles:
            codec = "copy"
        else:
            notes.append(f"subtitle #{s.index} ({s.codec}) cannot go into {target.container}: dropped")
            continue
        args += ["-map", f"0:{s.index}", f"-c:s:{n_subs}", "copy" if codec == s.codec else codec]
        n_subs += 1

    if target.container == "mkv" and target.subtitles == "copy":
        # attachments (the fonts ASS subtitles are drawn with) travel with the subtitles, if there are any
        args += ["-map", "0:t?", "-c:t", "copy"]
    args += ["-map_metadata", "0" if target.metadata else "-1", "-map_chapters", "0" if target.chapters else "-1"]
    args += ["-f", cont.format]
    flags = []
    if cont.faststart and target.faststart:
        flags.append("+faststart")
    if cont.faststart and target.metadata:
        flags.append("+use_metadata_tags")  # keep every container tag, not only the few MP4 has atoms for
    if flags:
        args += ["-movflags", "".join(flags)]
    # sparse streams (subtitles) must not stall the muxer while video is still being encoded
    args += ["-max_muxing_queue_size", "4096"]
    return args, n_audio, n_subs


def _audio_codec_for(wanted: str, cont) -> str:
    if cont.audio is None or wanted in cont.audio:
        return wanted
    return "opus" if "opus" in cont.audio else "aac"


def output_path(out_dir: str | os.PathLike, relative: str | os.PathLike, target: Target) -> Path:
    """Where a source's output goes: its relative path under out_dir, with the container's extension."""
    rel = Path(relative)
    return Path(out_dir) / rel.with_suffix(target.extension)


__all__ = ["EncodeJob", "Expectation", "Filter", "PLAN_VERSION", "PlanError", "output_path", "plan",
           "remux_blockers"]
