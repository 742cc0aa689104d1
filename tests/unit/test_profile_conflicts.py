"""A conflict between two profile fields names the --set that made it, not the file that did not change."""
from __future__ import annotations

import pytest

from codeckit.errors import ConfigError
from codeckit.profiles import load_profile

MINE = """container = "mp4"
[video]
codec = "h264"
implementation = "libx264"
[audio]
mode = "encode"
codec = "aac"
"""


@pytest.mark.parametrize("sets, blamed", [
    (["video.codec=ffv1"], "--set video.codec=ffv1"),                     # mp4 cannot hold ffv1
    (["container=webm", "video.codec=vp9", "video.implementation=software"], "--set container=webm"),  # aac
    (["video.codec=hevc"], "--set video.codec=hevc"),                     # libx264 does not encode hevc
])
def test_a_conflict_made_by_a_set_names_that_set(tmp_path, sets, blamed):
    # before: "mine.toml: container = 'mp4' cannot hold ffv1 video": the file was blamed for the --set
    p = tmp_path / "mine.toml"
    p.write_text(MINE)
    with pytest.raises(ConfigError) as err:
        load_profile(p, sets)
    assert str(err.value).startswith(blamed + ":"), str(err.value)


def test_a_conflict_inside_the_file_names_the_file(tmp_path):
    p = tmp_path / "mine.toml"
    p.write_text(MINE.replace('container = "mp4"', 'container = "webm"'))
    with pytest.raises(ConfigError, match="mine.toml: container = 'webm' cannot hold h264"):
        load_profile(p)
