"""`codeckit transcode` end to end: real files, real FFmpeg, the real command in a subprocess."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codeckit.codecs import Capability, probe_capabilities
from codeckit.plan import Expectation
from codeckit.probe import probe
from codeckit.profiles import load_profile
from codeckit.demo_media import lavfi_clip
from codeckit.transcode import TranscodeOptions, find_sources, size_jobs, transcode
from codeckit.verify import verify_output

from tests.conftest import copy_as

FAST = ["--set", "video.speed=fastest"]


def codeckit(*args, timeout=180, **kw):
    return subprocess.run([sys.executable, "-m", "codeckit", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kw)


def temps(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*") if "codeckit-tmp" in p.name]


def journal(folder: Path) -> list[dict]:
    out = []
    for line in (folder / ".codeckit-journal.jsonl").read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def check_output(path: Path, source: Path):
    """The output is complete: decodes (every frame), right duration, a video stream."""
    info = probe(path)
    src = probe(source)
    expect = Expectation(video_codec=info.video[0].codec, audio_streams=len(info.audio),
                         subtitle_streams=len(info.subtitles), duration_s=src.duration_s, frames=None,
                         frames_exact=False)
    verify_output(path, expect, mode="full")
    return info


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, clips) -> Path:
    """A folder of good and broken files, with a subfolder and a non-video file."""
    root = tmp_path_factory.mktemp("mixed")
    copy_as(clips.plain, root / "plain.mp4")
    copy_as(clips.rotated, root / "trips" / "phone.mp4")
    copy_as(clips.anamorphic, root / "trips" / "dv.mp4")
    copy_as(clips.truncated, root / "broken" / "cut.mp4")
    copy_as(clips.not_media, root / "broken" / "notes.mp4")
    copy_as(clips.empty, root / "broken" / "empty.mp4")
    (root / "readme.txt").write_text("not a video")
    return root


def test_mixed_good_and_broken_files_in_one_batch(mixed, tmp_path):
    out = tmp_path / "out"
    r = codeckit("transcode", mixed, "-o", out, "-p", "web-h264", *FAST)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    for name, why in (("cut.mp4", "truncated"), ("notes.mp4", "not a media file"), ("empty.mp4", "empty file")):
        line = next(ln for ln in r.stdout.splitlines() if name in ln)
        assert line.startswith("failed") and why in line, line
    assert "3 done, 0 skipped, 3 failed" in r.stdout and "realtime" in r.stdout and "CPU" in r.stdout
    # the folder structure is mirrored and the extension comes from the container
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.mp4")) == \
        ["plain.mp4", "trips/dv.mp4", "trips/phone.mp4"]
    assert temps(out) == []
    phone = check_output(out / "trips" / "phone.mp4", mixed / "trips" / "phone.mp4")
    assert phone.video[0].rotation == 90            # remuxed: rotation kept as the display matrix
    dv = check_output(out / "trips" / "dv.mp4", mixed / "trips" / "dv.mp4")
    assert dv.video[0].sar == "1:1"

    # a rerun skips what is done, tries the broken ones again, and says so in JSON when asked
    r = codeckit("transcode", mixed, "-o", out, "-p", "web-h264", *FAST, "--json")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["summary"]["done"] == 0 and doc["summary"]["skipped"] == 3 and doc["summary"]["failed"] == 3
    failed = {Path(i["source"]).name: i["reason"] for i in doc["items"] if i["state"] == "failed"}
    assert set(failed) == {"cut.mp4", "notes.mp4", "empty.mp4"}


def test_json_summary_and_remux_path(clips, tmp_path):
    src = copy_as(clips.plain, tmp_path / "in" / "a.mp4")
    out = tmp_path / "out"
    r = codeckit("transcode", src, "-o", out, "-p", "web-h264", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)  # nothing but JSON on stdout
    s = doc["summary"]
    assert (s["done"], s["failed"], s["skipped"]) == (1, 0, 0)
    assert s["bytes_in"] == src.stat().st_size and s["bytes_out"] == (out / "a.mp4").stat().st_size
    assert s["wall_s"] > 0 and s["speed"] > 0 and "cpu_s" in s and "saving" in s
    res = doc["items"][0]["result"]
    assert res["remux"] is True and res["implementation"] == "copy" and res["verify"]["ok"]
    # the video stream was copied, not re-encoded: same packets
    import av
    with av.open(str(src)) as a, av.open(str(out / "a.mp4")) as b:
        pa = [bytes(p) for p in a.demux(video=0) if p.size]
        pb = [bytes(p) for p in b.demux(video=0) if p.size]
    assert pa == pb
    # --force-encode re-encodes (into another folder: the first output exists)
    r = codeckit("transcode", src, "-o", tmp_path / "enc", "-p", "web-h264", *FAST, "--force-encode", "--json")
    assert json.loads(r.stdout)["items"][0]["result"]["implementation"] == "libx264"


def test_dry_run_prints_the_plan_and_writes_nothing(clips, tmp_path):
    src = copy_as(clips.anamorphic, tmp_path / "in" / "x.mp4")
    out = tmp_path / "out"
    r = codeckit("transcode", src, "-o", out, "-p", "archive-hevc", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "libx265" in r.stdout and "setsar=1" in r.stdout and "-x265-params" in r.stdout
    assert f"file:{out / 'x.mkv'}" in r.stdout and "dry run: 1 to transcode" in r.stdout
    assert not out.exists()
    r = codeckit("transcode", src, "-o", out, "-p", "archive-hevc", "--dry-run", "--json")
    plan = json.loads(r.stdout)["items"][0]["plan"]
    assert plan["implementation"] == "libx265" and plan["command"][0] == "ffmpeg" and not out.exists()


def test_existing_outputs_are_skipped_unless_overwrite(clips, tmp_path):
    src = copy_as(clips.plain, tmp_path / "in" / "a.mp4")
    out = tmp_path / "out"
    (out).mkdir()
    (out / "a.mp4").write_bytes(b"someone else's file")
    r = codeckit("-v", "transcode", src, "-o", out, "-p", "web-h264")
    assert r.returncode == 0 and "output exists (--overwrite to redo it)" in r.stdout
    assert (out / "a.mp4").read_bytes() == b"someone else's file"
    r = codeckit("transcode", src, "-o", out, "-p", "web-h264", "--overwrite")
    assert r.returncode == 0 and "1 done" in r.stdout
    check_output(out / "a.mp4", src)


def test_an_output_that_is_its_source_fails_by_name_and_the_source_stays(clips, tmp_path):
    # transcoding a folder into itself: an .mp4 source's output is the source. It was "skipped: output exists",
    # and with --overwrite it failed with no line saying why
    src = copy_as(clips.plain, tmp_path / "in" / "a.mp4")
    before = src.read_bytes()
    for extra in ((), ("--overwrite",)):
        r = codeckit("transcode", src, "-o", src.parent, "-p", "web-h264", *extra)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "a.mp4: the output would replace its own source; choose another output folder" in r.stdout
        assert "0 skipped, 1 failed" in r.stdout
        assert src.read_bytes() == before
    r = codeckit("transcode", src, "-o", src.parent, "-p", "web-h264", "--json")
    item = json.loads(r.stdout)["items"][0]
    assert (item["state"], item["code"]) == ("failed", "output_is_source")


def test_changed_source_or_profile_redoes_our_own_output(clips, tmp_path):
    src = copy_as(clips.plain, tmp_path / "in" / "a.mp4")
    out = tmp_path / "out"
    assert codeckit("transcode", src, "-o", out, "-p", "web-h264").returncode == 0
    r = codeckit("transcode", src, "-o", out, "-p", "web-h264", *FAST, "--set", "video.remux=false")
    assert "1 done" in r.stdout, r.stdout  # another target: the journal knows the output is ours and stale
    assert probe(out / "a.mp4").video[0].codec == "h264"


def test_odd_file_names(clips, tmp_path):
    src_dir = tmp_path / "in"
    a = copy_as(clips.plain, src_dir / "-ünïcødé clip [1].mp4")
    b = copy_as(clips.anamorphic, tmp_path / "-x.mp4")
    out = tmp_path / "out -ø"
    # a name starting with "-" is passed after "--", as with every Unix command
    r = codeckit("transcode", "-o", out, "-p", "web-h264", *FAST, "--", src_dir, b)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (out / "-ünïcødé clip [1].mp4").is_file() and (out / "-x.mp4").is_file()
    assert "-ünïcødé clip [1].mp4" in r.stdout
    check_output(out / "-x.mp4", b)
    check_output(out / "-ünïcødé clip [1].mp4", a)


def test_profile_mistakes_and_bad_options_are_one_line(tmp_path, clips):
    bad = tmp_path / "bad.toml"
    bad.write_text('[video]\ncodec = "h264"\nhdr = "sometimes"\n')
    r = codeckit("transcode", clips.plain, "-o", tmp_path / "o", "-p", bad)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert str(bad) in r.stderr and "video.hdr" in r.stderr and "keep, tonemap, reject" in r.stderr
    r = codeckit("transcode", clips.plain, "-o", tmp_path / "o", "-p", "web-h264", "--set", "video.fps=fast")
    assert r.returncode == 2 and "--set video.fps=fast" in r.stderr and "Traceback" not in r.stderr
    r = codeckit("transcode", clips.plain, "-o", tmp_path / "o", "-p", "web-h264", "--jobs", "0")
    assert r.returncode == 2 and "--jobs" in r.stderr
    r = codeckit("transcode", tmp_path / "missing.mp4", "-o", tmp_path / "o", "-p", "web-h264")
    assert r.returncode == 1 and "missing.mp4: no such file" in r.stdout


def test_runtime_encoder_failure_falls_back_and_is_reported(clips, tmp_path):
    caps = dict(probe_capabilities())
    if caps["h264_nvenc"].available:
        pytest.skip("NVENC really works here")
    caps["h264_nvenc"] = Capability("h264_nvenc", "h264", "hardware", True, "ok")  # a lie FFmpeg finds out
    src = copy_as(clips.anamorphic, tmp_path / "in" / "a.mp4")
    report = transcode([src], tmp_path / "out", load_profile("web-h264", ["video.speed=fastest"]),
                       TranscodeOptions(capabilities=caps))
    r = report.items[0].result
    assert report.ok and r.implementation == "libx264" and r.fallbacks[0][0] == "h264_nvenc"
    assert "libcuda" in r.fallbacks[0][1] or r.fallbacks[0][1]


def test_colliding_outputs_keep_their_source_extension(clips, tmp_path):
    copy_as(clips.plain, tmp_path / "in" / "a.mov")
    copy_as(clips.plain, tmp_path / "in" / "a.mp4")
    report = transcode([tmp_path / "in"], tmp_path / "out", load_profile("web-h264"))
    assert sorted(Path(i.output).name for i in report.items) == ["a.mov.mp4", "a.mp4"] and report.ok


def test_sources_and_job_sizing(tmp_path, clips):
    copy_as(clips.plain, tmp_path / "v" / "a.MP4")
    copy_as(clips.plain, tmp_path / "v" / ".hidden.mp4")
    copy_as(clips.plain, tmp_path / "v" / ".a.codeckit-tmp.mp4")
    copy_as(clips.plain, tmp_path / "v" / "out" / "b.mp4")
    (tmp_path / "v" / "c.txt").write_text("x")
    found, ignored = find_sources([tmp_path / "v"], exclude=[tmp_path / "v" / "out"])
    assert [s.relative.as_posix() for s in found] == ["a.MP4"] and ignored == 1
    small = [probe(clips.plain)]
    assert size_jobs("auto", 10, small, cores=8) == (8, 1)
    assert size_jobs("auto", 10, small, cores=2) == (2, 1)
    big = [probe(clips.plain)]
    big[0].video[0].upright_width, big[0].video[0].upright_height = 1920, 1080
    assert size_jobs("auto", 10, big, cores=16) == (4, 4)
    assert size_jobs("auto", 10, big, cores=2) == (1, None)   # one at a time, the encoder takes every core
    assert size_jobs(3, 10, small, cores=8) == (3, 2)


# ---------------------------------------------------------------- stopping and resuming

@pytest.fixture(scope="module")
def slow_batch(tmp_path_factory) -> Path:
    """Five clips that take a second or so each to encode with x265 at its medium preset."""
    root = tmp_path_factory.mktemp("slow")
    for i in range(5):
        lavfi_clip(root / f"clip{i}.mp4", size="320x240", duration=3, audio=True, source="testsrc2")
    return root


def _start(src: Path, out: Path, *extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "codeckit", "transcode", str(src), "-o", str(out), "-p",
                             "archive-hevc", "--jobs", "1", *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


from tests.faults import wait_for as _wait_for  # noqa: E402  (the suite's one polling helper)


def test_resume_after_sigkill(slow_batch, tmp_path):
    out = tmp_path / "out"
    proc = _start(slow_batch, out)

    def one_done_and_next_running():
        try:
            recs = journal(out)
        except FileNotFoundError:
            return False
        return any(r["state"] == "done" for r in recs) and bool(temps(out))
    try:
        assert _wait_for(one_done_and_next_running), "the batch never got going"
        proc.send_signal(signal.SIGKILL)   # no chance to clean up
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    finished = [r["source"] for r in journal(out) if r["state"] == "done"]
    assert 1 <= len(finished) < 5
    assert temps(out)  # a killed run leaves its temporary file; the rerun must clean it

    r = codeckit("transcode", slow_batch, "-o", out, "-p", "archive-hevc", "--jobs", "1", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["summary"]["skipped"] == len(finished) and doc["summary"]["done"] == 5 - len(finished)
    assert {i["source"] for i in doc["items"] if i["state"] == "skipped"} == set(finished)
    assert doc["cleaned"] and temps(out) == []
    for i in range(5):
        check_output(out / f"clip{i}.mkv", slow_batch / f"clip{i}.mp4")


@pytest.mark.parametrize("to", ["codeckit", "group"])
def test_interrupt_stops_cleanly_and_the_rerun_finishes(slow_batch, tmp_path, to):
    out = tmp_path / "out"
    proc = _start(slow_batch, out, "--jobs", "2")
    try:
        assert _wait_for(lambda: bool(temps(out)) and (out / ".codeckit-journal.jsonl").exists())
        time.sleep(0.3)
        started = time.monotonic()
        if to == "group":   # a terminal's Ctrl-C: codeckit and its FFmpegs all get SIGINT
            os.killpg(proc.pid, signal.SIGINT)
        else:               # SIGINT to codeckit only: it must stop its FFmpegs itself
            proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
        stopped_in = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr and "interrupted" in stdout and stopped_in < 10
    assert temps(out) == []
    states = {r["key"]: r["state"] for r in journal(out)}
    assert "interrupted" in states.values() and not {"started", "failed"} & set(states.values()), states
    # no FFmpeg of ours keeps running
    assert _wait_for(lambda: not any(str(out) in _cmdline(pid) for pid in _pids()), timeout=5)

    r = codeckit("transcode", slow_batch, "-o", out, "-p", "archive-hevc", "--json")
    assert r.returncode == 0 and temps(out) == []
    doc = json.loads(r.stdout)
    assert doc["summary"]["done"] + doc["summary"]["skipped"] == 5


def _pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


@pytest.fixture(scope="module")
def two_tiny(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("two-tiny")
    for name in ("a.mp4", "b.mp4"):
        lavfi_clip(root / name, size="160x120", duration=0.5)
    return root


@pytest.mark.cluster
def test_a_dask_run_transcodes_and_a_rerun_skips(two_tiny, tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "out"
    target = load_profile("web-h264", ["video.speed=fastest"])
    opts = TranscodeOptions(jobs=2, backend="dask", force_encode=True)   # encoded in the workers, not remuxed
    report = transcode([two_tiny], out, target, opts)
    assert report.ok and report.count("done") == 2, [i.reason for i in report.items]
    assert report.engine.startswith("dask on a local cluster")
    for name in ("a.mp4", "b.mp4"):
        check_output(out / name, two_tiny / name)
    done = {r["source"] for r in journal(out) if r["state"] == "done"}
    assert done == {str(two_tiny / "a.mp4"), str(two_tiny / "b.mp4")}
    assert temps(out) == []
    again = transcode([two_tiny], out, target, opts)
    assert again.count("skipped") == 2 and again.count("done") == 0
    r = codeckit("transcode", two_tiny, "-o", tmp_path / "cli", "-p", "web-h264", *FAST, "--force-encode",
                 "--backend", "dask", "-j", "2", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["summary"]["done"] == 2 and doc["engine"].startswith("dask on a local cluster")


def test_unknown_backend_or_an_address_without_a_cluster_is_a_config_error(clips, tmp_path):
    from codeckit.errors import ConfigError
    target = load_profile("web-h264")
    with pytest.raises(ConfigError, match="unknown backend") as unknown:
        transcode([clips.plain], tmp_path / "o", target, TranscodeOptions(backend="spark"))
    with pytest.raises(ConfigError, match="--address needs") as lone_address:
        transcode([clips.plain], tmp_path / "o", target, TranscodeOptions(address="tcp://127.0.0.1:8786"))
    assert (unknown.value.code, lone_address.value.code) == ("unknown_backend", "address_without_cluster")
    assert not (tmp_path / "o").exists()   # refused before anything was written
    r = codeckit("transcode", clips.plain, "-o", tmp_path / "o", "-p", "web-h264", "--address", "tcp://x:1")
    assert r.returncode == 2 and "--address needs" in r.stderr and "Traceback" not in r.stderr
    r = codeckit("transcode", clips.plain, "-o", tmp_path / "o", "-p", "web-h264", "--backend", "spark")
    assert r.returncode == 2 and "--backend" in r.stderr


def test_failed_items_carry_the_errors_reason_code_in_json_and_journal(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "broken.mp4").write_bytes(b"not a video at all" * 100)
    (src / "loop.mp4").symlink_to(src / "loop.mp4")
    out = tmp_path / "out"
    r = codeckit("transcode", src, "-o", out, "-p", "web-h264", "--json")
    assert r.returncode == 1, r.stderr
    codes = {Path(i["source"]).name: i["code"] for i in json.loads(r.stdout)["items"]}
    assert codes == {"broken.mp4": "not_media", "loop.mp4": "symlink_loop"}
    journal = [json.loads(line) for line in (out / ".codeckit-journal.jsonl").read_text().splitlines()]
    assert [j["error_code"] for j in journal if j["state"] == "failed"] == ["not_media"]
