"""The report's plots on degenerate data: no Python warning reaches the user's terminal."""
from __future__ import annotations

import warnings

import pytest

pytest.importorskip("matplotlib")


def test_a_source_without_any_measured_point_plots_without_a_warning():
    # every configuration failed on this source: matplotlib's "No artists with labels found to put in
    # legend" UserWarning was printed on stderr in the middle of compare's tables
    from codeckit.compare.report.plots import rd_curves
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        svg = rd_curves("/v/clip.mp4", [], [], ["h264_nvenc:medium"])
    assert svg.startswith("<svg") and "no measured point" in svg
