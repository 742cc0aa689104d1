"""A source with too few keyframes cut into one clip: its black/static samples come from its encode's own decoded
frames (one decode), judged before the clip is renamed into place; sources the keyframes already condemn are
decoded and judged before any encode, as before."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from codeckit.demo_media import lavfi_clip
from codeckit.ffmpeg import run_ffmpeg
from codeckit.normalize.pipeline import normalize


def _records(out: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (out / name).read_text().splitlines() if line.strip()]


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "clips").rglob("*") if p.is_file() and p.name.startswith("."))


@pytest.fixture(scope="module")
def long_gop(tmp_path_factory):
    d = tmp_path_factory.mktemp("long-gop")
    gop = ["-g", "1000"]          # one keyframe: the keyframes alone are too few samples
    lavfi_clip(d / "moving.mp4", duration=3, extra=gop)
    lavfi_clip(d / "sized.mp4", size="854x480", rate="24", duration=2, extra=gop)  # no filter: `-map 0:0`
    # bright for 0.2 s (its only keyframe), then black with grain: bits enough, but 93 % of the picture black
    dark = d / "dark-after-first.mp4"
    run_ffmpeg(["-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=0.2",
                "-f", "lavfi", "-i", "color=black:size=320x240:rate=25:duration=2.8",
                "-filter_complex", "[1:v]noise=alls=30:allf=t[n];[0:v][n]concat=n=2:v=1[v]", "-map", "[v]",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", *gop, "file:" + str(dark)],
               loglevel="error")
    return d


def test_samples_come_from_the_encode_and_the_clip_is_the_same(long_gop, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("moving.mp4", "sized.mp4"):
        (src / name).write_bytes((long_gop / name).read_bytes())
    out = tmp_path / "out"
    s = normalize([src], out)
    assert s.clips_out == 2 and not s.rejected
    recs = {Path(r["source_path"]).name: r for r in _records(out, "manifest.jsonl")}
    assert recs["moving.mp4"]["measurements"]["scan"] == {"keyframes": 1, "mode": "encode", "samples": 6}
    assert recs["sized.mp4"]["measurements"]["scan"]["mode"] == "encode"
    for r in recs.values():
        m = r["measurements"]
        assert m["black"] == 0.0 and m["static"] == 0.0
        assert not any("split" in a or a.endswith(".gray") for a in r["encoder_args"])  # the encode's command
    assert _leftovers(out) == []
    # the same clip bytes as when the scan decodes the samples itself (fixed-length clips keep that path)
    again = normalize([src / "moving.mp4"], tmp_path / "out2", sets=["clips.mode=fixed", "clips.length_s=3"])
    assert again.clips_out == 1
    old = _records(tmp_path / "out2", "manifest.jsonl")[0]
    assert old["measurements"]["scan"]["mode"] == "decode-sparse"
    assert (out / recs["moving.mp4"]["output_path"]).read_bytes() == \
        (tmp_path / "out2" / old["output_path"]).read_bytes()


def test_a_source_black_after_its_keyframe_is_rejected_after_its_encode_and_leaves_nothing(long_gop, tmp_path):
    out = tmp_path / "out"
    s = normalize([long_gop / "dark-after-first.mp4"], out)
    assert s.clips_out == 0 and s.rejected == {"black": 1}
    rej = _records(out, "rejects.jsonl")[0]
    assert rej["reason"] == "black" and rej["value"] > 0.9
    assert rej["measurements"]["scan"]["mode"] == "encode"
    assert not list((out / "clips").rglob("*.mp4")) and _leftovers(out) == []


def test_keyframes_that_already_fail_are_judged_before_any_encode(tmp_path):
    """A black source (its one keyframe black too) is decoded and judged before any encode; a frozen one (its
    one keyframe says nothing of change, its bits per pixel pass) is judged on its encode's samples: the same
    reason, nothing left behind."""
    src = tmp_path / "src"
    src.mkdir()
    lavfi_clip(src / "black.mp4", source="color", duration=2, extra=["-g", "1000"])
    lavfi_clip(src / "frozen.mp4", source="testsrc", duration=0.04, vf="loop=loop=49:size=1,setpts=N/25/TB")
    out = tmp_path / "out"
    s = normalize([src], out)
    assert s.rejected == {"black": 1, "static": 1} and s.failed == 0
    modes = {Path(r["source_path"]).name: (r["reason"], r["measurements"]["scan"]["mode"])
             for r in _records(out, "rejects.jsonl")}
    assert modes == {"black.mp4": ("black", "decode-sparse"), "frozen.mp4": ("static", "encode")}
    assert not list((out / "clips").rglob("*.mp4")) and _leftovers(out) == []


def test_frames_that_fail_to_decode_reject_the_source_as_the_scan_did(long_gop, tmp_path):
    """The scan no longer decodes a one-keyframe source's later frames; its encode counts the frames that fail
    outright (FFmpeg's -max_error_rate 0, exit 69): still a `decodable` reject, nothing left behind."""
    import av
    good = long_gop / "moving.mp4"
    with av.open(str(good)) as c:
        spots = [(p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size][20:31]
    data = bytearray(good.read_bytes())
    for pos, _size in spots:                     # an impossible NAL length: the decoder refuses the frame
        data[pos:pos + 4] = (0x7FFFFF00).to_bytes(4, "big")
    src = tmp_path / "src"
    src.mkdir()
    (src / "broken-frames.mp4").write_bytes(bytes(data))
    out = tmp_path / "out"
    s = normalize([src], out)
    assert s.rejected == {"decodable": 1} and s.clips_out == 0
    rej = _records(out, "rejects.jsonl")[0]
    assert "failed to decode" in rej["message"] and rej["measurements"]["scan"]["mode"] == "encode"
    assert not list((out / "clips").rglob("*.mp4")) and _leftovers(out) == []


def test_a_stream_copy_decodes_nothing_so_its_samples_are_decoded_first(tmp_path):
    """With no fixed keyframe interval, a conforming one-keyframe source is stream-copied: its copy decodes no
    frame, so its samples are decoded in the scan and judged before the copy (as before)."""
    src = tmp_path / "src"
    src.mkdir()
    lavfi_clip(src / "conforming.mp4", size="854x480", rate="24", duration=3, extra=["-g", "1000"])
    out = tmp_path / "out"
    s = normalize([src], out, sets=["video.keyint=none"])
    assert s.clips_out == 1 and s.remuxed_clips == 1
    rec = _records(out, "manifest.jsonl")[0]
    assert rec["remuxed"] and rec["measurements"]["scan"]["mode"] == "decode-sparse"
    assert rec["measurements"]["black"] == 0.0 and rec["measurements"]["static"] == 0.0
    assert _leftovers(out) == []
