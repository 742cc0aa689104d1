"""Bench: `compare` against the same encodes, libvmaf runs and decodes done with raw FFmpeg in a loop, same run.

Prints (and returns) the wall ratio of compare's encode stage to the raw loop (goal <= 1.05: the cost of
codeckit's bookkeeping: planning, journal, temp-and-rename, probing for the scorer), the whole run's
ratio (placement excluded; versions, probes and the report's plots included), and what placing the points
cost as a fraction of the encodes, for both placement strategies.

    python bench/bench_compare.py [--seconds 10] [--size 480x270]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._media import mixed_clip  # noqa: E402
from codeckit.batch import cpu_count  # noqa: E402
from codeckit.compare import CompareOptions, compare  # noqa: E402
from codeckit.ffmpeg import ffmpeg_exe, input_url  # noqa: E402

ENCODERS = "libx264:fast,libx265:fast"


def raw_loop(rows: list[dict], folder: Path) -> float:
    """Every row's encode (its argv), libvmaf with PSNR and SSIM, and a null decode, one after another."""
    exe = ffmpeg_exe()
    t0 = time.monotonic()
    for i, r in enumerate(rows):
        out = folder / f"raw{i}.mp4"
        argv = list(r["argv"])
        argv[-1] = input_url(out)
        subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, capture_output=True)
        log = folder / f"raw{i}.json"
        subprocess.run([exe, "-hide_banner", "-loglevel", "error", "-i", input_url(out), "-i", input_url(r["source"]),
                        "-lavfi", f"[0:v][1:v]libvmaf=log_fmt=json:log_path={log}:n_threads={cpu_count()}"
                                  ":feature=name=psnr|name=float_ssim", "-f", "null", "-"], check=True)
        subprocess.run([exe, "-hide_banner", "-loglevel", "error", "-i", input_url(out), "-map", "0:v:0", "-f", "null",
                        "-"], check=True)
    return time.monotonic() - t0


def stage_wall(out: Path, stage_is_placement: bool) -> float:
    """Sum of the journal's item walls of one stage (jobs=1: the stage's wall)."""
    total = 0.0
    for line in (out / ".codeckit-journal.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["state"] == "done" and (rec.get("stage") == "placement") == stage_is_placement:
            total += rec.get("wall_s", 0.0)
    return total


def run(seconds: float, size: str) -> dict:
    w, h = (int(x) for x in size.split("x"))
    src = mixed_clip(w, h, seconds)
    figures = {"source": f"{size}, {seconds:g} s", "encoders": ENCODERS, "points": 4}
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        for strategy in ("ends", "each"):
            out = Path(tmp) / strategy
            t0 = time.monotonic()
            rep = compare([src], out, CompareOptions(encoders=ENCODERS, points=4, strategy=strategy, jobs=1))
            total = time.monotonic() - t0
            rows = rep.data["results"]
            place_cpu = sum(p["cpu_s"] for p in rep.data["placements"])
            enc_cpu = sum(r["cpu_s"] + r["measure_cpu_s"] + r["decode_cpu_s"] for r in rows)
            place_wall, enc_wall = stage_wall(out, True), stage_wall(out, False)
            figures[strategy] = {"placement_cpu_fraction": round(place_cpu / enc_cpu, 3),
                                 "placement_wall_fraction": round(place_wall / enc_wall, 3),
                                 "probes": sum(p["probe_encodes"] for p in rep.data["placements"]),
                                 "knobs": {p["config"]: p["knobs"] for p in rep.data["placements"]},
                                 "bd_rate_vmaf": [b["value_pct"] for b in rep.data["bd_rate"]
                                                  if b["source"] == "all" and b["metric"] == "vmaf"][0]}
            if strategy == "ends":
                raw = raw_loop(rows, Path(tmp))
                figures.update(raw_loop_s=round(raw, 2), compare_encode_stage_s=round(enc_wall, 2),
                               compare_total_s=round(total, 2), compare_placement_s=round(place_wall, 2),
                               encode_stage_ratio=round(enc_wall / raw, 3),
                               whole_run_ratio=round((total - place_wall) / raw, 3))
    return figures


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--size", default="480x270")
    print(json.dumps(run(ap.parse_args().seconds, ap.parse_args().size), indent=1))
