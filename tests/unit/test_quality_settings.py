"""QualitySettings refuses what cannot be measured when it is made, not per distorted file later."""
from __future__ import annotations

import math

import pytest

from codeckit.errors import ConfigError
from codeckit.quality import QualitySettings


@pytest.mark.parametrize("kw, word", [
    ({"duration_tolerance_s": -1.0}, "tolerance"),       # "they differ by more than -1.000 s" for equal files
    ({"duration_tolerance_s": math.nan}, "tolerance"),   # nan switched the duration check off
    ({"start_s": math.nan}, "start"),
    ({"duration_s": math.inf}, "duration"),              # FFmpeg failed: Invalid duration for option t: inf
    ({"offset_s": math.nan}, "offset"),
    ({"model": "nope"}, "nope"),                         # was one error per distorted file, exit 1
    ({"model": ("vmaf_v0.6.1", "/no/such/model.json")}, "model.json"),
])
def test_impossible_settings_are_config_errors(kw, word):
    with pytest.raises(ConfigError) as err:
        QualitySettings(**kw)
    assert word in str(err.value)


def test_good_settings_still_pass():
    s = QualitySettings(model=("auto", "phone"), duration_tolerance_s=0.0, offset_s=-1.5, start_s=2, duration_s=3)
    assert s.model_names == ("auto", "phone")
