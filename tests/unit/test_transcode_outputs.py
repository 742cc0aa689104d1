"""Output names of a transcode batch: one per source, never two sources on one output (local and S3 alike)."""
from __future__ import annotations

from pathlib import PurePosixPath as P

from codeckit.transcode import output_names


def test_sources_that_would_meet_keep_their_extension_and_the_one_named_like_the_output_keeps_its_name():
    assert output_names([P("a.mov"), P("a.mp4"), P("b.mkv")], ".mp4") == [P("a.mov.mp4"), P("a.mp4"), P("b.mp4")]


def test_a_kept_extension_that_is_another_sources_name_gets_a_number():
    # before: a.mov -> a.mov.mp4, and the source a.mov.mp4 -> a.mov.mp4 too: both "done", one overwrote the other
    outs = output_names([P("a.mov"), P("a.mov.mp4"), P("a.mp4")], ".mp4")
    assert outs == [P("a.mov-2.mp4"), P("a.mov.mp4"), P("a.mp4")]
    assert len(set(outs)) == 3


def test_every_name_is_unique_whatever_the_mix():
    rels = [P(n) for n in ("x/a.mov", "x/a.mp4", "x/a.mov.mp4", "x/a.mov-2.mp4", "x/a.mkv", "x/a.MP4", "y/a.mov")]
    outs = output_names(rels, ".mp4")
    assert len(set(outs)) == len(rels), outs
    assert outs[1] == P("x/a.mp4") and outs[-1] == P("y/a.mp4")
