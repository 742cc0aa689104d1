"""transcode `--json` with object storage, against the real S3 server: every path in the document names a file
as the user knows it (the s3:// URL of the source or output, or a local path given), never a worker's scratch
copy, which is gone when the document is read. Before: `result.verify.path` was the scratch output, and (once
failed items carried the error's `path`) a source that is not media was named by its staged copy."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SCRATCH = "codeckit-scratch"


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


@pytest.fixture(scope="module")
def bad_object(s3, s3_sources):
    url = "s3://src/odd-h17/bad.mp4"
    s3.fs().pipe_file(url[5:], b"not a video, named like one")
    return url


@pytest.mark.parametrize("where", ["s3", "local"])
def test_transcode_json_names_outputs_and_sources_as_the_user_knows_them(where, s3, s3_sources, bad_object,
                                                                         tmp_path):
    good = f"{s3_sources}/a.mp4"
    out = f"s3://out-h17/{tmp_path.name}" if where == "s3" else str(tmp_path / "out")
    if where == "s3":
        s3.bucket("out-h17")
    r = subprocess.run([sys.executable, "-m", "codeckit", "transcode", good, bad_object, "-o", out,
                        "-p", "web-h264", "-j", "1", "--json"], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ))
    assert r.returncode == 1, (r.returncode, r.stdout[-3000:], r.stderr[-3000:])
    doc = json.loads(r.stdout)
    items = {i["source"]: i for i in doc["items"]}
    done, bad = items[good], items[bad_object]
    assert done["state"] == "done" and done["output"] == done["result"]["output"], done
    assert done["result"]["verify"]["path"] == done["output"] and done["output"].startswith(out), done
    assert done["result"]["input"] == good
    assert bad["state"] == "failed" and (bad["code"], bad["path"]) == ("not_media", bad_object), bad
    leaked = [s for s in _strings(doc) if SCRATCH in s]
    assert leaked == [] and SCRATCH not in r.stderr, (leaked, r.stderr[-2000:])


@pytest.mark.parametrize("cmd", ["package", "compare"])
def test_a_staged_runs_failed_item_names_the_source_url(cmd, s3, bad_object, tmp_path):
    # compare and package stage sources into scratch: the error's `path` of a failed item is its URL
    extra = {"package": ["--rungs", "1", "--speed", "fastest"], "compare": ["--encoders", "libx264:fastest"]}[cmd]
    r = subprocess.run([sys.executable, "-m", "codeckit", cmd, bad_object, "-o", str(tmp_path / "out"), *extra,
                        "--json"], capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert r.returncode == 1, (r.returncode, r.stdout[-3000:], r.stderr[-3000:])
    doc = json.loads(r.stdout)
    (failed,) = doc["failures"] if cmd == "compare" else [i for i in doc["items"] if i["state"] == "failed"]
    assert (failed["code"], failed["path"]) == ("not_media", bad_object), failed
    leaked = [s for s in _strings(doc) if SCRATCH in s]
    assert leaked == [] and SCRATCH not in r.stderr, (leaked, r.stderr[-2000:])


def test_local_transcode_json_names_the_verified_output_by_its_final_name(tmp_path):
    # before: result.verify.path was the temporary name the encode wrote (".a.codeckit-tmp.mp4"), gone after
    # the rename
    from codeckit.demo_media import lavfi_clip
    src = lavfi_clip(tmp_path / "a.mp4", size="64x48", rate="10", duration=0.3)
    r = subprocess.run([sys.executable, "-m", "codeckit", "transcode", str(src), "-o", str(tmp_path / "out"),
                        "-p", "web-h264", "-j", "1", "--json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    (item,) = json.loads(r.stdout)["items"]
    assert item["result"]["verify"]["path"] == item["output"] == str(tmp_path / "out" / "a.mp4"), item
