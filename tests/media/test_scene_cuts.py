"""Scene cuts for `normalize --clips scenes`: PySceneDetect's detector on the scan's frames finds the hard cuts of an
edited clip (real and synthetic shots, a mirrored near-copy, upscaled low-resolution footage), gradual transitions
are trimmed, and no written clip holds a cut or a frame of a fade or dissolve."""
from __future__ import annotations

import json

import pytest

from codeckit.demo_media import Segment as S, edited_clip
from codeckit.errors import ConfigError
from codeckit.normalize.cuts import require_detector
from codeckit.normalize.pipeline import normalize
from codeckit.normalize.profile import ClipRules
from codeckit.normalize.scan import scan

RATE = 25
SEGMENTS = [S("bigbuckbunny", 0, 1.2), S("bikes", 1.25, 1.2), S("bikes", 1.25, 1.2, flip=True),
            S("carphone", 0, 1.2, lowres=88), S("bigbuckbunny", 2.0, 2.0, "dissolve"),
            S("lavfi:testsrc2", 0, 2.0, "fadeblack"), S("lavfi:mandelbrot", 0, 1.2)]


@pytest.fixture(scope="module")
def edited(tmp_path_factory):
    path = tmp_path_factory.mktemp("cuts") / "edited.mp4"
    return path, edited_clip(path, SEGMENTS, size="320x180", rate=RATE)


def test_the_default_detector_finds_every_hard_cut_within_a_frame_and_the_transitions(edited):
    path, truth = edited
    s = scan(path, scenes=True, rules=ClipRules(mode="scenes"))
    found = [round(t * RATE) for t in s.scene_times]
    assert len(found) == len(truth.cuts) and all(abs(f - c) <= 1 for f, c in zip(found, truth.cuts)), found
    trimmed = [(round(a * RATE), round(b * RATE) - 1) for a, b in s.transitions]
    for a, b in truth.transitions:  # every transition lies inside one trimmed span
        assert any(ta <= a and b <= tb for ta, tb in trimmed), (a, b, trimmed)


def test_the_old_luma_detector_is_still_there_and_weaker(edited):
    path, truth = edited
    s = scan(path, scenes=True, rules=ClipRules(mode="scenes", detector="luma", trim_transitions=False))
    assert s.transitions == [] and len(s.scene_times) != len(truth.cuts)


def test_no_written_clip_straddles_a_cut_or_holds_a_transition(edited, tmp_path):
    path, truth = edited
    out = tmp_path / "out"
    summary = normalize([path], out, "training-480p24", clips={"mode": "scenes", "min_length_s": 0.5}, jobs=1)
    recs = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert summary.clips_out == len(recs) >= 5
    for r in recs:
        # the source frames the clip shows: its first and last 24 fps output frames, on the source's 25 fps grid
        a, b = round(r["clip_start_s"] * RATE), round((r["clip_end_s"] - 1 / 24) * RATE)
        assert not any(a < c <= b for c in truth.cuts), r
        assert not any(ta <= b and a <= tb for ta, tb in truth.transitions), r
        inside = scan(out / r["output_path"], scenes=True, rules=ClipRules(mode="scenes"))
        assert inside.scene_times == [] and inside.transitions == [], (r, inside.scene_times, inside.transitions)


def test_a_missing_pyscenedetect_names_the_extra_before_any_work(monkeypatch, tmp_path):
    monkeypatch.setitem(__import__("sys").modules, "scenedetect", None)  # import fails as when not installed
    require_detector("luma")
    with pytest.raises(ConfigError) as err:
        normalize([tmp_path], tmp_path / "out", "training-480p24", clips={"mode": "scenes"})
    assert err.value.code == "missing_extra" and "codeckit[scenes]" in err.value.hint
    assert not (tmp_path / "out").exists()
