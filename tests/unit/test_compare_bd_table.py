"""compare's terminal BD-rate table: readable at 80 columns however many sources, distinct source headers."""
from __future__ import annotations

from rich.console import Console

from codeckit.cli.compare import bd_tables
from codeckit.compare.report import source_labels


def _report(sources: list[str], configs: list[str], status: str = "ok") -> dict:
    rows = [{"config": c, "metric": m, "source": s, "value_pct": -12.0 - i - 0.01 * j, "status": status}
            for j, c in enumerate(configs[1:]) for m in ("vmaf", "psnr_y") for i, s in enumerate([*sources, "all"])]
    return {"settings": {"anchor": configs[0]}, "bd_rate": rows}


def _render(report: dict, width: int = 80) -> str:
    con = Console(width=width, record=True, file=open("/dev/null", "w"))
    for t in bd_tables(report, width):
        con.print(t)
    return con.export_text()


def test_labels_are_the_shortest_unique_path_suffix():
    assert source_labels(["/a/x/clip.mp4", "/b/x/clip.mp4", "/c/other.mp4"]) == \
        {"/a/x/clip.mp4": "a/x/clip.mp4", "/b/x/clip.mp4": "b/x/clip.mp4", "/c/other.mp4": "other.mp4"}
    assert source_labels(["s3://bucket/day1/clip.mp4", "/local/day2/clip.mp4"]) == \
        {"s3://bucket/day1/clip.mp4": "day1/clip.mp4", "/local/day2/clip.mp4": "day2/clip.mp4"}
    assert source_labels(["clip.mp4", "a/clip.mp4"]) == {"clip.mp4": "clip.mp4", "a/clip.mp4": "a/clip.mp4"}


def test_six_sources_with_one_name_fit_80_columns_with_distinct_headers():
    sources = [f"/data/set{i}/clip.mp4" for i in range(6)]
    text = _render(_report(sources, ["libx264", "libx265"]))
    assert max(len(line) for line in text.splitlines()) <= 80
    for i in range(6):                    # each source named whole, on one line, and told from the others
        assert text.count(f"set{i}/clip.mp4") == 1
        assert f"-{12 + i}.00 %" in text   # every value whole, not cut by a squeezed column
    assert "-18.00 %" in text             # "all"


def test_many_sources_and_configurations_split_by_metric_and_lose_nothing():
    sources = [f"/v/{i}.mp4" for i in range(6)]
    configs = ["libx264", "libx265", "libsvtav1", "libvpx-vp9", "libaom-av1", "h264_nvenc"]
    text = _render(_report(sources, configs, status="low_overlap"))
    assert max(len(line) for line in text.splitlines()) <= 80
    assert ": VMAF" in text and ": PSNR-Y" in text
    assert all(c in text for c in configs[1:]) and all(f"{i}.mp4" in text for i in range(6))
    assert text.count("*1") == 2 * 7 * 5 + 2 and text.count("*1 low_overlap") == 2   # marks, explained once each
    assert "overla" not in text.replace("*1 low_overlap", "")                         # no status cut in two


def test_few_sources_keep_the_usual_table():
    tables = bd_tables(_report(["/a/clip.mp4", "/b/clip.mp4"], ["libx264", "libx265"]), 120)
    assert len(tables) == 1 and tables[0].columns[0].header == "configuration"
    assert [c.header for c in tables[0].columns[1:]] == \
        ["vmaf a/clip.mp4", "vmaf b/clip.mp4", "vmaf all", "psnr_y a/clip.mp4", "psnr_y b/clip.mp4", "psnr_y all"]
