"""A clip cut out of a source holds exactly the frames the profile asks, where a plain `-ss` would lose one:
a container whose seek is not exact (MPEG-TS), and a clip that starts between the source's frames and runs
to its end (regressions: "46 frames, not 48" and "64 frames, not 65" on the bench corpus)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codeckit.demo_media import lavfi_clip
from codeckit.normalize.encode_clip import clip_job, encode_clip
from codeckit.normalize.profile import load_training_profile
from codeckit.normalize.scan import scan
from codeckit.normalize.steps import ClipSpan
from codeckit.probe import probe
from codeckit.sources import open_media


@pytest.fixture(scope="module")
def target():
    return load_training_profile("training-480p24").target


def _frames(path: Path) -> list[np.ndarray]:
    with open_media(path) as c:
        return [f.reformat(width=64, height=36, format="gray").to_ndarray().astype(float)
                for f in c.decode(c.streams.video[0])]


def _cut(src: Path, target, clip: ClipSpan, out: Path):
    info, s = probe(src), scan(src)
    job = clip_job(info, s, target, clip, False, out)
    return job, encode_clip(job)


def test_mpegts_clip_off_a_keyframe_keeps_every_frame(tmp_path, target):
    # MPEG-2 in TS, B-frames, a keyframe every 12 frames (0.48 s): 2.0 s is between the keyframes at 1.92 and 2.40,
    # and the TS demuxer's seek lands past the first of them
    src = lavfi_clip(tmp_path / "gop12.ts", duration=3, codec="mpeg2video",
                     extra=["-g", "12", "-bf", "2", "-q:v", "3"])
    assert 1.9 < [k for k in scan(src).keyframe_times if k <= 2.0][-1] < 2.0
    job, out = _cut(src, target, ClipSpan(1, 2.0, 3.0), tmp_path / "tail.mp4")
    assert out.frames == job.expect.frames == 24
    assert job.expect.frames_exact
    # the same frames the whole source's encode holds from 2.0 s (its 48th), not frames from 2.40 s on
    _cut(src, target, ClipSpan(0, 0.0, 3.0), tmp_path / "whole.mp4")
    whole = _frames(tmp_path / "whole.mp4")
    for i, frame in enumerate(_frames(tmp_path / "tail.mp4")[:3]):
        assert int(np.argmin([np.abs(frame - f).mean() for f in whole])) == 48 + i


def test_tail_clip_starting_between_source_frames_holds_what_the_source_covers(tmp_path, target):
    # 25 fps source; a 24 fps clip from 53/24 s (2.2083: source frames at 2.20 and 2.24) to the end at 3.0 s
    src = lavfi_clip(tmp_path / "25fps.mp4", duration=3, extra=["-g", "25"])
    start = round(53 / 24, 6)
    job, out = _cut(src, target, ClipSpan(2, start, 3.0), tmp_path / "tail.mp4")
    assert out.frames == job.expect.frames == 19          # (3.0 - 53/24) x 24
    assert "-ss" in job.video_args                         # pre-rolled: the fps grid starts on the clip's start


def test_clip_on_the_source_grid_is_not_pre_rolled(tmp_path, target):
    src = lavfi_clip(tmp_path / "24fps.mp4", rate="24", duration=2, extra=["-g", "24"])
    job, out = _cut(src, target, ClipSpan(1, 1.0, 2.0), tmp_path / "tail.mp4")
    assert out.frames == 24
    assert "-ss" not in job.video_args and job.input_options[:2] == ["-ss", "1.000000"]
