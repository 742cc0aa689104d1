"""Exact conformance (`Expectation.exact`) from verify's one open and demux, and normalize's clips checked by it
before the rename: a clip that is not exactly the profile never reaches its final name."""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from codeckit.demo_media import lavfi_clip
from codeckit.normalize.encode_clip import clip_job, encode_clip, read_clip
from codeckit.normalize.profile import load_training_profile
from codeckit.normalize.scan import scan
from codeckit.normalize.steps import ClipSpan
from codeckit.plan import Expectation
from codeckit.probe import probe
from codeckit.verify import VerifyError, describe_output, verify_output


def _exact(**kw) -> Expectation:
    base = dict(video_codec="h264", audio_streams=0, subtitle_streams=0, duration_s=1.0, frames=24,
                frames_exact=True, width=320, height=240, exact=True, fps="24/1", pix_fmt="yuv420p", keyint=12)
    return Expectation(**{**base, **kw})


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("verify-exact")
    good = lavfi_clip(d / "good.mp4", rate="24", duration=1, extra=["-g", "12", "-keyint_min", "12",
                                                                     "-sc_threshold", "0"])
    # 25 fps, SAR 4:3, 4:4:4, a keyframe every 10 frames, and a sound track
    bad = lavfi_clip(d / "bad.mp4", rate="25", duration=1, pix_fmt="yuv444p", vf="setsar=4/3", audio=True,
                     extra=["-g", "10"])
    return good, bad


def test_a_conforming_clip_passes_and_the_report_holds_what_the_manifest_needs(media):
    good, _ = media
    r = verify_output(good, _exact())
    assert (r.width, r.height, r.sar, r.fps, r.pix_fmt) == (320, 240, "1:1", "24/1", "yuv420p")
    assert (r.video_packets, r.keyframe_indices, r.streams, r.duration_s) == (24, [0, 12], 1, 1.0)
    assert r.decoded_frames > 0                 # the sampled decode still runs


def test_every_exact_problem_is_named_with_the_subject(media):
    _, bad = media
    with pytest.raises(VerifyError) as err:
        verify_output(bad, _exact(frames=25, audio_streams=1), subject="/src/source.mov")
    msg = err.value.message
    for problem in ("SAR 4:3", "frame rate 25/1, not 24/1", "pixel format yuv444p, not yuv420p",
                    "keyframes at [0, 10, 20], not every 12 frames"):
        assert problem in msg
    assert str(err.value.path) == "/src/source.mov"
    # without `exact` none of them is a problem (the same file, the same demux)
    verify_output(bad, _exact(frames=25, audio_streams=1, exact=False))


def test_exact_counts_frames_and_streams_exactly(media):
    good, bad = media
    # off by one frame: within the loose tolerance (2), not the exact one
    verify_output(good, _exact(frames=25, exact=False))
    with pytest.raises(VerifyError, match="24 video frames, expected 25"):
        verify_output(good, _exact(frames=25))
    # a stream nobody asked for
    with pytest.raises(VerifyError, match="1 stream.s. besides the video") as err:
        verify_output(bad, _exact(frames=25, fps="25/1", pix_fmt=None, keyint=None))
    assert "1 audio stream(s), expected 0" in err.value.message


def test_describe_output_reads_without_expecting_or_decoding(media):
    _, bad = media
    r = describe_output(bad)
    assert not r.problems and r.decoded_frames == 0
    assert (r.sar, r.fps, r.pix_fmt, r.keyframe_indices, r.streams) == ("4:3", "25/1", "yuv444p", [0, 10, 20], 2)
    assert read_clip(bad).extra_streams == 1


def test_a_clip_that_does_not_conform_never_reaches_its_final_path(tmp_path, monkeypatch):
    renamed = []
    real_replace = os.replace

    def spy(a, b):          # (an unlink after the rename would leave the same empty folder: the rename is the fault)
        renamed.append(Path(b))
        real_replace(a, b)
    monkeypatch.setattr(os, "replace", spy)
    target = load_training_profile("training-480p24").target
    src = lavfi_clip(tmp_path / "src.mp4", rate="24", duration=1)
    out = tmp_path / "clips" / "clip.mp4"
    job = clip_job(probe(src), scan(src), target, ClipSpan(0, 0.0, 1.0), True, out)
    assert job.expect.exact and job.expect.keyint == target.video.keyint
    # the profile's keyframe every 24 frames, checked as if it asked for one every 12: the 1 s clip has one
    wrong = replace(job.expect, keyint=12)
    job.expect = job.clip_expect = wrong
    with pytest.raises(VerifyError, match=r"keyframes at \[0\], not every 12 frames") as err:
        encode_clip(job)
    assert str(err.value.path) == str(src)
    assert out not in renamed and not out.exists() and list(out.parent.iterdir()) == []


def test_the_clips_fields_come_from_the_verify_pass_and_match_the_file(tmp_path):
    target = load_training_profile("training-480p24").target
    src = lavfi_clip(tmp_path / "src.mp4", size="320x240", rate="30", duration=2)
    out = tmp_path / "clip.mp4"
    job = clip_job(probe(src), scan(src), target, ClipSpan(0, 0.0, 2.0), True, out)
    got = encode_clip(job)
    assert (got.fps, got.frames, got.keyframes, got.sar) == ("24/1", 48, [0, 24], "1:1")
    want = read_clip(out)
    for name in ("codec", "width", "height", "sar", "fps", "pix_fmt", "frames", "keyframes", "duration_s",
                 "bytes", "extra_streams"):
        assert getattr(got, name) == getattr(want, name), name
