"""report.json and results.csv, written atomically (a reader never sees half a file)."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ...fileio import atomic_write_text

SCHEMA_VERSION = 1
#: results.csv: one row per encode, these columns in this order (argv as one shell-quoted string).
CSV_COLUMNS = ("source", "config", "encoder", "speed", "knob_option", "knob", "bytes", "bitrate", "vmaf",
               "vmaf_hmean", "vmaf_p1", "vmaf_p5", "vmaf_min", "psnr_y", "ssim", "cpu_s", "wall_s", "fps",
               "decode_fps", "frames", "duration_s", "output", "argv")


def write_json(report: dict, folder: str | Path) -> Path:
    path = Path(folder) / "report.json"
    atomic_write_text(path, json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    return path


def write_csv(rows: list[dict], folder: str | Path) -> Path:
    import shlex
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        w.writerow([shlex.join(r["argv"]) if c == "argv" else ("" if r.get(c) is None else r.get(c))
                    for c in CSV_COLUMNS])
    path = Path(folder) / "results.csv"
    atomic_write_text(path, buf.getvalue())
    return path
