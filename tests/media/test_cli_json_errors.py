"""`--json` prints exactly one JSON document on stdout in every outcome, an error that stops a command before any
work (exit 2) included: `{"schema_version": 1, "error": {"code", "message", "path", "hint", "type"}}`, with the
same line as without --json on stderr. Real CLI runs, one per case; every command is covered."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from codeckit.cli import COMMANDS
from codeckit.demo_media import lavfi_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return lavfi_clip(tmp_path_factory.mktemp("json-errors") / "tiny.mp4", size="160x120", rate="24",
                      duration=0.5)


USAGE = "usage_error"
# (command, its arguments, the expected code, the expected error class); CLIP: a 0.5 s clip, OUT: a folder that
# does not exist yet, MISSING: a file that does not exist, BLOCKED: an output folder under a file (not writable)
CASES = [
    ("probe", [], USAGE, "MissingParameter"),
    ("probe", ["CLIP", "--no-such-option"], USAGE, "NoSuchOption"),
    ("encoders", ["--codec", "mpeg7"], "config_error", "ConfigError"),
    ("profiles", ["no-such-profile"], "unknown_profile", "ConfigError"),
    ("profiles", ["web-h264", "--set", "video.quality=banana"], "invalid_value", "ConfigError"),
    ("transcode", ["CLIP", "-o", "OUT", "-p", "no-such-profile"], "unknown_profile", "ConfigError"),
    ("transcode", ["CLIP", "-o", "OUT", "-p", "web-h264", "--jobs", "x"], USAGE, "BadParameter"),
    ("transcode", ["CLIP", "-o", "BLOCKED", "-p", "web-h264"], "output_not_writable", "CodeckitError"),
    ("quality", ["MISSING", "CLIP"], "no_such_file", "ProbeError"),
    ("quality", ["CLIP", "CLIP", "--csv"], USAGE, "UsageError"),
    ("search", ["CLIP", "--target-vmaf", "93", "--encoder", "mpeg7"], "config_error", "ConfigError"),
    ("search", ["CLIP"], USAGE, "MissingParameter"),
    ("normalize", ["CLIP", "-o", "OUT", "--profile", "no-such-profile"], "unknown_profile", "ConfigError"),
    ("normalize", ["CLIP", "-o", "OUT", "--shard-size", "lots"], "bad_option", "ConfigError"),
    ("normalize", ["CLIP", "-o", "BLOCKED"], "output_not_writable", "CodeckitError"),
    ("package", ["CLIP", "-o", "OUT", "--ladder", "no-such-ladder"], "config_error", "ConfigError"),
    ("package", ["CLIP"], USAGE, "UsageError"),
    ("package", ["CLIP", "-o", "BLOCKED"], "output_not_writable", "CodeckitError"),
    ("compare", ["CLIP", "-o", "OUT", "--encoders", "mpeg7"], "bad_option", "ConfigError"),
    ("compare", ["CLIP", "-o", "OUT", "--vmaf-range", "high"], USAGE, "BadParameter"),
    ("compare", ["CLIP", "-o", "BLOCKED"], "output_not_writable", "CodeckitError"),
]


def _ids(case) -> str:
    return f"{case[0]}-{case[3] or 'any'}-{'-'.join(a.lstrip('-') for a in case[1][-2:]) or 'noargs'}"


def test_every_command_has_a_case():
    assert {c[0] for c in CASES} == set(COMMANDS)


@pytest.mark.parametrize("command,args,code,kind", CASES, ids=[_ids(c) for c in CASES])
def test_an_error_before_any_work_prints_one_json_document(command, args, code, kind, clip, tmp_path):
    subst = {"CLIP": str(clip), "OUT": str(tmp_path / "out"), "MISSING": str(tmp_path / "gone.mp4"),
             "BLOCKED": str(clip / "out")}
    argv = [sys.executable, "-m", "codeckit", command, *(subst.get(a, a) for a in args), "--json"]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    doc = json.loads(res.stdout)            # the whole of stdout is one document
    assert doc["schema_version"] == 1 and set(doc) == {"schema_version", "error"}
    err = doc["error"]
    assert {"code", "message", "path", "hint", "type"} <= set(err)
    assert err["code"] and err["code"].isidentifier() and err["message"]
    if code is not None:
        assert err["code"] == code
    if kind is not None:
        assert err["type"] == kind
    for name in ("MISSING", "BLOCKED"):
        if name in args:
            assert err["path"] == subst[name]
    # stderr keeps the line it had without --json: ours ("error: ...") or click's ("Error: ...")
    if err["code"] == USAGE:
        assert f"Error: {err['message']}" in res.stderr and err["hint"] == f"see codeckit {command} --help"
    else:
        assert res.stderr.startswith("error: ") and err["message"] in res.stderr
    if err["code"] == USAGE:   # click stopped it before the command ran: nothing written
        assert not (tmp_path / "out").exists()


def test_without_json_stdout_stays_empty(clip, tmp_path):
    res = subprocess.run([sys.executable, "-m", "codeckit", "transcode", str(clip), "-o", str(tmp_path / "o"),
                          "-p", "no-such-profile"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.startswith("error: unknown profile 'no-such-profile' (known profiles: ")


def test_an_unknown_command_with_json_gets_a_document_too():
    res = subprocess.run([sys.executable, "-m", "codeckit", "no-such-command", "--json"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 2
    err = json.loads(res.stdout)["error"]
    assert (err["code"], err["type"], err["hint"]) == (USAGE, "NoSuchCommand", "see codeckit --help")
