"""VMAF measurement: equal to raw ffmpeg libvmaf on known pairs, aligned when the pair differs, clear errors."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from codeckit.errors import FeatureMissing, ProbeError
from codeckit.ffmpeg import ffmpeg_exe, run_ffmpeg
from codeckit.quality import (MODELS, QualityError, QualitySettings, libvmaf_pix_fmt, measure, model_for_size, pool,
                              resolve_model)

CARPHONE_FPS = "30000/1001"


def raw_vmaf(distorted: Path, reference: Path, graph: str, tmp: Path) -> float:
    """What a person would type: ffmpeg -i dist -i ref -lavfi '<graph>libvmaf' -f null -, read from the JSON log."""
    log = tmp / f"raw-{distorted.stem}.json"
    graph = graph.replace("LOG", str(log))
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(distorted),
                    "-i", str(reference), "-lavfi", graph, "-f", "null", "-"], check=True)
    return json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"]


def _derive(src: Path, dst: Path, *args: str) -> Path:
    if not dst.exists():
        run_ffmpeg(["-y", "-i", f"file:{src}", *args, "-an", f"file:{dst}"], loglevel="error")
    return dst


@pytest.fixture(scope="module")
def pairs(carphone_pair, tmp_path_factory):
    """Distorted versions of carphone (176x144, SAR 128:117, 29.97 fps, 4 s), made once."""
    ref, _ = carphone_pair
    d = tmp_path_factory.mktemp("quality")
    x264 = ["-c:v", "libx264", "-preset", "ultrafast"]
    return {
        "small": _derive(ref, d / "small.mp4", "-vf", "scale=88:72", *x264, "-crf", "30"),
        "half_rate": _derive(ref, d / "half.mp4", "-vf", "fps=15000/1001", *x264, "-crf", "26"),
        "square": _derive(ref, d / "square.mp4", "-vf", "scale=192:144,setsar=1", *x264, "-crf", "26"),
        "ten_bit": _derive(ref, d / "ten.mkv", *x264, "-crf", "28", "-pix_fmt", "yuv420p10le"),
        "short": _derive(ref, d / "short.mp4", "-t", "2", *x264, "-crf", "26"),
        "late": _derive(ref, d / "late.mp4", "-ss", "1", *x264, "-crf", "18"),
        # the same pixels twice (lossless), the copy's stream tagged BT.709 (matrix) without touching them
        "lossless": _derive(ref, d / "lossless.mkv", *x264, "-qp", "0"),
        "bt709": _derive(d / "lossless.mkv", d / "bt709.mkv", "-c:v", "copy", "-bsf:v",
                         "h264_metadata=colour_primaries=2:transfer_characteristics=2:matrix_coefficients=1"),
        "dir": d,
    }


def test_carphone_pair_is_sensible_and_equals_raw_libvmaf(carphone_pair, tmp_path):
    ref, dist = carphone_pair
    r = measure(ref, dist)
    raw = raw_vmaf(dist, ref, "[0:v][1:v]libvmaf=log_fmt=json:log_path=LOG", tmp_path)
    assert r.score == pytest.approx(raw, abs=0.01)
    assert 20 < r.score < 60          # a heavily compressed QCIF clip: poor, not zero
    assert r.model == "vmaf_v0.6.1" and r.frames == 120
    a = r.alignment
    assert a.scaled == [] and not a.fps_converted and a.compared_size == (176, 144) and a.pix_fmt == "yuv420p"


def test_pooled_values_are_ordered_and_per_frame_complete(carphone_pair):
    ref, dist = carphone_pair
    r = measure(ref, dist)
    v = r.vmaf
    assert v.min <= v.low_1pct <= v.low_5pct <= v.harmonic_mean <= v.mean <= v.max
    assert len(r.per_frame["vmaf"]) == len(r.frame_numbers) == 120
    assert r.frame_numbers[:3] == [0, 1, 2]
    assert sum(r.per_frame["vmaf"]) / 120 == pytest.approx(v.mean, abs=1e-4)
    rows = r.frame_rows()
    assert rows[0]["frame"] == 0 and "vmaf" in rows[0]


def test_pool_lows_are_means_of_the_worst_frames():
    s = pool("x", list(range(1, 101)))
    assert s.low_1pct == 1 and s.low_5pct == 3 and s.min == 1 and s.max == 100 and s.mean == 50.5
    assert s.harmonic_mean < s.mean


def test_smaller_distorted_is_scaled_bicubic_like_by_hand(carphone_pair, pairs, tmp_path):
    ref, _ = carphone_pair
    r = measure(ref, pairs["small"])
    raw = raw_vmaf(pairs["small"], ref, "[0:v]scale=176:144:flags=bicubic[d];[d][1:v]libvmaf=log_fmt=json:log_path=LOG",
                   tmp_path)
    assert r.score == pytest.approx(raw, abs=0.01)
    assert r.alignment.scaled == ["distorted 88x72 -> 176x144 (bicubic)"]


def test_square_pixel_distorted_of_an_anamorphic_reference_is_compared_at_the_coded_size(carphone_pair, pairs,
                                                                                           tmp_path):
    # carphone is 176x144 at SAR 128:117; a transcode to square pixels at 192x144 shows the same picture.
    ref, _ = carphone_pair
    r = measure(ref, pairs["square"])
    assert r.alignment.compared_size == (176, 144)
    raw = raw_vmaf(pairs["square"], ref, "[0:v]scale=176:144:flags=bicubic[d];[d][1:v]libvmaf=log_fmt=json:log_path=LOG",
                   tmp_path)
    assert r.score == pytest.approx(raw, abs=0.01)
    assert r.score > 80


def test_frame_rate_mismatch_is_resampled_to_the_reference_rate(carphone_pair, pairs, tmp_path):
    ref, _ = carphone_pair
    r = measure(ref, pairs["half_rate"])
    assert r.alignment.fps_converted and r.alignment.distorted_fps == "15000/1001"
    assert r.frames == 120
    raw = raw_vmaf(pairs["half_rate"], ref, f"[0:v]fps={CARPHONE_FPS}[d];[d][1:v]libvmaf=log_fmt=json:log_path=LOG",
                   tmp_path)
    assert r.score == pytest.approx(raw, abs=0.01)


def test_ten_bit_distorted_is_compared_in_ten_bit(carphone_pair, pairs, tmp_path):
    ref, _ = carphone_pair
    r = measure(ref, pairs["ten_bit"])
    assert r.alignment.pix_fmt == "yuv420p10le"
    raw = raw_vmaf(pairs["ten_bit"], ref, "[0:v]format=yuv420p10le[d];[1:v]format=yuv420p10le[r];"
                   "[d][r]libvmaf=ts_sync_mode=nearest:log_fmt=json:log_path=LOG", tmp_path)
    assert r.score == pytest.approx(raw, abs=0.01)
    assert libvmaf_pix_fmt("yuv422p10le", "yuv420p") == "yuv422p10le"
    assert libvmaf_pix_fmt("nv12", "p010le") == "yuv420p10le"


def test_an_untagged_side_takes_the_other_sides_matrix_instead_of_a_conversion(pairs, tmp_path):
    same = measure(pairs["lossless"], pairs["lossless"])
    tagged = measure(pairs["lossless"], pairs["bt709"])
    assert tagged.score == pytest.approx(same.score, abs=0.01)
    assert tagged.alignment.retagged == ["reference matrix unknown -> bt709 (label only)"]
    assert same.alignment.retagged == []
    # FFmpeg on its own converts the untagged side to BT.709 through RGB: the same pixels then score lower
    raw = raw_vmaf(pairs["bt709"], pairs["lossless"], "[0:v][1:v]libvmaf=log_fmt=json:log_path=LOG", tmp_path)
    assert raw < same.score - 1.0


def test_millisecond_timestamps_pair_frame_for_frame(carphone_pair, pairs, tmp_path):
    # The 10-bit distorted is an MKV: 29.97 fps in millisecond timestamps. Frame-exact truth: both
    # decoded to raw YUV and compared frame i to frame i.
    ref, _ = carphone_pair
    yuv = []
    for src in (pairs["ten_bit"], ref):
        out = tmp_path / f"{src.stem}.yuv"
        run_ffmpeg(["-y", "-i", f"file:{src}", "-f", "rawvideo", "-pix_fmt", "yuv420p10le", f"file:{out}"],
                   loglevel="error")
        yuv += ["-f", "rawvideo", "-pix_fmt", "yuv420p10le", "-s", "176x144", "-r", "25", "-i", str(out)]
    log = tmp_path / "truth.json"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", *yuv, "-lavfi",
                    f"[0:v][1:v]libvmaf=log_fmt=json:log_path={log}", "-f", "null", "-"], check=True)
    truth = json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"]
    r = measure(ref, pairs["ten_bit"])
    assert r.frames == 120
    assert r.score == pytest.approx(truth, abs=0.01)


def test_offset_aligns_a_distorted_that_starts_later(carphone_pair, pairs):
    ref, _ = carphone_pair
    with pytest.raises(QualityError):      # 3 s against 4 s
        measure(ref, pairs["late"])
    r = measure(ref, pairs["late"], offset_s=-1.0)   # distorted second 0 is reference second 1
    assert r.score > 85
    assert r.alignment.reference_start_s == 1.0 and r.alignment.distorted_start_s == 0.0


def test_start_and_duration_compare_a_part(carphone_pair):
    ref, dist = carphone_pair
    r = measure(ref, dist, start_s=1.0, duration_s=2.0)
    assert 58 <= r.frames <= 62


def test_subsample_scores_every_nth_frame(carphone_pair):
    ref, dist = carphone_pair
    r = measure(ref, dist, subsample=4)
    assert r.frames == 30 and r.frame_numbers[:2] == [0, 4]


def test_extra_metrics_psnr_ssim_xpsnr(carphone_pair):
    ref, dist = carphone_pair
    r = measure(ref, dist, metrics=("psnr", "ssim", "xpsnr"))
    assert {"vmaf", "psnr_y", "psnr_cb", "psnr_cr", "float_ssim", "xpsnr_y"} <= set(r.metrics)
    assert 20 < r.metrics["psnr_y"].mean < 30
    assert 0.6 < r.metrics["float_ssim"].mean < 0.9
    assert len(r.per_frame["xpsnr_y"]) == 120


def test_models_by_name_and_by_resolution(carphone_pair):
    ref, dist = carphone_pair
    assert model_for_size(3840, 2160).name == "vmaf_4k_v0.6.1"
    assert model_for_size(1920, 1080).name == "vmaf_v0.6.1"
    assert resolve_model("phone") is MODELS["vmaf_v0.6.1_phone"]
    r = measure(ref, dist, model=("vmaf_v0.6.1", "vmaf_v0.6.1neg", "phone"))
    assert set(r.metrics) >= {"vmaf", "vmaf_v0.6.1neg", "vmaf_v0.6.1_phone"}
    # the phone transform raises scores; the NEG model does not reward enhancement
    assert r.metrics["vmaf_v0.6.1_phone"].mean > r.vmaf.mean
    assert r.metrics["vmaf_v0.6.1neg"].mean <= r.vmaf.mean + 0.01
    assert measure(ref, dist, model="vmaf_4k_v0.6.1").model == "vmaf_4k_v0.6.1"


def test_scale_to_model_size(carphone_pair):
    ref, dist = carphone_pair
    r = measure(ref, dist, scale="model", subsample=10)
    assert r.alignment.compared_size[1] == 1080


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity (Linux)")
def test_libvmaf_threads_follow_the_cpus_this_process_may_use(carphone_pair):
    ref, dist = carphone_pair
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})
    try:
        r = measure(ref, dist, subsample=10)
    finally:
        os.sched_setaffinity(0, allowed)
    assert "n_threads=1" in " ".join(r.command)


def test_different_durations_fail_naming_the_file(carphone_pair, pairs):
    ref, _ = carphone_pair
    with pytest.raises(QualityError) as exc:
        measure(ref, pairs["short"])
    assert str(pairs["short"]) in str(exc.value) and "lasts" in str(exc.value)


def test_missing_file_fails_naming_it(carphone_pair, tmp_path):
    ref, _ = carphone_pair
    missing = tmp_path / "nope.mp4"
    with pytest.raises(ProbeError) as exc:
        measure(ref, missing)
    assert str(missing) in str(exc.value)
    with pytest.raises(ProbeError):
        measure(missing, ref)


def test_audio_only_file_fails_naming_it(carphone_pair, clips):
    ref, _ = carphone_pair
    with pytest.raises(QualityError) as exc:
        measure(ref, clips.audio_only)
    assert str(clips.audio_only) in str(exc.value) and "no video" in str(exc.value)


def test_a_name_that_looks_like_an_option_is_a_file(carphone_pair, tmp_path):
    ref, dist = carphone_pair
    odd = tmp_path / "-i x.mp4"
    odd.write_bytes(dist.read_bytes())
    assert measure(ref, odd).score == pytest.approx(measure(ref, dist).score, abs=1e-6)


def test_build_without_libvmaf_fails_naming_the_binary(carphone_pair, tmp_path, monkeypatch):
    ref, dist = carphone_pair
    fake = tmp_path / "ffmpeg-novmaf"
    fake.write_text(f'#!/bin/sh\nif [ "$2" = "-filters" ]; then "{ffmpeg_exe()}" "$@" | grep -v libvmaf; '
                    f'else exec "{ffmpeg_exe()}" "$@"; fi\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CODECKIT_FFMPEG", str(fake))
    with pytest.raises(FeatureMissing) as exc:
        measure(ref, dist)
    assert str(fake) in str(exc.value) and "libvmaf" in str(exc.value)


def test_bad_settings_are_config_errors():
    from codeckit.errors import ConfigError
    with pytest.raises(ConfigError):
        QualitySettings(metrics=("vmafish",))
    with pytest.raises(ConfigError):
        QualitySettings(scale="display")
    with pytest.raises(ConfigError):
        resolve_model("vmaf_v9")


# ---------------------------------------------------------------- CLI


def _cli(*args: str):
    from codeckit.cli import _register, cli
    _register()
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, standalone_mode=False)


def test_cli_json_and_csv(carphone_pair, pairs):
    ref, dist = carphone_pair
    res = _cli("quality", str(ref), str(dist), str(pairs["small"]), "--json", "--psnr")
    assert res.return_value == 0, res.output
    data = json.loads(res.output)
    assert [round(r["vmaf"], 2) for r in data["results"]][0] == pytest.approx(34.69, abs=0.01)
    assert "psnr_y" in data["results"][0]["metrics"] and data["errors"] == []
    res = _cli("quality", str(ref), str(dist), "--csv", "--subsample", "10")
    lines = res.output.strip().splitlines()
    assert lines[0] == "distorted,frame,vmaf" and len(lines) == 13


def test_cli_keeps_going_and_exits_1_when_one_distorted_fails(carphone_pair, pairs):
    ref, dist = carphone_pair
    res = _cli("quality", str(ref), str(pairs["short"]), str(dist), "--json")
    assert res.return_value == 1
    data = json.loads(res.stdout)
    assert len(data["results"]) == 1 and data["errors"][0]["path"] == str(pairs["short"])


def test_cli_missing_reference_is_one_red_line_and_exit_2(carphone_pair, tmp_path):
    _, dist = carphone_pair
    proc = subprocess.run([sys.executable, "-m", "codeckit", "quality", str(tmp_path / "gone.mp4"), str(dist)],
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 2
    assert "gone.mp4" in proc.stderr and "no such file" in proc.stderr
