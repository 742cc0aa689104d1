"""`codeckit transcode` on the odd archive files the hunt of issue h11 found defects with (one test each)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from codeckit.errors import VerifyError
from codeckit.ffmpeg import input_url, run_ffmpeg
from codeckit.plan import Expectation
from codeckit.probe import probe
from codeckit.verify import verify_output

from tests.media.test_transcode import FAST, codeckit


def _clip_with_empty_audio(path: Path) -> Path:
    """320x240 1 s H.264 with an AAC stream that holds no sample (a camera that recorded no sound: MKV keeps
    the stream; MP4 muxers drop it, so only MKV can carry one)."""
    run_ffmpeg(["-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1",
                "-f", "lavfi", "-i", "aevalsrc=0:d=0:s=48000", "-map", "0:v", "-map", "1:a",
                "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", input_url(path)],
               subject=path, loglevel="error")
    return path


@pytest.mark.parametrize("profile", ["archive-hevc", "web-h264"])
def test_an_audio_stream_without_samples_is_not_a_failed_output(tmp_path, profile):
    # before: "output check failed: audio stream #1 has no packets" (copy into MKV) and "0 audio stream(s),
    # expected 1" (AAC encode into MP4): the source's stream was empty, so the output had nothing to carry
    src = _clip_with_empty_audio(tmp_path / "silent.mkv")
    assert len(probe(src).audio) == 1
    out = tmp_path / "out"
    r = codeckit("transcode", src, "-o", out, "-p", profile, *FAST, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    item = json.loads(r.stdout)["items"][0]
    assert item["state"] == "done", item


def test_an_output_that_lost_real_audio_still_fails_the_check(tmp_path):
    """The excuse above is only for a source whose audio had nothing: losing real sound is still caught."""
    src = tmp_path / "sound.mkv"
    run_ffmpeg(["-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1",
                "-f", "lavfi", "-i", "sine=sample_rate=48000:duration=1", "-c:v", "libx264",
                "-preset", "ultrafast", "-c:a", "aac", input_url(src)], subject=src, loglevel="error")
    mute = tmp_path / "mute.mkv"
    run_ffmpeg(["-y", "-i", input_url(src), "-map", "0:v", "-c", "copy", input_url(mute)], subject=mute,
               loglevel="error")
    expect = Expectation(video_codec="h264", audio_streams=1, subtitle_streams=0, duration_s=1.0, frames=25,
                         frames_exact=False, source=str(src))
    with pytest.raises(VerifyError, match="0 audio stream"):
        verify_output(mute, expect)


def _cutting_ffmpeg(folder: Path, keep_percent: int) -> dict:
    """CODECKIT_FFMPEG: the real FFmpeg, then an item's output cut to `keep_percent` % of its size (a muxer or
    a disk that lost the file's tail while FFmpeg still exited 0)."""
    from codeckit.ffmpeg import ffmpeg_exe
    wrapper = folder / "ffmpeg-cut"
    wrapper.write_text(f"""#!/bin/bash
{ffmpeg_exe()} "$@"; rc=$?
out="${{@: -1}}"; out="${{out#file:}}"
case "$out" in *codeckit-tmp*) truncate -s $(( $(stat -c %s "$out") * {keep_percent} / 100 )) "$out";; esac
exit $rc
""")
    wrapper.chmod(0o755)
    return {"CODECKIT_FFMPEG": str(wrapper)}


@pytest.mark.parametrize("profile", ["archive-hevc", "web-h264"])
def test_an_output_cut_short_by_one_percent_fails_the_check(tmp_path, profile):
    # before: the last frame or two of an MKV (and an MP4's tail under the sampled check) could be lost and
    # still pass, even with --verify full: the frame count has a tolerance of 2 and FFmpeg's demuxer only
    # logs "File ended prematurely"; now the container's own size fields are read against the file's size
    import os
    src = tmp_path / "two.mp4"
    run_ffmpeg(["-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2", "-c:v", "libx264",
                "-preset", "ultrafast", "-g", "10", input_url(src)], subject=src, loglevel="error")
    out = tmp_path / "out"
    env = {**os.environ, **_cutting_ffmpeg(tmp_path, 99)}
    r = codeckit("transcode", src, "-o", out, "-p", profile, *FAST, "--force-encode", "--json", env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    item = json.loads(r.stdout)["items"][0]
    assert item["state"] == "failed" and item["code"] == "verify_failed", item
    assert "truncated" in item["reason"], item
    assert not [p for p in out.iterdir() if not p.name.startswith(".codeckit-journal")]


def test_an_empty_s3_prefix_is_one_failed_item_in_every_batch_command(s3, s3_sources, tmp_path):
    # before: transcode failed the item (exit 1), while compare and package stopped the whole run with exit 2
    # ("no such object"), though a local source that is not there is a failed item in both (exit 1) and the
    # README says so for compare ("a source that cannot be read fails on its own ... exit code 1")
    from codeckit.compare.compare import CompareOptions, compare
    from codeckit.storage import Storage
    missing = s3_sources.rsplit("/", 1)[0] + "/nothing-here"
    for cmd in (["transcode", missing, "-o", tmp_path / "t", "-p", "web-h264"],
                ["compare", missing, "-o", tmp_path / "c"],
                ["package", missing, "-o", tmp_path / "p"]):
        r = codeckit(*cmd)
        assert r.returncode == 1, (cmd[0], r.stdout, r.stderr)
        assert missing in r.stdout + r.stderr and "Traceback" not in r.stderr, (cmd[0], r.stdout, r.stderr)
    report = compare([f"{s3_sources}/a.mp4", missing], tmp_path / "both",
                     CompareOptions(encoders="libx264:fastest", points=2), storage=Storage())
    assert {f["source"] for f in report.failures} == {missing}, report.failures
    assert len(report.data["results"]) == 2, report.data["results"]


def test_dropped_attachments_are_in_the_dry_run_and_the_json_report(clips, tmp_path):
    # before: `--dry-run` and the report said nothing of the font the MP4 output would lose
    from tests.media.test_probe import with_attachment
    src = with_attachment(clips.plain, tmp_path / "in" / "subbed.mkv")
    r = codeckit("transcode", src, "-o", tmp_path / "out", "-p", "web-h264", *FAST, "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "note: 1 attachment(s)" in r.stdout and "mp4 cannot hold attachments" in r.stdout
    r = codeckit("transcode", src, "-o", tmp_path / "out", "-p", "web-h264", *FAST, "--json")
    item = json.loads(r.stdout)["items"][0]
    assert item["state"] == "done", item
    assert [n for n in item["result"]["notes"] if n.startswith("1 attachment(s)")], item["result"]["notes"]
