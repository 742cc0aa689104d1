"""Bench: the per-title analysis alone (issue 12: its CPU against the ladder's encode), on the 1080p 10 s mix
and each of its titles alone (bench/_media.py). Prints, per title, the analysis CPU (FFmpeg children, as the
ladder record counts it, and this process's own CPU on top), its breakdown, and the rungs it picks.

    python3 bench/bench_per_title_analysis.py                     # the four titles, once
    python3 bench/bench_per_title_analysis.py --titles mix bikes --repeat 2
    python3 bench/bench_per_title_analysis.py --titles mix --fps 24 30       # the mix re-timed (fps filter)
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

if "PYTHONPATH" not in os.environ:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._media import PARTS, mixed_clip  # noqa: E402
from codeckit.codecs import probe_capabilities  # noqa: E402
from codeckit.ffmpeg import run_ffmpeg  # noqa: E402
from codeckit.package import PackageOptions  # noqa: E402
from codeckit.package.per_title import per_title_ladder  # noqa: E402
from codeckit.probe import probe  # noqa: E402

TITLES = ("mix", *PARTS)
#: The ladder encode CPU (s) of each title's per-title ladder (bench_package.py --titles).
LADDER_ENCODE_CPU_S = {"mix": 39.9, "bigbuckbunny": 36.7, "bikes": 30.4, "carphone": 50.6}


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def retimed(src: Path, fps: str) -> Path:
    """`src` (25 fps) at another rate: the fps filter drops or repeats frames, x264 CRF 12 as mixed_clip."""
    out = src.with_name(f"{src.stem}-{fps.replace('/', '_')}fps.mp4")
    if not out.exists():
        run_ffmpeg(["-y", "-i", str(src), "-vf", f"fps={fps}", "-c:v", "libx264", "-preset", "fast", "-crf", "12",
                    "-pix_fmt", "yuv420p", "-an", str(out)], loglevel="error")
    return out


def analyse(title: str, height: int, seconds: float, overrides: dict, fps: str | None = None) -> dict:
    width = height * 16 // 9 // 2 * 2
    src = mixed_clip(width, height, seconds, parts=PARTS if title == "mix" else (title,))
    src = retimed(src, fps) if fps else src
    info = probe(src)
    options = PackageOptions(ladder="per-title", speed="fast", rungs=4, capabilities=probe_capabilities(),
                             per_title={"cache": False, **overrides})
    work = Path(tempfile.mkdtemp(prefix="codeckit-bench-pta-"))
    try:
        c0, t0 = _self_cpu(), time.monotonic()
        record, _ = per_title_ladder(info, options, work)
        own, wall = _self_cpu() - c0, time.monotonic() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cpu = record["analysis_cpu_s"]
    return {"title": title, "fps": fps or "25", "analysis_cpu_s": cpu, "python_cpu_s": round(own, 2),
            "total_cpu_s": round(cpu + own, 2), "wall_s": round(wall, 2),
            "over_ladder_encode": round(cpu / LADDER_ENCODE_CPU_S[title], 3) if title in LADDER_ENCODE_CPU_S
            else None, "breakdown": record["sampling"]["cpu_s"], "load": os.getloadavg()[0],
            "rungs": [(f"{r['width']}x{r['height']}", r["knob"], r["predicted_bitrate"], r["predicted_vmaf"])
                      for r in record["rungs"]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--titles", nargs="+", default=list(TITLES), choices=TITLES)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--fps", nargs="+", default=[None], help="re-time each title to these rates (24, 30000/1001)")
    ap.add_argument("--per-title", metavar="JSON", default=None, help="PackageOptions.per_title overrides")
    args = ap.parse_args()
    overrides = json.loads(args.per_title) if args.per_title else {}
    for _ in range(args.repeat):
        for title in args.titles:
            for fps in args.fps:
                print(json.dumps(analyse(title, args.height, args.seconds, overrides, fps)), flush=True)


if __name__ == "__main__":
    main()
