"""QualitySettings.size: both sides scaled to one display size (a ladder's top rung) in the exact argv; cache keys
made before the field existed stay the same."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from codeckit.errors import ConfigError
from codeckit.quality import QualitySettings
from codeckit.quality_graph import ComparedSpan, InputVideo, scoring_command


def _video(name, w, h, sar="1:1"):
    return InputVideo(Path(name), 0, w, h, sar, Fraction(25), False, "yuv420p", 2.0)


def _graph(ref, dist, s):
    cmd = scoring_command(ref, dist, s, ComparedSpan(0.0, 0.0, 2.0, 2.0), Path("/tmp"))
    return cmd, cmd.args[cmd.args.index("-filter_complex") + 1]


def test_both_sides_go_to_the_display_size():
    # a 1080p source against a 360p rung of a 720p-topped ladder: scored at 1280x720, not at the source's size
    cmd, graph = _graph(_video("src.mp4", 1920, 1080), _video("v0.mp4", 640, 360), QualitySettings(size=(1280, 720)))
    assert graph.count("scale=flags=bicubic:h=720:w=1280") == 2 and graph.count("setsar=sar=1") == 2
    assert cmd.alignment.compared_size == (1280, 720) and len(cmd.alignment.scaled) == 2
    _, plain = _graph(_video("src.mp4", 1920, 1080), _video("v0.mp4", 640, 360), QualitySettings())
    assert "h=1080:w=1920" in plain and "h=720" not in plain


def test_size_keeps_old_cache_keys_and_is_checked():
    assert "size" not in QualitySettings(subsample=3).key()
    assert QualitySettings(size=[1280, 720]).key()["size"] == [1280, 720]
    with pytest.raises(ConfigError):
        QualitySettings(size=(1280,))
