"""The parts of `codeckit normalize` on real media: scan, filters, scene clips, truncated sources, engines."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codeckit.ffmpeg import run_ffmpeg
from codeckit.normalize import clips as clipmod
from codeckit.normalize.filters import build_filters
from codeckit.normalize.profile import ClipRules, FilterRules
from codeckit.normalize.scan import scan
from codeckit.normalize.steps import Item, Rejected, run_steps
from codeckit.probe import probe
from codeckit.demo_media import lavfi_clip


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    d = tmp_path_factory.mktemp("parts")
    out = {
        "moving": lavfi_clip(d / "moving.mp4", duration=2, extra=["-g", "25"]),
        "black": lavfi_clip(d / "black.mp4", duration=2, source="color"),  # black by default
        "static": lavfi_clip(d / "static.mp4", source="testsrc", duration=0.04,
                             vf="loop=loop=49:size=1,setpts=N/25/TB"),
        "short": lavfi_clip(d / "short.mp4", duration=0.5),
    }
    # three scenes: testsrc2, then smptebars, then rgbtestsrc (1 s each)
    scenes = d / "scenes.mp4"
    run_ffmpeg(["-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1",
                "-f", "lavfi", "-i", "smptebars=size=320x240:rate=25:duration=1",
                "-f", "lavfi", "-i", "rgbtestsrc=size=320x240:rate=25:duration=1",
                "-filter_complex", "[0:v][1:v][2:v]concat=n=3:v=1[v]", "-map", "[v]",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "file:" + str(scenes)],
               loglevel="error")
    out["scenes"] = scenes
    mkv = lavfi_clip(d / "long.mkv", duration=4, extra=["-g", "25"])
    cut = d / "cut.mkv"
    cut.write_bytes(mkv.read_bytes()[: mkv.stat().st_size // 3])
    out["cut"] = cut
    return out


def _item(path: Path, **scan_kw) -> Item:
    return Item(source=path, info=probe(path), scan=scan(path, **scan_kw))


def _reason(path: Path, rules=FilterRules()) -> str | None:
    try:
        run_steps(build_filters(rules), _item(path))
    except Rejected as r:
        return r.reason
    return None


def test_moving_clip_passes_every_filter_and_keeps_its_measurements(parts):
    item = run_steps(build_filters(FilterRules()), _item(parts["moving"]))
    m = item.measurements
    assert m["duration"] == pytest.approx(2.0, abs=0.05)
    assert m["black"] == 0 and m["static"] == 0
    assert m["decodable"]["truncated"] is False
    assert m["bits_per_pixel"] > 0.005


def test_black_static_short_and_starved_sources_are_rejected_with_value_and_limit(parts):
    assert _reason(parts["black"]) == "black"
    assert _reason(parts["static"]) == "static"
    assert _reason(parts["short"]) == "duration"
    # any source is starved under a high enough floor; a real starved one also stops changing (static)
    assert _reason(parts["moving"], FilterRules(min_bits_per_pixel=5.0)) == "bits_per_pixel"
    with pytest.raises(Rejected) as err:
        run_steps(build_filters(FilterRules()), _item(parts["black"]))
    assert err.value.value == 1.0 and err.value.limit == 0.5


def test_a_matroska_file_cut_short_is_rejected_as_truncated(parts):
    with pytest.raises(Rejected) as err:
        run_steps(build_filters(FilterRules()), _item(parts["cut"]))
    assert err.value.reason == "decodable" and "truncated" in err.value.message
    assert err.value.value["end_s"] < 0.9 * err.value.value["declared_s"]


def test_size_and_aspect_rules_use_the_upright_picture(parts, clips):
    rules = FilterRules(min_width=300, min_height=300)
    with pytest.raises(Rejected) as err:  # 320x240 shown turned by 90 degrees: 240x320
        run_steps(build_filters(rules), _item(clips.rotated))
    assert err.value.reason == "resolution" and err.value.value == [240, 320]
    assert _reason(clips.rotated, FilterRules(max_aspect=0.7)) == "aspect"


def test_keyframes_are_the_samples_when_there_are_enough(parts):
    s = scan(parts["moving"], min_samples=2)  # -g 25 over 2 s: two keyframes
    assert s.sample_mode == "keyframes" and len(s.sample_times) == 2
    assert s.keyframe_interval_frames() == {25}


def test_scene_scan_finds_the_two_cuts_and_clips_follow_them(parts):
    s = scan(parts["scenes"], scenes=True)
    assert s.sample_mode == "decode-all"
    assert [round(t, 2) for t in s.scene_times] == [1.0, 2.0]
    cl = clipmod.plan_clips(s.end_s, ClipRules(mode="scenes", min_length_s=0.5, max_length_s=10), fps=24,
                            scene_times=s.scene_times)
    assert [(c.start_s, c.end_s) for c in cl] == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]


def _square(x):
    import os
    return x * x, os.getpid()


@pytest.mark.cluster
@pytest.mark.parametrize("backend", ["dask", "ray"])
def test_a_local_cluster_is_started_and_stopped_for_the_run(backend):
    pytest.importorskip({"dask": "distributed", "ray": "ray"}[backend])
    import joblib
    from codeckit.cluster import engine
    with engine(backend, jobs=2) as eng:
        assert eng.started_here and eng.joblib_backend == backend
        out = joblib.Parallel()(joblib.delayed(_square)(i) for i in range(4))
    assert [v for v, _ in out] == [0, 1, 4, 9]
    assert np.unique([pid for _, pid in out]).size >= 1




def test_the_heaviest_sources_are_queued_first_weighed_from_their_headers(parts, tmp_path):
    """Two workers, in name order, would leave the 4 s 1080p source for last, alone on one core; the queue
    weighs each source by its duration and picture (from its headers, nothing decoded: the worker probes it, and
    scans it on that open container) and starts it first. A file that does not open keeps weight 1 and goes last,
    for its worker to reject by name."""
    from codeckit.batch import BatchItem
    from codeckit.normalize.pipeline import _longest_first
    from codeckit.normalize.profile import load_training_profile
    from codeckit.normalize.worker import Task

    big = lavfi_clip(tmp_path / "z-big.mp4", duration=4, size="1920x1080")
    broken = tmp_path / "a-broken.mp4"
    broken.write_bytes(b"not a video")
    prof = load_training_profile("training-480p24", (), None)
    names = [parts["short"], broken, parts["moving"], big]
    items = [BatchItem(key=str(p), label=str(p), payload=Task(source=str(p), content_hash="", key=str(p),
                                                              profile=prof, out_dir=str(tmp_path)))
             for p in sorted(names)]
    order = _longest_first(items, jobs=2)
    assert [Path(it.label).name for it in order] == ["z-big.mp4", "moving.mp4", "short.mp4", "a-broken.mp4"]
    assert order[0].weight > 4 > order[1].weight > order[2].weight and order[3].weight == 1
    assert all(it.payload.info is None for it in order), "the worker probes (once, with its scan)"


def test_a_big_batch_is_not_probed_while_queued_but_ordered_by_size(parts, tmp_path, monkeypatch):
    """Probing 100k sources before the first encode would show nothing for minutes: past the cap, the queue
    goes by file size, and the workers probe."""
    from codeckit.batch import BatchItem
    from codeckit.normalize import pipeline
    from codeckit.normalize.profile import load_training_profile
    from codeckit.normalize.worker import Task

    monkeypatch.setattr(pipeline, "PROBE_WHEN_QUEUED_MAX", 2)
    prof = load_training_profile("training-480p24", (), None)
    names = sorted([parts["short"], parts["moving"], parts["scenes"]])
    items = [BatchItem(key=str(p), label=str(p), payload=Task(source=str(p), content_hash="", key=str(p),
                                                              profile=prof, out_dir=str(tmp_path)))
             for p in names]
    order = pipeline._longest_first(items, jobs=2)
    sizes = [Path(it.label).stat().st_size for it in order]
    assert sizes == sorted(sizes, reverse=True) and [it.weight for it in order] == sizes
    assert all(it.payload.info is None for it in order)
