"""All renditions of a source from one decode: one FFmpeg run (split -> scale per rung -> one encoder per rung),
capped quality, keyframes on segment boundaries, AAC stereo audio and WebVTT subtitles as outputs of their own."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..codecs import EncoderRequest, capped_args, choose_encoder, encoder_args
from ..errors import PlanError
from ..ffmpeg import Progress, RunResult, input_args, input_url, run_ffmpeg
from ..plan import keyint_args, thread_args
from ..probe import MediaInfo
from ..stream_args import TEXT_SUBTITLES
from .ladder import Rung

#: AAC stereo for every package: the HLS authoring spec's audio rung (loudness left as it is).
AUDIO_BITRATE = 128_000
_NO_EXTRAS = ("-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1")


@dataclass
class Rendition:
    rung: Rung
    implementation: str
    output: Path                    # the MP4 the encode writes (the packager's input)
    filters: list[str]              # after the split: scale, SAR, the encoder's own (hardware upload)
    video_args: list[str]
    note: str

    @property
    def name(self) -> str:
        return self.output.stem


@dataclass
class RenditionJob:
    """One FFmpeg run that writes every rendition of one source (and its audio and subtitles)."""
    source: str
    renditions: list[Rendition]
    audio: Path | None
    subtitles: Path | None
    subtitle_language: str | None
    keyint: int                     # frames between keyframes, the same in every rendition
    fps: float
    segment_s: float                # keyint / fps: each segment's length
    duration_s: float | None
    filter_graph: str
    video_index: int = 0
    head_filters: list[str] = field(default_factory=list)   # before the split (constant frame rate)
    args: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _fps(info: MediaInfo) -> tuple[float, str | None]:
    v = info.primary_video
    frac = v.avg_fps_fraction if not v.vfr else (v.nominal_fps_fraction or v.avg_fps_fraction)
    fps = (v.nominal_fps if v.vfr else v.avg_fps) or v.avg_fps or v.nominal_fps or 25.0
    # a VFR source is made constant-rate first: keyframes are placed by frame count, the same in every rung
    return float(fps), (frac if v.vfr else None)


def rung_threads(rungs: list[Rung], cores: int) -> list[int]:
    """Encoder threads per rung of a one-decode run: the cores shared in proportion to each rung's pixels,
    at least one each. Every encoder runs at once, so the top rung's encode is the run's critical path:
    with one thread per rung a 1080p x264 encode is ~60 % of the ladder's CPU and one core's worth of it
    set the wall (1080p, 4 rungs, x264 fast, 2 cores: 58.5 s wall for 32.4 s CPU). Fixed counts also keep
    every rung's output the same frame for frame as a separate run with the same counts."""
    pixels = [r.width * r.height for r in rungs]
    total = sum(pixels) or 1
    return [max(1, round(cores * p / total)) for p in pixels]


def rendition_job(info: MediaInfo, rungs: list[Rung], work: str | os.PathLike, *, codec: str = "h264",
                  segment_s: float = 4.0, quality: float = 70.0, bufsize_factor: float = 2.0,
                  speed: str | int = "medium", prefer: str = "hardware", threads: int | list[int] | None = None,
                  capabilities: dict | None = None) -> RenditionJob:
    """The one-decode encode of `rungs` (lowest first) into `work`; see the module's docstring.

    `threads`: encoder threads of every rung, or one count per rung (rung_threads), or None (the encoder's
    own default)."""
    v = info.primary_video
    if v is None:
        raise PlanError("has no video stream to package", path=info.path, code="no_video")
    if v.hdr:
        raise PlanError(f"is {v.hdr} HDR: packaging writes SDR ladders and does not tone-map",
                        path=info.path, code="hdr_source", hint="tone-map it first (codeckit transcode)")
    work = Path(work)
    fps, vfr_rate = _fps(info)
    keyint = max(1, round(fps * segment_s))
    selection = choose_encoder(EncoderRequest(codec, quality=quality, speed=speed, bit_depth=8, prefer=prefer),
                               capabilities)
    impl = selection.current.implementation
    notes = [f"{impl.name}: {selection.current.reason}",
             f"keyframe every {keyint} frames ({keyint / fps:.3f} s), closed GOPs, no scene-cut keyframes"]
    head = [f"fps={vfr_rate}"] if vfr_rate else []
    if vfr_rate:
        notes.append(f"variable frame rate made constant at {vfr_rate} fps")
    labels = [f"s{i}" for i in range(len(rungs))]
    chains = [f"[0:{v.index}]" + ",".join(head + [f"split={len(rungs)}" + "".join(f"[{x}]" for x in labels)])]
    renditions, global_args = [], []
    for i, rung in enumerate(rungs):
        enc = encoder_args(impl, quality=quality, knob_value=rung.knob, speed=speed, bit_depth=8)
        global_args = enc.global_args
        args, cap_note = capped_args(impl, enc.output_args, rung.bitrate, int(rung.bitrate * bufsize_factor))
        args = keyint_args(impl.name, impl.hardware, keyint, args, [], closed_gop=True)
        n = threads[i] if isinstance(threads, (list, tuple)) else threads
        if n:
            args = thread_args(impl.name, n, args)
        if impl.codec == "hevc":  # hvc1 (parameter sets in the init segment): what Apple players require
            args += ["-tag:v", "hvc1"]
        steps = [f"scale={rung.width}:{rung.height}:flags=bicubic", "setsar=1", *enc.filters]
        chains.append(f"[{labels[i]}]" + ",".join(steps) + f"[v{i}]")
        out = work / f"v{i}.mp4"
        renditions.append(Rendition(rung, impl.name, out, steps, ["-map", f"[v{i}]", *args], cap_note))
    graph = ";".join(chains)
    job = RenditionJob(source=info.path, renditions=renditions, audio=None, subtitles=None, subtitle_language=None,
                       keyint=keyint, fps=fps, segment_s=keyint / fps, duration_s=v.duration_s or info.duration_s,
                       filter_graph=graph, video_index=v.index, head_filters=head, notes=notes)
    if info.audio:
        job.audio = work / "audio.mp4"
    text = [s for s in info.subtitles if s.codec in TEXT_SUBTITLES]
    if text:
        job.subtitles, job.subtitle_language = work / "subtitles.vtt", text[0].language
    job.args = _ffmpeg_args(info, job, global_args, text[0].index if text else None)
    return job


def _ffmpeg_args(info: MediaInfo, job: RenditionJob, global_args: list[str], subtitle_index: int | None) -> list[str]:
    args = ["-y", *global_args, *input_args(info.path), "-filter_complex", job.filter_graph]
    for r in job.renditions:
        args += [*r.video_args, "-an", *_NO_EXTRAS, "-f", "mp4", input_url(r.output)]
    if job.audio is not None:
        args += ["-map", f"0:{info.audio[0].index}", "-c:a", "aac", "-ac", "2", "-b:a", str(AUDIO_BITRATE),
                 "-vn", *_NO_EXTRAS, "-f", "mp4", input_url(job.audio)]
    if job.subtitles is not None:
        args += ["-map", f"0:{subtitle_index}", "-c:s", "webvtt", "-vn", "-an", "-map_metadata", "-1",
                 "-f", "webvtt", input_url(job.subtitles)]
    return args


def run_renditions(job: RenditionJob, *, on_progress: Callable[[Progress], None] | None = None,
                   timeout: float | None = None) -> RunResult:
    """Run the one-decode encode; raises FFmpegError naming the source when FFmpeg fails."""
    for r in job.renditions:
        r.output.parent.mkdir(parents=True, exist_ok=True)
    return run_ffmpeg(job.args, subject=job.source, on_progress=on_progress, duration_s=job.duration_s,
                      timeout=timeout, loglevel="error")


def separate_args(job: RenditionJob, i: int) -> list[str]:
    """Rendition `i` as its own FFmpeg run (its own decode, the same filters and encoder arguments): the
    baseline the bench measures the one-decode run against."""
    r = job.renditions[i]
    graph = f"[0:{job.video_index}]" + ",".join(job.head_filters + r.filters) + f"[v{i}]"
    return ["-y", *input_args(job.source), "-filter_complex", graph, *r.video_args, "-an", *_NO_EXTRAS,
            "-f", "mp4", input_url(r.output)]


__all__ = ["AUDIO_BITRATE", "Rendition", "RenditionJob", "rendition_job", "rung_threads", "run_renditions",
           "separate_args"]
