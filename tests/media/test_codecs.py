"""The codec layer: table, options against FFmpeg's own docs, capability probing, selection and fallback."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace

import pytest

from codeckit.codecs import (BY_NAME, IMPLEMENTATIONS, SPEEDS, Capability, EncoderRequest, choose_encoder,
                             encoder_args, implementations_of, probe_capabilities)
from codeckit.codecs.capability import cache_path, check_implementation
from codeckit.errors import ConfigError, EncoderUnavailable, FFmpegError
from codeckit.ffmpeg import build_info, codec_context_options, encoder_help, input_args, input_url, run_ffmpeg
from codeckit.probe import probe

SOFTWARE_HERE = ("libx264", "libx265", "libsvtav1", "libaom-av1", "librav1e", "libvpx-vp9", "ffv1", "prores_ks")


@pytest.fixture(scope="module")
def caps():
    return probe_capabilities()


# ---------------------------------------------------------------- options vs `ffmpeg -h encoder=NAME`

_CLI_ONLY = {"c:v", "pix_fmt"}   # ffmpeg's own options, not AVOptions


def _pairs(args):
    it = iter(args)
    for opt in it:
        assert opt.startswith("-"), args
        yield opt[1:], next(it)


def _emitted(impl):
    """Every argument list the layer can produce for `impl`."""
    qualities = (0, 35, 70, 90, 100)
    for depth in impl.bit_depths:
        for speed in SPEEDS:
            for q in qualities:
                yield encoder_args(impl, quality=q, speed=speed, bit_depth=depth)
        if impl.knob:
            for v in (impl.knob.lo, impl.knob.hi):
                yield encoder_args(impl, knob_value=v, bit_depth=depth)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS, ids=lambda i: i.name)
def test_every_emitted_option_is_one_this_ffmpeg_documents_for_the_encoder(impl):
    build = build_info()
    if not build.has_encoder(impl.name):
        pytest.skip(f"{impl.name} is not in this FFmpeg build, so it documents nothing to check against")
    doc = encoder_help(impl.name, build.path)
    generic = codec_context_options(build.path)
    assert generic, "could not read the AVCodecContext options"
    for enc in _emitted(impl):
        pairs = list(_pairs(enc.output_args))
        assert ("c:v", impl.name) in pairs
        for opt, value in pairs:
            name = opt.split(":")[0] if opt not in _CLI_ONLY else opt
            if name in _CLI_ONLY:
                if name == "pix_fmt":
                    assert value in doc.pix_fmts, (impl.name, value, doc.pix_fmts)
                continue
            if name == "q":        # -q:v is ffmpeg's alias of the generic global_quality
                name = "global_quality"
            option = doc.options.get(name) or generic.get(name)
            assert option is not None, f"{impl.name} does not document -{name}"
            _check_value(impl.name, option, value)
        for flt in enc.filters:       # hardware upload: the format filter must feed a format the path takes
            if flt.startswith("format="):
                assert flt.split("=", 1)[1] in ("nv12", "p010le")
        if impl.hw and impl.hw.upload:
            assert impl.hw.api in doc.pix_fmts or any(f.startswith(impl.hw.api) for f in doc.pix_fmts)


def _check_value(enc, option, value):
    try:
        number = float(value)
    except ValueError:
        number = None
    if option.constants and number is None:
        assert value in option.constants, f"{enc} -{option.name} {value}: not one of {sorted(option.constants)}"
    elif number is not None and option.type in ("int", "float", "int64", "double", "boolean"):
        if option.min is not None:
            assert number >= option.min, (enc, option.name, value)
        if option.max is not None:
            assert number <= option.max, (enc, option.name, value)
    elif option.type in ("int", "int64") and number is None:
        pytest.fail(f"{enc} -{option.name} takes a number or a named constant, got {value!r}")


# ---------------------------------------------------------------- quality and speed scales


# ---------------------------------------------------------------- capabilities

def test_software_encoders_work_here_and_unavailable_ones_say_why(caps):
    for name in SOFTWARE_HERE:
        assert caps[name].available, (name, caps[name].reason)
    build = build_info()
    for cap in caps.values():
        if cap.available:
            assert cap.reason == "ok"
        elif not build.has_encoder(cap.name):
            assert cap.reason == "not in this FFmpeg build"
        else:
            assert re.match(r"(no device|test encode failed): \S", cap.reason), cap
    # VideoToolbox is macOS-only: this Linux build has no such encoder
    if not build.has_encoder("h264_videotoolbox"):
        assert caps["h264_videotoolbox"].reason == "not in this FFmpeg build"


def test_a_failed_test_encode_keeps_ffmpegs_first_error_line():
    # an implementation entry with a knob value its encoder refuses: FFmpeg really fails
    broken = replace(BY_NAME["libx264"], extra_args=("-preset", "no-such-preset"))
    cap = check_implementation(broken, build_info())
    assert not cap.available
    assert cap.reason.startswith("test encode failed: ")
    assert "no-such-preset" in cap.reason or "preset" in cap.reason.lower()


def test_capabilities_are_cached_per_build_and_refreshable(caps, caplog):
    build = build_info()
    path = cache_path(build)
    assert path.is_file()
    data = json.loads(path.read_text())
    assert data["ffmpeg_version"] == build.version
    # a cached verdict is used as it is (proved by editing it), --refresh redoes the test encodes
    for row in data["implementations"]:
        if row["name"] == "libx264":
            row["reason"] = "edited in cache"
    path.write_text(json.dumps(data))
    assert probe_capabilities()["libx264"].reason == "edited in cache"
    assert probe_capabilities(refresh=True)["libx264"].reason == "ok"
    # a corrupt cache is reported and ignored, never fatal
    path.write_text("{not json")
    assert probe_capabilities()["libx264"].available
    assert "ignoring unreadable encoder cache" in caplog.text


def test_another_ffmpeg_build_gets_its_own_cache(tmp_path, ffmpeg_path, monkeypatch):
    link = tmp_path / "ffmpeg-copy"
    link.symlink_to(ffmpeg_path)
    monkeypatch.setenv("CODECKIT_FFMPEG", str(link))
    assert cache_path(build_info()) != cache_path(build_info(ffmpeg_path))


# ---------------------------------------------------------------- selection and fallback

def _pretend(caps, **available):
    out = dict(caps)
    for name, ok in available.items():
        out[name] = Capability(name, BY_NAME[name].codec, BY_NAME[name].kind, ok, "ok" if ok else "off")
    return out


def test_hardware_first_falls_to_software_here_and_says_why(caps):
    if any(caps[i.name].available for i in implementations_of("h264") if i.hardware):
        pytest.skip("this machine has a working H.264 hardware encoder")
    sel = choose_encoder(EncoderRequest("h264", prefer="hardware"), caps)
    choice = sel.current
    assert choice.implementation.name == "libx264"
    assert ("h264_nvenc", caps["h264_nvenc"].reason) in sel.rejected
    assert "h264_nvenc" in choice.reason and "skipped" in choice.reason


def test_hardware_is_preferred_when_it_works(caps):
    sel = choose_encoder(EncoderRequest("hevc", prefer="hardware"), _pretend(caps, hevc_qsv=True))
    assert sel.current.implementation.name == "hevc_qsv"
    assert [i.name for i in sel.candidates][-1] == "libx265"
    sel = choose_encoder(EncoderRequest("hevc", prefer="software"), _pretend(caps, hevc_qsv=True))
    assert all(not i.hardware for i in sel.candidates)


def test_named_implementation_that_is_unavailable_says_why(caps):
    caps = _pretend(caps, h264_nvenc=False)
    with pytest.raises(EncoderUnavailable, match="h264_nvenc: off"):
        choose_encoder(EncoderRequest("h264", prefer="h264_nvenc"), caps)


def test_bit_depth_narrows_the_choice(caps):
    sel = choose_encoder(EncoderRequest("h264", bit_depth=10, prefer="hardware"), _pretend(caps, h264_nvenc=True))
    assert sel.current.implementation.name == "libx264"
    assert sel.current.args.pix_fmt == "yuv420p10le"
    assert ("h264_nvenc", "no 10-bit support") in sel.rejected
    with pytest.raises(EncoderUnavailable):
        choose_encoder(EncoderRequest("prores", bit_depth=8), caps)


def test_bad_requests_are_config_errors(caps):
    with pytest.raises(ConfigError, match="unknown codec"):
        choose_encoder(EncoderRequest("mpeg7"), caps)
    with pytest.raises(ConfigError, match="encodes hevc"):
        choose_encoder(EncoderRequest("h264", prefer="libx265"), caps)
    with pytest.raises(ConfigError, match="preference"):
        choose_encoder(EncoderRequest("h264", prefer="gpu-please"), caps)


def _encode(choice, src, out):
    enc = choice.args
    args = [*enc.global_args, *input_args(src), "-an"]
    if enc.filters:
        args += ["-vf", ",".join(enc.filters)]
    run_ffmpeg([*args, *enc.output_args, "-y", input_url(out)], subject=src, timeout=60)


def test_run_time_failure_falls_back_to_the_next_implementation_and_records_it(caps, clips, tmp_path):
    # Claim NVENC works (as a stale cache might on a machine whose driver broke): the real encode fails,
    # the caller moves on to the next candidate, and the selection remembers what happened.
    sel = choose_encoder(EncoderRequest("h264", quality=60, prefer="hardware"), _pretend(caps, h264_nvenc=True))
    choice = sel.current
    assert choice.implementation.name == "h264_nvenc"
    out = tmp_path / "fallback.mp4"
    if caps["h264_nvenc"].available:
        pytest.skip("NVENC really works here")
    with pytest.raises(FFmpegError) as err:
        _encode(choice, clips.plain, out)
    choice = sel.fall_back(str(err.value))
    assert choice.implementation.name == "libx264"
    _encode(choice, clips.plain, out)
    assert sel.fell_back and sel.failures[0][0] == "h264_nvenc"
    assert "after failures: h264_nvenc" in choice.reason
    v = probe(out).primary_video
    assert v.codec == "h264" and v.frame_count == 25
    assert sel.fall_back("pretend libx264 failed too") is None


@pytest.mark.parametrize("name", ["libx265", "libsvtav1", "libvpx-vp9", "ffv1", "prores_ks"])
def test_each_software_implementation_encodes_a_real_clip(name, clips, tmp_path, caps):
    impl = BY_NAME[name]
    ext = {"libvpx-vp9": ".webm", "ffv1": ".mkv", "prores_ks": ".mov"}.get(name, ".mp4")
    out = tmp_path / f"out{ext}"
    choice = choose_encoder(EncoderRequest(impl.codec, prefer=name, speed="fastest",
                                           bit_depth=max(impl.bit_depths)), caps).current
    _encode(choice, clips.plain, out)
    v = probe(out).primary_video
    assert v.codec == impl.codec
    assert v.bit_depth == max(impl.bit_depths)


# ---------------------------------------------------------------- CLI

def test_cli_encoders_json_lists_every_implementation_with_its_state():
    res = subprocess.run([sys.executable, "-m", "codeckit", "encoders", "--json"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    rows = {r["implementation"]: r for r in doc["encoders"]}
    assert set(rows) == {i.name for i in IMPLEMENTATIONS}
    assert rows["libx264"]["available"] and rows["libx264"]["kind"] == "software"
    assert rows["h264_nvenc"]["kind"] == "hardware" and rows["h264_nvenc"]["hw_api"] == "nvenc"
    assert rows["libx264"]["knob"] == "crf" and rows["libx264"]["knob_range"] == [0, 51]


def test_cli_encoders_for_one_codec(tmp_path):
    env = dict(os.environ, COLUMNS="200")
    res = subprocess.run([sys.executable, "-m", "codeckit", "encoders", "--codec", "av1"], capture_output=True,
                         text=True, env=env)
    assert res.returncode == 0, res.stderr
    assert "libsvtav1" in res.stdout and "av1_nvenc" in res.stdout and "libx264" not in res.stdout
    res = subprocess.run([sys.executable, "-m", "codeckit", "encoders", "--codec", "mpeg7"], capture_output=True,
                         text=True)
    assert res.returncode == 2 and "unknown codec" in res.stderr and "Traceback" not in res.stderr
