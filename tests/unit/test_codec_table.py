"""The codec table as data: codecs and kinds, the common quality scale per encoder, speed and bit-depth checks."""
from __future__ import annotations

import pytest

from codeckit.codecs import (BY_NAME, CODECS, IMPLEMENTATIONS, encoder_args, implementations_of)
from codeckit.errors import ConfigError



def test_table_knows_every_codec_and_both_kinds():
    assert {"h264", "hevc", "av1", "vp9", "ffv1", "prores"} <= set(CODECS)
    names = {i.name for i in IMPLEMENTATIONS}
    assert {"libx264", "libx265", "libsvtav1", "libaom-av1", "librav1e", "libvpx-vp9", "ffv1", "prores_ks"} <= names
    for api in ("nvenc", "qsv", "vaapi", "amf", "videotoolbox", "vulkan"):
        assert any(i.hw and i.hw.api == api for i in IMPLEMENTATIONS), api
    for codec in ("h264", "hevc", "av1"):
        kinds = {i.kind for i in implementations_of(codec)}
        assert kinds == {"software", "hardware"}


def test_common_quality_maps_to_each_encoders_usual_defaults():
    assert BY_NAME["libx264"].knob.value_for_quality(70) == 23
    assert BY_NAME["libx265"].knob.value_for_quality(70) == 28
    assert BY_NAME["libx264"].knob.value_for_quality(0) == 51
    assert encoder_args(BY_NAME["libx264"]).knob_value == 23  # no quality given: the default


@pytest.mark.parametrize("impl", [i for i in IMPLEMENTATIONS if i.knob], ids=lambda i: i.name)
def test_quality_scale_is_monotone_within_range_and_invertible(impl):
    knob = impl.knob
    values = [knob.value_for_quality(q) for q in range(0, 101, 5)]
    assert all(knob.lo <= v <= knob.hi for v in values)
    better = values if not knob.lower_is_better else [-v for v in values]
    assert better == sorted(better) and better[0] < better[-1]
    for q in (0, 40, 70, 85, 100):
        assert knob.quality_for_value(knob.value_for_quality(q)) == pytest.approx(q, abs=3)


def test_unknown_speed_and_unsupported_bit_depth_are_config_errors():
    with pytest.raises(ConfigError, match="speed"):
        encoder_args(BY_NAME["libx264"], speed="warp")
    with pytest.raises(ConfigError, match="10-bit"):
        encoder_args(BY_NAME["h264_nvenc"], bit_depth=10)
