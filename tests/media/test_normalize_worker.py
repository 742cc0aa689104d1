"""The normalize worker (the steps one source walks) and the OUT output spec, on real FFmpeg output."""
from __future__ import annotations

import os

import pytest

from codeckit.demo_media import lavfi_clip
from codeckit.errors import CodeckitError
from codeckit.normalize.filters import Black, SourceFilter, Static
from codeckit.normalize.outputs import OutputSpec
from codeckit.normalize.profile import DEFAULT_PROFILE, load_training_profile
from codeckit.normalize.scan import FrameScan, scan
from codeckit.normalize.steps import Item, Rejected
from codeckit.normalize.worker import Task, build_steps, process_source
from codeckit.normalize.writers import parse_size
from codeckit.probe import probe


def _task(source, out_dir) -> Task:
    return Task(source=str(source), content_hash="0" * 64, key="k", profile=load_training_profile(DEFAULT_PROFILE),
                out_dir=str(out_dir))


def test_a_source_walks_steps_named_after_what_they_do(tmp_path):
    steps = build_steps(_task(tmp_path / "x.mp4", tmp_path))
    names = [type(s).__name__ for s in steps]
    assert names[:2] == ["ReadInfo", "ScanFrames"]
    assert names[-3:] == ["CutClips", "Annotate", "EncodeClips"]
    assert steps[2:-3] and all(isinstance(s, SourceFilter) for s in steps[2:-3])


def test_a_file_that_is_not_media_is_rejected_with_its_reason_not_raised(clips, tmp_path):
    entry = process_source(_task(clips.not_media, tmp_path))
    assert entry["status"] == "rejected" and entry["rejection"]["reason"] == "decodable"
    assert entry["records"] == [] and entry["source_s"] == 0.0
    assert entry["cpu_s"] >= 0 and entry["pid"] == os.getpid()


def _scanned(path) -> Item:
    return Item(source=path, info=probe(path), scan=scan(path))


def test_black_and_static_judge_the_share_of_frame_samples(tmp_path):
    rules = load_training_profile(DEFAULT_PROFILE).filters
    black = _scanned(lavfi_clip(tmp_path / "black.mp4", duration=1, source="color"))
    static = _scanned(lavfi_clip(tmp_path / "static.mp4", source="testsrc", duration=0.04,
                                 vf="loop=loop=24:size=1,setpts=N/25/TB"))
    moving = _scanned(lavfi_clip(tmp_path / "moving.mp4", duration=1))
    assert isinstance(black.scan, FrameScan)
    with pytest.raises(Rejected) as err:
        Black(rules.max_black_fraction, rules.black_luma)(black)
    assert (err.value.reason, err.value.value, err.value.limit) == ("black", 1.0, 0.5)
    assert err.value.message == "100% of sampled frames are black (limit 50%)"
    with pytest.raises(Rejected) as err:
        Static(rules.max_static_fraction, rules.static_diff)(static)
    assert (err.value.reason, err.value.value, err.value.limit) == ("static", 1.0, 0.9)
    assert err.value.message == "100% of sample-to-sample steps show no change (limit 90%)"
    Black(rules.max_black_fraction, rules.black_luma)(moving)
    Static(rules.max_static_fraction, rules.static_diff)(moving)
    assert moving.measurements == {"black": 0.0, "static": 0.0}


def test_the_output_spec_refuses_an_unknown_shard_format_before_any_folder_is_made(tmp_path):
    with pytest.raises(CodeckitError) as err:
        OutputSpec.check(tmp_path / "out", "tar", "1GB", False)
    assert err.value.hint == "use --shards webdataset"
    assert not (tmp_path / "out").exists()
    spec = OutputSpec.check(tmp_path / "out", "webdataset", "2MB", False)
    assert spec.shard_bytes == parse_size("2MB") and spec.out.is_absolute() and not spec.parquet
