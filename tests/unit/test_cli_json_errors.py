"""The --json error document: built in one place (cli.common.error_document) from the error's fields."""
from __future__ import annotations

import json

import click
import pytest

from codeckit.cli import _interrupted, common, wants_json
from codeckit.errors import ConfigError, FFmpegError


@pytest.fixture(autouse=True)
def _fresh():
    common.json_printed = False
    yield
    common.json_printed = False


def test_a_codeckit_error_gives_its_fields():
    doc = common.error_document(ConfigError("unknown profile 'x'", hint="known: a, b", code="unknown_profile",
                                            path="p.toml"))
    assert doc == {"schema_version": 1, "error": {"code": "unknown_profile", "message": "unknown profile 'x'",
                                                  "path": "p.toml", "hint": "known: a, b", "type": "ConfigError"}}


def test_an_ffmpeg_error_adds_its_own_fields():
    err = common.error_document(FFmpegError("FFmpeg failed", detail="[libx264] bad", returncode=1))["error"]
    assert (err["code"], err["detail"], err["returncode"], err["type"]) == \
        ("ffmpeg_failed", "[libx264] bad", 1, "FFmpegError")


def test_a_click_usage_error_is_usage_error_with_the_help_hint():
    ctx = click.Context(click.Command("transcode"), info_name="transcode", parent=click.Context(
        click.Group("codeckit"), info_name="codeckit"))
    err = common.error_document(click.BadParameter("use a whole number", ctx=ctx))["error"]
    assert (err["code"], err["type"], err["hint"], err["path"]) == \
        ("usage_error", "BadParameter", "see codeckit transcode --help", None)
    assert err["message"] == "Invalid value: use a whole number"
    other = common.error_document(click.ClickException("cannot open"))["error"]
    assert (other["code"], other["hint"]) == ("cli_error", None)


def test_report_error_keeps_stderr_and_prints_one_document(capsys):
    common.report_error(ConfigError("bad", code="bad_option"), as_json=True)
    out, err = capsys.readouterr()
    assert json.loads(out)["error"]["code"] == "bad_option"
    assert "error: bad" in err
    common.report_error(ConfigError("bad"), as_json=False)
    assert capsys.readouterr().out == ""


def test_no_second_document_after_the_command_printed_its_own(capsys):
    common.print_json({"summary": {}})
    common.report_error(ConfigError("late"), as_json=True)
    assert json.loads(capsys.readouterr().out) == {"summary": {}}


def test_an_escaped_interrupt_is_a_document_too(capsys, monkeypatch):
    monkeypatch.setattr(common, "stopped_by", 15)
    assert _interrupted(as_json=True) == 143
    err = json.loads(capsys.readouterr().out)["error"]
    assert (err["code"], err["message"]) == ("interrupted", "stopped by SIGTERM")
    monkeypatch.setattr(common, "stopped_by", None)
    assert _interrupted(as_json=False) == 130 and capsys.readouterr().out == ""


def test_json_is_asked_for_before_any_double_dash():
    assert wants_json(["probe", "--json", "a.mp4"])
    assert not wants_json(["probe", "a.mp4"])
    assert not wants_json(["probe", "--", "--json"])
