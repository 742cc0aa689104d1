"""Fault injection, part two (issue 13): a Dask worker killed mid-batch (normalize, transcode), and kill -9 /
SIGTERM during `compare` and `package`. Real processes, a rate-limited FFmpeg so that every kill lands inside an
item; the heavy rounds are in tests/slow/test_faults_heavy.py."""
from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest

from codeckit.demo_media import lavfi_clip
from tests.faults import (cli_args, encoder_parents, in_flight, journal_records, kill_rounds, last_states,
                          make_batch, run_cli, slow_ffmpeg, stamps, temps, wait_for)

pytest.importorskip("distributed")

# two rungs small enough for a 2 s source to package in about a second
LADDER = """name = "tiny2"
title = "two tiny rungs"
codec = "h264"
quality = 70
[[rung]]
width = 160
height = 90
bitrate = "150k"
[[rung]]
width = 320
height = 180
bitrate = "300k"
"""
#: report.json's fields measured in time (they differ from run to run): left out when two reports are compared.
TIMED = ("cpu_s", "wall_s", "fps", "decode_fps", "decode_cpu_s", "measure_cpu_s", "measure_wall_s")


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    return make_batch(tmp_path_factory.mktemp("batch2"), 4)


# ---------------------------------------------------------------- a Dask worker killed

@pytest.mark.parametrize("command", ["normalize", "transcode"])
def test_a_dask_worker_killed_mid_batch_loses_nothing_and_duplicates_nothing(batch, tmp_path, command):
    out = tmp_path / "out"
    more = (["--set", "filter.min_duration_s=0.5", "--set", "filter.max_static_fraction=1.0"]
            if command == "normalize" else ["-p", "web-h264", "--force-encode"])
    args = [command, str(batch), "-o", str(out), "--backend", "dask", "--jobs", "2", "--json", *more]
    import subprocess
    proc = subprocess.Popen(cli_args(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **slow_ffmpeg(tmp_path)})
    try:
        assert wait_for(lambda: encoder_parents(out), 120), "no encode started"
        worker = encoder_parents(out)[0]          # the Dask worker process running that item
        assert worker != proc.pid
        os.kill(worker, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=240)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "Traceback" not in stderr, stderr[-3000:]
    data = json.loads(stdout)
    assert set(last_states(out).values()) <= {"done", "skipped"} and temps(out) == []
    if command == "normalize":
        assert data["unfinished"] == 0 and data["failed"] == 0 and data["interrupted"] is None
        manifest = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
        rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
        sources = [r["source_path"] for r in manifest + rejects]
        assert len(sources) == len(set(sources)) == 4                       # none lost, none twice
        from tests.media.test_faults import check_clips_match_manifest
        check_clips_match_manifest(out, manifest)
    else:
        assert data["summary"]["done"] == 4 and not data["interrupted"]
        assert sorted(Path(i["output"]).name for i in data["items"]) == [f"s{i}.mp4" for i in range(4)]


# ---------------------------------------------------------------- compare

@pytest.fixture(scope="module")
def compare_sources(tmp_path_factory) -> list[Path]:
    d = tmp_path_factory.mktemp("cmp-src")
    return [lavfi_clip(d / f"c{i}.mp4", size="160x120", duration=1, source=s)
            for i, s in enumerate(("testsrc2", "testsrc"))]


def _compare_args(sources: list[Path], out: Path) -> list[str]:
    return ["compare", *map(str, sources), "-o", str(out), "--encoders", "libx264:fast", "--points", "3", "-j", "2"]


def stable_report(out: Path) -> dict:
    """report.json without what is measured in time (and the cost answers computed from it) nor its `run`."""
    d = json.loads((out / "report.json").read_text().replace(str(out), "{out}"))
    rows = [{k: v for k, v in r.items() if k not in TIMED and k != "argv"} | {"argv": r["argv"][1:]}
            for r in d["results"]]
    # probe_encodes counts the encodes this run made: fewer when the search cache kept a killed run's samples
    placements = [{k: v for k, v in p.items() if k not in TIMED and k != "probe_encodes"} for p in d["placements"]]
    return {"rows": rows, "placements": placements, **{k: d[k] for k in ("settings", "sources", "bd_rate", "failures")}}


@pytest.fixture(scope="module")
def compare_baseline(compare_sources, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("cmp-base")
    res = run_cli(*_compare_args(compare_sources, out))
    assert res.returncode == 0, res.stderr
    return stable_report(out)


def compare_kills(sources: list[Path], tmp_path: Path, rounds: int, seed: int) -> dict:
    """`rounds` kill -9 of compare mid-item, then a rerun: the figures; asserts no half report at any time."""
    out = tmp_path / "cmp"
    encodes = lambda: sorted(p for p in (out / "encodes").rglob("*.mp4") if not p.name.startswith("."))  # noqa: E731

    def done_encodes() -> list[Path]:     # encodes the journal records as measured: never redone
        done = [r for r in journal_records(out) if r["state"] == "done" and "output" in (r.get("result") or {})]
        return [p for p in encodes() if any(p == out / r["result"]["output"] for r in done)]
    args = _compare_args(sources, out)
    env = slow_ffmpeg(tmp_path)   # the rerun too: the FFmpeg binary's path is part of a point's key
    # a small batch: the kill within half an item's time, or the first rounds finish it all (within one item's
    # time, 3 to 8 of 8 kills landed: the rest found the work done, or only the report left to write)
    figures = kill_rounds(args, done_encodes, out, rounds=rounds, seed=seed, env=env, items=0.5)
    for name in ("report.json", "results.csv", "report.html"):   # absent, or whole (written atomically)
        assert not (out / name).exists() or name != "report.json" or json.loads((out / name).read_text())
    before = stamps(done_encodes())
    final = run_cli(*args, env=env)
    assert final.returncode == 0 and "Traceback" not in final.stderr, final.stderr
    assert all(stamps(encodes()).get(p) == s for p, s in before.items())
    assert temps(out) == []
    return {**figures, "lost": 0, "redone": 0, "report": stable_report(out)}


def test_kill_9_during_compare_then_a_rerun_gives_the_uninterrupted_report(compare_sources, compare_baseline,
                                                                           tmp_path):
    figures = compare_kills(compare_sources, tmp_path, rounds=2, seed=31)
    assert figures["landed"] == 2
    assert figures["report"] == compare_baseline


def test_sigterm_stops_compare_with_143_and_nothing_partial(compare_sources, tmp_path):
    out = tmp_path / "cmp"
    # one item at a time: with both in flight at once, both were sometimes done within the 0.5 s the signal
    # waits, and it landed in the report (exit 143, nothing interrupted); the same on a917a77 on a fast host
    args = _compare_args(compare_sources, out)
    args[args.index("-j") + 1] = "1"
    _signal_in_flight(args, out, tmp_path)
    assert not (out / "report.json").exists() or json.loads((out / "report.json").read_text())
    assert run_cli(*_compare_args(compare_sources, out)).returncode == 0


def _signal_in_flight(args: list[str], out: Path, tmp_path: Path) -> None:
    """SIGTERM while an item runs: exit 143, the item journaled interrupted, no temporary file left."""
    import subprocess
    import time
    since = time.time()
    proc = subprocess.Popen(cli_args(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **slow_ffmpeg(tmp_path)})
    assert wait_for(lambda: in_flight(out, since), 120)
    time.sleep(0.5)   # inside the item (a SIGTERM within ms of its start once ended package with -2: see docs)
    assert wait_for(lambda: in_flight(out, since) or proc.poll() is not None, 120)  # the next, if that one ended
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 143
    assert "interrupted" in last_states(out).values()
    assert temps(out) == [] and not list(out.glob(".*pkg-tmp"))


# ---------------------------------------------------------------- package

@pytest.fixture(scope="module")
def package_sources(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("pkg-src")
    for i in range(3):
        lavfi_clip(d / f"p{i}.mp4", size="320x180", duration=2, audio=True, source=("testsrc2", "testsrc")[i % 2])
    (d / "tiny2.toml").write_text(LADDER)
    return d


def _package_args(src: Path, out: Path) -> list[str]:
    return ["package", *(str(p) for p in sorted(src.glob("*.mp4"))), "-o", str(out), "--ladder",
            str(src / "tiny2.toml"), "--segment-seconds", "1", "--encoder", "software", "-j", "1"]


def package_files(out: Path) -> dict[str, bytes | int]:
    """Every file of every package (relative path -> bytes) as far as two runs can agree: Shaka Packager writes
    the time of the run into each init segment (mvhd/tkhd/mdhd; so those by size) and numbers the MPD's
    AdaptationSets in no fixed order (the ids left out); package.json names the run's folder."""
    files: dict[str, bytes | int] = {}
    for p in sorted(out.rglob("*")):
        rel = p.relative_to(out).as_posix()
        if not p.is_file() or any(part.startswith(".") for part in p.relative_to(out).parts) or \
                p.name == "package.json":
            continue
        data = p.read_bytes()
        files[rel] = len(data) if p.name == "init.mp4" else re.sub(rb'AdaptationSet id="\d+"', b"AdaptationSet", data)
    return files


@pytest.fixture(scope="module")
def package_baseline(package_sources, tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("pkg-base") / "out"
    res = run_cli(*_package_args(package_sources, out))
    assert res.returncode == 0, res.stderr
    return package_files(out)


def package_kills(src: Path, tmp_path: Path, rounds: int, seed: int) -> dict:
    out = tmp_path / "pkg"

    def finished() -> list[Path]:
        # a visible folder is a whole package: its files are stamped, and it must never be redone
        folders = [d for d in out.iterdir() if d.is_dir() and not d.name.startswith(".")] if out.exists() else []
        for d in folders:
            assert {"master.m3u8", "manifest.mpd", "package.json"} <= {p.name for p in d.iterdir()}, d
        return [p for d in folders for p in d.rglob("*") if p.is_file()]
    args = _package_args(src, out)
    env = slow_ffmpeg(tmp_path)
    figures = kill_rounds(args, finished, out, rounds=rounds, seed=seed, env=env, check=None, items=1.0)
    before = stamps(finished())
    final = run_cli(*args, "--json", env=env)
    assert final.returncode == 0 and "Traceback" not in final.stderr, final.stderr
    assert all(stamps(finished()).get(p) == s for p, s in before.items())
    assert not list(out.glob(".*pkg-tmp")) and temps(out) == []
    for d in out.iterdir():
        if not d.name.startswith("."):
            assert run_cli("package", "--check", str(d)).returncode == 0
    return {**figures, "lost": 0, "redone": 0,
            "files": package_files(out)}


def test_kill_9_during_package_then_a_rerun_gives_the_uninterrupted_packages(package_sources, package_baseline,
                                                                             tmp_path):
    figures = package_kills(package_sources, tmp_path, rounds=2, seed=41)
    assert figures["landed"] == 2
    assert figures["files"].keys() == package_baseline.keys()
    assert figures["files"] == package_baseline


def test_sigterm_stops_package_with_143_and_no_half_package(package_sources, tmp_path):
    out = tmp_path / "pkg"
    _signal_in_flight(_package_args(package_sources, out), out, tmp_path)
    assert all((d / "package.json").is_file() for d in out.iterdir() if not d.name.startswith("."))
    assert run_cli(*_package_args(package_sources, out)).returncode == 0
