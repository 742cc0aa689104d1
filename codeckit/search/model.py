"""The monotone model of a search: knob values on an integer grid, PCHIP through the probes, and the boundary search."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np


def _isotonic(y: np.ndarray) -> np.ndarray:
    """Pool-adjacent-violators: the closest non-decreasing sequence (scores wobble by a few hundredths)."""
    blocks = [[float(v), 1] for v in y]
    i = 0
    while i < len(blocks) - 1:
        if blocks[i][0] > blocks[i + 1][0]:
            tot = blocks[i][0] * blocks[i][1] + blocks[i + 1][0] * blocks[i + 1][1]
            n = blocks[i][1] + blocks[i + 1][1]
            blocks[i] = [tot / n, n]
            del blocks[i + 1]
            i = max(0, i - 1)
        else:
            i += 1
    return np.array([b[0] for b in blocks for _ in range(b[1])])


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson derivatives: the cubic through the points stays monotone between them."""
    h = np.diff(x)
    delta = np.diff(y) / h
    n = len(x)
    d = np.zeros(n)
    if n == 2:
        d[:] = delta[0]
        return d
    for k in range(1, n - 1):
        if delta[k - 1] * delta[k] <= 0:
            d[k] = 0.0
        else:
            w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k])
    for k, (dk, h0, h1, e0, e1) in ((0, (delta[0], h[0], h[1], delta[0], delta[1])),
                                      (n - 1, (delta[-1], h[-1], h[-2], delta[-1], delta[-2]))):
        v = ((2 * h0 + h1) * e0 - h0 * e1) / (h0 + h1)
        if np.sign(v) != np.sign(e0):
            v = 0.0
        elif np.sign(e0) != np.sign(e1) and abs(v) > abs(3 * e0):
            v = 3 * e0
        d[k] = v
    return d


class MonotoneCurve:
    """y(u), non-decreasing, through measured points: PCHIP inside, straight lines outside.

    With one point it uses the prior slope; outside the points it continues with the secant of the two
    nearest (never flatter than a quarter of the prior, so a saturated end does not send it to infinity).
    """

    def __init__(self, points: dict[int, float], prior_slope: float):
        xs = sorted(points)
        self.x = np.array(xs, dtype=float)
        self.y = _isotonic(np.array([points[u] for u in xs], dtype=float))
        self.prior = prior_slope
        self.d = _pchip_slopes(self.x, self.y) if len(xs) >= 2 else None

    def _edge_slope(self, lo_end: bool) -> float:
        if len(self.x) < 2:
            return self.prior
        i = 0 if lo_end else -2
        s = (self.y[i + 1] - self.y[i]) / (self.x[i + 1] - self.x[i])
        return max(s, self.prior / 4)

    def __call__(self, u: float) -> float:
        x, y = self.x, self.y
        if u <= x[0]:
            return float(y[0] + (u - x[0]) * self._edge_slope(True))
        if u >= x[-1]:
            return float(y[-1] + (u - x[-1]) * self._edge_slope(False))
        k = int(np.searchsorted(x, u) - 1)
        h = x[k + 1] - x[k]
        t = (u - x[k]) / h
        h00, h10 = 2 * t ** 3 - 3 * t ** 2 + 1, t ** 3 - 2 * t ** 2 + t
        h01, h11 = -2 * t ** 3 + 3 * t ** 2, t ** 3 - t ** 2
        return float(h00 * y[k] + h10 * h * self.d[k] + h01 * y[k + 1] + h11 * h * self.d[k + 1])


def monotone_search(evaluate: Callable[[int], float], target: float, lo: int, hi: int, first: int,
                    prior_slope: float, window: float, max_evals: int,
                    known: dict[int, float] | None = None, aim: float = 0.0,
                    settle: Callable[[float, float], bool] | None = None
                    ) -> tuple[int | None, str, dict[int, float]]:
    """The smallest integer u in [lo, hi] with y(u) >= target, for a non-decreasing y that costs one
    `evaluate` to learn at a point.

    Each step fits a MonotoneCurve through what is known, and tries the smallest u it predicts to
    reach the target, strictly between the best passing and failing points so far. Stops when a point
    lands in [target, target + window] and the model says the next cheaper u would miss; when the
    passing and failing points are neighbours; when the model predicts nothing cheaper than the best
    passing point reaches the target; at the ends of the range; or after `max_evals`.

    For noisy evaluations, where a point's own error outweighs the curve's between two points:
    `settle(y_pass, y_fail)` says whether the closest passing and failing points are near enough for the
    curve between them to place the boundary, and the search stops there (the caller interpolates); `aim`
    moves the aim past the target while only one side is known (cheaper when everything tried passes,
    better when everything fails), so that the next point is likely to close a bracket.
    Returns (u or None when nothing reached the target, why, points).
    """
    pts: dict[int, float] = dict(known or {})
    evals = 0

    def bracket():
        passing = [u for u, y in pts.items() if y >= target]
        failing = [u for u, y in pts.items() if y < target]
        return (min(passing) if passing else None), (max(failing) if failing else None)

    candidate = max(lo, min(hi, int(first)))
    if candidate in pts or pts:
        candidate = None
    while True:
        p, f = bracket()
        if candidate is None:
            a = lo if f is None else f + 1
            b = hi if p is None else p - 1
            if p is not None and f is not None and a > b:
                return p, "the passing and failing values are neighbours", pts
            if p is not None and a > b:
                return p, "even the cheapest value in range reaches the target", pts
            if p is None and a > b:
                return None, "even the best value in range misses the target", pts
            curve = MonotoneCurve(pts, prior_slope)
            if p is not None and f is not None:
                aim_at = target
            elif p is not None:
                aim_at = target - aim       # everything tried passes: aim cheaper
            else:
                aim_at = target + aim       # everything tried fails: aim better
            candidate = next((u for u in range(a, b + 1) if curve(u) >= aim_at), None)
            if candidate is None and aim_at != target:
                candidate = next((u for u in range(a, b + 1) if curve(u) >= target), None)
            if candidate is None:
                if p is not None:
                    return p, "the model predicts nothing cheaper reaches the target", pts
                candidate = b            # predicted out of reach: try the best end once
        if evals >= max_evals:
            return p, f"stopped after {evals} probes", pts
        y = evaluate(candidate)
        evals += 1
        pts[candidate] = y
        if target <= y <= target + window and (candidate == lo or candidate - 1 in pts or
                                               MonotoneCurve(pts, prior_slope)(candidate - 1) < target):
            return candidate, "a probe landed within the tolerance", pts
        p, f = bracket()
        if settle is not None and p is not None and f is not None and p - f >= 2 and settle(pts[p], pts[f]):
            return p, "the probes bracket the target closely enough for the curve between them to place it", pts
        candidate = None


@dataclass(frozen=True)
class KnobGrid:
    """The knob values a search may try, as integers u that grow with quality (and bytes).

    u = sign * knob / step: CRF 23 of x264 (lower is better, quarter steps) is u = -92.
    """
    sign: int
    step: float
    u_lo: int
    u_hi: int

    @classmethod
    def of(cls, knob, lo: float, hi: float) -> "KnobGrid":
        sign = -1 if knob.lower_is_better else 1
        step = float(getattr(knob, "step", 1.0) or 1.0)
        ends = sorted((sign * lo / step, sign * hi / step))
        return cls(sign, step, int(math.ceil(ends[0] - 1e-9)), int(math.floor(ends[1] + 1e-9)))

    def knob(self, u: int) -> float:
        return round(self.sign * u * self.step, 6)

    def u(self, knob: float) -> int:
        return int(round(self.sign * knob / self.step))

    def clamp(self, u: int) -> int:
        return max(self.u_lo, min(self.u_hi, u))
