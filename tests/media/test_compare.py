"""A real, small comparison: two encoders on a tiny clip, every row reproduced with raw FFmpeg and libvmaf,
reruns from the journal, one more encoder computing only what is new, the CLI's JSON, and the report in Chromium."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from codeckit.compare import CompareOptions, compare
from codeckit.demo_media import lavfi_clip
from codeckit.ffmpeg import ffmpeg_exe, input_url
from tests.browser import artefact_dir, browser_page, serve

pytest.importorskip("scipy")
pytest.importorskip("matplotlib")

ENCODERS = "libx264:fast,libx265:fast"
POINTS = 4
ROW_FIELDS = ("source", "encoder", "speed", "knob", "bytes", "bitrate", "vmaf", "vmaf_hmean", "vmaf_p1", "psnr_y",
              "ssim", "cpu_s", "wall_s", "fps", "decode_fps", "argv")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    # testsrc2 moves and has detail: its RD curves are smooth enough for 4 points
    return lavfi_clip(tmp_path_factory.mktemp("compare-src") / "clip.mp4", size="320x240", duration=1.0)


@pytest.fixture(scope="module")
def first_run(clip, tmp_path_factory, clips):
    out = tmp_path_factory.mktemp("compare-out")
    report = compare([clip, clips.not_media], out, CompareOptions(encoders=ENCODERS, points=POINTS))
    return out, report


def test_every_point_is_measured_and_the_broken_source_fails_alone(first_run, clips):
    out, report = first_run
    d = report.data
    assert d["schema_version"] == 1
    assert [f["stage"] for f in report.failures] == ["probe"]
    assert report.failures[0]["source"] == str(clips.not_media)
    assert len(d["results"]) == 2 * POINTS
    for row in d["results"]:
        assert all(k in row for k in ROW_FIELDS)
        assert row["bytes"] == (out / row["output"]).stat().st_size
        assert row["cpu_s"] > 0 and row["decode_fps"] > 0 and 0 < row["ssim"] <= 1 and row["psnr_y"] > 20
    for cfg in ("libx264:fast", "libx265:fast"):
        vmafs = sorted(r["vmaf"] for r in d["results"] if r["config"] == cfg)
        # the points cover the range they were aimed at (80-97), so the curves overlap
        assert vmafs[0] < 84 and vmafs[-1] > 94, vmafs
    bd = {(r["source"], r["metric"]): r for r in d["bd_rate"]}
    assert bd[("all", "vmaf")]["status"] == "ok" and bd[("all", "psnr_y")]["status"] == "ok"
    assert d["hull"] and d["cost"] and d["cheapest"]["config"] in ("libx264:fast", "libx265:fast")
    assert d["versions"]["encoders"]["libx264"] and d["versions"]["libvmaf"]
    assert d["machine"]["cores"] >= 1
    for name in ("report.json", "results.csv", "report.html"):
        assert (out / name).is_file()
    assert len((out / "results.csv").read_text().splitlines()) == 1 + 2 * POINTS


def _raw_vmaf(ref: Path, dist: Path, log: Path) -> float:
    # libvmaf straight, as its documentation shows: distorted first, reference second, the default model
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", input_url(dist), "-i", input_url(ref),
                    "-lavfi", f"[0:v][1:v]libvmaf=log_fmt=json:log_path={log}", "-f", "null", "-"], check=True)
    return json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"]


def test_each_row_is_reproduced_by_its_argv_with_raw_ffmpeg_and_libvmaf(first_run, tmp_path):
    out, report = first_run
    for i, row in enumerate(report.data["results"]):
        argv = list(row["argv"])
        assert argv[-1] == input_url(out / row["output"])
        again = tmp_path / f"again{i}.mp4"
        argv[-1] = input_url(again)
        subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, capture_output=True)
        assert again.read_bytes() == (out / row["output"]).read_bytes(), row["config"]
        assert _raw_vmaf(Path(row["source"]), again, tmp_path / f"v{i}.json") == pytest.approx(row["vmaf"], abs=0.01)


def test_a_rerun_reads_everything_from_the_journal_and_writes_the_same_report(first_run, clip, clips):
    out, first = first_run
    before = json.loads((out / "report.json").read_text())
    again = compare([clip, clips.not_media], out, CompareOptions(encoders=ENCODERS, points=POINTS))
    assert again.computed == 0 and again.cached == 2 + 2 * POINTS
    after = json.loads((out / "report.json").read_text())
    before.pop("run"), after.pop("run")
    assert after == before


def test_the_cli_prints_the_report_as_json(first_run, clip):
    out, _ = first_run
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "codeckit", "compare", str(clip), "-o", str(out), "--encoders",
                           ENCODERS, "--points", str(POINTS), "--json"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["schema_version"] == 1 and d["run"]["computed"] == 0
    assert {r["config"] for r in d["results"]} == {"libx264:fast", "libx265:fast"}
    for key in ("bd_rate", "hull", "cost", "cheapest", "versions"):
        assert key in d


def test_one_configuration_says_there_is_no_bd_rate_instead_of_an_empty_table(first_run, clip, tmp_path):
    out, _ = first_run
    # the anchor's points come from the first run's journal: nothing is encoded again (a copy of its folder)
    import shutil
    mine = tmp_path / "one"
    shutil.copytree(out, mine)
    proc = subprocess.run([sys.executable, "-m", "codeckit", "compare", str(clip), "-o", str(mine), "--encoders",
                           "libx264:fast", "--points", str(POINTS)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("BD-rate: none, only one configuration (libx264:fast, the anchor); give --encoders "
                                  "two or more\n"), proc.stderr


def test_one_more_encoder_computes_only_its_own_points(first_run, clip):
    out, _ = first_run
    report = compare([clip], out, CompareOptions(encoders=ENCODERS + ",libsvtav1:fastest", points=POINTS))
    assert report.computed == 1 + POINTS                  # its placement and its encodes
    assert report.cached == 2 + 2 * POINTS
    assert {r["config"] for r in report.data["bd_rate"]} == {"libx265:fast", "libsvtav1:fastest"}


def test_the_html_report_opens_offline_in_chromium_with_its_plots(first_run):
    out, _ = first_run
    html = (out / "report.html").read_text()
    assert "<script" not in html and "<link rel='stylesheet'" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    with serve(out) as base, browser_page() as (page, record):
        page.goto(f"{base}/report.html", wait_until="load")
        svgs = page.locator("svg")
        assert svgs.count() >= 3                          # RD curves, speed vs BD-rate, cost bars
        for i in range(svgs.count()):
            box = svgs.nth(i).bounding_box()
            assert svgs.nth(i).is_visible() and box and box["width"] > 200 and box["height"] > 100
        assert page.locator("table").count() >= 3
        page.screenshot(path=str(artefact_dir() / "compare-report.png"), full_page=True)
    assert record.console_errors == [] and record.page_errors == [] and record.failed_requests == []
    assert record.external_requests() == []
    assert [u for u in record.requests if not u.startswith(base)] == []
