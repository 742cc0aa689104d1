"""Per-title ladders (Netflix's approach): rate-quality points for candidate resolutions x knob values measured on
samples of the source with the search's machinery (samples, cache, VMAF), the convex hull across resolutions,
and the rungs picked from it.

Each sample encode at a rung's size is scored against the source upscaled to the source's display size (the
quality layer scales the distorted video to the reference): that is the top rung's size whenever the top rung is
the source's own size, as it is for sources up to the ladder's largest rung.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from ..codecs import EncoderRequest, choose_encoder
from ..ffmpeg import build_info
from ..probe import MediaInfo
from ..search.model import KnobGrid
from ..search.samples import EncodeRecipe
from ..search.sample_encode import Prober
from .ladder import Ladder, load_ladder, select_rungs

#: Common 0-100 qualities tried at every candidate resolution (x264: CRF 35, 29, 23, 19).
QUALITIES = (40.0, 55.0, 70.0, 80.0)
#: A rung is added only when it costs at least this many times the bits of the one below it.
BITRATE_RATIO = 1.5
#: The lowest rung is the cheapest hull point with at least this VMAF.
VMAF_FLOOR = 40.0
#: The top rung stops where extra bits buy less than this much VMAF.
MIN_VMAF_GAIN = 1.0
#: The cap (maxrate) of each rung over its predicted bitrate: room for the harder parts of the title.
CAP_OVER_PREDICTED = 1.5
MAX_RUNGS = 6


@dataclass
class Point:
    width: int
    height: int
    knob: float
    bitrate: float
    vmaf: float
    cpu_s: float

    def to_dict(self) -> dict:
        return {"width": self.width, "height": self.height, "knob": self.knob, "bitrate": round(self.bitrate),
                "vmaf": round(self.vmaf, 3)}


def convex_hull(points: list[Point]) -> list[Point]:
    """The upper convex hull of VMAF over log bitrate, cheapest first: the points no mix of resolutions beats."""
    pts = sorted(points, key=lambda p: (p.bitrate, -p.vmaf))
    frontier: list[Point] = []
    for p in pts:                       # Pareto: more bits must buy more quality
        if not frontier or p.vmaf > frontier[-1].vmaf:
            frontier.append(p)
    hull: list[Point] = []
    for p in frontier:                  # concave: drop points under the chord of their neighbours
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], p) >= 0:
            hull.pop()
        hull.append(p)
    return hull


def _cross(a: Point, b: Point, c: Point) -> float:
    ax, bx, cx = math.log(a.bitrate), math.log(b.bitrate), math.log(c.bitrate)
    return (bx - ax) * (c.vmaf - a.vmaf) - (b.vmaf - a.vmaf) * (cx - ax)


def pick_rungs(hull: list[Point], *, max_rungs: int = MAX_RUNGS, ratio: float = BITRATE_RATIO,
               floor: float = VMAF_FLOOR, min_gain: float = MIN_VMAF_GAIN) -> list[Point]:
    """Rungs from the hull, cheapest first: the lowest with VMAF >= floor, each next one >= ratio x the bits of
    the last, stopping where the next buys < min_gain VMAF; then at most max_rungs, top and bottom kept."""
    usable = [p for p in hull if p.vmaf >= floor] or hull[-1:]
    picked = [usable[0]]
    for p in usable[1:]:
        if p.bitrate >= ratio * picked[-1].bitrate:
            if p.vmaf - picked[-1].vmaf < min_gain:
                break
            picked.append(p)
    if len(picked) > max_rungs:
        idx = sorted({round(i * (len(picked) - 1) / (max_rungs - 1)) for i in range(max_rungs)}) \
            if max_rungs > 1 else [len(picked) - 1]
        picked = [picked[i] for i in idx]
    return picked


def candidate_sizes(info: MediaInfo, *, max_height: int | None, ladder: Ladder | None = None) -> list[tuple[int, int]]:
    """The distinct sizes of the static ladder's rungs this source can have (never above the source)."""
    rungs = select_rungs(info, ladder or load_ladder("apple"), max_height=max_height)
    return sorted({(r.width, r.height) for r in rungs}, key=lambda s: s[0] * s[1])


def per_title_ladder(info: MediaInfo, options, workdir: Path, *, threads: int | None = None) -> tuple[dict, Ladder]:
    """(the ladder.json record, the Ladder its rungs come from): measured points, hull, picked rungs."""
    started, opts = time.monotonic(), dict(options.per_title or {})
    sel = choose_encoder(EncoderRequest(options.codec, speed=options.speed, bit_depth=8, prefer=options.prefer),
                         options.capabilities)
    impl = sel.current.implementation
    grid = KnobGrid.of(impl.knob, impl.knob.lo, impl.knob.hi)
    knobs = sorted({impl.knob.value_for_quality(q) for q in opts.get("qualities", QUALITIES)})
    sizes = opts.get("sizes") or candidate_sizes(info, max_height=options.max_height)
    version = build_info().version
    points = []
    for w, h in sizes:
        recipe = EncodeRecipe(impl, options.speed, 8, (f"scale={w}:{h}:flags=bicubic", "setsar=1"),
                              ("-threads", str(threads)) if threads else ())
        prober = Prober(Path(info.path), info, recipe, grid, version, samples=opts.get("samples"),
                        sample_duration_s=None, model="auto", subsample=opts.get("subsample"),
                        cache=opts.get("cache", True), on_probe=None)
        try:
            for k in knobs:
                p = prober(grid.u(k))
                points.append(Point(w, h, float(p.knob), p.bitrate, p.vmaf, p.cpu_s))
        finally:
            prober.close()
    hull = convex_hull(points)
    picked = pick_rungs(hull, max_rungs=options.rungs or MAX_RUNGS)
    rungs = [{"width": p.width, "height": p.height, "knob": p.knob, "predicted_bitrate": round(p.bitrate),
              "predicted_vmaf": round(p.vmaf, 3), "maxrate": int(p.bitrate * CAP_OVER_PREDICTED),
              "measured_bitrate": None, "measured_vmaf": None} for p in picked]
    record = {"method": "per-title convex hull", "encoder": impl.name, "knob": impl.knob.option.lstrip("-"),
              "scored_at": f"{info.primary_video.upright_width}x{info.primary_video.upright_height}",
              "points": [p.to_dict() for p in points], "hull": [p.to_dict() for p in hull], "rungs": rungs,
              "analysis_cpu_s": round(sum(p.cpu_s for p in points), 3),
              "analysis_wall_s": round(time.monotonic() - started, 3)}
    ladder = Ladder(name="per-title", title="per-title convex hull", codec=options.codec, rungs=(),
                    quality=70.0, bufsize_factor=2.0)
    return record, ladder


__all__ = ["Point", "candidate_sizes", "convex_hull", "per_title_ladder", "pick_rungs"]
