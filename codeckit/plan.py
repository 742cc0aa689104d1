"""Plan: MediaInfo + Target -> EncodeJob, the one concrete FFmpeg run that turns a source into its target.

The encoder-independent video filter chain is built in `video_filters`, the audio, subtitle and container
arguments in `stream_args`; here they are composed with the chosen encoder's own arguments and filters.
Shared by `codeckit transcode` (issue 3) and corpus normalization (issue 5).
"""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from .codecs import EncoderChoice, EncoderRequest, Selection, choose_encoder, implementations_of
from .codecs.capability import Capability
from .errors import ConfigError, PlanError
from .ffmpeg import encoder_help, input_args, input_url
from .probe import MediaInfo, VideoStreamInfo
from .profiles import CONTAINERS, Target
from .stream_args import stream_args_for
from .video_filters import Filter, color_args, filter_graph, fps_change, rgb_to_yuv, video_filters

# Bumped when the same MediaInfo + Target would give a different command: journals key on it.
PLAN_VERSION = 1

# Decoders that hand out frames flagged as full range under another name.
_SAME_PIX_FMT = {"yuvj420p": "yuv420p", "yuvj422p": "yuv422p", "yuvj444p": "yuv444p"}
# Encoders that always code every frame as a keyframe: a keyframe interval means nothing to them.
_INTRA_ONLY = {"ffv1", "prores_ks", "prores_videotoolbox"}


class Blocker(str):
    """One reason a source's video cannot be stream-copied: the message people read (the str itself) and a
    `code` that code tests, so a reworded message breaks nothing that acts on it."""
    code: str

    def __new__(cls, code: str, message: str) -> "Blocker":
        self = super().__new__(cls, message)
        self.code = code
        return self

    def __getnewargs__(self):  # pickling (process pools) re-creates it through __new__
        return self.code, str(self)


#: The code of the blocker "the target fixes the keyframe interval" (a source may still meet it: normalize
#: checks its keyframes).
KEYINT_BLOCKER = "keyint"


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
    # the source file: an output missing audio is checked against it (a source stream with no sample leaves
    # the output nothing to carry: MP4 muxers drop such a stream, MKV keeps it empty)
    source: str | None = None
    # exact conformance (normalize's clips): with `exact`, the frame count must be `frames` exactly (when
    # `frames_exact`), pixels square, and no stream beyond the expected ones; `fps`, `pix_fmt` and `keyint` (a
    # keyframe on every keyint-th frame and nowhere else) are checked when given. verify checks them from its
    # one demux, before the rename: a clip that is not exactly the profile never reaches its final name
    exact: bool = False
    fps: str | None = None            # the exact frame rate, "24/1"
    pix_fmt: str | None = None
    keyint: int | None = None


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
    tonemap: bool
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
        which = "the default" if v.default else "the first"
        notes.append(f"{which} video stream (#{v.index}) is used; {len(info.video) - 1} more video stream(s) "
                     f"(#{', #'.join(str(o.index) for o in info.video[1:])}) ignored")
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
    stream_args, audio_n, subs_n = stream_args_for(info, target, notes)
    out_fps, frames, frames_exact = _output_timing(v, info, target)
    expect = Expectation(video_codec=tv.codec, audio_streams=audio_n, subtitle_streams=subs_n,
                         duration_s=_duration(info, v), frames=frames, frames_exact=frames_exact,
                         source=info.path)

    if not force_encode and tv.remux:
        why_not = remux_blockers(info, target, depth)
        if not why_not:
            return _remux_job(info, target, str(output), v, stream_args, expect, notes)
        notes.append("re-encode: " + "; ".join(why_not))

    input_options, filters, (w, h) = video_filters(v, target, notes, tonemap)
    expect.width, expect.height = w, h
    keyint = None
    if tv.keyint is not None:
        keyint = tv.keyint
    elif tv.keyint_s is not None:
        keyint = max(1, round(tv.keyint_s * float(out_fps))) if out_fps else None
        if keyint is None:
            notes.append("keyframe interval in seconds ignored: the frame rate is unknown")
    spec = _Spec(info=info, target=target, output=str(output), video=v, bit_depth=depth,
                 input_options=input_options, filters=filters, tonemap=tonemap,
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
    fps = fps_change(v, target)
    if fps is None:
        if v.avg_fps_fraction:
            rate = Fraction(v.avg_fps_fraction)
        else:
            rate = Fraction(str(v.nominal_fps)) if v.nominal_fps else None
        # only a counted source is checked frame by frame: a count estimated from duration x rate is wrong for
        # any VFR source or one with gaps (an MKV with a 0.5 s hole: 62 estimated, 50 real), so an estimated
        # source is checked on its duration alone
        return rate, (v.frame_count if v.frame_count_exact else None), v.frame_count_exact
    duration = _duration(info, v)
    frames = round(duration * float(fps)) if duration else None
    return fps, frames, False


def remux_blockers(info: MediaInfo, target: Target, depth: int | None = None) -> list[Blocker]:
    """Why the source's video cannot simply be copied into the target; empty when it can."""
    v = info.primary_video
    tv = target.video
    if v is None:
        return [Blocker("no_video", "no video stream")]
    depth = depth if depth is not None else _bit_depth(v, target)
    why: list[Blocker] = []
    if v.codec != tv.codec:
        why.append(Blocker("codec", f"video is {v.codec}, the target is {tv.codec}"))
        return why
    if v.codec not in CONTAINERS[target.container].video:
        why.append(Blocker("container", f"{target.container} cannot hold {v.codec}"))
    if (v.bit_depth or 8) != depth:
        why.append(Blocker("bit_depth", f"{v.bit_depth}-bit, the target is {depth}-bit"))
    want_fmt = _wanted_pix_fmt(target, v, depth)
    if want_fmt and _SAME_PIX_FMT.get(v.pix_fmt or "", v.pix_fmt) != want_fmt:
        why.append(Blocker("pix_fmt", f"pixel format {v.pix_fmt}, the target is {want_fmt}"))
    if v.sar not in ("1:1", "0:1"):
        why.append(Blocker("sar", f"non-square pixels (SAR {v.sar})"))
    if v.width % 2 or v.height % 2:
        why.append(Blocker("odd_size", f"odd size {v.width}x{v.height}"))
    w, h = v.upright_width, v.upright_height
    if tv.size == "fit" and (w > tv.width or h > tv.height):
        why.append(Blocker("size", f"{w}x{h} exceeds {tv.width}x{tv.height}"))
    elif tv.size == "fit" and tv.upscale and w < tv.width and h < tv.height:
        why.append(Blocker("size", f"{w}x{h} is to be enlarged to fit {tv.width}x{tv.height} (upscale)"))
    if tv.size == "exact" and (w, h) != (tv.width, tv.height):
        why.append(Blocker("size", f"{w}x{h} is not {tv.width}x{tv.height}"))
    if fps_change(v, target) is not None:
        why.append(Blocker("fps", f"frame rate {v.avg_fps:g}{' (VFR)' if v.vfr else ''} does not meet fps "
                                  f"{tv.fps} ({tv.fps_mode})" if v.avg_fps else "frame rate unknown"))
    if v.frame_sizes:
        why.append(Blocker("size_changes", "the picture size changes mid-stream ("
                           + ", ".join(f"{w}x{h}" for w, h in v.frame_sizes) + ")"))
    if v.interlaced and tv.deinterlace != "off":
        why.append(Blocker("interlaced", "interlaced"))
    if v.hdr and tv.hdr == "tonemap":
        why.append(Blocker("hdr", f"HDR ({v.hdr}) to tone-map"))
    if tv.keyint is not None or tv.keyint_s is not None:
        why.append(Blocker(KEYINT_BLOCKER, "the target fixes the keyframe interval"))
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


def _codec_tag_args(codec: str, target: Target) -> list[str]:
    """HEVC in MP4/MOV tagged hvc1 (FFmpeg writes hev1), the tag Apple players require."""
    return ["-tag:v", "hvc1"] if codec == "hevc" and target.container in ("mp4", "mov") else []


def _remux_job(info, target, output, v, stream_args, expect, notes) -> EncodeJob:
    video_args = ["-map", f"0:{v.index}", "-c:v", "copy"]
    video_args += _codec_tag_args(v.codec, target)
    if v.rotation:
        notes.append(f"rotation {v.rotation}° kept as the display matrix (stream copy)")
    expect.width, expect.height = v.width, v.height
    reason = f"source video is already {v.codec} within the profile's limits (--force-encode re-encodes it)"
    return EncodeJob(input=info.path, output=output, remux=True, implementation=None, reason=reason, filters=[],
                     filter_graph=None, input_options=[], video_args=video_args, stream_args=stream_args,
                     global_args=[], duration_s=expect.duration_s, expect=expect, target=target, notes=notes)


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
    chain = list(spec.filters) + rgb_to_yuv(spec.video, pix_fmt, spec.expect.height, notes)
    color = color_args(spec.video, spec.tonemap, pix_fmt, spec.expect.height)
    filters_text = [str(f) for f in chain] + list(enc.filters)
    if spec.keyint:
        output_args = keyint_args(impl.name, impl.hardware, spec.keyint, output_args, notes)
    input_options = list(spec.input_options)
    if spec.threads:
        output_args = thread_args(impl.name, spec.threads, output_args)
        # the decoder too: its frame threads cost CPU the batch's job-per-core already gives back (the bench's
        # 1080p H.264 sources, interlaced A/B: 4.83 -> 4.67 and 3.56 -> 3.43 CPU-s; the same frames decoded)
        input_options = ["-threads", str(spec.threads), *input_options]
    video_args: list[str]
    graph = None
    hw_chain = [Filter(f.split("=", 1)[0], tuple(f.split("=", 1)[1:])) for f in enc.filters]
    if chain or hw_chain:
        graph, label = filter_graph(chain + hw_chain, spec.video.index)
        video_args = ["-map", label]
    else:
        video_args = ["-map", f"0:{spec.video.index}"]
    video_args += output_args
    # keep the source's timestamps (VFR stays VFR): the MP4 muxer would otherwise make it constant-rate
    video_args += ["-fps_mode", "vfr", *color]
    video_args += _codec_tag_args(spec.target.video.codec, spec.target)
    what = f"knob {enc.knob_value:g}" if enc.knob_value is not None else "lossless"
    if impl.knob is not None and enc.knob_value is not None:
        what = f"{impl.knob.option.lstrip('-')} {enc.knob_value:g}"
    reason = f"{choice.reason} ({what}, {spec.bit_depth}-bit {pix_fmt})"
    expect = replace(spec.expect)
    return EncodeJob(input=spec.info.path, output=spec.output, remux=False, implementation=impl.name,
                     reason=reason, filters=filters_text, filter_graph=graph, input_options=input_options,
                     video_args=video_args, stream_args=list(spec.stream_args), global_args=list(enc.global_args),
                     duration_s=expect.duration_s, expect=expect, target=spec.target, notes=notes,
                     knob_value=enc.knob_value, selection=selection, _spec=spec)


def keyint_args(name: str, hardware: bool, n: int, args: list[str], notes: list[str], *,
                closed_gop: bool = False) -> list[str]:
    """Exactly one keyframe every n frames: each encoder family has its own way to stop scene-cut keyframes.
    `closed_gop`: every keyframe an IDR that no frame before it references (segments that start playback
    on their own: x265 opens its GOPs with CRA frames unless told; x264, SVT-AV1 and libaom close theirs)."""
    if name in _INTRA_ONLY:
        notes.append(f"{name} codes every frame as a keyframe; keyint {n} has nothing to do")
        return args
    notes.append(f"keyframe every {n} frames (fixed GOP)")
    if name == "libx264":
        return args + ["-g", str(n), "-keyint_min", str(n), "-sc_threshold", "0"]
    if name == "libx265":  # x265 reads its own params; one -x265-params only, so merge into it
        extra = f"keyint={n}:min-keyint={n}:scenecut=0" + (":open-gop=0" if closed_gop else "")
        return _merge_params(args, "-x265-params", extra)
    if name == "libsvtav1":  # SVT-AV1 inserts no scene-change keyframes unless asked (scd=0 by default)
        return args + ["-g", str(n)]
    if name in ("libaom-av1", "libvpx-vp9", "librav1e"):
        return args + ["-g", str(n), "-keyint_min", str(n)]
    # hardware encoders: a GOP length plus keyframes forced on the frame numbers
    return args + ["-g", str(n), "-force_key_frames", f"expr:eq(mod(n,{n}),0)"]


def thread_args(name: str, threads: int, args: list[str]) -> list[str]:
    """`threads` for one encoder (libx265 sizes its pool through its own params)."""
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


__all__ = ["Blocker", "EncodeJob", "Expectation", "Filter", "KEYINT_BLOCKER", "PLAN_VERSION", "PlanError",
           "keyint_args", "plan", "remux_blockers", "thread_args"]
