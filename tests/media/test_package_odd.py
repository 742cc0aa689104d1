"""`codeckit package` and `--check` on the awkward sources and hand-damaged packages real folders hold: tiny
sources (2 s, 160x120), one rung each, so each case costs about a second."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import m3u8
import pytest

from codeckit.demo_media import lavfi_clip
from codeckit.ffmpeg import input_url, run_ffmpeg
from codeckit.package import PackageOptions, check_package, package
from codeckit.package.check import find_packages

LADDER = """name = "one"
[[rung]]
width = 160
height = 120
bitrate = "300k"
"""


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    """A one-rung and a two-rung ladder file, a 160x120 and a 320x240 clip (2 s, with audio)."""
    d = tmp_path_factory.mktemp("media")
    (d / "one.toml").write_text(LADDER)
    (d / "two.toml").write_text(LADDER + '[[rung]]\nwidth = 320\nheight = 240\nbitrate = "600k"\n')
    return {"one": d / "one.toml", "two": d / "two.toml",
            "clip": lavfi_clip(d / "clip.mp4", size="160x120", duration=2, audio=True),
            "talk": lavfi_clip(d / "talk.mp4", size="320x240", duration=2, audio=True)}


def _package(src, out, ladder_file, **kw):
    return package([src], out, PackageOptions(ladder=str(ladder_file), segment_s=1.0, speed="fastest", **kw))


def test_mov_text_without_a_language_becomes_a_webvtt_group(tmp_path, media):
    # FFmpeg tags an MP4 track that has no language "und", which Shaka refused and the package failed
    srt = tmp_path / "s.srt"
    srt.write_text("1\n00:00:00,200 --> 00:00:01,500\nHello there\n")
    src = tmp_path / "talk.mp4"
    run_ffmpeg(["-y", "-i", input_url(media["clip"]), "-i", input_url(srt), "-map", "0", "-map", "1", "-c", "copy",
                "-c:s", "mov_text", input_url(src)], loglevel="error")
    report = _package(src, tmp_path / "out", media["one"])
    assert report.ok, report.to_dict()
    pkg = tmp_path / "out" / "talk"
    subs = [m for m in m3u8.load(str(pkg / "master.m3u8")).media if m.type == "SUBTITLES"]
    assert len(subs) == 1 and subs[0].language is None and subs[0].name == "subtitles"
    assert "Hello there" in "".join(p.read_text() for p in (pkg / "text").glob("*.vtt"))


@pytest.fixture(scope="module")
def pkg(media, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pkg")
    report = _package(media["talk"], out, media["two"])
    assert report.ok, report.to_dict()
    return out / "talk"


def _damaged(pkg: Path, tmp_path: Path, name: str = "talk") -> Path:
    copy = tmp_path / name
    shutil.copytree(pkg, copy)
    return copy


def _found(folder: Path) -> set[tuple[str, str]]:
    report = check_package(folder)
    assert not report.ok
    return {(f.rule, f.where) for f in report.failures}


@pytest.mark.parametrize("text", ["[1, 2]\n", '{"segment_s": "x", "rungs": 5, "source": [1], "formats": 3}\n',
                                  "{not json\n"])
def test_check_names_a_package_json_it_cannot_use(pkg, tmp_path, text):
    # a JSON list was a traceback; wrong field types were "manifest: TypeError: 'int' object is not iterable"
    broken = _damaged(pkg, tmp_path)
    (broken / "package.json").write_text(text)
    assert ("manifest", "package.json") in _found(broken)


def test_check_says_what_it_could_not_check_without_package_json(pkg, tmp_path):
    bare = _damaged(pkg, tmp_path)
    (bare / "package.json").unlink()
    report = check_package(bare)
    assert report.ok and any("package.json" in n for n in report.notes)
    assert check_package(pkg).notes == []


@pytest.mark.parametrize("what, size, where", [
    ("v0/init.mp4", 300, "v0/init.mp4"),          # was "error: unpack_from requires a buffer ..." naming no file
    ("v0/init.mp4", 0, "v0/init.mp4"),            # was "list index out of range"
    ("v1/1.m4s", 1000, "v1/1.m4s"),               # a cut segment passed the keyframe rule, one bandwidth off
])
def test_check_names_a_truncated_init_or_media_segment(pkg, tmp_path, what, size, where):
    broken = _damaged(pkg, tmp_path)
    f = broken / what
    f.write_bytes(f.read_bytes()[:size])
    report = check_package(broken)
    assert not report.ok
    assert any(x.rule == "segments" and x.where.endswith(where) for x in report.failures), report.to_dict()


def test_check_fails_a_package_that_lost_a_manifest_package_json_records(pkg, tmp_path):
    # master.m3u8 deleted: the DASH half passed and the package was "ok (dash)"
    broken = _damaged(pkg, tmp_path)
    (broken / "master.m3u8").unlink()
    assert ("manifest", "master.m3u8") in _found(broken)


def test_check_compares_declared_segment_durations_with_the_segments(pkg, tmp_path):
    broken = _damaged(pkg, tmp_path)
    playlist = broken / "v0.m3u8"
    playlist.write_text(playlist.read_text().replace("#EXTINF:1.000,", "#EXTINF:9.000,", 1))
    mpd = broken / "manifest.mpd"
    text = mpd.read_text()
    mpd.write_text(re.sub(r'(<S t="0" d=")(\d+)"', lambda m: f'{m.group(1)}{int(m.group(2)) * 3}"', text, count=1))
    found = _found(broken)
    assert ("durations", "v0.m3u8") in found
    assert any(rule == "durations" and where.startswith("manifest.mpd") for rule, where in found), found


def test_check_of_a_folder_finds_every_package_even_without_package_json(pkg, tmp_path):
    # a package that lost its package.json was left out of `--check DIR` and the run said ok
    site = tmp_path / "site"
    shutil.copytree(pkg, site / "a")
    shutil.copytree(pkg, site / "lectures" / "b")
    (site / "lectures" / "b" / "package.json").unlink()
    (site / "lectures" / "b" / "v0" / "2.m4s").unlink()
    assert find_packages(site) == [site / "a", site / "lectures" / "b"]
    assert find_packages(site / "a") == [site / "a"]
    assert find_packages(tmp_path / "site" / "lectures") == [site / "lectures" / "b"]


def test_per_title_on_a_source_too_small_for_vmaf_falls_back_to_the_static_ladder(tmp_path):
    # before: libvmaf cannot score under 18 px a side, so the per-title analysis raised `too_small` and the
    # whole source failed; a static ladder packages it (one rung at its own size), and says why
    import json
    src = lavfi_clip(tmp_path / "tiny.mp4", size="16x16", duration=1)
    out = tmp_path / "out"
    report = package([src], out, PackageOptions(ladder="per-title", segment_s=1.0, speed="fastest",
                                                formats="hls", per_title={"cache": False}))
    assert report.ok, report.to_dict()
    result = report.items[0].result
    assert [(r["width"], r["height"]) for r in result.rungs] == [(16, 16)]
    assert result.ladder is None and result.notes and "too small for VMAF" in result.notes[0], result.notes
    assert "static apple ladder" in result.notes[0]
    meta = json.loads((out / "tiny" / "package.json").read_text())
    assert meta["ladder"] == "apple" and meta["notes"] == result.notes
    assert not (out / "tiny" / "ladder.json").exists()   # nothing was measured
    assert report.to_dict()["items"][0]["result"]["notes"] == result.notes
    assert check_package(out / "tiny").ok
    # the command's summary says it too
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "codeckit", "package", str(src), "-o", str(tmp_path / "cli"),
                        "--ladder", "per-title", "--speed", "fastest", "--formats", "hls",
                        "--segment-seconds", "1"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "note: per-title" in r.stderr and "static apple ladder" in r.stderr, r.stderr
