"""Edge inputs of the VMAF measurement and the commands built on it (search, compare): pictures too small
for libvmaf, and a VFR reference whose container declares less than its frames last."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from codeckit.demo_media import lavfi_clip
from codeckit.errors import QualityError
from codeckit.quality import measure
from codeckit.search import search


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return lavfi_clip(tmp_path_factory.mktemp("tiny") / "tiny 16x16.mp4", size="16x16", duration=0.4)


def test_a_picture_too_small_for_libvmaf_is_a_named_error_not_a_crash(tiny):
    # libvmaf dies of SIGSEGV under 18 pixels on a side; the user got "FFmpeg died (signal 11)"
    with pytest.raises(QualityError) as err:
        measure(tiny, tiny)
    assert err.value.code == "too_small" and err.value.path == str(tiny)
    assert "16x16" in err.value.message and "signal" not in str(err.value)


def test_quality_cli_names_the_small_file(tiny):
    res = subprocess.run([sys.executable, "-m", "codeckit", "quality", str(tiny), str(tiny), "--json"],
                         capture_output=True, text=True, timeout=120)
    # the reference itself cannot be scored: one line naming it, exit 2, as for a missing reference
    assert res.returncode == 2 and "Traceback" not in res.stderr and "signal 11" not in res.stderr
    assert f"{tiny}: is compared at 16x16, too small for VMAF" in res.stderr


def test_search_refuses_a_source_too_small_to_score_before_encoding_anything(tiny, tmp_path):
    with pytest.raises(QualityError) as err:
        search(tiny, 90, encoder="libx264", speed="fastest", cache=tmp_path / "cache")
    assert err.value.code == "too_small" and err.value.path == str(tiny)   # the source, not a sample's temp file
    assert not any((tmp_path / "cache").rglob("*.json"))


def test_compare_fails_a_source_too_small_to_score_once_and_by_name(tiny, tmp_path):
    from codeckit.compare import CompareOptions, compare
    pytest.importorskip("matplotlib")
    r = compare([tiny], tmp_path / "out", CompareOptions(encoders="libx264:fastest", points=2))
    assert [(f["source"], f["stage"]) for f in r.failures] == [(str(tiny), "probe")]
    assert "too small" in r.failures[0]["error"] and r.data["results"] == []


@pytest.fixture(scope="module")
def vfr_short_declared(tmp_path_factory) -> Path:
    """25 frames at 25 fps, then 10 at 10 fps (the conftest VFR pattern), x264 with its default B-frames:
    the MP4 declares 1.8 s while its last frame starts at 1.88 s."""
    from codeckit.ffmpeg import run_ffmpeg
    out = tmp_path_factory.mktemp("vfr") / "vfr.mp4"
    run_ffmpeg(["-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "2", "-vf",
                "setpts='if(lt(N,25),N/25,1+(N-25)/10)/TB'", "-fps_mode", "vfr", "-c:v", "libx264",
                "-pix_fmt", "yuv420p", f"file:{out}"], loglevel="error")
    return out


def test_a_lossless_copy_of_a_vfr_source_is_not_scored_against_a_frozen_reference(vfr_short_declared, tmp_path):
    from codeckit.ffmpeg import run_ffmpeg
    copy = tmp_path / "lossless.mp4"
    # the same frames, the same timestamps; x264's MP4 declares 2.0 s (its last frame lasts 0.12 s)
    run_ffmpeg(["-y", "-i", f"file:{vfr_short_declared}", "-c:v", "libx264", "-qp", "0", "-preset", "ultrafast",
                "-fps_mode", "passthrough", f"file:{copy}"], loglevel="error")
    r = measure(vfr_short_declared, copy)
    # every frame pair is the same picture: the only loss is libvmaf's motion feature on the repeated frames
    # of the resampled slow part (97.4); the distorted cut at 1.8 s and the reference not made the last
    # frames score 33-53 and the mean 93.1
    assert min(r.per_frame["vmaf"]) > 97 and r.score > 98


def test_compare_counts_the_frames_of_each_encode_not_the_scored_ones(vfr_short_declared, tmp_path):
    # the VFR source is scored resampled to its nominal 25 fps (45 scores over its 1.8 s) while each encode
    # keeps its 35 frames: results[].frames said 45 and the encode fps was 29 % high
    import av
    from codeckit.compare import CompareOptions, compare
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    r = compare([vfr_short_declared], out, CompareOptions(encoders="libx264:fastest", points=2))
    assert r.failures == [] and len(r.data["results"]) == 2
    for row in r.data["results"]:
        with av.open(str(out / row["output"])) as c:
            frames = sum(1 for p in c.demux(c.streams.video[0]) if p.size)
        assert row["frames"] == frames == 35
        assert row["scored_frames"] == 45
        assert row["fps"] == pytest.approx(frames / row["wall_s"], rel=0.01)
