"""Fault injection on real processes (issue 13): kill -9 and SIGTERM mid-run, a full disk, a stalled encoder, two
runs on one folder, a read-only output and an unreadable input, mutated files, inputs that point elsewhere.
Nothing crashes a batch, nothing is lost, every failure is named. The heavy rounds live in tests/slow/."""
from __future__ import annotations

import http.server
import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from codeckit.demo_media import lavfi_clip
from codeckit.ffmpeg import ffmpeg_exe
from tests.faults import (cli_args, decodes, journal_records, kill_at, kill_in_flight, kill_rounds, last_states,
                          live_processes, make_batch, make_mutants, run_cli, slow_ffmpeg, start_cli, stamps, temps,
                          wait_for)
from tests.media.test_sources import _unprivileged

PROFILE = ["-p", "web-h264", "--force-encode"]


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    return make_batch(tmp_path_factory.mktemp("batch"), 6)


def _outputs(out: Path):
    return lambda: sorted(p for p in out.glob("*.mp4") if not p.name.startswith("."))


def _check_finished_folder(out: Path, n: int) -> None:
    """Every item done and decodable, no temporary file, every journal key's last state finished."""
    files = _outputs(out)()
    assert len(files) == n and all(decodes(f) == 25 for f in files)
    assert temps(out) == []
    states = last_states(out)
    assert sorted(set(states.values())) in (["done"], ["done", "skipped"], ["skipped"])


# ---------------------------------------------------------------- kill -9, SIGTERM

def journaled_clips(out: Path):
    """The clips the journal records as finished (a clip renamed into place by a worker whose parent was killed
    before it journaled it is not finished: the next run redoes it)."""
    def clips() -> list[Path]:
        done = {}
        for rec in journal_records(out):
            done[rec["key"]] = rec
        return sorted(out / r["output_path"] for rec in done.values() if rec["state"] == "done"
                      for r in (rec.get("result") or {}).get("records", []) if (out / r["output_path"]).is_file())
    return clips


def test_kill_9_during_transcode_loses_nothing_and_redoes_nothing(batch, tmp_path):
    out = tmp_path / "out"
    args = ["transcode", str(batch), "-o", str(out), *PROFILE, "--jobs", "2"]
    # two jobs on six items: kills within one item's time, or a round may finish the batch and land nowhere
    figures = kill_rounds(args, _outputs(out), out, rounds=3, seed=13, env=slow_ffmpeg(tmp_path), items=1.0)
    before = stamps(_outputs(out)())
    final = run_cli(*args, "--json")
    assert final.returncode == 0, final.stderr
    _check_finished_folder(out, 6)
    after = stamps(_outputs(out)())
    assert all(after[p] == s for p, s in before.items())      # finished before the last run: untouched
    assert figures["landed"] == 3                               # every kill hit an item in flight


def test_kill_9_during_normalize_keeps_the_manifest_consistent(batch, tmp_path):
    out = tmp_path / "corpus"
    args = ["normalize", str(batch), "-o", str(out), "--jobs", "2", "--set", "filter.min_duration_s=0.5",
            "--set", "filter.max_static_fraction=1.0"]
    clips = lambda: sorted(p for p in (out / "clips").rglob("*.mp4") if not p.name.startswith("."))  # noqa: E731
    figures = kill_rounds(args, journaled_clips(out), out, rounds=2, seed=7, env=slow_ffmpeg(tmp_path))
    assert figures["landed"] == 2
    before = stamps(journaled_clips(out)())
    final = run_cli(*args, "--json")
    assert final.returncode in (0, 3), final.stderr
    summary = json.loads(final.stdout)
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    sources = [r["source_path"] for r in manifest] + [r["source_path"] for r in rejects]
    assert len(sources) == len(set(sources)) == 6              # none lost, none twice
    assert len({r["id"] for r in manifest}) == len(manifest)
    assert all((out / r["output_path"]).is_file() for r in manifest)
    assert temps(out) == [] and summary["failed"] == 0
    assert all(stamps(clips()).get(p) == s for p, s in before.items())   # journaled as done: never redone
    check_clips_match_manifest(out, manifest)


def check_clips_match_manifest(out: Path, manifest: list[dict]) -> None:
    """Every clip on disk is in the manifest once, and every manifest clip is on disk: no worker of a killed run
    renamed a clip into place behind the journal's back."""
    on_disk = sorted(p.relative_to(out).as_posix() for p in (out / "clips").rglob("*") if p.is_file())
    listed = [r["output_path"] for r in manifest]
    assert len(listed) == len(set(listed)) and on_disk == sorted(listed)


def test_workers_of_a_killed_normalize_stop_and_rename_nothing(batch, tmp_path):
    """kill -9 of normalize's parent: its loky workers see the run gone, stop their FFmpeg and rename no clip
    (before, they went on and put clips in place that no journal recorded, while the next run worked there)."""
    out = tmp_path / "corpus"
    args = ["normalize", str(batch), "-o", str(out), "--jobs", "2", "--set", "filter.min_duration_s=0.5",
            "--set", "filter.max_static_fraction=1.0"]
    assert kill_in_flight(args, out, random.Random(3), env=slow_ffmpeg(tmp_path, rate=0.1))
    clips = lambda: sorted(p.name for p in (out / "clips").rglob("*.mp4") if not p.name.startswith("."))  # noqa: E731
    at_kill = clips()
    assert wait_for(lambda: not live_processes(str(out)), 2), live_processes(str(out))
    time.sleep(4)                  # longer than the clips in flight had left to encode at 0.1 x real time
    assert clips() == at_kill and not live_processes(str(out))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_interrupts_transcode_cleanly(batch, tmp_path, sig):
    out = tmp_path / "out"
    args = ["transcode", str(batch), "-o", str(out), *PROFILE, "--jobs", "2", "--set", "video.speed=slowest"]
    proc = start_cli(*args)
    assert wait_for(lambda: bool(temps(out)), 60)
    code = kill_at(proc, 0, sig)
    assert code == 128 + sig
    assert temps(out) == []                                     # nothing partial, not even hidden
    assert "interrupted" in last_states(out).values()
    assert all(decodes(f) == 25 for f in _outputs(out)())
    assert run_cli(*args).returncode == 0
    _check_finished_folder(out, 6)


def test_sigterm_stops_normalize_with_143_and_a_rerun_finishes(batch, tmp_path):
    out = tmp_path / "corpus"
    args = ["normalize", str(batch), "-o", str(out), "--jobs", "2", "--set", "filter.max_static_fraction=1.0"]
    proc = start_cli(*args)
    assert wait_for(lambda: any(r["state"] == "started" for r in journal_records(out)), 120)
    assert kill_at(proc, 0.3, signal.SIGTERM) == 143
    final = run_cli(*args, "--json")
    assert final.returncode in (0, 3), final.stderr
    assert json.loads(final.stdout)["unfinished"] == 0 and temps(out) == []


# ---------------------------------------------------------------- disk full

@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"mount refused: {res.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_disk_full_names_the_item_keeps_the_journal_and_a_rerun_finishes(tmp_path, small_disk):
    src = tmp_path / "src"
    src.mkdir()
    lavfi_clip(src / "small.mp4", size="160x120", duration=0.5)
    lavfi_clip(src / "big.mp4", size="320x240", duration=2, vf="noise=alls=100:allf=t")  # ~5 MB lossless
    args = ["transcode", str(src), "-o", str(small_disk), "-p", "mezzanine", "--force-encode", "--jobs", "1",
            "--json"]
    res = run_cli(*args)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    items = {Path(i["source"]).name: i for i in json.loads(res.stdout)["items"]}
    assert items["small.mp4"]["state"] == "done"
    assert items["big.mp4"]["state"] == "failed" and items["big.mp4"]["code"] == "no_space"
    assert "no space left" in items["big.mp4"]["reason"]
    assert not (small_disk / "big.mkv").exists() and temps(small_disk) == []
    assert set(last_states(small_disk).values()) == {"done", "failed"}
    kept = stamps([small_disk / "small.mkv"])
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    assert decodes(small_disk / "big.mkv") == 50 and stamps([small_disk / "small.mkv"]) == kept


# ---------------------------------------------------------------- a stalled encoder

STALL_MARK = "987.654"   # a sleep no other process runs, to find leftovers


@pytest.fixture
def stalling_ffmpeg(tmp_path) -> Path:
    """An FFmpeg that answers -version and friends but stalls on a real run: one progress block, then silence,
    from a child process (so only a kill of the whole group ends it)."""
    wrapper = tmp_path / "ffmpeg-stall"
    wrapper.write_text(f"""#!/bin/bash
case "$*" in
  *codeckit-tmp*)   # a job's run (it writes a temporary output); the capability test encodes run for real
    printf 'frame=1\\nout_time_us=40000\\nprogress=continue\\n'
    sleep {STALL_MARK} &
    wait
    exit 0;;
esac
exec {ffmpeg_exe()} "$@"
""")
    wrapper.chmod(0o755)
    return wrapper


def test_a_stalled_encoder_fails_its_item_after_the_stall_timeout_and_the_group_dies(batch, tmp_path,
                                                                                     stalling_ffmpeg):
    out = tmp_path / "out"
    res = run_cli("transcode", str(batch / "s0.mp4"), str(batch / "s1.mp4"), "-o", str(out), *PROFILE,
                  "--stall-timeout", "1.5", "--jobs", "1", "--json", env={"CODECKIT_FFMPEG": str(stalling_ffmpeg)},
                  timeout=60)
    assert res.returncode == 1, res.stderr
    items = json.loads(res.stdout)["items"]
    assert [i["code"] for i in items] == ["stalled", "stalled"]    # the batch went on to the second
    assert "no progress for 1.5 s" in items[0]["reason"]
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert f"sleep {STALL_MARK}" not in ps and temps(out) == []


def test_the_stall_timeout_comes_from_the_environment_too(batch, tmp_path, stalling_ffmpeg):
    res = run_cli("normalize", str(batch / "s0.mp4"), "-o", str(tmp_path / "c"), "--json", timeout=120,
                  env={"CODECKIT_FFMPEG": str(stalling_ffmpeg), "CODECKIT_STALL_TIMEOUT": "1"})
    summary = json.loads(res.stdout)
    assert res.returncode == 1 and summary["failed"] == 1
    assert "no progress for 1 s" in summary["failures"][0]["error"]


# ---------------------------------------------------------------- two runs, one folder

def test_a_second_run_on_the_folder_stops_at_once_and_a_killed_runs_lock_is_taken_over(batch, tmp_path,
                                                                                       stalling_ffmpeg):
    out = tmp_path / "out"
    args = ["transcode", str(batch), "-o", str(out), *PROFILE, "--jobs", "1"]
    first = start_cli(*args, env={"CODECKIT_FFMPEG": str(stalling_ffmpeg), "CODECKIT_STALL_TIMEOUT": "0"})
    try:
        assert wait_for(lambda: any(r["state"] == "started" for r in journal_records(out)), 60)
        second = run_cli(*args, timeout=30)
        assert second.returncode == 2 and "another codeckit run is writing to this folder" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.kill()          # kill -9: the lock (flock) goes with the process, the journal stays
        first.wait()
    third = run_cli(*args)
    assert third.returncode == 0, third.stderr
    _check_finished_folder(out, 6)
    subprocess.run(["pkill", "-KILL", "-f", f"sleep {STALL_MARK}"], capture_output=True)  # the first run's orphan


# ---------------------------------------------------------------- permissions

def test_a_read_only_output_folder_and_an_unreadable_input_are_named_errors(batch, tmp_path):
    prefix = _unprivileged()
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(batch / "s0.mp4", src / "ok.mp4")
    shutil.copy(batch / "s1.mp4", src / "secret.mp4")
    (src / "secret.mp4").chmod(0o000)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    for cmd in (["transcode", str(src), "-o", str(ro / "out"), *PROFILE], ["normalize", str(src), "-o", str(ro / "c")]):
        res = subprocess.run([*prefix, *cli_args(*cmd)],
                             capture_output=True, text=True, env=env, timeout=120)
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
        assert "ermission denied" in res.stderr and str(ro) in res.stderr
    out = tmp_path / "out"
    res = subprocess.run([*prefix, *cli_args(
        "transcode", str(src), "-o", str(out), *PROFILE, "--json")], capture_output=True, text=True, env=env,
        timeout=120)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    items = {Path(i["source"]).name: i for i in json.loads(res.stdout)["items"]}
    assert items["ok.mp4"]["state"] == "done"
    assert items["secret.mp4"]["state"] == "failed" and "ermission denied" in items["secret.mp4"]["reason"]


# ---------------------------------------------------------------- mutants

def test_mutants_are_named_failures_never_tracebacks_or_hangs(batch, tmp_path):
    seeds = [batch / "s1.mp4"]
    seeds.append(lavfi_clip(tmp_path / "seed.mkv", size="160x120", duration=1))
    seeds.append(lavfi_clip(tmp_path / "seed.ts", size="160x120", duration=1, extra=["-f", "mpegts"]))
    figures = fuzz(seeds, tmp_path, count=24, seed=2024)
    assert figures["tracebacks"] == 0 and figures["hangs"] == 0 and figures["unnamed"] == 0


def fuzz(seeds: list[Path], tmp_path: Path, count: int, seed: int, timeout: float = 240) -> dict:
    """Mutants of `seeds` through probe, transcode and normalize (each a CLI run with a time limit): the figures."""
    folder = tmp_path / "mutants"
    kinds = make_mutants(seeds, folder, count, seed)
    figures = {"mutants": count, "tracebacks": 0, "hangs": 0, "unnamed": 0, "done": 0, "failed": 0}
    env = {"CODECKIT_STALL_TIMEOUT": "20"}
    for cmd in (["probe", "--json", *map(str, sorted(folder.iterdir()))],
                ["transcode", str(folder), "-o", str(tmp_path / "t"), "-p", "web-h264", "--json"],
                ["normalize", str(folder), "-o", str(tmp_path / "n"), "--json", "--set", "filter.min_duration_s=0.1"]):
        try:
            res = run_cli(*cmd, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            figures["hangs"] += 1
            continue
        figures["tracebacks"] += res.stderr.count("Traceback") + res.stdout.count("unexpected error")
        data = json.loads(res.stdout)
        if cmd[0] == "probe":
            named = {Path(f["path"]).name for f in data["files"]} | {Path(e["path"]).name for e in data["errors"]}
        elif cmd[0] == "transcode":
            named = set()
            for item in data["items"]:
                named.add(Path(item["source"]).name)
                if item["state"] == "done":
                    figures["done"] += 1
                    assert decodes(Path(item["output"])) > 0       # a good output really is good
                else:
                    figures["failed"] += 1
                    assert item["reason"] and item["code"] and item["code"] != "unexpected", item
        else:
            out = tmp_path / "n"
            manifest = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
            rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
            named = {Path(r["source_path"]).name for r in manifest + rejects}
            for r in manifest:
                assert decodes(out / r["output_path"]) > 0
        figures["unnamed"] += len(set(kinds) - named)
    return figures


# ---------------------------------------------------------------- the security promise

class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        type(self).hits.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *a):
        pass


def test_playlists_concat_lists_and_url_tricks_are_refused_whatever_the_extension(batch, tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    src = tmp_path / "src"
    src.mkdir()
    (src / "playlist.mp4").write_text(f"#EXTM3U\n#EXTINF:1,\n{url}/a.ts\n")
    (src / "concat.mkv").write_text(f"ffconcat version 1.0\nfile '{batch / 's0.mp4'}'\nfile '{url}/b.mp4'\n")
    (src / "bom.mov").write_bytes(b"\xef\xbb\xbf  #EXTM3U\n" + f"{url}/c.ts\n".encode())
    (src / "dash.mp4").write_text(f'<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011">'
                                  f'<BaseURL>{url}/</BaseURL></MPD>')
    shutil.copy(batch / "s0.mp4", src / "http:odd.mp4")            # a real file with a URL-like name
    shutil.copy(batch / "s1.mp4", src / "-y.mp4")                 # ... and one that looks like an option
    try:
        res = run_cli("transcode", str(src), "-o", str(tmp_path / "out"), "-p", "web-h264", "--json")
        items = {Path(i["source"]).name: i for i in json.loads(res.stdout)["items"]}
        for name in ("playlist.mp4", "concat.mkv", "bom.mov", "dash.mp4"):
            assert items[name]["state"] == "failed" and items[name]["code"] == "unsafe_input", items[name]
        assert items["http:odd.mp4"]["state"] == items["-y.mp4"]["state"] == "done"
        norm = run_cli("normalize", str(src), "-o", str(tmp_path / "c"), "--json")
        rejects = [json.loads(x) for x in (tmp_path / "c" / "rejects.jsonl").read_text().splitlines()]
        assert {Path(r["source_path"]).name for r in rejects} >= {"playlist.mp4", "concat.mkv", "bom.mov", "dash.mp4"}
        assert "Traceback" not in res.stderr + norm.stderr
        assert _Recorder.hits == []                                   # nothing reached out
    finally:
        server.shutdown()
