"""The batched per-title runs' exact argv: one encode run per sample (each size scaled once, split among its knob
values, each output with the encoder options a lone sample encode has) and one scoring run (the reference read
once and split, one libvmaf per distorted with its own log)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from codeckit.codecs import BY_NAME
from codeckit.quality import QualitySettings
from codeckit.quality_graph import ComparedSpan, InputVideo, batch_scoring_command, scoring_command
from codeckit.search.samples import EncodeRecipe, Span, batch_sample_args, encode_args


def _recipe(w, h, speed="faster"):
    return EncodeRecipe(BY_NAME["libx264"], speed, 8, (f"scale={w}:{h}:flags=bicubic", "setsar=1"))


def test_one_encode_run_scales_each_size_once_and_keeps_each_encodes_options():
    small, big, slow_small = _recipe(416, 234), _recipe(1280, 720), _recipe(416, 234, "fast")
    outs = [(small, 21, "/t/a.mkv"), (small, 31, "/t/b.mkv"), (big, 21, "/t/c.mkv"), (slow_small, 21, "/t/d.mkv")]
    args = batch_sample_args("/t/w0.nut", outs, input_options=["-colorspace", "bt709"])
    graph = args[args.index("-filter_complex") + 1]
    assert graph == ("[0:0]split=2[c0][c1];[c0]scale=416:234:flags=bicubic,setsar=1,split=3[o0][o1][o3];"
                     "[c1]scale=1280:720:flags=bicubic,setsar=1,split=1[o2]")
    assert args.index("-colorspace") < args.index("file:/t/w0.nut")
    for n, (recipe, knob, out) in enumerate(outs):
        lone = encode_args("/t/w0.nut", out, recipe, knob, Span(), 0)
        after_vf = lone[lone.index("-vf") + 2:]          # the encoder's options, video only, format, output
        at = args.index("[o%d]" % n)
        assert args[at + 1:at + 1 + len(after_vf)] == after_vf


def _video(name, w, h):
    return InputVideo(Path("/t") / name, 0, w, h, "1:1", Fraction(25), False, "yuv420p", 1.25)


def test_one_scoring_run_reads_the_reference_once(tmp_path):
    s = QualitySettings(model="vmaf_v0.6.1", subsample=5, size=(1920, 1080), threads=1, start_s=0.21,
                        duration_s=0.54)
    ref, dists = _video("w0.nut", 1920, 1080), [_video("a.mkv", 416, 234), _video("b.mkv", 1920, 1080)]
    span = ComparedSpan(0.21, 0.21, 0.54, 0.54)
    cmds = batch_scoring_command(ref, dists, s, [span, span], tmp_path)
    args = cmds[0].args
    assert all(c.args == args for c in cmds) and args.count("file:/t/w0.nut") == 1
    graph = args[args.index("-filter_complex") + 1]
    assert graph.count("split=2") == 1 and graph.count("libvmaf=") == 2
    assert [c.log_path for c in cmds] == [tmp_path / "0" / "vmaf.json", tmp_path / "1" / "vmaf.json"]
    # each pair is filtered as in its own run
    lone = scoring_command(ref, dists[0], s, span, tmp_path / "0")
    lone_graph = lone.args[lone.args.index("-filter_complex") + 1]
    assert lone_graph.split("libvmaf=")[1].split("[")[0] in graph
    assert cmds[0].alignment == lone.alignment
    with pytest.raises(ValueError):
        batch_scoring_command(ref, dists, s, [span, ComparedSpan(0.0, 0.21, 0.54, 0.54)], tmp_path)


@pytest.mark.parametrize("rate, first, count", [
    ("24000/1001", 5, 13), ("24", 5, 13), ("25", 6, 14), ("30000/1001", 7, 16), ("30", 7, 16), ("50", 12, 26),
    ("60000/1001", 14, 31), ("60", 14, 31)])
def test_a_samples_score_trim_keeps_its_frames_with_both_ends_off_any_frame(rate, first, count):
    """A sample's score (0.25 s in, from its lead frame, 0.5 s and the lead): the frames the plain trim keeps
    (the first frame at or after the start; a frame exactly at the start kept, one exactly at the end not),
    both ends half a frame off a frame, so that the chained score can plan the count at every rate."""
    from codeckit.quality_graph import frame_exact_trim, span_frames
    fps = Fraction(rate)
    lead = 1 / float(fps)
    start, duration = frame_exact_trim(0.25 - lead, 0.5 + lead, fps)
    assert start * fps == pytest.approx(first - 0.5) and duration * fps == pytest.approx(count - 0.5)
    assert span_frames(duration, fps) == count
    # the plain trim's end is within a millisecond of a frame at every rate but 25 (the 1001 rates: 0.5 ms)
    assert (span_frames(0.5 + lead, fps) is None) == (rate != "25")
    assert frame_exact_trim(0.0, 0.5, fps)[0] == 0.0          # no frame before the first: no seek back
