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


def _folder_of(tmp_path: Path, fixture: Path, names: tuple[str, ...]) -> Path:
    """A source folder holding copies of `names` from a fixture folder."""
    src = tmp_path / "src"
    src.mkdir()
    for name in names:
        (src / name).write_bytes((fixture / name).read_bytes())
    return src


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
    src = _folder_of(tmp_path, long_gop, ("moving.mp4", "sized.mp4"))
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


# ---------------------------------------------------------------- sources with keyframes enough to sample

@pytest.fixture(scope="module")
def short_gop(tmp_path_factory):
    """Keyframes every 0.5 s (12 frames at 24 fps): the scan used to decode all of them before the encode."""
    d = tmp_path_factory.mktemp("short-gop")
    gop = ["-g", "12", "-keyint_min", "12", "-sc_threshold", "0"]
    lavfi_clip(d / "moving.mp4", rate="24", duration=4, extra=gop)
    lavfi_clip(d / "black.mp4", source="color", rate="24", duration=4, extra=gop)
    lavfi_clip(d / "frozen.mp4", source="testsrc", rate="24", duration=1 / 24,
               vf="loop=loop=95:size=1,setpts=N/24/TB", extra=gop)
    # bright on [0, 0.5) and [2, 2.5) (the first keyframe and the first past the middle), black elsewhere
    # (with grain: its bits per pixel pass): 75 % of the time black
    spotty = d / "black-between-keyframes.mp4"
    vf = "[0:v][1:v]overlay=enable='between(t,0.5,1.99)+between(t,2.5,4)'[v]"
    run_ffmpeg(["-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=24:duration=4",
                "-f", "lavfi", "-i", "color=black:size=320x240:rate=24:duration=4,noise=alls=30:allf=t",
                "-filter_complex", vf, "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast",
                "-pix_fmt", "yuv420p", *gop, "file:" + str(spotty)], loglevel="error")
    # two video streams, the second the default: the probe decodes both, the scan reads the default (the primary)
    run_ffmpeg(["-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=24:duration=4",
                "-f", "lavfi", "-i", "mandelbrot=size=320x240:rate=24,trim=duration=4", "-map", "0:v", "-map", "1:v",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", *gop, "-disposition:v:0", "0",
                "-disposition:v:1", "default", "file:" + str(d / "two-streams.mkv")], loglevel="error")
    return d


def test_two_keyframes_prescreen_and_the_encode_gives_the_samples(short_gop, tmp_path):
    """A source encoded whole has its first keyframe and the first past its middle decoded before the encode;
    its black/static samples come from the encode (2 a second), not from decoding its 8 keyframes."""
    from codeckit.normalize.scan import scan
    s = scan(short_gop / "moving.mp4", decode_more=False)
    assert len(s.keyframe_times) == 8 and s.sample_times == [0.0, 2.0] and s.undecoded_keyframes == 6
    assert s.pending
    out = tmp_path / "out"
    res = normalize([short_gop / "moving.mp4"], out)
    assert res.clips_out == 1 and not res.rejected
    [rec] = _records(out, "manifest.jsonl")
    assert rec["measurements"]["scan"] == {"keyframes": 8, "mode": "encode", "samples": 8}
    assert rec["measurements"]["black"] == 0.0 and rec["measurements"]["static"] == 0.0
    assert _leftovers(out) == []


def test_a_prescreen_that_fails_decodes_every_keyframe_and_judges_before_the_encode(short_gop, tmp_path):
    """Black and frozen sources show in the two prescreen keyframes: every keyframe is then decoded and the
    source judged on them, before any encode (scan mode `keyframes`, not `encode`)."""
    src = _folder_of(tmp_path, short_gop, ("black.mp4", "frozen.mp4"))
    out = tmp_path / "out"
    s = normalize([src], out)
    assert s.rejected == {"black": 1, "static": 1} and s.clips_out == 0
    seen = {Path(r["source_path"]).name: (r["reason"], r["measurements"]["scan"])
            for r in _records(out, "rejects.jsonl")}
    assert seen == {"black.mp4": ("black", {"keyframes": 8, "mode": "keyframes", "samples": 8}),
                    "frozen.mp4": ("static", {"keyframes": 8, "mode": "keyframes", "samples": 8})}
    assert _leftovers(out) == []


def test_black_the_prescreen_misses_is_rejected_on_the_encodes_samples(short_gop, tmp_path):
    """The price of the two-keyframe prescreen: a source bright at both of them and black for 75 % of its time
    costs its encode before it is rejected (the keyframes alone found it before: 6 of 8 black). It is rejected
    all the same, and leaves nothing."""
    out = tmp_path / "out"
    s = normalize([short_gop / "black-between-keyframes.mp4"], out)
    assert s.rejected == {"black": 1} and s.clips_out == 0
    [rej] = _records(out, "rejects.jsonl")
    assert rej["measurements"]["scan"]["mode"] == "encode" and 0.6 < rej["value"] < 0.9
    assert not list((out / "clips").rglob("*.mp4")) and _leftovers(out) == []


@pytest.mark.parametrize("name", ["moving.mp4", "black-between-keyframes.mp4", "two-streams.mkv"])
def test_the_scan_on_the_probes_container_reads_what_its_own_open_reads(short_gop, name):
    """The worker scans on the container its probe opened, and takes the probe's first frame as the first
    keyframe's sample: the same packets, keyframes and samples as a scan that opens the file itself."""
    import numpy as np
    from codeckit.normalize.scan import scan
    from codeckit.probe import probed
    path = short_gop / name
    alone = scan(path)
    with probed(path) as p:
        first = p.first_frames[p.info.video[0].index]
        shared = scan(path, probed=p)
    assert first is not None and first.key_frame and len(p.first_frames) == len(p.info.video)
    assert (shared.packets, shared.video_bytes, shared.keyframe_times, shared.frame_times) == \
        (alone.packets, alone.video_bytes, alone.keyframe_times, alone.frame_times)
    assert shared.sample_times == alone.sample_times and len(alone.sample_times) == 8
    assert np.array_equal(shared.thumbs, alone.thumbs)


def test_the_scan_reads_the_stream_the_probe_and_the_encode_take(tmp_path):
    """A file whose first video stream is a black one, not the default (a still, an alternate angle), and whose
    default stream moves: the clip is the default stream (the probe's primary video), so its samples are that
    stream's too. The scan read the first stream: rejected as black (or, for a one-frame still, truncated at
    0.001 s of 2 s) for a picture the clip never shows."""
    path = tmp_path / "black-first-not-default.mkv"
    run_ffmpeg(["-y", "-f", "lavfi", "-i", "color=black:size=320x240:rate=24:duration=2",
                "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=24:duration=2", "-map", "0:v", "-map", "1:v",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "12",
                "-disposition:v:0", "0", "-disposition:v:1", "default", "file:" + str(path)], loglevel="error")
    for mode in ({"mode": "none"}, {"mode": "fixed", "length_s": 1.0}):
        out = tmp_path / f"out-{mode['mode']}"
        s = normalize([path], out, clips=mode, jobs=1)
        assert s.rejected == {} and s.clips_out >= 1, _records(out, "rejects.jsonl")
        assert all(r["measurements"]["black"] == 0.0 for r in _records(out, "manifest.jsonl"))
