"""Bench: one encode per clip (what normalize does) against one encode of the whole source, keyframes forced at
every clip edge, and the clips stream-copied out of it. FFmpeg CPU seconds of each, and whether the copies
hold the clip's frames with a keyframe every keyint frames (they must, for the second way to be usable).

    python3 bench/bench_clip_once.py fixed:4 SRC...
    python3 bench/bench_clip_once.py scenes SRC...      # bench_normalize.py's mixed corpus, for example
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codeckit.ffmpeg import ffmpeg_exe, input_url  # noqa: E402
from codeckit.normalize.clips import plan_clips  # noqa: E402
from codeckit.normalize.encode_clip import clip_job, read_clip  # noqa: E402
from codeckit.normalize.profile import load_training_profile, parse_clips_option  # noqa: E402
from codeckit.normalize.scan import scan  # noqa: E402
from codeckit.normalize.steps import ClipSpan  # noqa: E402
from codeckit.probe import probe  # noqa: E402


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _ff(args: list[str]) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", *args], check=True)


def one_source(src: Path, mode: str, tmp: Path) -> dict:
    prof = load_training_profile("training-480p24", clips=parse_clips_option(mode))
    fps, keyint = prof.fps, prof.target.video.keyint
    info, s = probe(src), scan(src, scenes=prof.clips.mode == "scenes", rules=prof.clips)
    clips = plan_clips(s.end_s, prof.clips, fps=fps, scene_times=s.scene_times, gaps=s.transitions)
    c0 = _cpu()
    for c in clips:
        _ff(clip_job(info, s, prof.target, c, False, tmp / f"clip{c.index}.mp4").args())
    c1 = _cpu()
    whole = tmp / "whole.mp4"
    args = clip_job(info, s, prof.target, ClipSpan(0, 0.0, s.end_s), True, whole).args()
    edges = sorted({t for c in clips for t in (c.start_s, c.end_s) if 0 < t < s.end_s - 1e-6})
    if edges:  # half a frame early: the first frame at or after the time is the edge's frame
        args = [*args[:-1], "-force_key_frames", ",".join(f"{t - 0.5 / fps:.6f}" for t in edges), args[-1]]
    _ff(args)
    c2 = _cpu()
    exact = 0
    for c in clips:
        out = tmp / f"copy{c.index}.mp4"
        _ff(["-y", "-ss", f"{c.start_s:.6f}", "-t", f"{c.duration_s:.6f}", "-i", input_url(whole), "-c", "copy",
             "-movflags", "+faststart", input_url(out)])
        got, want = read_clip(out), read_clip(tmp / f"clip{c.index}.mp4")
        exact += got.frames == want.frames and got.keyframes == list(range(0, got.frames, keyint))
    return {"source": src.name, "clips": len(clips), "per_clip_cpu_s": round(c1 - c0, 2),
            "whole_cpu_s": round(c2 - c1, 2), "copies_cpu_s": round(_cpu() - c2, 3), "exact_copies": exact}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", help="fixed:SECONDS or scenes")
    ap.add_argument("sources", nargs="+", type=Path)
    a = ap.parse_args()
    for src in a.sources:
        with tempfile.TemporaryDirectory(prefix="bench-clip-once-") as tmp:
            r = one_source(src, a.clips, Path(tmp))
        print(f"{r['source']:28s} {a.clips:8s} {r['clips']} clips: per clip {r['per_clip_cpu_s']} CPU-s, whole + "
              f"copies {r['whole_cpu_s']} + {r['copies_cpu_s']}; exact copies {r['exact_copies']}/{r['clips']}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
