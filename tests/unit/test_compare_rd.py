"""BD-rate against the `bjontegaard` package, its named statuses, and the convex hull on awkward point sets."""
from __future__ import annotations

import math
import warnings
import random

import pytest

from codeckit.compare.rd import MIN_OVERLAP, RDPoint, bd_rate, convex_hull

bjontegaard = pytest.importorskip("bjontegaard")

# The example data of the bjontegaard package's README (libx265 at two presets).
README_RATE_1 = [9487.76, 4593.60, 2486.44, 1358.24]
README_PSNR_1 = [40.037, 38.615, 36.845, 34.851]
README_RATE_2 = [9787.80, 4469.00, 2451.52, 1356.24]
README_PSNR_2 = [40.121, 38.651, 36.970, 34.987]


def _theirs(ra, qa, rt, qt) -> float:
    with warnings.catch_warnings():  # it warns where curves do not overlap and returns NaN: checked by the caller
        warnings.simplefilter("ignore", UserWarning)
        return float(bjontegaard.bd_rate(ra, qa, rt, qt, method="pchip", require_matching_points=False,
                                         min_overlap=0))


def test_bd_rate_equals_bjontegaard_pchip_on_its_readme_data():
    ours = bd_rate(list(zip(README_RATE_1, README_PSNR_1)), list(zip(README_RATE_2, README_PSNR_2)), "psnr_y")
    assert ours.status == "ok"
    assert ours.value_pct == pytest.approx(_theirs(README_RATE_1, README_PSNR_1, README_RATE_2, README_PSNR_2),
                                           abs=0.01)
    assert ours.value_pct == pytest.approx(-4.4175, abs=0.001)


def _monotone_curve(rng: random.Random, n: int, scale: float, q0: float) -> tuple[list[float], list[float]]:
    rates = sorted(rng.uniform(200, 20000) * scale for _ in range(n))
    while len(set(rates)) < n:
        rates = sorted(rng.uniform(200, 20000) * scale for _ in range(n))
    steps = [rng.uniform(0.5, 4.0) for _ in range(n)]
    quality = [q0 + sum(steps[:i + 1]) for i in range(n)]
    return rates, quality


@pytest.mark.parametrize("seed", range(24))
def test_bd_rate_equals_bjontegaard_pchip_on_random_monotone_curves(seed):
    rng = random.Random(seed)
    ra, qa = _monotone_curve(rng, rng.choice([4, 5, 6]), 1.0, rng.uniform(30, 36))
    rt, qt = _monotone_curve(rng, rng.choice([4, 5, 6]), rng.uniform(0.6, 1.4), qa[0] + rng.uniform(-2, 2))
    ours = bd_rate(list(zip(ra, qa)), list(zip(rt, qt)), "psnr_y")
    theirs = _theirs(ra, qa, rt, qt)
    if math.isnan(theirs):
        assert ours.status == "no_overlap" and ours.value_pct is None
        return
    assert ours.status in ("ok", "low_overlap")
    assert ours.value_pct == pytest.approx(theirs, abs=0.01)
    # the order the points come in does not matter
    shuffled = list(zip(rt, qt))
    rng.shuffle(shuffled)
    assert bd_rate(list(zip(ra, qa)), shuffled, "psnr_y").value_pct == pytest.approx(ours.value_pct, abs=1e-9)


def test_identical_curves_are_zero_and_half_the_rate_is_minus_fifty():
    a = [(1000, 80), (2000, 85), (4000, 90), (8000, 95)]
    assert bd_rate(a, a).value_pct == pytest.approx(0.0, abs=1e-9)
    half = [(r / 2, q) for r, q in a]
    assert bd_rate(a, half).value_pct == pytest.approx(-50.0, abs=1e-9)


ANCHOR = [(1000, 80.0), (2000, 85.0), (4000, 90.0), (8000, 95.0)]


@pytest.mark.parametrize("test_points, status", [
    ([(1000, 80.0), (2000, 85.0), (4000, 90.0)], "too_few_points"),
    ([(1000, 40.0), (2000, 45.0), (4000, 50.0), (8000, 55.0)], "no_overlap"),
    ([(1000, 80.0), (2000, 90.0), (4000, 85.0), (8000, 95.0)], "non_monotonic"),
    ([(1000, 80.0), (1000, 85.0), (4000, 90.0), (8000, 95.0)], "non_monotonic"),      # two qualities, one rate
    ([(1000, 80.0), (2000, 80.0), (4000, 90.0), (8000, 95.0)], "non_monotonic"),      # a flat run
    ([(0, 80.0), (2000, 85.0), (4000, 90.0), (8000, 95.0)], "bad_rate"),
    ([(float("nan"), 80.0), (2000, 85.0), (4000, 90.0), (8000, 95.0)], "bad_rate"),
    ([(1000, 99.6), (2000, 99.7), (4000, 99.8), (8000, 99.9)], "saturated"),
    ([(1000, 93.0), (2000, 96.0), (4000, 98.0), (8000, 99.0)], "low_overlap"),
])
def test_bad_curves_get_a_named_status_never_nan(test_points, status):
    res = bd_rate(ANCHOR, test_points, "vmaf")
    assert res.status == status, res
    if status == "low_overlap":
        assert res.value_pct is not None and math.isfinite(res.value_pct) and res.overlap < MIN_OVERLAP
    else:
        assert res.value_pct is None and res.detail.startswith("test: ") or status == "no_overlap"
    d = res.to_dict()
    assert all(not (isinstance(v, float) and math.isnan(v)) for v in d.values())


def test_a_bad_anchor_is_named_as_the_anchor():
    res = bd_rate(ANCHOR[:2], ANCHOR)
    assert res.status == "too_few_points" and res.detail.startswith("anchor: ")


def test_saturated_vmaf_points_are_dropped_but_the_first_one_kept():
    # two points above 99.5: the cheaper one stays as the curve's top end, so four points remain
    test = [(900, 80.0), (1800, 86.0), (3500, 92.0), (7000, 99.6), (9000, 99.8)]
    res = bd_rate(ANCHOR + [(16000, 99.0)], test, "vmaf")
    assert res.status in ("ok", "low_overlap") and res.value_pct is not None
    # PSNR has no such ceiling: the same numbers as PSNR keep all five points
    assert bd_rate(ANCHOR + [(16000, 99.0)], test, "psnr_y").value_pct != res.value_pct


def _pairs(hull):
    return [(p.rate, p.quality) for p in hull]


def test_hull_of_nothing_and_of_one_point():
    assert convex_hull([]) == []
    assert _pairs(convex_hull([(1000, 90)])) == [(1000, 90)]


def test_hull_keeps_one_of_duplicates_and_the_best_of_ties():
    pts = [(1000, 80), (1000, 80), (1000, 85), (2000, 90), (2000, 90)]
    assert _pairs(convex_hull(pts)) == [(1000, 85), (2000, 90)]


def test_hull_drops_vertical_and_horizontal_runs_to_their_upper_left_end():
    vertical = [(1000, 70), (1000, 75), (1000, 80), (4000, 95)]
    assert _pairs(convex_hull(vertical)) == [(1000, 80), (4000, 95)]
    horizontal = [(1000, 80), (2000, 80), (3000, 80), (8000, 80)]
    assert _pairs(convex_hull(horizontal)) == [(1000, 80)]


def test_hull_removes_points_under_the_chord_and_dominated_points():
    pts = [RDPoint(1000, 80, "a"), RDPoint(2000, 81, "b"), RDPoint(4000, 92, "a"), RDPoint(3000, 70, "c"),
           RDPoint(8000, 95, "b"), RDPoint(16000, 94, "c")]
    hull = convex_hull(pts)
    assert _pairs(hull) == [(1000, 80), (4000, 92), (8000, 95)]
    assert [p.label for p in hull] == ["a", "a", "b"]
    # concave everywhere: every point on the hull, ordered by rate, quality rising
    for a, b in zip(hull, hull[1:]):
        assert b.rate > a.rate and b.quality > a.quality


def test_hull_in_linear_rate_differs_where_log_rate_bends():
    pts = [(1000, 80), (2000, 88), (10000, 95)]
    assert len(convex_hull(pts, log_rate=True)) == 3
    assert _pairs(convex_hull(pts, log_rate=False)) == [(1000, 80), (2000, 88), (10000, 95)]
    assert _pairs(convex_hull([(1000, 80), (5000, 84), (10000, 95)], log_rate=False)) == [(1000, 80), (10000, 95)]


def test_hull_leaves_out_non_positive_rates():
    assert _pairs(convex_hull([(0, 99), (-5, 99), (1000, 80)])) == [(1000, 80)]
