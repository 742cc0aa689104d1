"""Batched sample encodes and scores (search.sample_batch, quality.measure_batch): the same bytes and the same
VMAF as the Prober's one-at-a-time path, in fewer FFmpeg runs."""
from __future__ import annotations

from pathlib import Path

import pytest

from codeckit.codecs import BY_NAME
from codeckit.demo_media import lavfi_clip
from codeckit.ffmpeg import build_info, input_url, run_ffmpeg
from codeckit.probe import probe
from codeckit.quality import QualitySettings, measure, measure_batch
from codeckit.search import EncodeRecipe
from codeckit.search.model import KnobGrid
from codeckit.search.sample_batch import probe_all
from codeckit.search.sample_encode import Prober

SIZES = ((160, 90), (320, 180))
KNOBS = (21, 31)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """6 s at 320x180: long enough for two half-second samples with their rolls (decoded windows)."""
    return lavfi_clip(tmp_path_factory.mktemp("batch") / "src.mp4", size="320x180", duration=6)


def _probers(source: Path) -> list[Prober]:
    info, impl = probe(source), BY_NAME["libx264"]
    grid = KnobGrid.of(impl.knob, impl.knob.lo, impl.knob.hi)
    probers: list[Prober] = []
    for (w, h), speed in [(s, "faster") for s in SIZES] + [(SIZES[0], "fast")]:
        recipe = EncodeRecipe(impl, speed, 8, (f"scale={w}:{h}:flags=bicubic", "setsar=1"))
        probers.append(Prober(source, info, recipe, grid, build_info().version, samples=2, sample_duration_s=0.5,
                              model="auto", subsample=None, cache=False, on_probe=None, score_size=SIZES[-1],
                              windows_of=probers[0] if probers else None, score_threads=1))
    return probers


def probe_both_ways(lone: list[Prober], batched: list[Prober], knobs, vmaf_abs: float = 1e-9) -> tuple[list, list]:
    """(probes one at a time, probes by probe_all) at `knobs`, checked equal (bytes, rate, VMAF, frames
    scored); every prober closed."""
    try:
        assert lone[0].use_windows and len(lone[0].spans) == 2
        us = [lone[0].grid.u(k) for k in knobs]
        expected = [[pr(u) for u in us] for pr in lone]
        got = probe_all([(pr, us) for pr in batched])
    finally:
        for pr in reversed(lone + batched):
            pr.close()
    for exp_row, got_row in zip(expected, got):
        for e, g in zip(exp_row, got_row):
            assert (g.knob, g.bytes, g.bitrate) == (e.knob, e.bytes, e.bitrate)
            assert g.vmaf == pytest.approx(e.vmaf, abs=vmaf_abs)
            assert [r.scored_frames for r in g.samples] == [r.scored_frames for r in e.samples]
    return expected, got


def test_batched_probes_equal_the_one_at_a_time_ones(source):
    lone, batched = _probers(source), _probers(source)
    expected, got = probe_both_ways(lone, batched, KNOBS)
    assert all(p.cpu_s > 0 for row in got for p in row)
    # the window's decode is counted once per sample, as on the one-at-a-time path
    windows = [r.window_cpu_s for pr in batched for p in pr.probes.values() for r in p.samples]
    assert sum(1 for w in windows if w > 0) == 2


def test_measure_batch_scores_each_as_measure_does(source, tmp_path):
    outs = []
    for crf in (20, 45):
        outs.append(tmp_path / f"d{crf}.mp4")
        run_ffmpeg(["-y", "-i", input_url(source), "-vf", "scale=160:90", "-c:v", "libx264", "-preset", "veryfast",
                    "-crf", str(crf), input_url(outs[-1])], loglevel="error")
    s = QualitySettings(size=(320, 180), subsample=2, threads=1, start_s=1.0, duration_s=2.0)
    lone = [measure(source, d, s) for d in outs]
    batch = measure_batch(source, outs, s)
    for a, b in zip(lone, batch):
        assert b.per_frame["vmaf"] == a.per_frame["vmaf"] and b.frame_numbers == a.frame_numbers
        assert b.alignment == a.alignment and b.cpu_s > 0
    assert lone[0].score > lone[1].score
