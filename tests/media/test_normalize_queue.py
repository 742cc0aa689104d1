"""normalize's queue (sources probed while queued, heaviest first, the MediaInfo handed to the worker) against
what a user's files do meanwhile and against awkward inputs."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import av
import pytest

from codeckit.demo_media import lavfi_clip
from codeckit.normalize import pipeline
from codeckit.normalize.pipeline import normalize


def _manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    """A landscape 2 s source and a portrait 1.2 s one (the queue's probe of one is wrong for the other)."""
    d = tmp_path_factory.mktemp("queue-media")
    return (lavfi_clip(d / "landscape.mp4", duration=2, size="320x240"),
            lavfi_clip(d / "portrait.mp4", duration=1.2, size="240x320", rate="30"))


def test_a_source_replaced_after_it_was_queued_is_not_encoded_with_its_stale_plan(two, tmp_path, monkeypatch):
    """The run hashed and weighed the landscape file; by its worker's turn the path holds the portrait one. The
    stale probe would scale 240x320 to 854x640 (stretched) and the manifest would carry the old file's hash:
    the source fails, by name, and the next run takes the new content."""
    landscape, portrait = two
    src = tmp_path / "src"
    src.mkdir()
    shutil.copyfile(landscape, src / "a.mp4")
    queue = pipeline._queue

    def swap_after_queueing(*args, **kw):
        items = queue(*args, **kw)
        assert items[0].weight > 1.9, "the queue weighed the 2 s source"
        shutil.copyfile(portrait, src / "a.mp4")
        return items
    monkeypatch.setattr(pipeline, "_queue", swap_after_queueing)
    out = tmp_path / "out"
    s = normalize([src], out, "training-480p24", jobs=1)
    assert s.failed == 1 and s.clips_out == 0 and s.exit_code != 0
    assert s.failures[0]["source_path"] == str(src / "a.mp4") and "changed" in s.failures[0]["error"]
    assert _manifest(out) == []

    monkeypatch.setattr(pipeline, "_queue", queue)
    again = normalize([src], out, "training-480p24", jobs=1)
    assert again.ok and again.clips_out == 1
    [rec] = _manifest(out)
    assert rec["source_sha256"] == hashlib.sha256((src / "a.mp4").read_bytes()).hexdigest()
    # the portrait picture's middle band (240x135 of 240x320, to even numbers) scaled to 854x480
    graph = " ".join(rec["encoder_args"])
    assert "crop=h=134:w=240:x=0:y=92[" in graph and "scale=h=480:w=854" in graph, "planned from the portrait picture"
    with av.open(str(out / rec["output_path"])) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (854, 480)


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    d = tmp_path_factory.mktemp("queue-three")
    return [lavfi_clip(d / f"{n}.mp4", duration=1.2, size="160x120", vf=f"hue=h={h}")
            for n, h in enumerate((0, 120, 240))]


@pytest.mark.parametrize("probe_cap", [500, 1], ids=["probed-while-queued", "ordered-by-size"])
def test_a_source_deleted_after_hashing_fails_by_name_and_the_batch_goes_on(three, tmp_path, monkeypatch, probe_cap):
    """A long batch hashes first; a file moved away before the queue (or its worker) reaches it must not stop
    the run with a traceback (the by-size order stats every file), nor be recorded as an undecodable reject
    that a rerun would skip once the file is back."""
    src = tmp_path / "src"
    src.mkdir()
    for p in three:
        shutil.copyfile(p, src / p.name)
    monkeypatch.setattr(pipeline, "PROBE_WHEN_QUEUED_MAX", probe_cap)
    find = pipeline._find_inputs

    def delete_after_hashing(*args, **kw):
        inputs = find(*args, **kw)
        (src / "1.mp4").rename(tmp_path / "1.mp4")
        return inputs
    monkeypatch.setattr(pipeline, "_find_inputs", delete_after_hashing)
    out = tmp_path / "out"
    s = normalize([src], out, "training-480p24", jobs=1)
    assert s.clips_out == 2 and s.failed == 1 and s.exit_code == 1
    assert s.failures[0]["source_path"] == str(src / "1.mp4") and "gone" in s.failures[0]["error"]
    [line] = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    assert line["reason"] == "error", "listed as failed (retried), not rejected as undecodable"

    monkeypatch.setattr(pipeline, "_find_inputs", find)
    (tmp_path / "1.mp4").rename(src / "1.mp4")
    back = normalize([src], out, "training-480p24", jobs=1)
    assert back.ok and back.skipped == 2 and back.processed == 1 and back.clips_out == 3


def test_a_source_written_while_its_clips_encode_fails_and_leaves_no_clip_outside_the_manifest(two, tmp_path,
                                                                                              monkeypatch):
    """Written between its first and second clip: the source fails (its hash names other bytes now), and the
    clip already in place goes, since no manifest record names it; the next run makes both clips."""
    from codeckit.normalize import worker
    src = tmp_path / "src"
    src.mkdir()
    shutil.copyfile(two[0], src / "a.mp4")
    encode = worker.encode_clip

    def write_after_the_first_clip(job, **kw):
        out = encode(job, **kw)
        st = (src / "a.mp4").stat()
        os.utime(src / "a.mp4", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        return out
    monkeypatch.setattr(worker, "encode_clip", write_after_the_first_clip)
    out = tmp_path / "out"
    s = normalize([src], out, "training-480p24", jobs=1, clips={"mode": "fixed", "length_s": 1.0})
    assert s.failed == 1 and s.clips_out == 0 and "changed" in s.failures[0]["error"]
    assert _manifest(out) == [] and not list((out / "clips").rglob("*.mp4"))

    monkeypatch.setattr(worker, "encode_clip", encode)
    again = normalize([src], out, "training-480p24", jobs=1, clips={"mode": "fixed", "length_s": 1.0})
    assert again.ok and again.clips_out == 2
    assert sorted(p.relative_to(out).as_posix() for p in (out / "clips").rglob("*.mp4")) == \
        sorted(r["output_path"] for r in _manifest(out))


def test_ctrl_c_counts_stopped_sources_as_unfinished_not_processed(tmp_path):
    """After Ctrl-C the summary's processed_now counts the sources that finished; the stopped ones are only
    unfinished (they were counted as both: 32 + 471 for 501 sources)."""
    import json as _json
    import signal
    import subprocess
    import sys
    import time as _time

    from codeckit.demo_media import lavfi_clip
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        lavfi_clip(src / f"c{i}.mp4", size="640x360", duration=4 + i)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "codeckit", "normalize", str(src), "-o", str(out), "--json",
                             "-j", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    journal = out / ".codeckit-journal.jsonl"
    deadline = _time.monotonic() + 120
    while _time.monotonic() < deadline and not (journal.exists() and '"done"' in journal.read_text()):
        _time.sleep(0.1)
    _time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130
    summary = _json.loads(stdout)
    assert summary["unfinished"] >= 1
    assert summary["processed_now"] + summary["unfinished"] == 4
