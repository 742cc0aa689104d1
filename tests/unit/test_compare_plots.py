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


def test_rd_curves_of_same_named_sources_have_distinct_titles():
    # two sources called clip.mp4 in different folders were both titled "clip.mp4" in the HTML report
    from codeckit.compare.report.html import rd_section
    report = {"settings": {"encoders": ["libx264:medium"]}, "results": [], "hull": [],
              "sources": [{"path": "/data/day1/clip.mp4"}, {"path": "/data/day2/clip.mp4"}]}
    html = rd_section(report)
    assert "day1/clip.mp4" in html and "day2/clip.mp4" in html
