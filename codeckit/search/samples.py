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

SAMPLE_DURATION_S = 2.0
MIN_SAMPLES, MAX_SAMPLES = 3, 5
SOURCE_S_PER_SAMPLE = 40.0       # one sample per 40 s of source, between MIN_SAMPLES and MAX_SAMPLES
# When the samples would cover this share of the source or more, the whole source is encoded instead:
# as cheap, and exact.
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
                    video_index: int | None, container: str = "matroska") -> list[str]:
        """FFmpeg's arguments for a video-only encode of `span` of `source` at `knob`."""
        a = self.args_at(knob)
        args = ["-y", *a.global_args, *_seek_args(span), *input_args(source)]
        args += ["-map", f"0:{video_index}" if video_index is not None else "0:v:0"]
        vf = self.video_filter(a)
        if vf:
            args += ["-vf", vf]
        return args + [*a.output_args, *self.extra_output_args, *_VIDEO_ONLY, "-f", container, input_url(output)]

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


def _seek_args(span: "Span") -> list[str]:
    # Input seeking is frame-accurate and deterministic: the scorer seeks the same way, so the reference
    # frames are exactly the ones the encoder was given.
    if span.whole:
        return []
    return ["-ss", f"{span.start_s:.6f}", "-t", f"{span.duration_s:.6f}"]


@dataclass(frozen=True)
class Span:
    """A part of the source: start and duration in seconds (both None: the whole source)."""
    start_s: float | None = None
    duration_s: float | None = None

    @property
    def whole(self) -> bool:
        return self.start_s is None


def encode_args(source: str | Path, output: str | Path, recipe: EncodeRecipe, knob: int, span: Span = Span(),
                video_index: int | None = None, container: str = "matroska") -> list[str]:
    """The FFmpeg arguments of a video-only encode of `span` of `source` at `knob` (what a probe runs,
    and, with the whole span, the full encode its prediction is for)."""
    return recipe.sample_args(source, output, knob, span, video_index, container)


def encode_at(source: str | Path, output: str | Path, recipe: EncodeRecipe, knob: int, *,
              container: str = "matroska", timeout: float | None = None, on_progress=None) -> RunResult:
    """Encode the whole source (video only) at `knob`, as the search's samples were encoded."""
    info = probe(source)
    v = info.video[0] if info.video else None
    return run_ffmpeg(encode_args(source, output, recipe, knob, Span(), v.index if v else None, container),
                      subject=source, timeout=timeout, on_progress=on_progress,
                      duration_s=info.duration_s, loglevel="error")


def video_bytes(path: str | Path) -> tuple[int, int, float | None]:
    """(bytes, frames, seconds) of the first video stream's packets: the stream itself, without the
    container's overhead, which differs between a short sample and a long file."""
    import av
    with av.open(str(path), options={"protocol_whitelist": "file"}) as c:
        s = c.streams.video[0]
        total, frames, first, last = 0, 0, None, None
        for pkt in c.demux(s):
            if pkt.size == 0:
                continue
            total += pkt.size
            frames += 1
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
    return total, frames, seconds


def _keyframe_times(path: Path, stream_index: int, duration_s: float | None) -> list[float]:
    """Keyframe times from the container's index (MP4/MOV/MKV cues: no reading), else by demuxing
    packets (no decoding). Keyframes are where the source's encoder put scene cuts and GOP starts."""
    import av
    try:
        with av.open(str(path), options={"protocol_whitelist": "file"}) as c:
            s = c.streams[stream_index]
            tb = float(s.time_base or 0)
            stamps: list[int] = []
            try:
                entries = s.index_entries
                if entries is not None and len(entries) > 1:
                    stamps = [e.timestamp for e in entries if e.is_keyframe]
                    first = entries[0].timestamp
                    return sorted((t - first) * tb for t in stamps)
            except Exception:
                pass
            if path.stat().st_size > 4 << 30:
                return []  # not worth reading a huge file to place samples
            first = None
            for pkt in c.demux(s):
                if pkt.pts is None:
                    continue
                first = pkt.pts if first is None else min(first, pkt.pts)
                if pkt.is_keyframe:
                    stamps.append(pkt.pts)
            return sorted((t - (first or 0)) * tb for t in stamps)
    except Exception:
        return []


def plan_samples(info: MediaInfo, *, count: int | None = None, duration_s: float | None = None,
                 keyframes: Sequence[float] | None = None) -> list[Span]:
    """Where the samples go: `count` spans of `duration_s` spread evenly over the source, each moved to
    a nearby keyframe when one is close (no decoding wasted before the sample, and often a scene
    start). A short source gets one span, the whole of it."""
    v = info.video[0]
    total = v.duration_s or info.duration_s
    dur = float(duration_s or SAMPLE_DURATION_S)
    if count is None:
        count = int(min(MAX_SAMPLES, max(MIN_SAMPLES, math.ceil((total or 0) / SOURCE_S_PER_SAMPLE))))
    if not total or count * dur >= FULL_PASS_SHARE * total:
        return [Span()]
    frame = 1.0 / (v.avg_fps or v.nominal_fps or 25.0)
    if keyframes is None:
        keyframes = _keyframe_times(Path(info.path), v.index, total)
    kf = np.asarray(sorted(k for k in keyframes if 0 <= k <= total - dur), dtype=float)
    spacing = total / count
    spans = []
    for i in range(count):
        start = (i + 0.5) * spacing - dur / 2
        if kf.size:
            nearest = float(kf[np.argmin(np.abs(kf - start))])
            if abs(nearest - start) <= min(spacing / 4, 5.0):
                start = nearest
        start = max(0.0, min(total - dur - frame, start))
        # microsecond-rounded upwards, so the seek lands on the keyframe and not one GOP earlier
        spans.append(Span(math.ceil(start * 1e6) / 1e6, dur))
    return spans
