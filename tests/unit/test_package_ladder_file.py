"""User ladders from TOML with the mistakes people make, and rung selection at the edges (pure functions)."""
from __future__ import annotations

import pytest

from codeckit.errors import ConfigError
from codeckit.package.ladder import load_ladder, select_rungs
from tests.unit.test_package_ladder import _info

RUNG = '[[rung]]\nwidth = 320\nheight = 180\nbitrate = "300k"\n'


def _load(tmp_path, text):
    p = tmp_path / "mine.toml"
    p.write_text(text)
    return load_ladder(p)


def test_a_good_user_ladder_loads_with_numbers_or_rate_strings(tmp_path):
    ladder = _load(tmp_path, 'name = "mine"\nquality = 60\n[bitrate_factor]\nhevc = 0.7\n' + RUNG
                   + '[[rung]]\nwidth = 640\nheight = 360\nbitrate = 800000\nknob = 23\n')
    assert [(r.width, r.height, r.bitrate, r.knob) for r in ladder.rungs] == [(320, 180, 300_000, None),
                                                                          (640, 360, 800_000, 23.0)]
    assert ladder.quality == 60.0 and ladder.for_codec("hevc").rungs[0].bitrate == 210_000


@pytest.mark.parametrize("text, names", [
    # each of these was a traceback, an "unexpected error" per source, or silently accepted
    ('quality = "high"\n' + RUNG, "quality"),
    ("quality = 500\n" + RUNG, "quality"),
    ("bitrate_factor = 3\n" + RUNG, "bitrate_factor"),
    ('[bitrate_factor]\nhevc = "a"\n' + RUNG, "bitrate_factor"),
    ("bufsize_factor = 0\n" + RUNG, "bufsize_factor"),
    ('codec = "vp8"\n' + RUNG, "codec"),
    ("widht = 3\n" + RUNG, "widht"),
    (RUNG + "widht = 3\n", "widht"),
    (RUNG.replace('"300k"', '"300k"\nknob = "fast"'), "knob"),
    (RUNG.replace("320", "true"), "width"),
    (RUNG.replace("320", "320.5"), "width"),
    (RUNG.replace("320", '"320"'), "width"),
    (RUNG.replace('"300k"', '"300kbps"'), "bitrate"),
    (RUNG.replace('"300k"', "true"), "bitrate"),
    ('rung = {width = 320, height = 180, bitrate = "300k"}\n', "rung"),
    ("rung = [1, 2]\n", "rung"),
])
def test_ladder_mistakes_are_config_errors_naming_the_file_and_the_key(tmp_path, text, names):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, 'name = "mine"\n' + text)
    assert err.value.path == str(tmp_path / "mine.toml") and names in str(err.value)


def test_max_height_holds_when_no_ladder_rung_fits():
    # a 320x240 source under --max-height 100: every rung is dropped, and the one rung left was the source's
    # own 320x240, taller than asked
    rungs = select_rungs(_info(320, 240), load_ladder("apple"), max_height=100)
    assert [(r.width, r.height) for r in rungs] == [(134, 100)]
    portrait = select_rungs(_info(180, 320), load_ladder("apple"), max_height=100)
    assert [(r.width, r.height) for r in portrait] == [(100, 178)]
    assert [(r.width, r.height) for r in select_rungs(_info(320, 240), load_ladder("apple"), max_height=2)] \
        == [(2, 2)]
