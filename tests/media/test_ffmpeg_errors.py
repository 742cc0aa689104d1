"""Errors of real FFmpeg runs as data: FFmpeg's first line and exit status, timeouts, the CLI's one-line warnings."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from codeckit import errors
from codeckit.codecs.capability import CACHE_ENV, cache_path
from codeckit.errors import FFmpegError, FFmpegTimeout, failure_line
from codeckit.ffmpeg import build_info, input_args, run_ffmpeg


# ---------------------------------------------------------------- error classes and fields


def test_a_failed_run_keeps_ffmpegs_first_error_line_and_exit_status(tmp_path):
    missing = tmp_path / "missing.mp4"
    with pytest.raises(FFmpegError) as err:
        run_ffmpeg([*input_args(missing), "-f", "null", "-"], subject=missing)
    exc = err.value
    assert type(exc) is FFmpegError and exc.code == "ffmpeg_failed"
    assert exc.returncode and exc.returncode > 0
    assert "No such file" in exc.detail and not exc.detail.startswith("FFmpeg failed")
    assert exc.message == f"FFmpeg failed: {exc.detail}"
    assert exc.to_dict()["detail"] == exc.detail and exc.to_dict()["returncode"] == exc.returncode


def test_a_run_address_is_not_part_of_the_detail():
    # FFmpeg prefixes the line with "[Parsed_crop_0 @ 0x55...]", an address that changes every run
    with pytest.raises(FFmpegError) as err:
        run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x64:rate=25", "-frames:v", "1", "-vf", "crop=1000:1000",
                    "-f", "null", "-"])
    assert err.value.detail.startswith("[Parsed_crop_0] Invalid too big")
    assert " @ 0x" in err.value.stderr_tail


def test_a_timeout_is_its_own_code():
    with pytest.raises(FFmpegTimeout) as err:
        run_ffmpeg(["-re", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=25", "-f", "null", "-"],
                   subject="endless", timeout=0.5)
    assert err.value.code == "timeout" and err.value.returncode != 0
    assert err.value.message == "FFmpeg stopped after the 0.5 s timeout"


def test_the_failure_line_is_ffmpegs_own_line_without_our_prefix(tmp_path):
    with pytest.raises(FFmpegError) as err:
        run_ffmpeg([*input_args(tmp_path / "gone.mp4"), "-f", "null", "-"])
    assert failure_line(err.value) == err.value.detail
    timeout = FFmpegTimeout("FFmpeg stopped after the 60 s timeout", detail="[x] last words", returncode=-9)
    assert failure_line(timeout) == timeout.message
    assert failure_line(errors.FFmpegNotFound("cannot run FFmpeg")) == "cannot run FFmpeg"


def test_the_cli_shows_a_library_warning_as_one_line_on_stderr(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    path = cache_path(build_info())
    path.write_text("{not json")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    res = subprocess.run([sys.executable, "-m", "codeckit", "encoders", "--json"], capture_output=True,
                         text=True, env=env)
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if "encoder cache" in ln]
    assert len(lines) == 1 and lines[0].startswith("warning: ignoring unreadable encoder cache")
    assert str(path) in lines[0]
    json.loads(res.stdout)  # the warning stays out of --json output
    assert json.loads(path.read_text())["implementations"], "the cache was rewritten whole"
