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


@pytest.mark.parametrize("depth, pix_fmt, bits", [(10, "yuv420p", 8), (8, "yuv420p10le", 10)])
def test_a_pixel_format_of_another_bit_depth_than_the_profiles_is_refused(tmp_path, depth, pix_fmt, bits):
    # before: bit_depth = 10 with pix_fmt = "yuv420p" transcoded to an 8-bit yuv420p output, and said "done"
    p = tmp_path / "mine.toml"
    p.write_text(f'[video]\nbit_depth = {depth}\npix_fmt = "{pix_fmt}"\n')
    with pytest.raises(ConfigError, match=f"mine.toml: video.pix_fmt = '{pix_fmt}' is {bits}-bit: it conflicts "
                                          f"with video.bit_depth = {depth}"):
        load_profile(p)
    assert load_profile(p, [f"video.bit_depth={bits}"]).video.pix_fmt == pix_fmt
    assert load_profile(tmp_path / "mine.toml", ["video.pix_fmt=source"]).video.bit_depth == depth
