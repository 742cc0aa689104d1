"""Placing the RD points: knob values whose encodes score VMAF spread over the same range for every curve.

Curves placed by knob value alone (CRF 18-38 for every encoder) cover different quality ranges, and
curves that do not overlap make BD-rate meaningless. So each curve's knobs are aimed at VMAF targets
spread over `vmaf_range` with the search machinery (`codeckit.search`: samples, cache, monotone model).

Two strategies. "ends" (the default) searches only the two ends of the range and reads the knobs for the
targets between them off the monotone knob -> VMAF curve through every probe the two searches made; the
search's sample cache makes a probe the second search repeats free. "each" runs one search per target.
The bench (bench/bench_compare.py) measures what each costs against the encodes themselves.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..probe import MediaInfo
from ..search import KnobGrid, MonotoneCurve, Probe, search
from ..search.knob_search import _y
from ..search.per_title import PlanRecipe, recipe_for_target

DEFAULT_VMAF_RANGE = (80.0, 97.0)
STRATEGIES = ("ends", "each")
# The curve's slope (in the search's y = -log(100.5 - VMAF)) per grid step before probes give a real one;
# the same prior the per-title re-encode uses. With two or more probes it only matters outside them.
_PRIOR_Y_PER_STEP = 0.15


@dataclass
class Placement:
    """The knob values chosen for one source and configuration, and what finding them cost."""
    targets: list[float]
    knobs: list[float]
    strategy: str
    probes: list[tuple[float, float]]        # (knob, VMAF) of every probe the searches made
    searches: int
    probe_encodes: int                       # probes encoded now (not from the cache)
    cpu_s: float                             # FFmpeg's CPU seconds of those probes (encode + score)
    wall_s: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"targets": [round(t, 3) for t in self.targets], "knobs": self.knobs, "strategy": self.strategy,
                "probes": [[k, round(v, 4)] for k, v in self.probes], "searches": self.searches,
                "probe_encodes": self.probe_encodes, "cpu_s": round(self.cpu_s, 4), "wall_s": round(self.wall_s, 4),
                "notes": list(self.notes)}


def vmaf_targets(n: int, vmaf_range: tuple[float, float] = DEFAULT_VMAF_RANGE) -> list[float]:
    lo, hi = min(vmaf_range), max(vmaf_range)
    if n == 1:
        return [round((lo + hi) / 2, 4)]
    return [round(lo + (hi - lo) * i / (n - 1), 4) for i in range(n)]


def _spread(us: list[int], n: int, grid: KnobGrid) -> list[int]:
    """`us` without repeats, then filled up to `n` values (when two targets fell on one knob) by splitting
    the widest gap between neighbours, or stepping past the ends when there is no gap left."""
    out = sorted(set(us))
    while len(out) < n:
        gaps = [(b - a, i) for i, (a, b) in enumerate(zip(out, out[1:])) if b - a >= 2]
        if gaps:
            width, i = max(gaps)
            out.insert(i + 1, out[i] + width // 2)
        elif out[-1] < grid.u_hi:
            out.append(out[-1] + 1)
        elif out[0] > grid.u_lo:
            out.insert(0, out[0] - 1)
        else:
            break
    return out


def place_points(info: MediaInfo, target, n: int, *, vmaf_range: tuple[float, float] = DEFAULT_VMAF_RANGE,
                 strategy: str = "ends", cache: bool | str | Path = True, threads: int | None = None,
                 capabilities=None, on_probe: Callable[[Probe], None] | None = None) -> Placement:
    """`n` knob values of `target`'s encoder for the source `info`, aimed at VMAF targets over `vmaf_range`
    (see the module's docstring), ordered from the cheapest to the best quality."""
    started = time.monotonic()
    recipe: PlanRecipe = recipe_for_target(info, target, threads=threads, capabilities=capabilities)
    targets = vmaf_targets(n, vmaf_range)
    aims = targets if strategy == "each" else sorted({targets[0], targets[-1]})
    results = [search(info.path, t, recipe=recipe, info=info, cache=cache, capabilities=capabilities,
                      on_probe=on_probe) for t in aims]
    grid = KnobGrid.of(recipe.implementation.knob, *recipe.knob_range)
    probes: dict[float, Probe] = {}
    for r in results:
        for p in r.probes:
            probes.setdefault(p.knob, p)
    found = [grid.u(r.knob_value) for r in results if r.knob_value is not None]
    if strategy != "each" and len(targets) > 2 and probes:
        curve = MonotoneCurve({grid.u(k): _y(p.vmaf) for k, p in probes.items()}, _PRIOR_Y_PER_STEP * grid.step)
        for t in targets[1:-1]:
            want = _y(t)
            found.append(next((u for u in range(grid.u_lo, grid.u_hi + 1) if curve(u) >= want), grid.u_hi))
    us = _spread(found, n, grid)
    notes = [f"{r.target_vmaf:g}: not reached ({r.reason})" for r in results if not r.reached]
    if len(us) < n:
        notes.append(f"only {len(us)} distinct knob values fit the range")
    fresh = [p for p in probes.values() if not p.cached]
    return Placement(targets=targets, knobs=[_plain(grid.knob(u)) for u in us], strategy=strategy,
                     probes=sorted((p.knob, p.vmaf) for p in probes.values()), searches=len(results),
                     probe_encodes=len(fresh), cpu_s=sum(p.cpu_s for p in fresh),
                     wall_s=time.monotonic() - started, notes=notes)


def _plain(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


__all__ = ["DEFAULT_VMAF_RANGE", "Placement", "STRATEGIES", "place_points", "vmaf_targets"]
