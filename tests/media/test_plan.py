"""plan(): MediaInfo + Target -> EncodeJob. Each geometry/color/timing decision, checked on real encodes."""
from __future__ import annotations

from dataclasses import replace

import av
import numpy as np
import pytest

from codeckit.encode import encode
from codeckit.errors import ConfigError
from codeckit.ffmpeg import run_ffmpeg
from codeckit.plan import Filter, PlanError, plan, remux_blockers
from codeckit.video_filters import filter_graph as _graph
from codeckit.probe import probe
from codeckit.profiles import Target, VideoTarget, load_profile

from tests.media.test_probe import with_attachment, with_timecode

FAST = ["video.speed=fastest"]


def web(*sets) -> Target:
    return load_profile("web-h264", [*FAST, *sets])


def run(job):
    """Encode for real (verification on) and probe the output."""
    encode(job, verify="sample")
    return probe(job.output)


def keyframe_positions(path) -> list[int]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        pkts = sorted((p for p in c.demux(s) if p.pts is not None), key=lambda p: p.pts)
        return [i for i, p in enumerate(pkts) if p.is_keyframe]


def first_frame(path) -> np.ndarray:
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            return f.to_ndarray(format="gray").astype(int)


# ---------------------------------------------------------------- remux

def test_source_already_in_target_codec_and_limits_is_remuxed(clips, tmp_path):
    job = plan(probe(clips.plain), web(), tmp_path / "out.mp4")
    assert job.remux and job.implementation is None and not job.filters
    assert job.video_args[job.video_args.index("-c:v") + 1] == "copy"
    out = run(job)
    assert out.video[0].codec == "h264" and len(out.audio) == 1


def test_force_encode_and_remux_off_reencode(clips, tmp_path):
    info = probe(clips.plain)
    assert not plan(info, web(), tmp_path / "a.mp4", force_encode=True).remux
    job = plan(info, web("video.remux=false"), tmp_path / "b.mp4")
    assert not job.remux and job.implementation == "libx264"


def test_remux_blockers_name_each_reason(clips):
    t = web("video.size=exact", "video.width=160", "video.height=120", "video.keyint=10")
    why = remux_blockers(probe(clips.plain), t)
    assert any("160x120" in w for w in why) and any("keyframe" in w for w in why)
    assert remux_blockers(probe(clips.anamorphic), web()) == ["non-square pixels (SAR 16:11)"]
    assert "interlaced" in remux_blockers(probe(clips.interlaced), web())


def test_remux_blockers_carry_codes_beside_their_messages(clips):
    import pickle

    from codeckit.plan import KEYINT_BLOCKER, Blocker
    t = web("video.size=exact", "video.width=160", "video.height=120", "video.keyint=10")
    why = remux_blockers(probe(clips.plain), t)
    assert all(isinstance(b, Blocker) for b in why)
    assert [b.code for b in why] == ["size", KEYINT_BLOCKER]
    assert why[-1] == "the target fixes the keyframe interval"      # the text people read is unchanged
    assert [b.code for b in remux_blockers(probe(clips.anamorphic), web())] == ["sar"]
    back = pickle.loads(pickle.dumps(why))                              # process pools pickle them
    assert back == why and [b.code for b in back] == [b.code for b in why]


# ---------------------------------------------------------------- geometry

def test_rotation_is_applied_in_the_graph_and_the_output_is_upright(clips, tmp_path):
    out = run(plan(probe(clips.rotated), web("video.remux=false"), tmp_path / "r2.mp4"))
    v = out.video[0]
    assert (v.width, v.height, v.rotation) == (240, 320, 0)
    # the same pixels FFmpeg's own autorotate produces: the direction is right
    ref = tmp_path / "ref.mp4"
    run_ffmpeg(["-i", "file:" + str(clips.rotated), "-c:v", "libx264", "-preset", "ultrafast", "-crf", "10",
                "file:" + str(ref)], loglevel="error")
    assert np.abs(first_frame(tmp_path / "r2.mp4") - first_frame(ref)).mean() < 4


def test_rotated_source_remux_keeps_the_display_matrix(clips, tmp_path):
    job = plan(probe(clips.rotated), web(), tmp_path / "r.mp4")
    assert job.remux, job.notes
    v = run(job).video[0]
    assert (v.width, v.height, v.rotation) == (320, 240, 90)


def test_rotation_plan_overrides_autorotate_and_transposes(clips, tmp_path):
    job = plan(probe(clips.rotated), web("video.remux=false"), tmp_path / "r.mp4")
    assert job.input_options == ["-display_rotation", "0"]
    assert job.filters == ["transpose=dir=cclock"]
    args = job.args()
    assert args.index("-display_rotation") < args.index("-i")


def test_anamorphic_source_gets_square_pixels(clips, tmp_path):
    job = plan(probe(clips.anamorphic), web(), tmp_path / "a.mp4")
    assert job.filters[-1] == "setsar=1" and any(f.startswith("scale=") for f in job.filters)
    v = run(job).video[0]
    assert (v.width, v.height, v.sar) == (512, 288, "1:1")


def test_fit_keeps_aspect_never_upscales_and_gives_even_sizes(bikes, tmp_path):
    info = probe(bikes)  # 640x272
    job = plan(info, web("video.width=300", "video.height=300"), tmp_path / "f.mp4")
    assert (job.expect.width, job.expect.height) == (300, 128)
    job = plan(info, web("video.width=2000", "video.height=2000"), tmp_path / "g.mp4")
    assert job.remux  # within the limits and already H.264
    job = plan(info, web("video.width=2000", "video.height=2000", "video.upscale=true"), tmp_path / "h.mp4")
    assert (job.expect.width, job.expect.height) == (2000, 850)


@pytest.mark.parametrize("aspect,filt", [("pad", "pad"), ("crop", "crop")])
def test_exact_size_pads_or_crops(clips, tmp_path, aspect, filt):
    t = web("video.size=exact", "video.width=200", "video.height=200", f"video.aspect={aspect}")
    job = plan(probe(clips.plain), t, tmp_path / f"{aspect}.mp4")
    assert any(f.startswith(filt + "=") for f in job.filters)
    v = run(job).video[0]
    assert (v.width, v.height, v.sar) == (200, 200, "1:1")


@pytest.mark.parametrize("width", [5, 9, 13, 7, 2, 1])
def test_even_rounds_a_tie_up_as_ffmpeg_scale_minus_2_does(width, tmp_path):
    from codeckit.video_filters import even
    out = tmp_path / "s.nut"
    run_ffmpeg(["-f", "lavfi", "-i", f"color=size={width}x2:d=0.04", "-vf", "scale=-2:2", "-c:v", "rawvideo",
                "-y", str(out)])
    assert even(width) == probe(out).video[0].width == {5: 6, 9: 10, 13: 14, 7: 8, 2: 2, 1: 2}[width]


def test_odd_size_is_cropped_to_even(clips, tmp_path):
    job = plan(probe(clips.odd_sized), load_profile("mezzanine"), tmp_path / "o.mkv")
    assert job.filters == ["crop=h=240:w=320:x=0:y=0"]
    v = run(job).video[0]
    assert (v.width, v.height, v.pix_fmt, v.codec) == (320, 240, "yuv444p", "ffv1")


def test_filter_values_are_escaped_by_ffmpeg_python():
    # option level (":" -> "\:") then graph level ("\" -> "\\", "," -> "\,"): FFmpeg reads back "a:b,c"
    f = Filter.of("metadata", mode="add", key="k", value="a:b,c")
    assert str(f) == r"metadata=key=k:mode=add:value=a\\:b\,c"
    graph, label = _graph([f, Filter.of("metadata", mode="print")], 0)
    r = run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=d=0.04", "-filter_complex", graph, "-map", label, "-f", "null",
                    "-"], loglevel="info")
    assert "k=a:b,c" in r.stderr_tail
    assert str(Filter.of("setsar", "1")) == "setsar=1"


# ---------------------------------------------------------------- timing, interlacing

def test_interlaced_source_is_deinterlaced(clips, tmp_path):
    job = plan(probe(clips.interlaced), web(), tmp_path / "i.mp4")
    assert job.filters[0].startswith("bwdif=")
    out = run(job)
    assert not out.video[0].interlaced and out.video[0].frame_count == 25
    job = plan(probe(clips.interlaced), web("video.deinterlace=yadif"), tmp_path / "y.mp4")
    assert job.filters[0].startswith("yadif=")


def test_vfr_to_constant_fps(clips, tmp_path):
    info = probe(clips.vfr)
    assert info.video[0].vfr
    job = plan(info, web("video.fps=20", "video.fps_mode=constant"), tmp_path / "c.mp4")
    assert "fps=fps=20" in job.filters
    v = run(job).video[0]
    assert not v.vfr and v.avg_fps == pytest.approx(20, abs=0.01)


def test_vfr_is_kept_when_fps_is_keep(clips, tmp_path):
    job = plan(probe(clips.vfr), web("video.fps=keep", "video.remux=false"), tmp_path / "k.mp4")
    assert not any(f.startswith("fps=") for f in job.filters)
    assert job.video_args[job.video_args.index("-fps_mode") + 1] == "vfr"
    v = run(job).video[0]
    assert v.vfr and v.frame_count == 50


def test_fps_cap_only_touches_faster_sources(clips, tmp_path):
    info = probe(clips.plain)  # 25 fps
    assert not any(f.startswith("fps=") for f in plan(info, web("video.fps=30"), tmp_path / "a.mp4",
                                                      force_encode=True).filters)
    job = plan(info, web("video.fps=15"), tmp_path / "b.mp4")
    assert "fps=fps=15" in job.filters and not job.remux


@pytest.mark.parametrize("profile,sets", [
    ("web-h264", []), ("archive-hevc", []), ("archive-av1", []),
])
def test_fixed_keyframe_interval_is_exact(clips, tmp_path, profile, sets):
    t = load_profile(profile, [*FAST, "video.keyint=10", "video.quality=40", *sets])
    job = plan(probe(clips.vfr), t, tmp_path / f"k{t.extension}", force_encode=True)
    encode(job)
    keys = keyframe_positions(job.output)
    assert keys == list(range(0, len(keys) * 10, 10)) and len(keys) == 5, keys


def test_keyint_in_seconds_uses_the_output_rate(clips, tmp_path):
    job = plan(probe(clips.plain), web('video.keyint="0.4s"'), tmp_path / "s.mp4")
    assert job.video_args[job.video_args.index("-g") + 1] == "10"


# ---------------------------------------------------------------- color and HDR

def test_hdr_kept_with_tags_on_a_10_bit_target(clips, tmp_path):
    t = load_profile("archive-hevc", FAST)
    job = plan(probe(clips.hdr10), t, tmp_path / "h.mkv", force_encode=True)
    assert "-color_trc" in job.video_args
    v = run(job).video[0]
    assert (v.color_primaries, v.color_transfer, v.color_space, v.hdr, v.bit_depth) == \
        ("bt2020", "smpte2084", "bt2020nc", "PQ", 10)


@pytest.mark.parametrize("clip", ["hdr10", "hlg"])
def test_hdr_tone_mapped_to_sdr(clips, tmp_path, clip):
    job = plan(probe(getattr(clips, clip)), web(), tmp_path / "t.mp4")
    assert any(f.startswith("tonemap=") for f in job.filters)
    v = run(job).video[0]
    assert (v.color_primaries, v.color_transfer, v.color_space, v.hdr, v.bit_depth) == \
        ("bt709", "bt709", "bt709", None, 8)


def test_hdr_rejected_or_refused_on_8_bit(clips, tmp_path):
    with pytest.raises(PlanError, match="rejects HDR"):
        plan(probe(clips.hdr10), web("video.hdr=reject"), tmp_path / "x.mp4")
    with pytest.raises(PlanError, match="8-bit.*cannot carry") as err:
        plan(probe(clips.hdr10), web("video.hdr=keep"), tmp_path / "x.mp4")
    assert "tonemap" in err.value.hint and str(clips.hdr10) in str(err.value)


def test_sdr_color_tags_are_carried(tmp_path):
    from codeckit.demo_media import lavfi_clip
    src = lavfi_clip(tmp_path / "tagged.mp4", size="160x120", duration=0.4,
                     vf="setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv")
    job = plan(probe(src), web(), tmp_path / "o.mkv", force_encode=True)
    v = run(job).video[0]
    assert (v.color_primaries, v.color_transfer, v.color_space) == ("bt709", "bt709", "bt709")


# ---------------------------------------------------------------- quality

def test_vmaf_target_needs_a_knob_value_from_the_search(clips, tmp_path):
    t = web("video.quality.vmaf=93")
    with pytest.raises(ConfigError, match="VMAF search"):
        plan(probe(clips.plain), t, tmp_path / "v.mp4", force_encode=True)
    job = plan(probe(clips.plain), t, tmp_path / "v.mp4", force_encode=True, knob_value=19)
    assert job.video_args[job.video_args.index("-crf") + 1] == "19" and job.knob_value == 19


def test_native_knob_and_common_quality(clips, tmp_path):
    info = probe(clips.plain)
    job = plan(info, web("video.quality.crf=30"), tmp_path / "a.mp4", force_encode=True)
    assert job.video_args[job.video_args.index("-crf") + 1] == "30"
    job = plan(info, web("video.quality=100"), tmp_path / "b.mp4", force_encode=True)
    assert job.video_args[job.video_args.index("-crf") + 1] == "12"


def test_threads_are_passed_to_the_encoder_and_the_decoder(clips, tmp_path):
    info = probe(clips.plain)
    job = plan(info, web(), tmp_path / "a.mp4", force_encode=True, threads=1)
    assert job.video_args[job.video_args.index("-threads") + 1] == "1"
    args = job.args()
    assert args.index("-threads") < args.index("-i")  # an input option: the decoder's
    job = plan(info, load_profile("archive-hevc", FAST), tmp_path / "b.mkv", threads=2)
    assert "pools=2" in job.video_args[job.video_args.index("-x265-params") + 1]
    assert job.input_options[:2] == ["-threads", "2"]
    assert "-threads" not in plan(info, web(), tmp_path / "c.mp4", force_encode=True).input_options
    assert run(plan(info, web(), tmp_path / "d.mp4", force_encode=True, threads=1)).video[0].codec == "h264"


# ---------------------------------------------------------------- audio, subtitles, metadata, container

def test_audio_policies(clips, tmp_path):
    info = probe(clips.plain)  # AAC 96k
    job = plan(info, web("audio.mode=drop"), tmp_path / "d.mp4")
    assert "0:1" not in job.stream_args
    assert len(run(job).audio) == 0
    job = plan(info, web("audio.mode=encode", "audio.codec=aac", "audio.bitrate=64k"), tmp_path / "e.mp4")
    assert job.stream_args[job.stream_args.index("-c:a:0") + 1] == "aac"
    assert job.stream_args[job.stream_args.index("-b:a:0") + 1] == "64k"
    job = plan(info, web("audio.mode=encode", "audio.bitrate=128k"), tmp_path / "c.mp4")
    assert job.stream_args[job.stream_args.index("-c:a:0") + 1] == "copy"  # already AAC under 128k
    job = plan(info, load_profile("archive-av1", FAST + ["container=webm"]), tmp_path / "w.webm")
    assert job.stream_args[job.stream_args.index("-c:a:0") + 1] == "libopus"  # WebM cannot hold AAC
    assert run(job).audio[0].codec == "opus"


def test_subtitles_are_converted_for_the_container(tmp_path, clips):
    srt = tmp_path / "s.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:00,800\nhello\n", encoding="utf-8")
    src = tmp_path / "with_subs.mkv"
    run_ffmpeg(["-i", "file:" + str(clips.plain), "-i", "file:" + str(srt), "-map", "0", "-map", "1", "-c", "copy",
                "-metadata:s:s:0", "language=fra", "file:" + str(src)], loglevel="error")
    info = probe(src)
    job = plan(info, web(), tmp_path / "o.mp4")
    assert job.stream_args[job.stream_args.index("-c:s:0") + 1] == "mov_text"
    out = run(job)
    assert out.subtitles[0].codec == "mov_text" and out.subtitles[0].language == "fra"
    job = plan(info, web("subtitles.mode=drop"), tmp_path / "n.mp4")
    assert len(run(job).subtitles) == 0


def test_metadata_creation_time_and_chapters_kept(tmp_path, clips):
    meta = tmp_path / "meta.txt"
    meta.write_text(";FFMETADATA1\ntitle=Holiday\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=500\ntitle=One\n"
                    "[CHAPTER]\nTIMEBASE=1/1000\nSTART=500\nEND=1000\ntitle=Two\n")
    src = tmp_path / "meta.mp4"
    run_ffmpeg(["-i", "file:" + str(clips.plain), "-f", "ffmetadata", "-i", "file:" + str(meta),
                "-map", "0", "-map_metadata", "1", "-map_chapters", "1", "-c", "copy",
                "-metadata", "creation_time=2011-05-04T10:20:30.000000Z", "-metadata", "location=+48.85+002.35/",
                "file:" + str(src)], loglevel="error")
    for t, name in ((web(), "remux.mp4"), (web("video.remux=false"), "enc.mp4"),
                    (load_profile("archive-hevc", FAST), "enc.mkv")):
        out = run(plan(probe(src), t, tmp_path / name))
        tags = {k.lower(): v for k, v in out.tags.items()}
        assert tags.get("creation_time", "").startswith("2011-05-04T10:20:30"), (name, tags)
        assert tags.get("title") == "Holiday" and out.chapters == 2, (name, tags)
    out = run(plan(probe(src), web("metadata.keep=false", "metadata.chapters=false"), tmp_path / "none.mp4"))
    assert "title" not in {k.lower() for k in out.tags} and out.chapters == 0


def test_mp4_gets_faststart_and_hevc_gets_hvc1(clips, tmp_path):
    job = plan(probe(clips.plain), web(), tmp_path / "a.mp4")
    assert "+faststart" in job.stream_args[job.stream_args.index("-movflags") + 1]
    run(job)
    data = (tmp_path / "a.mp4").read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")
    t = load_profile("archive-hevc", FAST + ["container=mp4"])
    job = plan(probe(clips.plain), t, tmp_path / "h.mp4")
    assert job.video_args[job.video_args.index("-tag:v") + 1] == "hvc1"


def test_no_video_stream_is_a_plan_error(clips, tmp_path):
    with pytest.raises(PlanError, match="no video stream"):
        plan(probe(clips.audio_only), web(), tmp_path / "a.mp4")


def test_dry_run_description(clips, tmp_path):
    job = plan(probe(clips.anamorphic), web(), tmp_path / "-odd name ü.mp4")
    d = job.describe()
    assert d["implementation"] == "libx264" and d["filters"] and d["filter_graph"]
    assert d["command"][-1] == "file:" + str(tmp_path / "-odd name ü.mp4")
    text = str(job)
    assert "libx264" in text and "setsar=1" in text


def test_default_target_is_valid():
    t = Target()
    assert t.video == VideoTarget() and t.extension == ".mp4"
    assert replace(t, container="mkv").fingerprint() != t.fingerprint()


def test_mkv_keeps_attachments(clips, tmp_path):
    font = tmp_path / "font.ttf"
    font.write_bytes(b"\0" * 64)
    src = tmp_path / "att.mkv"
    run_ffmpeg(["-i", "file:" + str(clips.plain), "-attach", str(font), "-metadata:s:t",
                "mimetype=application/x-truetype-font", "-c", "copy", "file:" + str(src)], loglevel="error")
    job = plan(probe(src), load_profile("archive-hevc", FAST), tmp_path / "o.mkv")
    encode(job)
    with av.open(str(job.output)) as c:
        assert [s.type for s in c.streams] == ["video", "audio", "attachment"]
    assert not [n for n in job.notes if "attachment" in n]  # kept: nothing to say


def _dropped(job, what: str) -> list[str]:
    return [n for n in job.notes if what in n and "dropped" in n]


def test_attachments_and_data_streams_not_carried_are_noted(clips, tmp_path):
    # before: MP4 outputs lost the source's attachments and data streams without a word in the plan
    att = probe(with_attachment(clips.plain, tmp_path / "att.mkv"))
    job = plan(att, web(), tmp_path / "att.mp4")
    assert _dropped(job, "1 attachment"), job.notes
    assert "mp4" in _dropped(job, "attachment")[0] and not _dropped(job, "data stream")
    assert "note: " + _dropped(job, "attachment")[0] in str(job)  # the dry run prints it
    run(job)
    with av.open(str(job.output)) as c:  # the note tells the truth
        assert [s.type for s in c.streams] == ["video", "audio"]
    tc = probe(with_timecode(clips.plain, tmp_path / "tc.mp4"))
    for target, out in ((web(), "tc.mp4"), (load_profile("archive-hevc", FAST), "tc.mkv")):
        job = plan(tc, target, tmp_path / "out" / out)
        assert _dropped(job, "1 data stream"), job.notes
        assert not _dropped(job, "attachment")
    webm = load_profile("archive-av1", [*FAST, "container=webm", "audio.codec=opus"])
    assert "webm" in _dropped(plan(att, webm, tmp_path / "att.webm"), "attachment")[0]
    assert not [n for n in plan(probe(clips.plain), web(), tmp_path / "p.mp4").notes if "dropped" in n]


def test_mkv_with_subtitles_dropped_drops_attachments_and_says_so(clips, tmp_path):
    # attachments travel with the subtitles (their fonts): dropping the subtitles drops them, now with a note
    src = with_attachment(clips.plain, tmp_path / "att.mkv")
    job = plan(probe(src), load_profile("archive-hevc", [*FAST, "subtitles.mode=drop"]), tmp_path / "o.mkv")
    assert "subtitles.mode = drop" in _dropped(job, "1 attachment")[0], job.notes
    encode(job)
    with av.open(str(job.output)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]


@pytest.mark.parametrize("size,sar", [("240x320", "1/1"), ("176x144", "12/11"), ("640x272", "1/1")])
def test_a_cover_crop_is_made_before_the_scale_and_keeps_the_same_window(tmp_path, size, sar):
    """exact + aspect=crop: the crop moves before the scale (which then makes only the pixels kept), in source
    pixels, and keeps the window the scale-then-crop chain kept: the two pictures differ by less than a
    source pixel's shift."""
    src = tmp_path / "src.mp4"
    run_ffmpeg(["-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration=0.2", "-vf",
                f"setsar={sar},format=yuv420p", "-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", "file:" + str(src)],
               loglevel="error")
    t = web("video.size=exact", "video.width=854", "video.height=480", "video.aspect=crop")
    job = plan(probe(src), t, tmp_path / "new.mp4")
    crop = [i for i, f in enumerate(job.filters) if f.startswith("crop=")]
    scale = [i for i, f in enumerate(job.filters) if f.startswith("scale=")]
    assert crop and scale and crop[0] < scale[0] and "scale=h=480:w=854" in job.filters
    v = run(job).video[0]
    assert (v.width, v.height, v.sar) == (854, 480, "1:1")
    # the chain as it was: scale the whole picture to cover 854x480 (square pixels), then crop the middle
    w, h = (int(x) for x in size.split("x"))
    sw = w * int(sar.split("/")[0]) / int(sar.split("/")[1])
    s = max(854 / sw, 480 / h)
    ow, oh = max(854, 2 * round(sw * s / 2)), max(480, 2 * round(h * s / 2))
    old = tmp_path / "old.mp4"
    run_ffmpeg(["-y", "-i", "file:" + str(src), "-vf", f"scale={ow}:{oh},crop=854:480,setsar=1", "-c:v", "libx264",
                "-qp", "0", "-preset", "ultrafast", "-frames:v", "1", "file:" + str(old)], loglevel="error")
    a, b = first_frame(job.output).astype(float), first_frame(old).astype(float)
    assert np.abs(a - b).mean() < 3, "the same window, within a source pixel (measured 0.3-0.8)"
    shifted = np.abs(a[:, 60:] - b[:, :-60]).mean()
    assert shifted > 2 * np.abs(a - b).mean(), "the comparison sees a shift of a few pixels"
