"""Sources users meet every day that broke the batch jobs (issue 13, classes 1 and 3-6): VFR with gaps, RGB, two
video streams and cover art, MPEG-TS whose picture size changes mid-stream, a normalize run where every input
is rejected. Each on media made here, through the real jobs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from codeckit.demo_media import lavfi_clip
from codeckit.ffmpeg import input_url, run_ffmpeg
from codeckit.plan import plan
from codeckit.probe import probe
from codeckit.profiles import load_profile
from codeckit.transcode import TranscodeOptions, transcode
from codeckit.verify import verify_output


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("hostile")
    made = {
        # 25 frames, a 0.5 s hole, 25 more: 50 frames over 2.48 s (duration x rate would say 62)
        "gap": lavfi_clip(d / "gap.mkv", duration=2, vf="setpts='if(lt(N,25),N/25,1.5+(N-25)/25)/TB'",
                          extra=["-fps_mode", "vfr"]),
        "vfr": lavfi_clip(d / "vfr.mp4", duration=2, vf="setpts='if(lt(N,25),N/25,1+(N-25)/10)/TB'",
                          extra=["-fps_mode", "vfr"]),
        "gbrp": lavfi_clip(d / "gbrp.mkv", codec="ffv1", pix_fmt="gbrp", duration=0.5),
        "rgb": lavfi_clip(d / "rgb.mov", codec="png", pix_fmt="rgb24", duration=0.5),
    }
    two = d / "two.mp4"
    run_ffmpeg(["-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1", "-f", "lavfi", "-i",
                "testsrc=size=160x120:rate=25:duration=1", "-map", "0", "-map", "1", "-c:v", "libx264",
                "-preset", "ultrafast", "-pix_fmt", "yuv420p", input_url(two)], loglevel="error")
    cover = d / "cover.mp4"
    run_ffmpeg(["-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1", "-f", "lavfi", "-i",
                "color=red:size=64x64:duration=0.04", "-map", "0", "-map", "1", "-c:v:0", "libx264", "-preset",
                "ultrafast", "-pix_fmt", "yuv420p", "-c:v:1", "mjpeg", "-disposition:v:1", "attached_pic",
                input_url(cover)], loglevel="error")
    # two TS segments of different sizes, each starting at the same timestamps (a spliced capture)
    a = lavfi_clip(d / "seg-a.tsx", size="320x240", duration=1, extra=["-f", "mpegts"])
    b = lavfi_clip(d / "seg-b.tsx", size="160x120", duration=1, extra=["-f", "mpegts"])
    spliced = d / "spliced.ts"
    spliced.write_bytes(a.read_bytes() + b.read_bytes())
    made.update(two=two, cover=cover, spliced=spliced)
    return made


@pytest.fixture(scope="module")
def web(hostile):
    return load_profile("web-h264")


# ---------------------------------------------------------------- probe and plan

def test_a_gap_in_a_matroska_file_is_checked_on_duration_not_on_an_estimated_count(hostile, web, tmp_path):
    v = probe(hostile["gap"]).video[0]
    assert not v.frame_count_exact and v.frame_count == 62     # the estimate the old check trusted
    job = plan(probe(hostile["gap"]), web, tmp_path / "gap.mp4", force_encode=True)
    assert job.expect.frames is None and abs(job.expect.duration_s - 2.48) < 0.05


@pytest.mark.parametrize("name", ["gap", "vfr"])
@pytest.mark.parametrize("force", [False, True], ids=["remux", "encode"])
def test_vfr_sources_pass_the_output_check_on_both_paths(hostile, web, tmp_path, name, force):
    report = transcode([hostile[name]], tmp_path / "out", web, TranscodeOptions(force_encode=force, jobs=1))
    [item] = report.items
    assert item.state == "done", item.reason
    assert item.result.remux is not force
    out = probe(item.output).video[0]
    assert out.frame_count == 50        # every source frame, none invented or lost


def test_two_video_streams_probe_and_the_default_one_is_used(hostile, web, tmp_path):
    info = probe(hostile["two"])
    assert [(v.index, v.width, v.default) for v in info.video] == [(0, 320, True), (1, 160, False)]
    job = plan(info, web, tmp_path / "two.mp4", force_encode=True)
    assert any("default video stream (#0) is used" in n and "(#1) ignored" in n for n in job.notes)
    report = transcode([hostile["two"]], tmp_path / "out", web, TranscodeOptions(jobs=1))
    assert report.items[0].state == "done", report.items[0].reason
    assert [(v.width, v.height) for v in probe(report.items[0].output).video] == [(320, 240)]


def test_cover_art_is_not_a_video_stream(hostile, web, tmp_path):
    info = probe(hostile["cover"])
    assert len(info.video) == 1 and info.video[0].width == 320
    job = plan(info, web, tmp_path / "c.mp4", force_encode=True)
    assert not any("video stream" in n for n in job.notes)


@pytest.mark.parametrize("name", ["gbrp", "rgb"])
def test_rgb_sources_are_converted_explicitly_and_tagged_with_a_yuv_matrix(hostile, web, tmp_path, name):
    info = probe(hostile[name])
    assert info.video[0].color_space == "gbr"
    job = plan(info, web, tmp_path / "x.mp4")
    assert "scale=out_color_matrix=smpte170m:out_range=tv" in job.filters
    args = job.args()
    assert args[args.index("-colorspace") + 1] == "smpte170m" and "gbr" not in args
    report = transcode([hostile[name]], tmp_path / "out", web, TranscodeOptions(jobs=1))
    assert report.items[0].state == "done", report.items[0].reason
    out = probe(report.items[0].output).video[0]
    assert (out.pix_fmt, out.color_space, out.color_range) == ("yuv420p", "smpte170m", "tv")


def test_an_rgb_source_keeps_rgb_for_an_encoder_that_takes_it(hostile, tmp_path):
    target = load_profile("mezzanine", ["video.codec=ffv1", "video.pix_fmt=source"])
    job = plan(probe(hostile["gbrp"]), target, tmp_path / "m.mkv", force_encode=True)
    args = job.args()
    assert args[args.index("-pix_fmt") + 1] == "bgr0" and not any("out_color_matrix" in f for f in job.filters)
    report = transcode([hostile["gbrp"]], tmp_path / "out", target, TranscodeOptions(jobs=1, force_encode=True))
    assert report.items[0].state == "done", report.items[0].reason


def test_a_spliced_ts_has_its_real_duration_and_one_output_size(hostile, web, tmp_path):
    info = probe(hostile["spliced"])
    v = info.video[0]
    assert info.duration_s < 1.5                       # what the container's timestamps say
    assert (v.frame_count, v.frame_count_exact) == (50, True)
    assert abs(v.duration_s - 2.0) < 0.05 and v.frame_sizes == [(320, 240), (160, 120)]
    job = plan(info, web, tmp_path / "s.mp4")
    assert not job.remux and "scale=h=240:w=320" in job.filters and "-reinit_filter" in job.args()
    report = transcode([hostile["spliced"]], tmp_path / "out", web, TranscodeOptions(jobs=1))
    assert report.items[0].state == "done", report.items[0].reason
    out = report.items[0].output
    verify_output(out, job.expect, mode="full")
    sizes = subprocess.run([sys.executable, "-c", f"""
import av
with av.open({str(out)!r}) as c:
    print(sorted({{(f.width, f.height) for f in c.decode(video=0)}}))"""], capture_output=True, text=True)
    assert sizes.stdout.strip() == "[(320, 240)]"


def test_normalize_handles_the_hostile_sources(hostile, tmp_path):
    from codeckit.normalize.pipeline import normalize
    summary = normalize([hostile[n] for n in ("gap", "gbrp", "two", "spliced")], tmp_path / "corpus",
                        jobs=2, sets=["filter.min_duration_s=0.4"])
    assert summary.failed == 0 and summary.exit_code == 0, summary.failures
    assert summary.accepted == 4


# ---------------------------------------------------------------- normalize: nothing usable

def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codeckit", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_normalize_says_so_and_exits_3_when_every_input_is_rejected(tmp_path, hostile):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "notes.mp4").write_text("not a video\n")
    (bad / "cut.mp4").write_bytes(hostile["vfr"].read_bytes()[:3000])
    res = _cli("normalize", str(bad), "-o", str(tmp_path / "corpus"), "--json")
    assert res.returncode == 3, res.stderr
    summary = json.loads(res.stdout)
    assert summary["nothing_usable"] and summary["exit_code"] == 3 and summary["clips_out"] == 0
    assert summary["rejected_total"] == 2 and "Traceback" not in res.stderr
    human = _cli("normalize", str(bad), "-o", str(tmp_path / "corpus"))
    assert human.returncode == 3 and "nothing usable" in human.stderr


def test_normalize_exits_0_when_some_inputs_are_rejected(tmp_path, hostile):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "notes.mp4").write_text("not a video\n")
    (mixed / "two.mp4").write_bytes(hostile["two"].read_bytes())
    res = _cli("normalize", str(mixed), "-o", str(tmp_path / "corpus"), "--json")
    summary = json.loads(res.stdout)
    assert res.returncode == 0 and summary["clips_out"] == 1 and summary["rejected_total"] == 1
