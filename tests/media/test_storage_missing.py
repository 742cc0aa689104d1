"""A source URL under which there is nothing to read, against the real S3 server (SeaweedFS on 127.0.0.1): one
message and one exit code in every command. The message names the URL as the user wrote it (never a scratch
copy's path) and says why; the batch goes on with its other sources; a prefix that exists but holds no video
is a warning, as an empty folder is nothing to do; commands that read local files only refuse a URL (exit 2)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SCRATCH = "codeckit-scratch"


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "codeckit", *map(str, args)], capture_output=True, text=True,
                          env=dict(os.environ), timeout=timeout)


@pytest.fixture(scope="module")
def odd(s3, s3_sources):
    """URLs of each situation: (missing object, missing prefix, missing bucket, empty folder, prefix of
    non-video objects, a good object)."""
    fs = s3.fs()
    s3.bucket("src")
    fs.pipe_file("src/empty-folder/", b"")            # a folder made in a console: a marker object, nothing in it
    fs.pipe_file("src/docs/notes.txt", b"not video")
    fs.pipe_file("src/docs/readme.md", b"# not video")
    return {"object": "s3://src/nothere.mp4", "prefix": "s3://src/no/such/prefix/",
            "bucket": "s3://no-such-bucket-h15/in/", "empty": "s3://src/empty-folder/", "docs": "s3://src/docs/",
            "good": f"{s3_sources}/a.mp4"}


WHY = {"object": ("not_found", "no such object"), "prefix": ("not_found", "no such prefix"),
       "bucket": ("bucket_missing", "does not exist")}


def _batch(cmd: str, odd: dict, out) -> subprocess.CompletedProcess:
    extra = {"transcode": ["-p", "web-h264", "-j", "1"],
             "compare": ["--encoders", "libx264:fastest", "--points", "2"],
             "package": ["--rungs", "1", "--speed", "fastest", "--encoder", "software"]}[cmd]
    return _cli(cmd, *odd.values(), "-o", out, *extra, "--json")


def _failures(cmd: str, doc: dict) -> dict[str, tuple[str | None, str]]:
    if cmd == "compare":
        return {f["source"]: (f.get("code"), f["error"]) for f in doc["failures"]}
    return {i["source"]: (i.get("code", i.get("error_type")), i["reason"]) for i in doc["items"]
            if i["state"] == "failed"}


@pytest.mark.parametrize("cmd", ["transcode", "compare", "package"])
def test_a_source_url_with_nothing_there_is_one_failed_item_named_by_its_url(cmd, odd, tmp_path):
    # before: "no such file" (about a local scratch path in compare and package, the prefix's trailing '/'
    # dropped), a missing source bucket stopped every command before any work (exit 2), and a folder made in
    # a console stopped compare and package (exit 2, "no such object: s3://src/empty-folder/")
    r = _batch(cmd, odd, tmp_path / "out")
    assert r.returncode == 1, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    doc = json.loads(r.stdout)
    failed = _failures(cmd, doc)
    assert set(failed) == {odd[k] for k in WHY}, failed
    for kind, (code, words) in WHY.items():
        got_code, reason = failed[odd[kind]]
        assert words in reason and (cmd == "compare" or got_code == code), (kind, failed[odd[kind]])
    assert SCRATCH not in json.dumps(_failures(cmd, doc)) and SCRATCH not in r.stderr, r.stderr
    # the good source was done; the empty folder and the prefix without video are warnings, not failures
    for kind in ("empty", "docs"):
        assert f"{odd[kind]}: no video under this prefix" in r.stderr, (kind, r.stderr)
    if cmd == "compare":
        assert [s["path"] for s in doc["sources"]] == [odd["good"]]
    else:
        assert [i["source"] for i in doc["items"] if i["state"] == "done"] == [odd["good"]]


def test_normalize_rejects_a_missing_source_url_by_name_and_reason(odd, tmp_path):
    # normalize's rule for a source it cannot read is a reject (`unreadable`, exit 0 when the corpus has
    # clips); before, a missing bucket stopped it (exit 2) and a missing object was "no such file"
    r = _cli("normalize", odd["object"], odd["prefix"], odd["bucket"], odd["good"], "-o", tmp_path / "n",
             "-j", "1", "--json")
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
    rejects = [json.loads(x) for x in (tmp_path / "n" / "rejects.jsonl").read_text().splitlines()]
    by_source = {x["source_path"]: x["message"] for x in rejects}
    for kind, (_code, words) in WHY.items():
        assert words in by_source[odd[kind]], (kind, by_source)
    assert json.loads(r.stdout)["clips_out"] >= 1


@pytest.mark.parametrize("args", [["quality", "{url}", "{local}"], ["quality", "{local}", "{url}"],
                                  ["search", "{url}", "--target-vmaf", "90"], ["probe", "{url}"]])
def test_commands_that_read_local_files_refuse_a_url_as_a_usage_error(args, odd, bikes):
    # before: "s3:/src/in/a.mp4: no such file" (the URL's '//' collapsed), for an object that is there
    url = odd["good"]
    r = _cli(*[a.format(url=url, local=bikes) for a in args], "--json")
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    error = json.loads(r.stdout)["error"]
    assert error["code"] == "url_not_supported" and error["path"] == url, error
    assert f"{url}: " in r.stderr and "no such file" not in r.stderr, r.stderr


def test_an_output_prefix_made_as_a_console_folder_takes_the_packages(s3, odd, tmp_path):
    # before: its folder marker (the empty object "out/made-in-console/") was mirrored into the staged run as a
    # file and failed to download: exit 2, "no such object: s3://out/made-in-console/", nothing packaged
    s3.bucket("out")
    s3.fs().pipe_file("out/made-in-console/", b"")
    r = _cli("package", odd["good"], "-o", "s3://out/made-in-console/", "--rungs", "1", "--speed", "fastest",
             "--encoder", "software", "--json")
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
    assert s3.fs().exists("out/made-in-console/a/master.m3u8")


def test_an_output_prefix_inside_the_source_prefix_is_left_out_of_the_staged_sources(s3, odd, tmp_path):
    # before: compare and package staged every object under the source prefix, their own earlier outputs
    # included, so a rerun took them as sources (compare measured its encodes of encodes), though a folder
    # walk leaves an output folder inside a source folder out ("the same holds for S3 prefixes")
    fs = s3.fs()
    fs.copy(odd["good"].removeprefix("s3://"), "src/nest/a.mp4")
    args = ["package", "s3://src/nest/", "-o", "s3://src/nest/out/", "--rungs", "1", "--speed", "fastest",
            "--encoder", "software", "--json"]
    first = _cli(*args)
    assert first.returncode == 0, (first.stdout[-2000:], first.stderr[-2000:])
    again = _cli(*args)
    assert again.returncode == 0, (again.stdout[-2000:], again.stderr[-2000:])
    items = json.loads(again.stdout)["items"]
    assert [(i["source"], i["state"]) for i in items] == [("s3://src/nest/a.mp4", "skipped")], items
