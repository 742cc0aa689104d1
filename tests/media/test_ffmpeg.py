"""The FFmpeg runner and provisioning: real binary, real runs, real failures."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codeckit.errors import FeatureMissing, FFmpegError, FFmpegNotFound, FFmpegTimeout
from codeckit.ffmpeg import FFMPEG_ENV, build_info, ffmpeg_exe, input_args, input_url, run_ffmpeg
from codeckit.probe import probe

from tests.conftest import copy_as


@pytest.fixture
def env(monkeypatch):
    return monkeypatch


def test_default_binary_is_imageio_ffmpegs_and_has_the_stack_we_need(env):
    env.delenv(FFMPEG_ENV, raising=False)
    import imageio_ffmpeg
    assert ffmpeg_exe() == imageio_ffmpeg.get_ffmpeg_exe()
    build = build_info()
    for enc in ("libx264", "libx265", "libsvtav1", "libaom-av1", "libvpx-vp9", "aac"):
        assert build.has_encoder(enc), enc
    assert build.has_filter("libvmaf") and build.has_filter("psnr") and build.has_filter("ssim")


def test_env_var_points_at_another_binary(env, tmp_path, ffmpeg_path):
    link = tmp_path / "my-ffmpeg"
    link.symlink_to(ffmpeg_path)
    env.setenv(FFMPEG_ENV, str(link))
    assert ffmpeg_exe() == str(link)
    assert build_info().path == str(link)


def test_env_var_to_a_missing_binary_is_a_clear_error(env, tmp_path):
    env.setenv(FFMPEG_ENV, str(tmp_path / "no-such-ffmpeg"))
    with pytest.raises(FFmpegNotFound, match=FFMPEG_ENV):
        ffmpeg_exe()


def test_env_var_to_something_that_is_not_ffmpeg(env):
    env.setenv(FFMPEG_ENV, "/bin/true")
    with pytest.raises(FFmpegNotFound, match="does not look like FFmpeg"):
        build_info()


def test_cli_reports_a_bad_binary_in_one_line_without_traceback(tmp_path):
    env = dict(os.environ, **{FFMPEG_ENV: str(tmp_path / "gone")})
    res = subprocess.run([sys.executable, "-m", "codeckit", "encoders"], capture_output=True, text=True, env=env)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert FFMPEG_ENV in res.stderr and "gone" in res.stderr


def test_missing_encoder_or_filter_names_the_binary_and_the_way_out():
    build = build_info()
    with pytest.raises(FeatureMissing) as err:
        build.require_encoder("libnonexistent")
    assert "libnonexistent" in str(err.value) and build.path in str(err.value) and FFMPEG_ENV in str(err.value)
    with pytest.raises(FeatureMissing, match="libvmaf"):
        build.require_filter("libvmaf_nonexistent", "libvmaf")
    build.require_encoder("libx264")
    build.require_filter("libvmaf")


def test_failure_names_the_input_and_keeps_ffmpegs_stderr(tmp_path):
    missing = tmp_path / "missing.mp4"
    with pytest.raises(FFmpegError) as err:
        run_ffmpeg([*input_args(missing), "-f", "null", "-"], subject=missing)
    assert str(missing) in str(err.value)
    assert "No such file" in str(err.value)
    assert err.value.stderr_tail and "missing.mp4" in err.value.stderr_tail


def test_progress_is_reported_until_the_end(clips):
    updates = []
    res = run_ffmpeg([*input_args(clips.plain), "-c:v", "libx264", "-preset", "ultrafast", "-f", "null", "-"],
                     on_progress=updates.append, duration_s=1.0)
    assert updates and updates[-1].done
    assert updates[-1].frame == 25
    assert updates[-1].fraction == pytest.approx(1.0, abs=0.1)
    times = [u.out_time_s for u in updates]
    assert times == sorted(times)
    assert res.cpu_s > 0 and res.wall_s > 0


def test_timeout_stops_a_run_that_would_never_end():
    start = time.monotonic()
    with pytest.raises(FFmpegTimeout, match="timeout"):
        run_ffmpeg(["-re", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=25", "-f", "null", "-"],
                   subject="endless", timeout=1.5)
    assert time.monotonic() - start < 10


def test_file_names_with_dash_spaces_and_unicode_go_in_and_out(tmp_path, clips):
    src = copy_as(clips.plain, tmp_path / "-input é 日本.mp4")
    out = tmp_path / "-output ü.mkv"
    run_ffmpeg([*input_args(src), "-c", "copy", input_url(out)], subject=src)
    assert out.is_file()
    assert probe(out).primary_video.frame_count == 25   # Matroska: estimated from the duration
    assert not (tmp_path / "output ü.mkv").exists()


def test_inputs_may_not_reach_out_through_other_protocols(tmp_path, clips):
    # an HLS playlist naming a URL: the file protocol whitelist stops FFmpeg from following it
    m3u8 = tmp_path / "remote.m3u8"
    m3u8.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\nhttp://127.0.0.1:9/seg.ts\n#EXT-X-ENDLIST\n")
    with pytest.raises(FFmpegError):
        run_ffmpeg([*input_args(m3u8), "-f", "null", "-"], subject=m3u8, timeout=20)


def test_ffmpeg_dies_with_the_process_that_started_it(tmp_path):
    """kill -9 of the Python process that runs FFmpeg kills FFmpeg too (the death signal, set by setpriv or a
    preexec function): no encoder left writing into an output folder after its run died."""
    script = ("import sys; from codeckit.ffmpeg import run_ffmpeg; "
              "run_ffmpeg(['-re', '-f', 'lavfi', '-i', 'testsrc2=size=64x64:rate=5:duration=60', '-f', 'null', '-'])")
    parent = subprocess.Popen([sys.executable, "-c", script], env=dict(os.environ))
    deadline = time.monotonic() + 20
    child = None
    while time.monotonic() < deadline and child is None:
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    if Path(f"/proc/{pid}/stat").read_text().split()[3] == str(parent.pid) and \
                            b"testsrc2" in Path(f"/proc/{pid}/cmdline").read_bytes():
                        child = int(pid)
                except OSError:
                    pass
        time.sleep(0.1)
    assert child is not None, "FFmpeg did not start"
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and Path(f"/proc/{child}").exists():
        try:
            if Path(f"/proc/{child}/stat").read_text().split()[2] == "Z":
                break
        except OSError:
            break
        time.sleep(0.05)
    alive = Path(f"/proc/{child}").exists() and Path(f"/proc/{child}/stat").read_text().split()[2] != "Z"
    assert not alive, "FFmpeg outlived the process that started it"
