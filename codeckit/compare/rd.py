"""Rate-distortion arithmetic: BD-rate (PCHIP over log-rate, as the JVET/AOM sheets and the `bjontegaard`
package compute it) with a named status instead of NaN, and the upper-left convex hull of RD points."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

#: Fewer points than this make no curve worth integrating (JVET and AOM use 4 or more QPs).
MIN_POINTS = 4
#: VMAF at or above this is saturated: the curve is flat there, and a flat run makes log-rate a step
#: function of quality. AOM's CTC drops such points from the VMAF BD-rate; so does this module (the
#: lowest-rate saturated point is kept as the curve's end, since it is where the encoder first reaches
#: the top).
VMAF_SATURATION = 99.5
#: Below this share of the union of the two quality ranges the number is still given, but flagged
#: `low_overlap` (the `bjontegaard` package warns at the same 75 %).
MIN_OVERLAP = 0.75

STATUSES = ("ok", "low_overlap", "too_few_points", "no_overlap", "non_monotonic", "bad_rate", "saturated")


@dataclass(frozen=True)
class RDPoint:
    """One encode on an RD plot: its rate (bits/s or bytes, any positive unit) and quality."""
    rate: float
    quality: float
    label: str = ""
    data: Any = field(default=None, compare=False, hash=False)


@dataclass
class BDResult:
    """A BD-rate: the average rate difference (%) of test against anchor at equal quality, or why not.

    `value_pct` is None unless `status` is ok or low_overlap; negative means the test needs fewer bits.
    """
    status: str
    value_pct: float | None = None
    overlap: float | None = None                  # share of the union quality range both curves cover
    quality_range: tuple[float, float] | None = None
    detail: str = ""

    def to_dict(self) -> dict:
        return {"status": self.status, "value_pct": None if self.value_pct is None else round(self.value_pct, 4),
                "overlap": None if self.overlap is None else round(self.overlap, 4),
                "quality_range": list(self.quality_range) if self.quality_range else None, "detail": self.detail}


def _as_points(points: Iterable[Any]) -> list[RDPoint]:
    out = []
    for p in points:
        out.append(p if isinstance(p, RDPoint) else RDPoint(float(p[0]), float(p[1])))
    return out


def _curve(points: Sequence[Any], metric: str) -> tuple[list[float], list[float]] | BDResult:
    """(quality ascending, log10 rate) of one curve, or the BDResult that says why it is not a curve."""
    pts = _as_points(points)
    if any(not (p.rate > 0 and math.isfinite(p.rate)) or not math.isfinite(p.quality) for p in pts):
        return BDResult("bad_rate", detail="a rate is zero, negative or not a number, or a quality is not a number")
    if metric == "vmaf":
        pts = sorted(pts, key=lambda p: (p.rate, -p.quality))
        top = [p for p in pts if p.quality >= VMAF_SATURATION]
        kept = [p for p in pts if p.quality < VMAF_SATURATION] + top[:1]
        if len(kept) < MIN_POINTS <= len(pts):
            return BDResult("saturated", detail=f"{len(top)} of {len(pts)} points at VMAF >= {VMAF_SATURATION:g}")
        pts = kept
    if len(pts) < MIN_POINTS:
        return BDResult("too_few_points", detail=f"{len(pts)} points, {MIN_POINTS} needed")
    pts.sort(key=lambda p: (p.rate, p.quality))
    for a, b in zip(pts, pts[1:]):
        if not (b.rate > a.rate and b.quality > a.quality):
            return BDResult("non_monotonic", detail=f"rate {a.rate:g} -> {b.rate:g} gives quality "
                                                    f"{a.quality:g} -> {b.quality:g}")
    return [p.quality for p in pts], [math.log10(p.rate) for p in pts]


def bd_rate(anchor_points: Sequence[Any], test_points: Sequence[Any], metric: str = "vmaf") -> BDResult:
    """BD-rate of `test_points` against `anchor_points` ((rate, quality) pairs or RDPoints), in percent.

    Each curve is log10(rate) as a PCHIP function of quality; the two are integrated over the quality
    range both cover, and the mean difference d gives (10**d - 1) * 100, exactly as
    `bjontegaard.bd_rate(..., method="pchip")`. `metric` "vmaf" drops saturated points (see VMAF_SATURATION).
    """
    from scipy.interpolate import PchipInterpolator

    a = _curve(anchor_points, metric)
    if isinstance(a, BDResult):
        a.detail = "anchor: " + a.detail
        return a
    t = _curve(test_points, metric)
    if isinstance(t, BDResult):
        t.detail = "test: " + t.detail
        return t
    lo, hi = max(a[0][0], t[0][0]), min(a[0][-1], t[0][-1])
    union = max(a[0][-1], t[0][-1]) - min(a[0][0], t[0][0])
    if hi <= lo:
        return BDResult("no_overlap", overlap=0.0,
                        detail=f"anchor covers {a[0][0]:.2f}-{a[0][-1]:.2f}, test {t[0][0]:.2f}-{t[0][-1]:.2f}")
    overlap = (hi - lo) / union
    fa, ft = PchipInterpolator(*a), PchipInterpolator(*t)
    mean_diff = (ft.integrate(lo, hi) - fa.integrate(lo, hi)) / (hi - lo)
    value = float((10 ** mean_diff - 1) * 100)
    status = "ok" if overlap >= MIN_OVERLAP else "low_overlap"
    detail = "" if status == "ok" else f"the curves share {overlap:.0%} of their quality range"
    return BDResult(status, value, overlap, (round(lo, 4), round(hi, 4)), detail)


def convex_hull(points: Iterable[Any], *, log_rate: bool = True) -> list[RDPoint]:
    """The upper-left convex hull of RD points: the Pareto front (no other point has a lower rate and a
    quality at least as high) with the points below the chords between their neighbours removed, ordered
    by rate. The chords are taken in log10(rate) by default (RD curves are close to straight there), so
    the hull is what mixing encodes over time could reach. Points with a rate <= 0 are left out."""
    pts = [p for p in _as_points(points) if p.rate > 0 and math.isfinite(p.rate) and math.isfinite(p.quality)]
    pts.sort(key=lambda p: (p.rate, -p.quality))
    front: list[RDPoint] = []
    for p in pts:
        if not front or p.quality > front[-1].quality:
            front.append(p)

    def x(p: RDPoint) -> float:
        return math.log10(p.rate) if log_rate else p.rate

    hull: list[RDPoint] = []
    for p in front:
        # drop the last hull point while it lies on or below the chord from the one before it to p
        while len(hull) >= 2:
            o, m = hull[-2], hull[-1]
            cross = (x(m) - x(o)) * (p.quality - o.quality) - (m.quality - o.quality) * (x(p) - x(o))
            if cross >= 0:
                hull.pop()
            else:
                break
        hull.append(p)
    return hull


__all__ = ["BDResult", "MIN_OVERLAP", "MIN_POINTS", "RDPoint", "STATUSES", "VMAF_SATURATION", "bd_rate",
           "convex_hull"]
