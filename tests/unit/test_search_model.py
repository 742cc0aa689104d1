"""The VMAF search's model and recipe without encoding: the monotone curve and search, recipes, the CLI help."""
from __future__ import annotations

import numpy as np
import pytest

from codeckit.codecs import BY_NAME
from codeckit.search import (EncodeRecipe, MonotoneCurve, Span, encode_args, monotone_search)

TARGET = 93.0


def test_monotone_curve_passes_through_points_and_never_turns_back():
    pts = {10: 1.0, 12: 1.5, 15: 3.0, 20: 3.1}
    c = MonotoneCurve(pts, prior_slope=0.2)
    for u, y in pts.items():
        assert c(u) == pytest.approx(y)
    ys = [c(u) for u in np.linspace(5, 25, 201)]
    assert all(b >= a - 1e-12 for a, b in zip(ys, ys[1:]))


def test_monotone_curve_smooths_a_noisy_inversion():
    c = MonotoneCurve({1: 1.0, 2: 2.2, 3: 2.0, 4: 3.0}, prior_slope=1.0)
    assert c(2) == pytest.approx(2.1) and c(3) == pytest.approx(2.1)


def test_monotone_search_finds_the_boundary_in_few_evaluations():
    calls = []

    def y(u):
        calls.append(u)
        return 0.37 * u - 3.0          # crosses 0 between 8 and 9

    u, why, pts = monotone_search(y, 0.0, 0, 50, first=20, prior_slope=0.1, window=0.01, max_evals=6)
    assert u == 9 and len(calls) <= 4 and pts[9] >= 0 > pts.get(8, -1)


def test_monotone_search_reports_an_unreachable_target():
    u, why, _ = monotone_search(lambda u: u * 0.01, 5.0, 0, 10, first=3, prior_slope=0.01, window=0.1,
                                max_evals=6)
    assert u is None and "misses" in why


def test_a_noisy_search_aims_past_the_target_and_stops_on_a_close_bracket():
    calls = []

    def y(u):
        calls.append(u)
        return 0.1 * u - 3.0           # crosses 0 at u = 30

    def search_(settle):
        calls.clear()
        return monotone_search(y, 0.0, 0, 100, first=50, prior_slope=0.1, window=0.01, max_evals=6, aim=0.15,
                               settle=settle)
    # everything tried passes: the next point aims cheaper than the boundary, closes the bracket, and a
    # close enough bracket ends the search (the caller reads the boundary off the curve between them)
    u, why, pts = search_(lambda yp, yf: yp - yf <= 2.5)
    assert calls == [50, 29] and pts[29] < 0 and u == 50 and "bracket" in why
    # a wider bracket than `settle` allows: the search goes on to the boundary itself
    u, why, pts = search_(lambda yp, yf: yp - yf <= 1.0)
    assert len(calls) > 2 and u == 30 and "bracket" not in why
    # no aim, no settle: the plain search of exact evaluations
    calls.clear()
    u, _, _ = monotone_search(y, 0.0, 0, 100, first=50, prior_slope=0.1, window=0.01, max_evals=6)
    assert u == 30 and calls[1] == 30


def test_the_answer_lies_between_the_probes_where_the_curve_reaches_the_target():
    from codeckit.search.knob_search import Probe, _between_probes

    def probe_at(u, vmaf, bitrate):
        return Probe(knob=-u / 4, vmaf=vmaf, bytes=0, seconds=1.0, bitrate=bitrate, samples=[], cpu_s=0,
                     wall_s=0, cached=False)
    # CRF 27 misses (92.6), CRF 26 lands within the tolerance (93.45): the target lies about halfway between
    probes = {-108: probe_at(-108, 92.6, 2.0e6), -104: probe_at(-104, 93.45, 2.5e6)}
    u, vmaf, bitrate, failing = _between_probes(probes, -104, TARGET, prior=0.03, bitrate_prior=0.01)
    assert failing == -108 and -108 < u < -104
    assert TARGET <= vmaf < 93.45 and 2.0e6 < bitrate < 2.5e6
    assert vmaf - TARGET < 0.25                  # the cheapest quarter step that reaches it
    # neighbours, or nothing failing below the answer: the probe itself stays the answer
    assert _between_probes({-105: probe_at(-105, 92.9, 1), -104: probes[-104]}, -104, TARGET, 0.03, 0.01) is None
    assert _between_probes({-104: probes[-104]}, -104, TARGET, 0.03, 0.01) is None


def test_hardware_encoders_go_through_the_same_recipe():
    recipe = EncodeRecipe(BY_NAME["hevc_vaapi"], "medium", 8, ("scale=1280:-2",))
    args = encode_args("in.mp4", "out.mkv", recipe, 30, Span(10.0, 2.0))
    assert args[args.index("-init_hw_device") + 1].startswith("vaapi")
    assert args.index("-init_hw_device") < args.index("-i")
    assert args[args.index("-vf") + 1] == "scale=1280:-2,format=nv12,hwupload"
    assert args[args.index("-global_quality") + 1] == "30"
    assert args[args.index("-ss") + 1] == "10.000000" and args.index("-ss") < args.index("-i")
    assert args[-1].startswith("file:")


def test_cli_search_help_states_the_defaults_the_search_uses():
    from click.testing import CliRunner

    from codeckit.cli import _register, cli
    from codeckit.search.knob_search import SAMPLE_SUBSAMPLE, SUBSAMPLE_FROM_HEIGHT
    from codeckit.search.samples import MAX_SAMPLES, MIN_SAMPLES, SAMPLE_DURATION_S
    _register()
    res = CliRunner().invoke(cli, ["search", "--help"], terminal_width=200)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert f"default {MIN_SAMPLES}-{MAX_SAMPLES}" in text
    assert f"default {SAMPLE_DURATION_S:g})" in text
    assert f"default: {SAMPLE_SUBSAMPLE} for sampled {SUBSAMPLE_FROM_HEIGHT}p and up" in text
