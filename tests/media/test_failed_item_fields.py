"""A failed item reads the same in every command's `--json` (and in compare's report.json, normalize's
rejects.jsonl): the error's fields `code`, `message`, `path`, `hint`, `type`, as the error document of a command
that stopped holds them (codeckit.errors.error_fields), beside each command's own keys. Real CLI runs on a file
that is not media (fails when probed) and a file that does not exist (fails in the walk)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from codeckit.demo_media import lavfi_clip

FIELDS = ("code", "message", "path", "hint", "type")


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codeckit", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("failed-fields")
    (d / "bad.mp4").write_bytes(b"not a video at all")
    return {"clip": lavfi_clip(d / "tiny.mp4", size="160x120", rate="24", duration=0.5),
            "bad": d / "bad.mp4", "gone": d / "gone.mp4"}


def _check(item: dict, path, code: str, kind: str) -> None:
    assert set(FIELDS) <= set(item), item
    assert (item["code"], item["type"], item["path"]) == (code, kind, str(path)), item
    assert item["message"] and str(path) not in item["message"], item   # the message, the path apart


EXTRA = {"transcode": ["-p", "web-h264", "-j", "1"],
         "package": ["--rungs", "1", "--speed", "fastest", "--encoder", "software"],
         "compare": ["--encoders", "libx264:fastest", "--points", "2"]}


@pytest.mark.parametrize("cmd", sorted(EXTRA))
def test_a_batch_commands_failed_items_carry_the_error_fields(cmd, inputs, tmp_path):
    # before: transcode's items had `code`, package's `error_type` (a class name, or a code for a walk error),
    # compare's failures[] only `error` (text), none had the error's `path`, `hint` or `type`
    r = _cli(cmd, inputs["bad"], inputs["gone"], "-o", tmp_path / "out", *EXTRA[cmd], "--json")
    assert r.returncode == 1, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    doc = json.loads(r.stdout)
    if cmd == "compare":
        failed = {f["source"]: f for f in doc["failures"]}
        on_disk = json.loads((tmp_path / "out" / "report.json").read_text())
        assert on_disk["failures"] == doc["failures"]
        assert all(f["error"] for f in failed.values())           # the keys users read are still there
    else:
        failed = {i["source"]: i for i in doc["items"] if i["state"] == "failed"}
        assert all(i["reason"] for i in failed.values())
    assert set(failed) == {str(inputs["bad"]), str(inputs["gone"])}, failed
    _check(failed[str(inputs["bad"])], inputs["bad"], "not_media", "ProbeError")
    _check(failed[str(inputs["gone"])], inputs["gone"], "not_found", "SourceError")


@pytest.mark.parametrize("cmd", ["probe", "quality"])
def test_probe_and_quality_errors_carry_the_error_fields(cmd, inputs):
    # before: {"path", "error"} only
    r = _cli(cmd, inputs["clip"], inputs["bad"], "--json")     # quality: the clip is the reference
    assert r.returncode == 1, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    (err,) = json.loads(r.stdout)["errors"]
    assert err["error"] and err["path"] == str(inputs["bad"])
    _check(err, inputs["bad"], "not_media", "ProbeError")


def test_normalize_failed_and_unreadable_sources_carry_the_error_fields(inputs, tmp_path):
    # a 1.5 s source whose clip cannot be written (OUT/clips is a file): a failed source; a missing one: unreadable
    src = lavfi_clip(tmp_path / "long.mp4", size="160x120", rate="24", duration=1.5)
    out = tmp_path / "out"
    out.mkdir()
    (out / "clips").write_text("in the way")
    r = _cli("normalize", src, inputs["gone"], "-o", out, "--json")
    assert r.returncode == 1, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    (failure,) = json.loads(r.stdout)["failures"]
    assert failure["source_path"] == str(src) and failure["error"]
    assert set(FIELDS) <= set(failure) and (failure["path"], failure["type"]) == (str(src), "CodeckitError"), failure
    rejects = {r["source_path"]: r for r in map(json.loads, (out / "rejects.jsonl").read_text().splitlines())}
    assert {k: rejects[str(k)]["reason"] for k in (src, inputs["gone"])} == {src: "error", inputs["gone"]:
                                                                                 "unreadable"}
    assert {k: v for k, v in rejects[str(src)].items() if k in FIELDS} == {k: failure[k] for k in FIELDS}
    _check(rejects[str(inputs["gone"])], inputs["gone"], "not_found", "SourceError")
