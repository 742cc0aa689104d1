"""A source folder with no video in it (empty, or only other files) is nothing to do, said once by the walk, as a
source prefix in object storage is (`PATH: no video under this folder (...)`, exit 0): one rule in
codeckit.sources.walk_sources for both. Before, a local folder passed silently."""
from __future__ import annotations

import logging
import subprocess
import sys

from codeckit.demo_media import lavfi_clip
from codeckit.sources import walk_sources


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "codeckit.sources" and r.levelno == logging.WARNING]


def test_a_folder_without_video_is_a_warning_naming_it(tmp_path, caplog):
    (tmp_path / "empty").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("not video")
    (tmp_path / "docs" / "readme.md").write_text("# not video")
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "notes.txt").write_text("not video")
    (tmp_path / "videos").mkdir()
    clip = lavfi_clip(tmp_path / "videos" / "a.mp4", size="64x48", rate="10", duration=0.2)
    caplog.set_level(logging.WARNING, logger="codeckit.sources")
    walk = walk_sources([tmp_path / "empty", tmp_path / "docs", tmp_path / "one", tmp_path / "videos", clip])
    assert [s.path for s in walk.sources] == [clip] and walk.errors == [] and walk.skipped_by_extension == 3
    assert _warnings(caplog) == [f"{tmp_path / 'empty'}: no video under this folder (it is empty)",
                                 f"{tmp_path / 'docs'}: no video under this folder (2 other files skipped)",
                                 f"{tmp_path / 'one'}: no video under this folder (1 other file skipped)"]


def test_a_folder_of_unreadable_entries_fails_them_without_the_warning(tmp_path, caplog):
    (tmp_path / "links").mkdir()
    (tmp_path / "links" / "gone.mp4").symlink_to(tmp_path / "nowhere.mp4")
    caplog.set_level(logging.WARNING, logger="codeckit.sources")
    walk = walk_sources([tmp_path / "links"])
    assert [e.code for e in walk.errors] == ["dangling_symlink"] and _warnings(caplog) == []


def test_transcode_of_an_empty_folder_warns_and_exits_0(tmp_path):
    (tmp_path / "empty").mkdir()
    r = subprocess.run([sys.executable, "-m", "codeckit", "transcode", str(tmp_path / "empty"), "-o",
                        str(tmp_path / "out"), "-p", "web-h264"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"warning: {tmp_path / 'empty'}: no video under this folder (it is empty)" in r.stderr, r.stderr
