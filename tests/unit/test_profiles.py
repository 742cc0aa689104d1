"""Profiles: the shipped ones load, mistakes are named (file, field, allowed values), --set overrides."""
from __future__ import annotations

import subprocess
import sys

import pytest

from codeckit.errors import ConfigError
from codeckit.profiles import (CONTAINERS, Target, describe_target, load_profile, profile_names, target_from_raw,
                               target_to_raw)

SHIPPED = ("archive-hevc", "archive-av1", "web-h264", "mezzanine")


def codeckit(*args, **kw):
    return subprocess.run([sys.executable, "-m", "codeckit", *args], capture_output=True, text=True, timeout=120,
                          **kw)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profiles_load(name):
    t = load_profile(name)
    assert t.name == name and t.description and t.source.endswith(f"{name}.toml")
    assert t.video.codec in CONTAINERS[t.container].video


def test_shipped_profiles_say_what_the_issue_asks():
    hevc, av1, web, mezz = (load_profile(n) for n in SHIPPED)
    assert (hevc.video.codec, hevc.video.bit_depth, hevc.video.implementation) == ("hevc", 10, "software")
    assert hevc.video.quality >= 80  # near visually lossless
    assert (av1.video.codec, av1.video.implementation) == ("av1", "libsvtav1")
    assert (web.video.codec, web.video.pix_fmt, web.container, web.faststart) == ("h264", "yuv420p", "mp4", True)
    assert (web.audio.mode, web.audio.codec) == ("encode", "aac")
    assert mezz.video.codec == "ffv1"
    assert set(SHIPPED) <= set(profile_names())


def test_round_trip_through_raw_tables():
    for name in SHIPPED:
        t = load_profile(name)
        back = target_from_raw(target_to_raw(t), name=t.name, source=t.source)
        assert back.fingerprint() == t.fingerprint() and back == t


def write(tmp_path, text, name="mine.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("text,field,allowed", [
    ('[video]\nspeed = "turbo"\n', "video.speed", "slowest, slower, slow, medium, fast, faster, fastest"),
    ('[video]\ncodec = "mpeg2"\n', "video.codec", "h264, hevc, av1, vp9, ffv1, prores"),
    ('container = "avi"\n', "container", "mp4, mov, mkv, webm"),
    ('[video]\nsize = "huge"\n', "video.size", "keep, fit, exact"),
    ('[video]\nhdr = "maybe"\n', "video.hdr", "keep, tonemap, reject"),
    ('[video]\nquality = 140\n', "video.quality", "a number from 0 to 100"),
    ('[video]\nqualty = 80\n', "video.qualty", "codec"),
    ('[audio]\nmode = "loud"\n', "audio.mode", "copy, encode, drop"),
    ('[video]\nkeyint = "often"\n', "video.keyint", '"2s"'),
    ('[video]\nsize = "fit"\nwidth = 1280\n', "video.height", "needed by video.size = 'fit'"),
    ('[video]\ncodec = "ffv1"\n', "container", "mkv"),
    ('[video]\nimplementation = "libx265"\n', "video.implementation", "libx264"),
    ('[video]\nquality = 80\n[video.quality_x]\n', "video.quality_x", "speed"),
    ('wat = 1\n', "wat", "description, container"),
])
def test_mistakes_name_the_file_the_field_and_the_allowed_values(tmp_path, text, field, allowed):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_profile(p)
    msg = str(err.value)
    assert msg.startswith(str(p) + ": ") and field in msg and allowed in msg, msg


def test_invalid_toml_and_missing_profiles(tmp_path):
    p = write(tmp_path, "[video\ncodec = 1")
    with pytest.raises(ConfigError, match="not valid TOML") as err:
        load_profile(p)
    assert str(p) in str(err.value)
    with pytest.raises(ConfigError, match="unknown profile 'nope'.*web-h264"):
        load_profile("nope")
    with pytest.raises(ConfigError, match="no such profile file"):
        load_profile(tmp_path / "missing.toml")


def test_set_overrides_parse_values_and_name_the_option():
    t = load_profile("web-h264", ["video.quality=80", "video.codec=hevc", "audio.mode=drop", "video.fps=30000/1001",
                                  "video.keyint=2s", "faststart=false", "video.bit_depth=10",
                                  "video.pix_fmt=auto"])   # (web-h264's yuv420p is 8-bit: refused with 10)
    assert (t.video.quality, t.video.codec, t.audio.mode, t.video.fps, t.video.keyint_s, t.faststart,
            t.video.bit_depth) == (80.0, "hevc", "drop", "30000/1001", 2.0, False, 10)
    assert load_profile("web-h264", ["video.quality.vmaf=93"]).video.vmaf == 93.0
    t = load_profile("web-h264", ["video.quality.crf=20"])
    assert (t.video.knob, t.video.quality) == (20.0, None)
    assert t.fingerprint() != load_profile("web-h264").fingerprint()
    with pytest.raises(ConfigError) as err:
        load_profile("web-h264", ["video.speed=warp"])
    assert str(err.value).startswith("--set video.speed=warp: video.speed = 'warp' is not allowed")
    with pytest.raises(ConfigError, match="not a known field.*video.quality"):
        load_profile("web-h264", ["video.qualty=3"])
    with pytest.raises(ConfigError, match="not key=value"):
        load_profile("web-h264", ["video.quality"])


def test_conflicting_quality_settings_are_refused(tmp_path):
    p = write(tmp_path, '[video]\nquality = { vmaf = 93, crf = 20 }\n')
    with pytest.raises(ConfigError, match="conflicts with"):
        load_profile(p)


def test_target_with_overrides_and_describe():
    t = Target().with_overrides(["container=mkv", "video.codec=av1"])
    assert t.container == "mkv" and t.video.codec == "av1"
    d = describe_target(load_profile("web-h264"))
    assert d["video.width"] == 1920 and d["audio.codec"] == "aac" and d["video.keyint"] is None


def test_profiles_command_lists_and_shows(tmp_path):
    r = codeckit("profiles")
    assert r.returncode == 0 and all(n in r.stdout for n in SHIPPED)
    r = codeckit("profiles", "archive-hevc", "--json")
    assert r.returncode == 0 and '"video.codec": "hevc"' in r.stdout
    bad = write(tmp_path, '[video]\nspeed = "turbo"\n')
    r = codeckit("profiles", str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert str(bad) in r.stderr and "video.speed" in r.stderr and "medium" in r.stderr


# ---------------------------------------------------------------- each field declared once

def test_every_key_is_read_off_the_declarations_with_a_doc():
    from dataclasses import fields
    from codeckit.profiles import KEYS, VideoTarget, field_docs
    assert list(describe_target(Target())) == list(KEYS) == list(field_docs())
    assert all(doc.strip() for doc in field_docs().values())
    # every VideoTarget attribute but keyint_s (filled through video.keyint = "2s") has a key of its own
    video_attrs = {d.path[1] for d in KEYS.values() if d.path[0] == "video"}
    assert video_attrs == {f.name for f in fields(VideoTarget)} - {"keyint_s"}
    assert KEYS["video.quality.knob"].path == ("video", "knob") and KEYS["metadata.keep"].path == ("metadata",)


def test_every_way_of_giving_quality_round_trips_and_replaces_the_others():
    for sets, attr, value in ([["video.quality.vmaf=93"], "vmaf", 93.0], [["video.quality.cq=30"], "knob", 30.0],
                              [["video.quality.vmaf=93", "video.quality.common=55"], "quality", 55.0]):
        t = load_profile("web-h264", sets)
        assert getattr(t.video, attr) == value
        assert [getattr(t.video, a) for a in ("quality", "knob", "vmaf")].count(None) == 2
        assert target_from_raw(target_to_raw(t), name=t.name, source=t.source) == t
    t = load_profile("web-h264", ["video.keyint=2s"])
    assert target_to_raw(t)["video"]["keyint"] == "2s" and describe_target(t)["video.keyint"] == "2s"


def test_unknown_quality_key_lists_the_other_names_of_the_knob(tmp_path):
    p = write(tmp_path, '[video]\nquality = { crff = 20 }\n')
    with pytest.raises(ConfigError) as err:
        load_profile(p)
    assert "video.quality.crff" in str(err.value) and "knob (or crf, cq, qp, q), vmaf, common" in str(err.value)


def test_speed_is_read_by_one_parser_for_profiles_and_encoders():
    from codeckit.codecs import BY_NAME, encoder_args
    from codeckit.codecs.table import SPEED_CHOICES, speed_index
    assert speed_index(" Fast ") == speed_index("4") == speed_index(4) == 4
    assert load_profile("web-h264", ["video.speed=' Fast '"]).video.speed == "fast"
    assert load_profile("web-h264", ["video.speed=0"]).video.speed == "slowest"
    assert encoder_args(BY_NAME["libx264"], speed="FAST") == encoder_args(BY_NAME["libx264"], speed=4)
    with pytest.raises(ConfigError) as err:
        load_profile("web-h264", ["video.speed=7"])
    assert err.value.hint == "allowed: " + SPEED_CHOICES


def test_one_list_of_encoder_preferences():
    from codeckit.codecs import select
    from codeckit.profiles import target
    assert target.PREFERENCES is select.PREFERENCES


def test_filter_and_clips_fields_are_checked_and_named_however_they_are_built():
    from codeckit.normalize.profile import ClipRules, FilterRules, clip_rules, filter_rules
    with pytest.raises(ConfigError, match=r"^\[filter\] max_black_fraction = 2 is not allowed.*from 0 to 1"):
        FilterRules(max_black_fraction=2)
    with pytest.raises(ConfigError, match=r"^\[clips\] length_s = 0 is not allowed.*above 0"):
        ClipRules(length_s=0)
    with pytest.raises(ConfigError) as err:
        clip_rules({"mode": "shots"}, "mine.toml")
    assert str(err.value) == "mine.toml: [clips] mode = 'shots' is not allowed (allowed: none, fixed, scenes)"
    with pytest.raises(ConfigError, match=r"mine.toml: \[filter\] min_width = 'wide' is not allowed"):
        filter_rules({"min_width": "wide"}, "mine.toml")
    with pytest.raises(ConfigError, match="min_length_s .* is above max_length_s"):
        ClipRules(min_length_s=5, max_length_s=2)
    # as written: an int stays an int (the training profile's fingerprint hashes these)
    assert filter_rules({"min_duration_s": 5, "min_width": 300.0}) == FilterRules(min_duration_s=5, min_width=300.0)
    assert repr(filter_rules({"min_width": 300.0}).min_width) == "300.0"


def test_profiles_command_shows_each_fields_doc():
    r = codeckit("profiles", "web-h264", env={**__import__("os").environ, "COLUMNS": "200"})
    assert r.returncode == 0
    line = next(x for x in r.stderr.splitlines() + r.stdout.splitlines() if "video.fps_mode" in x)
    assert "cap" in line and "only faster sources" in line


def test_profile_errors_carry_a_reason_code(tmp_path):
    from codeckit.normalize.profile import ClipRules, filter_rules
    cases = [('[video]\nspeed = "turbo"\n', "invalid_value"), ('wat = 1\n', "unknown_field"),
             ('[video]\ncodec = "ffv1"\n', "conflicting_fields"), ('[video]\nsize = "fit"\nwidth = 640\n',
                                                                   "missing_field"), ("[video\n", "unreadable_profile")]
    for text, code in cases:
        with pytest.raises(ConfigError) as err:
            load_profile(write(tmp_path, text))
        assert err.value.code == code, text
    for sets, code in ((["video.qualty=1"], "unknown_field"), (["video.quality"], "bad_option")):
        with pytest.raises(ConfigError) as err:
            load_profile("web-h264", sets)
        assert err.value.code == code
    with pytest.raises(ConfigError) as err:
        load_profile("nope")
    assert err.value.code == "unknown_profile"
    with pytest.raises(ConfigError) as err:
        filter_rules({"black_luma": 300}, "mine.toml")
    assert (err.value.code, err.value.path) == ("invalid_value", "mine.toml")
    with pytest.raises(ConfigError) as err:
        ClipRules(min_length_s=5, max_length_s=2)
    assert err.value.code == "conflicting_fields"
