"""`codeckit normalize` end to end on a heterogeneous generated corpus, every output checked with PyAV."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import pytest

from codeckit.ffmpeg import run_ffmpeg
from codeckit.normalize.pipeline import normalize
from codeckit.demo_media import lavfi_clip

# What each corpus file is, and what normalize must do with it: "ok", "copy" (stream-copied) or a reject reason.
EXPECTED = {
    "plain.mp4": "ok", "rotated.mp4": "ok", "anamorphic.mp4": "ok", "vfr.mp4": "ok", "interlaced.mp4": "ok",
    "hdr10.mp4": "ok", "tenbit.mkv": "ok", "ntsc.mp4": "ok", "vp9.webm": "ok", "mpeg2.ts": "ok",
    "big50.mov": "ok", "conforming.mp4": "copy", "plain-dup.mp4": "duplicate",
    "black.mp4": "black", "static.mp4": "static", "short.mp4": "duration", "tiny.mp4": "resolution",
    "truncated.mp4": "decodable", "cut.mkv": "decodable", "notes.mp4": "decodable", "empty.mp4": "decodable",
    "audio-only.mp4": "decodable",
}


@pytest.fixture(scope="session")
def corpus(tmp_path_factory, clips) -> Path:
    d = tmp_path_factory.mktemp("corpus")
    for name in ("plain", "rotated", "anamorphic", "vfr", "interlaced", "hdr10", "truncated"):
        shutil.copyfile(getattr(clips, name), d / f"{name}.mp4")
    shutil.copyfile(clips.plain, d / "plain-dup.mp4")
    shutil.copyfile(clips.not_media, d / "notes.mp4")
    shutil.copyfile(clips.empty, d / "empty.mp4")
    shutil.copyfile(clips.audio_only, d / "audio-only.mp4")  # AAC in MP4, no video
    lavfi_clip(d / "tenbit.mkv", duration=1.5, pix_fmt="yuv420p10le", size="400x300")
    lavfi_clip(d / "ntsc.mp4", rate="30000/1001", duration=1.5, size="640x360")
    lavfi_clip(d / "vp9.webm", codec="libvpx-vp9", duration=1.2, extra=["-deadline", "realtime", "-cpu-used", "8"])
    lavfi_clip(d / "mpeg2.ts", codec="mpeg2video", duration=1.2, size="720x480", vf="setsar=8/9")
    lavfi_clip(d / "big50.mov", rate="50", duration=1.2, size="1280x720")
    lavfi_clip(d / "conforming.mp4", size="854x480", rate="24", duration=2,
               extra=["-g", "24", "-keyint_min", "24", "-sc_threshold", "0", "-movflags", "+faststart"])
    lavfi_clip(d / "black.mp4", source="color", duration=1.5)
    lavfi_clip(d / "static.mp4", source="testsrc", duration=0.04, vf="loop=loop=39:size=1,setpts=N/25/TB")
    lavfi_clip(d / "short.mp4", duration=0.5)
    lavfi_clip(d / "tiny.mp4", size="128x96", duration=1.2)
    mkv = lavfi_clip(d / ".whole.mkv", duration=4, extra=["-g", "25"])
    (d / "cut.mkv").write_bytes(mkv.read_bytes()[: mkv.stat().st_size // 3])
    mkv.unlink()
    # a sidecar for plain.mp4: a caption and timed events
    (d / "plain.json").write_text(json.dumps({"caption": "test pattern", "events": [
        {"start": 0.2, "end": 0.6, "label": "a"}, {"start": 0.8, "end": 5.0, "label": "b"}]}))
    (d / "ntsc.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    assert sorted(p.name for p in d.iterdir() if p.suffix not in (".json", ".srt")) == sorted(EXPECTED)
    return d


@pytest.fixture(scope="session")
def local_run(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("out-local")
    summary = normalize([corpus], out, "training-480p24", shards="webdataset", shard_size="300kB", parquet=True,
                        jobs=2)
    return out, summary


def _manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def _rejects(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]


def _journal(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / ".codeckit-journal.jsonl").read_text().splitlines() if line.strip()]


def check_output(path: Path, *, width=854, height=480, fps=24, keyint=24) -> int:
    """Independent of codeckit's own verification: PyAV reads the clip and every frame is decoded."""
    with av.open(str(path)) as c:
        assert len(c.streams) == 1 and len(c.streams.video) == 1, "only the video stream"
        s = c.streams.video[0]
        assert s.codec_context.name == "h264"
        assert (s.codec_context.width, s.codec_context.height) == (width, height)
        assert s.sample_aspect_ratio in (None, Fraction(1, 1), Fraction(0, 1))
        assert s.average_rate == fps and s.base_rate == fps
        assert s.codec_context.pix_fmt == "yuv420p"
        keys, pts = [], []
        for i, frame in enumerate(c.decode(s)):
            assert frame.format.name == "yuv420p" and (frame.width, frame.height) == (width, height)
            if frame.key_frame:
                keys.append(i)
            pts.append(frame.pts)
        n = len(pts)
        assert keys == list(range(0, n, keyint)), f"keyframes {keys}"
        steps = {b - a for a, b in zip(pts, pts[1:])}
        assert len(steps) <= 1, f"constant frame rate: steps {steps}"
        if steps:
            assert Fraction(steps.pop()) * s.time_base == Fraction(1, fps)
    with open(path, "rb") as fh:  # faststart: the index (moov) comes before the media (mdat)
        head = fh.read(1 << 16)
    assert 0 <= head.find(b"moov") < head.find(b"mdat") or head.find(b"mdat") == -1
    return n


def test_every_output_is_exactly_the_profile(local_run):
    out, summary = local_run
    records = _manifest(out)
    assert records, "some clips"
    for rec in records:
        n = check_output(out / rec["output_path"])
        assert n == rec["frame_count"]
        assert rec["width"] == 854 and rec["height"] == 480 and rec["fps"] == "24/1"
        assert rec["codec"] == "h264" and rec["pix_fmt"] == "yuv420p"


def test_manifest_and_rejects_account_for_every_input(local_run, corpus):
    out, summary = local_run
    records, rejects = _manifest(out), _rejects(out)
    by_source = {Path(r["source_path"]).name: r for r in records}
    rejected = {Path(r["source_path"]).name: r for r in rejects}
    for name, want in EXPECTED.items():
        if want in ("ok", "copy"):
            assert name in by_source, f"{name} should be in the manifest ({rejected.get(name)})"
            assert by_source[name]["remuxed"] is (want == "copy"), name
        else:
            assert rejected.get(name, {}).get("reason") == want, f"{name}: {rejected.get(name)}"
    assert set(by_source).isdisjoint(rejected)
    assert summary.files_in == len(EXPECTED) and summary.clips_out == len(records)
    assert summary.rejected == {r: sum(1 for w in EXPECTED.values() if w == r) for r in set(EXPECTED.values())
                                if r not in ("ok", "copy")}
    assert summary.failed == 0 and summary.ok
    dup = rejected["plain-dup.mp4"]
    assert dup["value"].endswith("/plain.mp4")
    assert by_source["plain.mp4"]["duplicates"] == [str(corpus / "plain-dup.mp4")]
    import hashlib
    assert by_source["plain.mp4"]["source_sha256"] == hashlib.sha256((corpus / "plain.mp4").read_bytes()).hexdigest()
    # the rejects carry the measured value and the limit
    assert rejected["black.mp4"]["value"] == 1.0 and rejected["black.mp4"]["limit"] == 0.5
    assert rejected["short.mp4"]["value"] == pytest.approx(0.5, abs=0.05)
    assert rejected["tiny.mp4"]["value"] == [128, 96]
    assert "truncated" in rejected["cut.mkv"]["message"]
    for rec in records:
        for key in ("id", "source_path", "source_sha256", "clip_start_s", "clip_end_s", "output_path", "frame_count",
                    "duration_s", "bytes", "encoder", "encoder_args", "measurements", "codeckit_version",
                    "ffmpeg_version"):
            assert key in rec
        assert rec["bytes"] == (out / rec["output_path"]).stat().st_size
        assert "{source}" in rec["encoder_args"] and "{output}" in rec["encoder_args"]
    enc = by_source["plain.mp4"]
    assert enc["encoder"] == "libx264" and "-crf" in enc["encoder_args"]
    assert by_source["conforming.mp4"]["encoder"] == "copy"
    assert by_source["rotated.mp4"]["measurements"]["resolution"] == [240, 320]


def test_the_conforming_source_is_stream_copied_bit_for_bit(local_run, corpus):
    out, _ = local_run
    rec = next(r for r in _manifest(out) if r["source_path"].endswith("conforming.mp4"))

    def packets(p):
        with av.open(str(p)) as c:
            return [bytes(pk) for pk in c.demux(c.streams.video[0]) if pk.size]
    assert packets(out / rec["output_path"]) == packets(corpus / "conforming.mp4")


def test_sidecar_annotations_are_carried_into_the_manifest(local_run):
    out, _ = local_run
    recs = {Path(r["source_path"]).name: r for r in _manifest(out)}
    ann = recs["plain.mp4"]["annotations"]
    assert ann["format"] == "json" and ann["data"]["caption"] == "test pattern"
    assert ann["data"]["events"] == [{"start": 0.2, "end": 0.6, "label": "a"}, {"start": 0.8, "end": 1.0,
                                                                                 "label": "b"}]
    assert recs["ntsc.mp4"]["annotations"]["data"]["cues"][0]["text"] == "hello"
    assert recs["vfr.mp4"]["annotations"] is None


def test_shards_hold_every_clip_with_its_record_and_parquet_matches(local_run):
    wds = pytest.importorskip("webdataset")
    out, summary = local_run
    records = {r["id"]: r for r in _manifest(out)}
    assert len(summary.shards) > 1, "300 kB shards: several"
    seen = {}
    for sample in wds.WebDataset([str(s) for s in summary.shards], shardshuffle=False):
        rec = json.loads(sample["json"])
        assert rec == records[sample["__key__"]]
        assert sample["mp4"] == (out / rec["output_path"]).read_bytes()
        seen[sample["__key__"]] = True
    assert set(seen) == set(records)
    pq = pytest.importorskip("pyarrow.parquet")
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    assert [r["id"] for r in rows] == sorted(records)
    assert json.loads(rows[0]["measurements"]) == records[rows[0]["id"]]["measurements"]


def test_a_rerun_skips_every_finished_source(local_run, corpus):
    out, first = local_run
    before = (out / "manifest.jsonl").read_bytes()
    again = normalize([corpus], out, "training-480p24", shards="webdataset", shard_size="300kB", parquet=True)
    assert again.processed == 0 and again.skipped == first.unique_sources
    assert (out / "manifest.jsonl").read_bytes() == before


@pytest.mark.cluster
def test_a_dask_run_gives_the_same_manifest_as_a_local_run(local_run, corpus, tmp_path):
    pytest.importorskip("distributed")
    out, _ = local_run
    dask_out = tmp_path / "out-dask"
    s = normalize([corpus], dask_out, "training-480p24", backend="dask", jobs=2)
    assert s.engine.startswith("dask on a local cluster")
    assert (dask_out / "manifest.jsonl").read_bytes() == (out / "manifest.jsonl").read_bytes()
    assert (dask_out / "rejects.jsonl").read_bytes() == (out / "rejects.jsonl").read_bytes()
    pids = {r["result"]["pid"] for r in _journal(dask_out) if r["state"] == "done"}
    assert os.getpid() not in pids, "the work ran in the Dask workers"


@pytest.mark.cluster
def test_a_ray_run_gives_the_same_manifest_as_a_local_run(local_run, corpus, tmp_path):
    pytest.importorskip("ray")
    out, _ = local_run
    few = tmp_path / "few"
    few.mkdir()
    for name in ("plain.mp4", "plain.json", "conforming.mp4", "black.mp4"):
        shutil.copyfile(corpus / name, few / name)
    local = normalize([few], tmp_path / "out-local", "training-480p24", jobs=2)
    ray_run = normalize([few], tmp_path / "out-ray", "training-480p24", backend="ray", jobs=2)
    assert ray_run.engine.startswith("ray on a local cluster") and ray_run.clips_out == local.clips_out == 2
    assert (tmp_path / "out-ray" / "manifest.jsonl").read_bytes() == \
        (tmp_path / "out-local" / "manifest.jsonl").read_bytes()


def test_scene_clips_for_the_square_profile(tmp_path):
    src = tmp_path / "three-scenes.mp4"
    run_ffmpeg(["-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=1.5",
                "-f", "lavfi", "-i", "smptebars=size=640x360:rate=30:duration=1.5",
                "-f", "lavfi", "-i", "rgbtestsrc=size=640x360:rate=30:duration=1",
                "-filter_complex", "[0:v][1:v][2:v]concat=n=3:v=1[v]", "-map", "[v]",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "file:" + str(src)], loglevel="error")
    (tmp_path / "three-scenes.srt").write_text(
        "1\n00:00:01,000 --> 00:00:02,000\nacross the cut\n")
    s = normalize([src], tmp_path / "out", "training-512sq", jobs=2)
    recs = _manifest(tmp_path / "out")
    assert [(r["clip_start_s"], r["clip_end_s"]) for r in recs] == [(0.0, 1.5), (1.5, 3.0), (3.0, 4.0)]
    assert [r["frame_count"] for r in recs] == [36, 36, 24]
    for r in recs:
        assert check_output(tmp_path / "out" / r["output_path"], width=512, height=512) == r["frame_count"]
    cues = [r["annotations"]["data"]["cues"] for r in recs]
    assert cues == [[{"start": 1.0, "end": 1.5, "text": "across the cut"}],
                    [{"start": 0.0, "end": 0.5, "text": "across the cut"}], []]
    assert recs[0]["measurements"]["scene_cuts"] == [1.5, 3.0] and s.clips_out == 3


def test_resume_after_sigkill_redoes_only_unfinished_sources(corpus, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    names = ["plain.mp4", "anamorphic.mp4", "ntsc.mp4", "vp9.webm", "big50.mov", "tenbit.mkv", "interlaced.mp4"]
    for name in names:
        shutil.copyfile(corpus / name, src / name)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "codeckit", "normalize", str(src), "-o", str(out), "--jobs", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    journal = out / ".codeckit-journal.jsonl"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if journal.is_file() and journal.read_text().count('"state": "done"') >= 2:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # the command, its workers and their FFmpeg children
    finally:
        proc.wait(timeout=30)
    finished = {r["source"] for r in _journal(out) if r["state"] == "done"}
    assert 2 <= len(finished) < len(names)
    resumed = normalize([src], out, "training-480p24", jobs=2)
    assert resumed.skipped == len(finished) and resumed.processed == len(names) - len(finished)
    assert resumed.ok and resumed.clips_out == len(names)
    assert not [p for p in out.rglob("*") if ".tmp" in p.name], "no temporary files left"
    for rec in _manifest(out):
        assert check_output(out / rec["output_path"]) == rec["frame_count"]


def test_cli_json_summary_and_errors(corpus, tmp_path):
    src = tmp_path / "one"
    src.mkdir()
    shutil.copyfile(corpus / "conforming.mp4", src / "conforming.mp4")
    res = subprocess.run([sys.executable, "-m", "codeckit", "normalize", str(src), "-o", str(tmp_path / "o"),
                          "--json", "--clips", "fixed:1"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    d = json.loads(res.stdout)
    assert d["clips_out"] == 2 and d["remuxed_clips"] == 2 and d["manifest"].endswith("manifest.jsonl")
    assert d["throughput_source_hours_per_cpu_hour"] > 0
    bad = subprocess.run([sys.executable, "-m", "codeckit", "normalize", str(src), "-o", str(tmp_path / "o"),
                          "--clips", "shots"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--clips 'shots' is not understood" in bad.stderr
