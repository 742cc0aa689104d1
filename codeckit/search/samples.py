"""Samples of a source and how they are encoded: the recipe (implementation, speed, filters), spans, keyframes."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..codecs import EncoderArgs, Implementation, encoder_args
from ..errors import ConfigError
from ..ffmpeg import RunResult, input_args, input_url, run_ffmpeg
from ..probe import MediaInfo, probe
from ..sources import open_media, packets

# Scored seconds per sample, and the unscored encode before and after them (see Span). Measured on a
# 2-minute 1080p mix with x264 medium, against the same frames of a full encode: pre-roll 0.25 s with
# post-roll 0.5 s scores 0.05-0.1 VMAF low per sample; without a post-roll 1.2 low. Short samples: where
# the content changes every few seconds the spread of the estimate is set by how many places are sampled,
# not by how long each is, and each place costs its rolls.
SAMPLE_DURATION_S = 1.0
POST_ROLL_S = 0.5
PRE_ROLL_S = 0.25
MIN_SAMPLES, MAX_SAMPLES = 4, 12
# The samples' scored seconds add up to this share of the source (at least MIN_SAMPLE_SECONDS). With the
# rolls, each probe encodes about 9 % of a long source.
SAMPLE_SHARE = 0.05
MIN_SAMPLE_SECONDS = 6.0
GOLDEN = 0.6180339887498949
# A sample moves to a source keyframe only this close to where it was aimed. Moved to the nearest keyframe
# anywhere in its slice, samples gathered where keyframes are dense (busy, cut-heavy content): on the
# 2-minute bench mix 6 samples then scored 2 VMAF above the whole source.
SNAP_S = 0.5
# When the samples (rolls included) would encode this share of the source or more, the whole source is
# encoded instead: about as cheap, and exact.
FULL_PASS_SHARE = 0.5


@dataclass(frozen=True)
class EncodeRecipe:
    """How the source is encoded at a knob value: implementation, speed, bit depth and the filters before it.

    `extra_output_args` are added after the encoder's own (a plan's keyframe interval, tune, threads).
    """
    implementation: Implementation
    speed: str | int = "medium"
    bit_depth: int = 8
    filters: tuple[str, ...] = ()
    extra_output_args: tuple[str, ...] = ()

    def __post_init__(self):
        if self.implementation.knob is None:
            raise ConfigError(f"{self.implementation.name} has no quality knob to search "
                              f"({self.implementation.note or 'fixed quality'})",
                              hint="choose an encoder with a CRF/CQ/QP knob")

    def args_at(self, knob: int) -> EncoderArgs:
        return encoder_args(self.implementation, knob_value=knob, speed=self.speed, bit_depth=self.bit_depth)

    def video_filter(self, args: EncoderArgs) -> str | None:
        chain = [*self.filters, *args.filters]
        return ",".join(chain) if chain else None

    def output_args(self, knob: int) -> list[str]:
        """The video encoder's arguments at `knob` (what a full encode would use)."""
        return self.args_at(knob).output_args + list(self.extra_output_args)

    def sample_args(self, source: str | Path, output: str | Path, knob: int, span: "Span",
                    video_index: int | None, container: str = "matroska", input_options: Sequence[str] = ()
                    ) -> list[str]:
        """FFmpeg's arguments for a video-only encode of `span` of `source` at `knob` (`input_options`
        go before its -i)."""
        a = self.args_at(knob)
        args = ["-y", *a.global_args, *_seek_args(span), *input_options, *input_args(source)]
        args += _map_video(video_index)
        vf = self.video_filter(a)
        if vf:
            args += ["-vf", vf]
        return args + [*a.output_args, *self.extra_output_args, *_VIDEO_ONLY, "-f", container, input_url(output)]

    #: The samples may be encoded from decoded windows of the source (extract_window) rather than from
    #: the source itself: true when nothing in the encode reads more of the input than its frames.
    decoded_windows = True

    def cache_parts(self, knob: int) -> dict:
        """Everything about the encode that changes a sample's bytes or score (for the cache key)."""
        a = self.args_at(knob)
        return {"encoder": self.implementation.name, "global": a.global_args, "vf": self.video_filter(a),
                "out": a.output_args + list(self.extra_output_args)}

    @property
    def knob_range(self) -> tuple[float, float]:
        k = self.implementation.knob
        return float(k.lo), float(k.hi)


_VIDEO_ONLY = ("-an", "-sn", "-dn", "-map_metadata", "-1")


def _map_video(video_index: int | None) -> list[str]:
    return ["-map", f"0:{video_index}" if video_index is not None else "0:v:0"]


def _seek_args(span: "Span") -> list[str]:
    # Input seeking is frame-accurate and deterministic: the scorer seeks the same way, so the reference
    # frames are exactly the ones the encoder was given.
    if span.whole:
        return []
    return ["-ss", f"{span.start_s:.6f}", "-t", f"{span.encoded_s:.6f}"]


@dataclass(frozen=True)
class Span:
    """A part of the source: start and duration in seconds (both None: the whole source).

    The encode starts at `start_s` (a keyframe of the source) and runs `pre_roll_s + duration_s +
    post_roll_s`; only `duration_s` after the pre-roll is scored. The post-roll: an encoder that looks
    ahead (x264's mb-tree, SVT-AV1's temporal filtering) starves the last frames of a stream, which a long
    encode never shows (1 s samples of x264 scored 1.4 VMAF low without it, 0.3 with half a second). The
    pre-roll: the first frames of a fresh encode (its keyframe, here often also a scene start) score
    higher than the same frames in the middle of a long one.
    """
    start_s: float | None = None
    duration_s: float | None = None
    post_roll_s: float = 0.0
    pre_roll_s: float = 0.0

    @property
    def encoded_s(self) -> float:
        return self.pre_roll_s + self.duration_s + self.post_roll_s

    @property
    def whole(self) -> bool:
        return self.start_s is None


#: Decoded windows of the source (see extract_window) are written only while they add up to at most this
#: much, and take at most half the free space of the folder they go to; beyond that the samples seek in the
#: source for every probe, as before.
WINDOWS_MAX_BYTES = 4 << 30


def raw_frame_bytes(width: int, height: int, pix_fmt: str | None) -> int | None:
    """Bytes of one raw frame of this size and pixel format (None: a format PyAV does not know)."""
    import av
    try:
        frame = av.VideoFrame(width, height, pix_fmt)
    except Exception:
        return None
    return sum(p.buffer_size for p in frame.planes)


def windows_usable(info: MediaInfo, spans: list[Span], folder: str | Path) -> bool:
    """Whether the samples of `spans` may be encoded from decoded windows (extract_window): raw video in NUT
    keeps the frames, their timestamps and the SAR, but not the color range nor the field order, so a
    full-range (or yuvj) source and an interlaced one seek in the source instead, and so does one whose
    windows would not fit under WINDOWS_MAX_BYTES and in half of `folder`'s free space."""
    import shutil
    v = info.video[0]
    if not v.width or not v.height or any(s_.whole for s_ in spans):
        return False
    if v.interlaced or v.color_range == "pc" or (v.pix_fmt or "").startswith("yuvj"):
        return False
    per_frame = raw_frame_bytes(v.width, v.height, v.pix_fmt)
    if not per_frame:
        return False
    fps = v.avg_fps or v.nominal_fps or 25.0
    total = sum(per_frame * (math.ceil(s_.encoded_s * fps) + 2) for s_ in spans)
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return False
    return total <= min(WINDOWS_MAX_BYTES, free // 2)


def window_input_options(info: MediaInfo) -> list[str]:
    """What reading a window needs told that NUT does not keep: the source's color tags (an encoder writes
    them into its stream, and a color-aware filter reads them)."""
    v = info.video[0]
    out = []
    for option, value in (("-color_primaries", v.color_primaries), ("-color_trc", v.color_transfer),
                          ("-colorspace", v.color_space)):
        if value and value not in ("unknown", "reserved"):
            out += [option, value]
    return out


def extract_window(source: str | Path, span: Span, video_index: int | None, output: str | Path) -> RunResult:
    """Decode the frames a sample encodes (pre-roll to post-roll) once, into raw video in NUT (which keeps
    their timestamps). Every probe's encode and score then read these frames instead of seeking in the
    source and decoding it again: at 1080p that decoding was about a quarter of a probe's CPU (the seek
    decodes from the keyframe before the sample, and the encode and the scorer each did it). The seek is
    the one a direct sample encode makes, so the frames are the same."""
    args = ["-y", *_seek_args(span), *input_args(source), *_map_video(video_index),
            "-c:v", "rawvideo", *_VIDEO_ONLY, "-f", "nut", input_url(output)]
    return run_ffmpeg(args, subject=source, loglevel="error", duration_s=span.encoded_s)


def encode_args(source: str | Path, output: str | Path, recipe: EncodeRecipe, knob: int, span: Span = Span(),
                video_index: int | None = None, container: str = "matroska", input_options: Sequence[str] = ()
                ) -> list[str]:
    """The FFmpeg arguments of a video-only encode of `span` of `source` at `knob` (what a probe runs,
    and, with the whole span, the full encode its prediction is for)."""
    return recipe.sample_args(source, output, knob, span, video_index, container, input_options)


def batch_sample_args(source: str | Path, outputs: Sequence[tuple[EncodeRecipe, int, str | Path]],
                      input_options: Sequence[str] = (), container: str = "matroska") -> list[str]:
    """FFmpeg's arguments for several video-only encodes of the whole of `source` (a decoded window) in one
    run: (recipe, knob, output) each, the source read once, each recipe's filters run once and split among
    its knob values, every output encoded as `encode_args` would encode it (the same frames, the same
    encoder options: the bitstreams are identical). The recipes must agree on the global arguments."""
    parts = [(r.args_at(k), r, k, out) for r, k, out in outputs]
    globals_ = {tuple(a.global_args) for a, *_ in parts}
    if len(globals_) != 1:
        raise ConfigError("the encodes of one run must share their global arguments")
    chains: dict[str, list[int]] = {}
    for n, (a, r, _, _) in enumerate(parts):
        chains.setdefault(r.video_filter(a) or "null", []).append(n)
    graph = [f"[0:0]split={len(chains)}" + "".join(f"[c{g}]" for g in range(len(chains)))]
    for g, (chain, members) in enumerate(chains.items()):
        graph.append(f"[c{g}]{chain},split={len(members)}" + "".join(f"[o{n}]" for n in members))
    args = ["-y", *next(iter(globals_)), *input_options, *input_args(source), "-filter_complex", ";".join(graph)]
    for n, (a, r, _, out) in enumerate(parts):
        args += ["-map", f"[o{n}]", *a.output_args, *r.extra_output_args, *_VIDEO_ONLY, "-f", container,
                 input_url(out)]
    return args


def encode_at(source: str | Path, output: str | Path, recipe: EncodeRecipe, knob: int, *,
              container: str = "matroska", timeout: float | None = None, on_progress=None) -> RunResult:
    """Encode the whole source (video only) at `knob`, as the search's samples were encoded."""
    info = probe(source)
    v = info.video[0] if info.video else None
    return run_ffmpeg(encode_args(source, output, recipe, knob, Span(), v.index if v else None, container),
                      subject=source, timeout=timeout, on_progress=on_progress,
                      duration_s=info.duration_s, loglevel="error")


@dataclass
class PacketStats:
    """The first video stream of a file, from its packets: bytes, frames, seconds, and its keyframes' bytes."""
    bytes: int
    frames: int
    seconds: float | None
    key_bytes: int
    keyframes: int


def video_packets(path: str | Path) -> PacketStats:
    """Count the first video stream's packets: the stream itself, without the container's overhead,
    which differs between a short sample and a long file."""
    with open_media(path) as c:
        s = c.streams.video[0]
        total, frames, key_bytes, keys, first, last = 0, 0, 0, 0, None, None
        for pkt in packets(c, s):
            total += pkt.size
            frames += 1
            if pkt.is_keyframe:
                key_bytes += pkt.size
                keys += 1
            if pkt.pts is not None:
                end = pkt.pts + (pkt.duration or 0)
                first = pkt.pts if first is None else min(first, pkt.pts)
                last = end if last is None else max(last, end)
        seconds = None
        rate = s.average_rate or s.base_rate
        if rate and frames:
            seconds = frames / float(rate)
        elif first is not None and last is not None and s.time_base:
            seconds = float((last - first) * s.time_base)
    return PacketStats(total, frames, seconds, key_bytes, keys)


def video_bytes(path: str | Path) -> tuple[int, int, float | None]:
    """(bytes, frames, seconds) of the first video stream's packets."""
    st = video_packets(path)
    return st.bytes, st.frames, st.seconds


def keyframe_interval_s(profile: "PacketProfile | None", total_s: float | None) -> float:
    """How often a full encode can be expected to put a keyframe: the source's own keyframe spacing (its
    encoder's scene cuts and GOP), between 1 s and 10 s (x264's default GOP at 25 fps); 10 s unknown."""
    if profile is None or not total_s:
        return 10.0
    keys = int(profile.keys.sum())
    return max(1.0, min(10.0, total_s / max(1, keys)))


@dataclass
class PacketProfile:
    """The source's video packets, demuxed (not decoded): when each starts, how big it is, which are keyframes."""
    times: np.ndarray          # seconds from the first packet
    sizes: np.ndarray
    keys: np.ndarray


#: Sources larger than this are not read whole to place samples (evenly spaced samples instead).
PROFILE_MAX_BYTES = 4 << 30


def packet_profile(path: str | Path, stream_index: int) -> PacketProfile | None:
    """Demux the video stream's packets (a read of the file, no decoding); None when it cannot."""
    p = Path(path)
    try:
        if p.stat().st_size > PROFILE_MAX_BYTES:
            return None
        times, sizes, keys = [], [], []
        with open_media(p) as c:
            s = c.streams[stream_index]
            tb = float(s.time_base or 0)
            for pkt in packets(c, s, timed=True):
                times.append(pkt.pts * tb)
                sizes.append(pkt.size)
                keys.append(bool(pkt.is_keyframe))
    except Exception:
        return None
    if not times:
        return None
    t = np.asarray(times, dtype=float)
    return PacketProfile(times=t - t.min(), sizes=np.asarray(sizes, dtype=float), keys=np.asarray(keys, dtype=bool))


def sample_count(info: MediaInfo, count: int | None = None, duration_s: float | None = None) -> int:
    """How many samples a source gets; 0: none, the whole source is encoded (it is short)."""
    v = info.video[0]
    total = v.duration_s or info.duration_s
    dur = float(duration_s or SAMPLE_DURATION_S)
    if count is None:
        want = max(MIN_SAMPLE_SECONDS, SAMPLE_SHARE * (total or 0))
        count = int(min(MAX_SAMPLES, max(MIN_SAMPLES, round(want / dur))))
    if not total or count * (dur + PRE_ROLL_S + POST_ROLL_S) >= FULL_PASS_SHARE * total:
        return 0
    return count


def plan_samples(info: MediaInfo, *, count: int | None = None, duration_s: float | None = None,
                 profile: PacketProfile | None = None) -> list[Span]:
    """Where the samples go. A short source gets one span: the whole of it.

    Otherwise `count` spans of `duration_s`, one in each of `count` equal slices of the source (so every
    part of it is represented in proportion to its length), aimed at a different point of each slice
    (golden-ratio offsets: a source made of repeating parts is not sampled at the same phase every time)
    and moved to a keyframe of the source within SNAP_S of that point when there is one: a seek there
    decodes nothing wasted (a sample between keyframes costs up to a GOP of decoding twice per probe).
    Keyframes come from the packets, demuxed, not decoded (`profile`, read when not given). Every start
    is a frame's own time: a seek between two frames makes the sample's timestamps and the scorer's
    disagree by a frame.
    """
    v = info.video[0]
    total = v.duration_s or info.duration_s
    dur = float(duration_s or SAMPLE_DURATION_S)
    count = sample_count(info, count, duration_s)
    if count == 0:
        return [Span()]
    frame = 1.0 / (v.avg_fps or v.nominal_fps or 25.0)
    latest = total - dur - PRE_ROLL_S - POST_ROLL_S - frame
    if profile is None:
        profile = packet_profile(info.path, v.index)
    if profile is None:
        frames = np.arange(0.0, latest + frame / 2, frame)
        keys = np.empty(0)
    else:
        frames = np.unique(profile.times.round(6))
        frames = frames[frames <= latest]
        keys = np.unique(profile.times[profile.keys].round(6))
    slice_s = latest / count
    starts: list[float] = []
    for i in range(count):
        lo, hi = i * slice_s, i * slice_s + max(0.0, slice_s - dur)
        start = lo + ((0.5 + i * GOLDEN) % 1.0) * (hi - lo)
        inside = keys[(keys >= max(lo, start - SNAP_S)) & (keys <= min(hi, start + SNAP_S))]
        if inside.size:
            start = float(inside[np.argmin(np.abs(inside - start))])
        elif frames.size:
            start = float(frames[np.argmin(np.abs(frames - start))])
        starts.append(max(0.0, min(latest, start)))
    # microsecond-rounded upwards, so a seek to a frame lands on it and not on the one before
    return [Span(math.ceil(s_ * 1e6) / 1e6, dur, POST_ROLL_S, PRE_ROLL_S) for s_ in starts]
