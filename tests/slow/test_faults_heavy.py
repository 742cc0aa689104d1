"""The heavy rounds of the fault-injection suite (issue 13): 20 kill -9 in a row during transcode and normalize,
and 200+ mutants through probe, transcode and normalize. Seeded: the same run every time."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from codeckit.demo_media import lavfi_clip
from tests.faults import kill_rounds, make_batch, run_cli, slow_ffmpeg, stamps, temps
from tests.media.test_faults import _check_finished_folder, _outputs, check_clips_match_manifest, fuzz, journaled_clips
from tests.media.test_faults_batch import (compare_baseline, compare_kills, compare_sources,  # noqa: F401 (fixtures)
                                          package_baseline, package_kills, package_sources)

#: Where the figures of a run go, for docs/reliability.md (not written unless set).
FIGURES = os.environ.get("CODECKIT_FAULT_FIGURES")


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    return make_batch(tmp_path_factory.mktemp("heavy"), 16)


def _record(name: str, figures: dict) -> None:
    """Keep the last run's figures for docs/reliability.md."""
    if not FIGURES:
        return
    path = Path(FIGURES)
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = {k: v for k, v in figures.items() if k != "finished"}
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def test_20_kills_during_transcode(batch, tmp_path):
    out = tmp_path / "out"
    args = ["transcode", str(batch), "-o", str(out), "-p", "web-h264", "--force-encode", "--jobs", "1",
            "--set", "video.speed=slowest"]
    # every kill lands inside an item: FFmpeg reads at 0.25 x real time, the kill comes within one item's time
    # (a window of 2 items finished about one item a round: the 16 were all done by round 18, and the last
    # rounds had nothing left to kill; normalize's test uses 1 item for the same reason)
    figures = kill_rounds(args, _outputs(out), out, rounds=20, seed=20, env=slow_ffmpeg(tmp_path), items=1.0)
    assert figures["landed"] == 20
    before = stamps(_outputs(out)())
    assert run_cli(*args).returncode == 0
    _check_finished_folder(out, 16)
    assert all(stamps(_outputs(out)())[p] == s for p, s in before.items())
    _record("transcode_kill_9", {**figures, "lost": 0, "redone": 0})


def test_20_kills_during_normalize(batch, tmp_path):
    out = tmp_path / "corpus"
    # two items at once (threads of the run): a kill of the run must stop both, no clip renamed behind the
    # journal's back. The kill comes within one item's time (two items run at once, so a window of two let the
    # 16 sources finish before the 20th round once items no longer waited for worker processes to start)
    args = ["normalize", str(batch), "-o", str(out), "--jobs", "2", "--set", "filter.min_duration_s=0.5",
            "--set", "filter.max_static_fraction=1.0"]
    figures = kill_rounds(args, journaled_clips(out), out, rounds=20, seed=21, env=slow_ffmpeg(tmp_path), items=1.0)
    assert figures["landed"] == 20
    before = stamps(journaled_clips(out)())
    final = run_cli(*args, "--json")
    assert final.returncode == 0, final.stderr
    manifest = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    sources = [r["source_path"] for r in manifest + rejects]
    assert len(sources) == len(set(sources)) == 16 and temps(out) == []
    assert all(stamps(journaled_clips(out)()).get(p) == s for p, s in before.items())
    check_clips_match_manifest(out, manifest)
    _record("normalize_kill_9", {**figures, "lost": 0, "redone": 0, "duplicated": 0})


def test_8_kills_during_compare(compare_sources, compare_baseline, tmp_path):
    figures = compare_kills(compare_sources, tmp_path, rounds=8, seed=22)
    assert figures["landed"] == 8 and figures.pop("report") == compare_baseline
    _record("compare_kill_9", figures)


def test_8_kills_during_package(package_sources, package_baseline, tmp_path):
    figures = package_kills(package_sources, tmp_path, rounds=8, seed=23)
    assert figures["landed"] == 8 and figures.pop("files") == package_baseline
    _record("package_kill_9", figures)


def test_200_mutants(batch, tmp_path):
    seeds = [batch / "s1.mp4",
             lavfi_clip(tmp_path / "seed.mkv", size="160x120", duration=1),
             lavfi_clip(tmp_path / "seed.ts", size="160x120", duration=1, extra=["-f", "mpegts"]),
             lavfi_clip(tmp_path / "seed.webm", size="160x120", duration=1, codec="libvpx-vp9")]
    figures = fuzz(seeds, tmp_path, count=208, seed=13, timeout=900)
    _record("mutants", figures)
    assert figures["tracebacks"] == 0 and figures["hangs"] == 0 and figures["unnamed"] == 0
