"""The work of a comparison, as batch items: placing each curve's points, then encoding and measuring each point.

Both stages go through `codeckit.batch.run_batch` with the journal in the output folder, keyed on everything
that changes a result (the source's path, size and mtime; the exact FFmpeg argv; the FFmpeg build and encoder
versions; the quality settings). A rerun, or a run with one more encoder, takes finished results from the
journal and computes only what is new; kill -9 loses only the items in flight.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..batch import ItemContext
from ..encode import encode, progress_reporter
from ..ffmpeg import build_info, input_args, run_ffmpeg
from ..plan import PLAN_VERSION, EncodeJob
from ..probe import MediaInfo
from ..profiles import AudioTarget, Target, VideoTarget
from ..quality import QualitySettings, measure
from ..staged import file_stamp, portable  # a staged run's scratch copies: their URLs, the same every run
from .configs import Config
from .points import place_points

#: Bumped when what a stored result means changes: older journal entries are then computed again.
#: 2: `frames` counts the encode's frames (`scored_frames` the scores), and a reference is scored only as
#: long as it says it lasts (a VFR source's VMAF changed).
RESULT_VERSION = 2
#: The metrics every point is scored with besides VMAF (one libvmaf pass).
QUALITY = QualitySettings(metrics=("psnr", "ssim"))


def config_target(config: Config) -> Target:
    """The transcode target of one configuration: its implementation pinned at its speed, video only (audio,
    subtitles, metadata and chapters dropped, so the bytes are the video's), in MP4."""
    return Target(name=f"compare-{config.label}", container="mp4",
                  video=VideoTarget(codec=config.implementation.codec, speed=config.speed,
                                    implementation=config.encoder, remux=False),
                  audio=AudioTarget(mode="drop"), subtitles="drop", metadata=False, chapters=False)


def source_identity(path: str | os.PathLike) -> list:
    """Path, size and mtime (a staged object's URL, size and ETag): codeckit.staged.file_stamp."""
    return file_stamp(path)


def _versions_of(versions: dict, encoder: str) -> dict:
    """The part of the run's versions one item depends on: FFmpeg and codeckit, and its own encoder's library
    (not the others': a run with one more encoder must find the earlier items' keys unchanged)."""
    return {**{k: v for k, v in versions.items() if k != "encoders"},
            "encoder": (versions.get("encoders") or {}).get(encoder)}


def item_key(kind: str, parts: Any) -> str:
    text = json.dumps([RESULT_VERSION, PLAN_VERSION, kind, parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


# ---------------------------------------------------------------- stage 1: where the points go

@dataclass
class PlacementWork:
    """Payload of a placement item."""
    info: MediaInfo
    config: Config
    points: int
    vmaf_range: tuple[float, float]
    strategy: str
    cache: str                              # the search's sample cache (in the output folder)
    threads: int | None
    capabilities: Any = None


def run_placement(w: PlacementWork, ctx: ItemContext) -> dict:
    placed = place_points(w.info, config_target(w.config), w.points, vmaf_range=w.vmaf_range, strategy=w.strategy,
                          cache=w.cache, threads=w.threads, capabilities=w.capabilities,
                          on_probe=lambda _p: ctx.check_cancelled())
    return placed.to_dict()


def placement_key(w: PlacementWork, versions: dict) -> str:
    return item_key("placement", [source_identity(w.info.path), w.config.label, w.points, list(w.vmaf_range),
                                  w.strategy, config_target(w.config).fingerprint(), _versions_of(versions, w.config.encoder),
                                  QUALITY.key()])


# ---------------------------------------------------------------- stage 2: one encode, measured

@dataclass
class PointWork:
    """Payload of an encode item: the planned job and where its output goes."""
    source: str
    config: Config
    knob: float
    job: EncodeJob
    out_dir: str
    duration_s: float

    @property
    def argv(self) -> list[str]:
        """The FFmpeg command that makes this point (encode() runs it writing to a temporary name beside the
        output, then renames it)."""
        return [build_info().path, "-hide_banner", *self.job.args(self.job.output)]


def point_key(w: PointWork, versions: dict) -> str:
    return item_key("point", [source_identity(w.source), portable(w.argv[1:]), _versions_of(versions, w.config.encoder),
                              QUALITY.key()])


def decode_speed(path: str | os.PathLike) -> tuple[float | None, float, int | None]:
    """(frames decoded per wall second, CPU seconds, frames) of a full decode of the video to nowhere."""
    run = run_ffmpeg([*input_args(path), "-map", "0:v:0", "-f", "null", "-"], subject=path, loglevel="error")
    frames = run.last_progress.frame
    return (frames / run.wall_s if frames and run.wall_s > 0 else None), run.cpu_s, frames


def run_point(w: PointWork, ctx: ItemContext) -> dict:
    """Encode (verify off: the VMAF pass reads every frame and fails on a short output), measure, decode."""
    job = w.job
    enc = encode(job, on_progress=progress_reporter(ctx, job, job.duration_s), verify="off",
                 cancel=ctx.cancel_event)
    ctx.check_cancelled()
    q = measure(w.source, job.output, QUALITY)
    ctx.check_cancelled()
    decode_fps, decode_cpu, decoded = decode_speed(job.output)
    # the encode's own frames (the decode counts them): a VFR source is scored resampled to its nominal
    # rate, 45 scores for an encode of 35 frames, which made the frame count and the encode fps wrong
    frames = decoded or q.frames
    vm, m = q.vmaf, q.metrics
    impl = w.config.implementation
    return {"source": portable(w.source), "config": w.config.label, "encoder": w.config.encoder, "speed": w.config.speed,
            "knob": w.knob, "knob_option": impl.knob.option.lstrip("-"),
            "bytes": enc.bytes_out, "bitrate": round(8 * enc.bytes_out / w.duration_s, 3),
            "vmaf": vm.mean, "vmaf_hmean": vm.harmonic_mean, "vmaf_p1": vm.low_1pct, "vmaf_p5": vm.low_5pct,
            "vmaf_min": vm.min, "psnr_y": m["psnr_y"].mean if "psnr_y" in m else None,
            "ssim": m["float_ssim"].mean if "float_ssim" in m else None,
            "cpu_s": round(enc.encode_cpu_s, 4), "wall_s": round(enc.wall_s, 4),
            "fps": round(frames / enc.wall_s, 3) if enc.wall_s > 0 else None,
            "decode_fps": None if decode_fps is None else round(decode_fps, 3), "decode_cpu_s": round(decode_cpu, 4),
            "measure_cpu_s": round(q.cpu_s, 4), "measure_wall_s": round(q.wall_s, 4), "frames": frames,
            "scored_frames": q.frames,
            "duration_s": w.duration_s, "vmaf_model": q.model, "libvmaf": q.libvmaf_version,
            "output": os.path.relpath(job.output, w.out_dir), "argv": portable(w.argv)}


def output_path(out_dir: Path, source: str, config: Config, knob: float) -> Path:
    """DIR/encodes/<source name>-<6 hex of its path>/<encoder>-<speed>-<knob>.mp4: two sources of one name
    in different folders do not meet."""
    tag = hashlib.sha1(portable(os.path.abspath(source)).encode()).hexdigest()[:6]
    folder = out_dir / "encodes" / f"{Path(source).stem}-{tag}"
    return folder / f"{config.encoder}-{config.speed}-{config.implementation.knob.option.lstrip('-')}{knob:g}.mp4"


def point_work(info: MediaInfo, config: Config, knob: float, out_dir: Path, threads: int | None,
               capabilities=None) -> PointWork:
    from ..plan import plan
    out = output_path(out_dir, info.path, config, knob)
    job = plan(info, config_target(config), out, knob_value=knob, force_encode=True, threads=threads,
               capabilities=capabilities)
    duration = job.duration_s or info.duration_s or 0.0
    return PointWork(source=info.path, config=config, knob=knob, job=replace(job), out_dir=str(out_dir),
                     duration_s=float(duration))


__all__ = ["PlacementWork", "PointWork", "QUALITY", "RESULT_VERSION", "config_target", "decode_speed",
           "output_path", "placement_key", "point_key", "point_work", "run_placement", "run_point"]
