"""The cost model (declared once, defaults from cost.toml, --cost overrides) and the encoder list parser."""
from __future__ import annotations

import pytest

from codeckit.codecs import BY_NAME
from codeckit.codecs.capability import Capability
from codeckit.compare.configs import find_config, parse_configs
from codeckit.compare.cost import COST_DEFAULTS, cost_of, default_cost_model, field_docs, parse_cost
from codeckit.errors import ConfigError, EncoderUnavailable


def test_defaults_come_from_the_toml_and_every_key_has_a_doc():
    m = default_cost_model()
    assert (m.cpu_hour, m.storage_gb_month, m.egress_gb, m.views, m.months) == (0.05, 0.02, 0.05, 1000, 12)
    docs = field_docs()
    assert set(docs) == {"cpu_hour", "storage_gb_month", "egress_gb", "views", "months"}
    assert all(docs.values())
    for key in docs:
        assert f"{key} =" in COST_DEFAULTS.read_text()


def test_overrides_replace_only_what_they_name():
    m = parse_cost("cpu_hour=0.5, views=20")
    assert (m.cpu_hour, m.views, m.egress_gb) == (0.5, 20, 0.05)


@pytest.mark.parametrize("text, word", [("nope=1", "nope"), ("views", "views"), ("views=-3", "views"),
                                         ("cpu_hour=cheap", "cpu_hour")])
def test_bad_overrides_name_the_key(text, word):
    with pytest.raises(ConfigError) as err:
        parse_cost(text)
    assert word in str(err.value) and "[" not in err.value.message


def test_cost_of_one_source_hour():
    m = parse_cost("cpu_hour=1,storage_gb_month=0.1,egress_gb=0.01,views=100,months=10")
    # 36 s of source took 72 CPU-s and 1e8 bytes: per source hour 2 CPU-h and 10 GB
    c = cost_of(72.0, 10**8, 36.0, m)
    assert c.compute == pytest.approx(2.0)
    assert c.storage == pytest.approx(10 * 0.1 * 10)
    assert c.egress == pytest.approx(10 * 0.01 * 100)
    assert c.total == pytest.approx(2 + 10 + 10)


def _caps(*working):
    names = ("libx264", "libx265", "libsvtav1", "h264_nvenc", "ffv1")
    return {n: Capability(name=n, codec=BY_NAME[n].codec, kind=BY_NAME[n].kind, available=n in working,
                          reason="ok" if n in working else "no device") for n in names}


def test_configs_from_names_codecs_and_speeds():
    caps = _caps("libx264", "libx265", "libsvtav1", "ffv1")
    cfgs = parse_configs("libx264, libx265:slow,av1:6", speed="fast", capabilities=caps)
    assert [c.label for c in cfgs] == ["libx264:fast", "libx265:slow", "libsvtav1:fastest"]
    assert find_config(cfgs, "libx265").label == "libx265:slow"
    assert find_config(cfgs, "libsvtav1:fastest").encoder == "libsvtav1"
    with pytest.raises(ConfigError):
        find_config(cfgs, "libaom-av1")


def test_a_codec_takes_its_working_hardware_implementation_first():
    assert parse_configs("h264", capabilities=_caps("libx264", "h264_nvenc"))[0].encoder == "h264_nvenc"
    assert parse_configs("h264", capabilities=_caps("libx264"))[0].encoder == "libx264"


@pytest.mark.parametrize("text, error", [("libx264,libx264", ConfigError), ("warp9", ConfigError),
                                         ("libx264:ludicrous", ConfigError), ("ffv1", ConfigError), ("", ConfigError),
                                         ("h264_nvenc", EncoderUnavailable)])
def test_bad_encoder_lists_fail_before_any_work(text, error):
    with pytest.raises(error):
        parse_configs(text, capabilities=_caps("libx264", "ffv1"))


@pytest.mark.parametrize("text", ["months=inf", "views=nan", "egress_gb=1e400", "cpu_hour=-inf"])
def test_a_value_that_is_not_a_finite_number_is_refused(text):
    # TOML reads inf and nan as numbers: they went into report.json as Infinity / NaN (not JSON) and the
    # cost table printed "inf" and "nan" as prices, with a "cheapest" configuration chosen among them
    with pytest.raises(ConfigError) as err:
        parse_cost(text)
    assert text.split("=")[0] in err.value.message and "finite" in str(err.value)
