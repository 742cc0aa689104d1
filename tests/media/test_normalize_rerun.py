"""`codeckit normalize` rerun into the same OUT with another profile: the manifest must describe the clips on disk."""
from __future__ import annotations

import json
from pathlib import Path

import av
import pytest

from codeckit.demo_media import lavfi_clip
from codeckit.normalize.pipeline import normalize


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return lavfi_clip(tmp_path_factory.mktemp("rerun") / "two.mp4", duration=2, rate="24")


def _check_manifest_against_disk(out: Path) -> list[dict]:
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    for rec in records:
        clip = out / rec["output_path"]
        with av.open(str(clip)) as c:
            frames = sum(1 for _ in c.decode(video=0))
        assert (clip.stat().st_size, frames) == (rec["bytes"], rec["frame_count"]), rec["id"]
    on_disk = {p.relative_to(out).as_posix() for p in (out / "clips").rglob("*.mp4")}
    assert on_disk == {r["output_path"] for r in records}   # no clip of another profile left beside them
    return records


def test_switching_clip_length_and_back_keeps_manifest_and_clips_in_step(source, tmp_path):
    out = tmp_path / "out"
    one = normalize([source], out, clips={"mode": "fixed", "length_s": 1.0}, jobs=1)
    assert len(_check_manifest_against_disk(out)) == 2 and one.processed == 1
    two = normalize([source], out, clips={"mode": "fixed", "length_s": 2.0}, jobs=1)
    assert len(_check_manifest_against_disk(out)) == 1 and two.processed == 1
    # the journal still holds the 1 s run as finished, but clip 0 was overwritten by the 2 s run: redo, do not
    # list a 48-frame file as a 24-frame clip
    back = normalize([source], out, clips={"mode": "fixed", "length_s": 1.0}, jobs=1)
    assert len(_check_manifest_against_disk(out)) == 2 and back.processed == 1


def test_a_rerun_with_a_change_that_leaves_the_clips_alone_still_skips(source, tmp_path):
    out = tmp_path / "out"
    normalize([source], out, clips={"mode": "fixed", "length_s": 1.0}, jobs=1)
    again = normalize([source], out, clips={"mode": "fixed", "length_s": 1.0}, jobs=1)
    assert (again.processed, again.skipped) == (0, 1)
    _check_manifest_against_disk(out)
