"""`codeckit package` and `--check` on the awkward sources and hand-damaged packages real folders hold: tiny
sources (2 s, 160x120), one rung each, so each case costs about a second."""
from __future__ import annotations

from pathlib import Path

import m3u8
import pytest

from codeckit.demo_media import lavfi_clip
from codeckit.ffmpeg import input_url, run_ffmpeg
from codeckit.package import PackageOptions, package

LADDER = """name = "one"
[[rung]]
width = 160
height = 120
bitrate = "300k"
"""


@pytest.fixture(scope="module")
def ladder_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("ladder") / "one.toml"
    p.write_text(LADDER)
    return p


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return lavfi_clip(tmp_path_factory.mktemp("src") / "clip.mp4", size="160x120", duration=2, audio=True)


def _package(src, out, ladder_file, **kw):
    return package([src], out, PackageOptions(ladder=str(ladder_file), segment_s=1.0, speed="fastest", **kw))


def test_mov_text_without_a_language_becomes_a_webvtt_group(tmp_path, clip, ladder_file):
    # FFmpeg tags an MP4 track that has no language "und", which Shaka refused and the package failed
    srt = tmp_path / "s.srt"
    srt.write_text("1\n00:00:00,200 --> 00:00:01,500\nHello there\n")
    src = tmp_path / "talk.mp4"
    run_ffmpeg(["-y", "-i", input_url(clip), "-i", input_url(srt), "-map", "0", "-map", "1", "-c", "copy",
                "-c:s", "mov_text", input_url(src)], loglevel="error")
    report = _package(src, tmp_path / "out", ladder_file)
    assert report.ok, report.to_dict()
    pkg = tmp_path / "out" / "talk"
    subs = [m for m in m3u8.load(str(pkg / "master.m3u8")).media if m.type == "SUBTITLES"]
    assert len(subs) == 1 and subs[0].language is None and subs[0].name == "subtitles"
    assert "Hello there" in "".join(p.read_text() for p in (pkg / "text").glob("*.vtt"))
