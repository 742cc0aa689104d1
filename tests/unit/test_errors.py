"""Errors as data (reason codes and fields, not text to parse), warnings through logging, atomic writes."""
from __future__ import annotations

import json
import logging
import pickle
import stat

import pytest

from codeckit import errors
from codeckit.errors import CodeckitError, FFmpegError, ProbeError, UnsafeInput
from codeckit.ffmpeg import check_local_input
from codeckit.fileio import atomic_open, atomic_path, atomic_write_bytes, atomic_write_text


# ---------------------------------------------------------------- error classes and fields

def test_every_error_class_lives_in_errors_and_stays_importable_from_its_old_module():
    from codeckit.batch import JournalBusy
    from codeckit.plan import PlanError
    from codeckit.quality import QualityError
    from codeckit.verify import VerifyError
    assert (PlanError, VerifyError, QualityError, JournalBusy) == \
        (errors.PlanError, errors.VerifyError, errors.QualityError, errors.JournalBusy)
    for cls in (PlanError, VerifyError, QualityError, JournalBusy):
        assert cls.__module__ == "codeckit.errors" and issubclass(cls, CodeckitError)


def test_each_class_has_a_snake_case_reason_code_and_a_raise_may_name_its_own():
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, CodeckitError)]
    codes = [c.code for c in classes]
    assert all(code.isidentifier() and code == code.lower() for code in codes)
    assert len(set(codes)) == len(codes), "one code per class"
    assert errors.ConfigError("bad").code == "config_error"
    assert ProbeError("empty file", code="empty").code == "empty"
    assert ProbeError("empty file").code == "not_media"


def test_to_dict_carries_the_fields_and_the_message_stays_the_same():
    err = errors.VerifyError("duration differs", path="/out/a.mp4", hint="encode it again", stderr_tail="x")
    assert str(err) == "/out/a.mp4: duration differs (encode it again)"
    assert err.to_dict() == {"error": "VerifyError", "code": "verify_failed", "message": "duration differs",
                             "path": "/out/a.mp4", "hint": "encode it again"}
    json.dumps(err.to_dict())


def test_fields_survive_pickling_as_between_batch_worker_processes():
    err = FFmpegError("FFmpeg failed: x", path="/a.mp4", stderr_tail="tail", detail="x", returncode=1,
                      code="ffmpeg_failed")
    back = pickle.loads(pickle.dumps(err))
    assert (type(back), str(back), back.to_dict(), back.stderr_tail) == \
        (FFmpegError, str(err), err.to_dict(), "tail")
    custom = pickle.loads(pickle.dumps(ProbeError("empty", path="/e.mp4", code="empty")))
    assert custom.code == "empty" and custom.path == "/e.mp4"


# ---------------------------------------------------------------- FFmpeg failures as fields


def test_inputs_refused_before_ffmpeg_say_why_in_the_code(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "list.m3u8").write_text("#EXTM3U\nhttp://example.com/a.ts\n")
    (tmp_path / "folder.mp4").mkdir()
    cases = {"missing.mp4": "no_such_file", "empty.mp4": "empty", "folder.mp4": "not_a_file",
             "list.m3u8": "unsafe_input"}
    for name, code in cases.items():
        with pytest.raises(ProbeError) as err:
            check_local_input(tmp_path / name)
        assert err.value.code == code, name
    assert isinstance(err.value, UnsafeInput)


# ---------------------------------------------------------------- atomic writes

def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


def test_atomic_write_text_and_bytes_create_the_folder_and_leave_only_the_file(tmp_path):
    atomic_write_text(tmp_path / "a" / "b.json", "{}\n")
    atomic_write_bytes(tmp_path / "a" / "c.bin", b"\0\1")
    assert (tmp_path / "a" / "b.json").read_text() == "{}\n"
    assert (tmp_path / "a" / "c.bin").read_bytes() == b"\0\1"
    assert _leftovers(tmp_path / "a") == ["b.json", "c.bin"]


def test_a_failure_mid_write_leaves_no_file_and_no_temp_file(tmp_path):
    target = tmp_path / "manifest.jsonl"
    with pytest.raises(RuntimeError):
        with atomic_open(target) as fh:
            fh.write('{"id": 1}\n')
            raise RuntimeError("disk gone")
    assert _leftovers(tmp_path) == []


def test_a_failure_mid_write_keeps_the_old_file_whole(tmp_path):
    target = tmp_path / "cache.json"
    atomic_write_text(target, "old")
    with pytest.raises(ValueError):
        with atomic_path(target) as tmp:
            tmp.write_text("half of the ne")
            raise ValueError("serialiser failed")
    assert target.read_text() == "old" and _leftovers(tmp_path) == ["cache.json"]


def test_an_atomic_file_gets_the_permissions_a_plain_open_would(tmp_path):
    atomic_write_text(tmp_path / "atomic", "x")
    (tmp_path / "plain").write_text("x")
    mode = stat.S_IMODE
    assert mode((tmp_path / "atomic").stat().st_mode) == mode((tmp_path / "plain").stat().st_mode)


def test_atomic_open_only_writes_whole_files(tmp_path):
    with pytest.raises(ValueError):
        with atomic_open(tmp_path / "x", "a"):
            pass
    assert _leftovers(tmp_path) == []


# ---------------------------------------------------------------- warnings through logging


@pytest.fixture
def cli_logging():
    from codeckit.cli.common import RichLogHandler, install_log_handler
    logger = logging.getLogger("codeckit")
    level = logger.level
    yield install_log_handler
    for h in [h for h in logger.handlers if isinstance(h, RichLogHandler)]:
        logger.removeHandler(h)
    logger.setLevel(level)


def test_info_messages_show_only_with_verbose_and_once(cli_logging, capsys):
    log = logging.getLogger("codeckit.test")
    cli_logging(verbose=False)
    log.info("read 3 sidecars")
    log.warning("skipped [odd] name")
    assert capsys.readouterr().err == "warning: skipped [odd] name\n"
    cli_logging(verbose=True)
    cli_logging(verbose=True)
    log.info("read 3 sidecars")
    assert capsys.readouterr().err == "info: read 3 sidecars\n"


# ---------------------------------------------------------------- errors as the command line shows them

def _codeckit(*args: str):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "codeckit", *args], capture_output=True, text=True, timeout=60)


def test_messages_and_paths_with_brackets_print_as_they_are(tmp_path):
    # rich markup ate "[package]" and "[x]": the message named no section, the path another folder
    folder = tmp_path / "take[x]"
    folder.mkdir()
    run = _codeckit("probe", str(folder / "missing.mp4"))
    assert run.returncode == 1
    assert f"{folder}/missing.mp4: no such file" in run.stderr
    run = _codeckit("package", str(folder / "missing.mp4"), "-o", str(tmp_path / "out"), "--formats", "hls,x")
    assert run.returncode == 2
    assert "error: [package] formats = 'hls,x' is not allowed (allowed: hls, dash, or hls,dash)" in run.stderr


@pytest.mark.parametrize("option, value, field", [("--speed", "veryfast", "speed"), ("--encoder", "nope", "prefer")])
def test_package_refuses_a_bad_speed_or_encoder_before_any_work(tmp_path, option, value, field):
    # these were checked per source: every source failed with the same message, exit 1
    src = tmp_path / "a.mp4"
    src.write_bytes(b"not read")
    run = _codeckit("package", str(src), "-o", str(tmp_path / "out"), option, value)
    assert run.returncode == 2, run.stderr
    assert f"error: [package] {field} = '{value}' is not allowed (allowed: " in run.stderr
    assert not (tmp_path / "out").exists()


def test_package_options_take_a_speed_by_number_and_an_encoder_by_name():
    from codeckit.package import PackageOptions
    assert PackageOptions(speed=4).speed == "fast"
    assert PackageOptions(prefer="Software").prefer == "software"
    assert PackageOptions(prefer="libx264").prefer == "libx264"
    with pytest.raises(errors.ConfigError) as err:
        PackageOptions(speed="warp")
    assert err.value.code == "invalid_value"
