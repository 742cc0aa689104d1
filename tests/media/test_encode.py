"""encode(): temporary file beside the output, verification, atomic rename, fallback, stop requests."""
from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from codeckit.batch import Cancelled
from codeckit.codecs import Capability, probe_capabilities
from codeckit.encode import encode, temp_path_for
from codeckit.errors import FFmpegError
from codeckit.plan import plan
from codeckit.probe import probe
from codeckit.profiles import load_profile
from codeckit.demo_media import lavfi_clip
from codeckit.verify import VerifyError, verify_output

FAST = ["video.speed=fastest"]


def leftovers(folder):
    return [p.name for p in folder.iterdir() if "codeckit-tmp" in p.name]


def test_result_counts_bytes_time_cpu_and_speed(clips, tmp_path):
    job = plan(probe(clips.plain), load_profile("archive-hevc", FAST), tmp_path / "o.mkv")
    seen = []
    r = encode(job, on_progress=seen.append)
    assert r.implementation == "libx265" and not r.remux and not r.fallbacks
    assert r.bytes_in == clips.plain.stat().st_size and r.bytes_out == (tmp_path / "o.mkv").stat().st_size
    assert r.cpu_s >= r.encode_cpu_s > 0 and r.verify_cpu_s > 0 and r.speed > 0 and r.duration_s == 1.0
    assert r.verify.ok and r.verify.decoded_frames > 0 and seen and seen[-1].done
    assert leftovers(tmp_path) == []


def test_ffmpeg_failure_leaves_neither_output_nor_temp(clips, tmp_path):
    job = plan(probe(clips.plain), load_profile("web-h264", FAST), tmp_path / "o.mp4", force_encode=True)
    job.video_args += ["-preset", "nosuchpreset"]  # FFmpeg cannot open the encoder
    with pytest.raises(FFmpegError) as err:
        encode(job)
    assert str(clips.plain) in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_failed_verification_keeps_the_destination_untouched(clips, tmp_path):
    dst = tmp_path / "o.mp4"
    dst.write_bytes(b"the previous output")
    job = plan(probe(clips.plain), load_profile("web-h264", FAST), dst, force_encode=True)
    job.expect = replace(job.expect, duration_s=10.0, audio_streams=2)
    with pytest.raises(VerifyError, match="1 audio stream.*expected 2.*lasts 1.000 s, the source 10.000 s") as err:
        encode(job)
    assert err.value.path == str(clips.plain)  # named after the source, not the temporary file
    assert dst.read_bytes() == b"the previous output" and leftovers(tmp_path) == []


def test_hardware_encoder_failing_at_run_time_falls_back_to_software(clips, tmp_path):
    caps = dict(probe_capabilities())
    if caps["h264_nvenc"].available:
        pytest.skip("NVENC really works here")
    # claim NVENC works: the selection tries it first, FFmpeg really fails on it, libx264 takes over
    caps["h264_nvenc"] = Capability("h264_nvenc", "h264", "hardware", True, "ok")
    job = plan(probe(clips.plain), load_profile("web-h264", FAST), tmp_path / "o.mp4", force_encode=True,
               capabilities=caps)
    assert job.implementation == "h264_nvenc"
    r = encode(job)
    assert r.implementation == "libx264"
    assert [name for name, _ in r.fallbacks] == ["h264_nvenc"]
    assert "@ 0x" not in r.fallbacks[0][1] and r.fallbacks[0][1]
    assert probe(tmp_path / "o.mp4").video[0].codec == "h264" and leftovers(tmp_path) == []


def test_cancel_stops_ffmpeg_and_removes_the_temp_file(tmp_path):
    src = lavfi_clip(tmp_path / "long.mp4", size="320x240", duration=20)
    out_dir = tmp_path / "out"
    job = plan(probe(src), load_profile("archive-av1", ["video.speed=slowest"]), out_dir / "o.mkv")
    cancel = threading.Event()
    temp_seen = []

    def on_progress(p):
        temp_seen.append(temp_path_for(job.output).exists())
        cancel.set()
    with pytest.raises(Cancelled):
        encode(job, on_progress=on_progress, cancel=cancel)
    assert temp_seen and temp_seen[0]            # it was writing under the temporary name
    assert list(out_dir.iterdir()) == []


def test_verify_modes(clips, tmp_path):
    job = plan(probe(clips.interlaced), load_profile("web-h264", FAST + ["video.keyint=5"]), tmp_path / "o.mp4")
    encode(job, verify="off")
    sample = verify_output(job.output, job.expect)
    full = verify_output(job.output, job.expect, mode="full")
    assert sample.sampled_gops == 3 and sample.keyframes == 5
    assert full.decoded_frames == 25 and sample.decoded_frames < full.decoded_frames


def test_verify_catches_a_file_cut_short(clips, tmp_path):
    job = plan(probe(clips.plain), load_profile("archive-hevc", FAST), tmp_path / "o.mkv")
    encode(job)
    data = (tmp_path / "o.mkv").read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VerifyError, match="lasts|frames"):
        verify_output(cut, job.expect)


def test_the_sampled_check_decodes_by_where_the_bits_come_from(clips, tmp_path):
    """A software encoder's output: the 3 sampled GOPs' keyframes (where the muxer put the bytes); a hardware
    encoder's: 16 frames of each (its bitstream is checked too); a stream copy: everything (the source's bits)."""
    from dataclasses import replace

    from codeckit.encode import _verify_depth
    from codeckit.verify import FRAMES_PER_GOP
    job = plan(probe(clips.interlaced), load_profile("web-h264", FAST + ["video.keyint=5"]), tmp_path / "o.mp4")
    assert job.implementation == "libx264"
    r = encode(job)
    assert r.verify.sampled_gops == 3 and r.verify.decoded_frames == 3
    assert _verify_depth(job, "sample") == ("sample", 1)
    assert _verify_depth(replace(job, implementation="h264_nvenc"), "sample") == ("sample", FRAMES_PER_GOP)
    assert _verify_depth(replace(job, remux=True), "sample")[0] == "full"
    assert _verify_depth(job, "full") == ("full", FRAMES_PER_GOP)
