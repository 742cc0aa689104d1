"""The per-title analysis's batched scores do not compute the lead frame (issue 12): one libvmaf per sample's
encodes (quality_graph.chained_scoring_command) scores only the frames kept, and those exactly as the
one-at-a-time path (Prober.__call__, which scores the lead frame and drops it) scores them."""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from codeckit import quality
from codeckit.codecs import BY_NAME
from codeckit.demo_media import lavfi_clip
from codeckit.ffmpeg import build_info, run_ffmpeg
from codeckit.probe import probe
from codeckit.quality import QualitySettings
from codeckit.quality_graph import batch_scoring_command, chained_scoring_command
from codeckit.search import EncodeRecipe
from codeckit.search.model import KnobGrid
from codeckit.search.sample_encode import Prober
from tests.media.test_sample_batch import probe_both_ways

SIZES = ((160, 90), (320, 180))
KNOBS = (21, 33)
SUBSAMPLE = 5          # the per-title analysis's (package.per_title.VMAF_SUBSAMPLE)


#: The common rates: at 24, 30, 50 and 60 fps a sample's score (a lead frame and 0.5 s) is a whole number of
#: frames, and the trim's end fell exactly on a frame before `quality_graph.frame_exact_trim`.
RATES = ("24000/1001", "24", "25", "30000/1001", "30", "50", "60000/1001", "60")


@pytest.fixture(scope="module", params=RATES, ids=lambda r: r.replace("/", "_"))
def source(request, tmp_path_factory) -> Path:
    """6 s at 320x180 (temporal noise: motion in every frame, so a wrong neighbour changes motion2): two half-second
    samples, each scored from its lead frame over 13 (23.976, 24 fps) to 31 frames (59.94, 60 fps)."""
    folder = tmp_path_factory.mktemp("lead" + request.param.replace("/", "_"))
    return lavfi_clip(folder / "src.mp4", size="320x180", rate=request.param, duration=6, vf="noise=alls=12:allf=t")


def _probers(source: Path) -> list[Prober]:
    info, impl = probe(source), BY_NAME["libx264"]
    grid = KnobGrid.of(impl.knob, impl.knob.lo, impl.knob.hi)
    probers: list[Prober] = []
    for w, h in SIZES:
        # x264 on one thread: threaded, its sample encodes here came out a few bytes apart now and then (at 60
        # fps, 314212 against 314231 bytes in one probe of 8), on either path
        recipe = EncodeRecipe(impl, "faster", 8, (f"scale={w}:{h}:flags=bicubic", "setsar=1"), ("-threads", "1"))
        probers.append(Prober(source, info, recipe, grid, build_info().version, samples=2, sample_duration_s=0.5,
                              model="auto", subsample=SUBSAMPLE, cache=False, on_probe=None, score_size=SIZES[-1],
                              windows_of=probers[0] if probers else None, score_threads=1))
    return probers


def test_kept_scores_equal_the_one_at_a_time_path(source, monkeypatch):
    """Per-frame VMAF of the frames kept, as the unbatched path computes them (which scores the lead frame too)."""
    frames: dict[str, list] = {"lone": [], "batched": []}
    real = quality.measure_batch
    monkeypatch.setattr("codeckit.search.sample_batch.measure_batch",
                        lambda *a, **k: _keep(frames["batched"], real(*a, **k)))
    real_measure = quality.measure
    monkeypatch.setattr("codeckit.search.sample_encode.measure",
                        lambda *a, **k: _keep(frames["lone"], [real_measure(*a, **k)])[0])
    lone, batched = _probers(source), _probers(source)
    probe_both_ways(lone, batched, KNOBS, vmaf_abs=1e-6)   # probes: bytes, rate, VMAF, frames scored
    # the lone path's per-frame scores with its lead frame dropped, encode by encode (by prober and file name)
    def key(q, probers):
        return [pr.workdir for pr in probers].index(Path(q.distorted).parent), Path(q.distorted).name
    lone_kept = {key(q, lone): (q.frame_numbers[1:], q.per_frame["vmaf"][1:]) for q in frames["lone"]}
    assert len(frames["batched"]) == len(lone_kept) == 2 * len(SIZES) * len(KNOBS)
    for q in frames["batched"]:
        numbers, values = lone_kept[key(q, batched)]
        assert q.frame_numbers == numbers and numbers[0] == SUBSAMPLE     # frame 0, the lead, is not among them
        assert q.per_frame["vmaf"][:-1] == pytest.approx(values[:-1], abs=1e-6)
        # a span ending on a kept frame (30, 50, 60 fps): the lone run's last frame has its motion2 from
        # libvmaf's flush, which rounds it apart by up to 1e-6 (2.909933 against 2.909932 at 50 fps; VMAF 2e-6)
        assert q.per_frame["vmaf"][-1] == pytest.approx(values[-1], abs=5e-6)
    assert all("concat" in " ".join(q.command) for q in frames["batched"])     # chained at every rate
    scored = probe(source).video[0].avg_fps * 0.5 + 1          # the lead frame and the sample's 0.5 s
    assert all(q.frame_numbers == list(range(SUBSAMPLE, math.ceil(scored - 1e-3), SUBSAMPLE))
               for q in frames["batched"])


def _keep(into: list, results: list) -> list:
    into.extend(results)
    return results


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> tuple[Path, list[Path]]:
    """A 1 s 25 fps reference and three encodes of it."""
    folder = tmp_path_factory.mktemp("leadpairs")
    ref = lavfi_clip(folder / "ref.mkv", size="320x180", duration=1, vf="noise=alls=12:allf=t")
    outs = []
    for crf in (18, 30, 42):
        outs.append(folder / f"d{crf}.mkv")
        run_ffmpeg(["-y", "-i", str(ref), "-vf", "scale=160:90", "-c:v", "libx264", "-preset", "veryfast",
                    "-crf", str(crf), str(outs[-1])], loglevel="error")
    return ref, outs


def _scored(args: list[str], logs: list[Path]) -> list[int]:
    run_ffmpeg(args, loglevel="error")
    return [len(json.loads(p.read_text())["frames"]) for p in logs]


def test_the_lead_frame_is_scored_once_per_run_not_once_per_encode(pairs, tmp_path):
    """Counted in libvmaf's own logs: the split run scores frame 0 of every pair; the chained run only the
    first pair's, and every pair's kept frames (5 and 10 of 14) once."""
    ref_path, dist_paths = pairs
    s = QualitySettings(size=(320, 180), subsample=SUBSAMPLE, threads=1, start_s=0.2, duration_s=0.54)
    ref = quality._video_of(ref_path, "reference")
    dists = [quality._video_of(d, "distorted video") for d in dist_paths]
    spans = [quality._compared_span(ref, d, s) for d in dists]
    split = batch_scoring_command(ref, dists, s, spans, tmp_path / "split")
    assert _scored(split[0].args, [c.log_path for c in split]) == [3, 3, 3]
    chain = chained_scoring_command(ref, dists, s, spans, tmp_path / "chain")
    assert chain is not None and chain.frame_numbers == [5, 10]
    assert _scored(chain.args, [chain.log_path]) == [1 + 2 * len(dists)]
    for duration_s in (0.54, 0.42):         # 14 frames, the last not kept; 11, the last kept (frame 10)
        s = replace(s, duration_s=duration_s)
        results = quality.measure_batch(ref_path, dist_paths, s, lead=True)
        assert all("concat" in " ".join(q.command) for q in results)
        assert [q.frame_numbers for q in results] == [[5, 10]] * 3
        lone = [quality.measure(ref_path, d, s) for d in dist_paths]
        for q, one in zip(results, lone):
            assert q.per_frame["vmaf"] == pytest.approx(one.per_frame["vmaf"][1:], abs=1e-6)
            assert q.score == pytest.approx(sum(one.per_frame["vmaf"][1:]) / 2, abs=1e-6)


def test_no_chain_where_it_cannot_be_exact(pairs, tmp_path):
    """Every 2nd frame leaves no room for the context frames; XPSNR scores every frame; one encode has no
    other to share a run with; 0.52 s is 13 frames to the microsecond (FFmpeg's count then depends on the
    time base): these keep the split run (and drop frame 0's score)."""
    ref_path, dist_paths = pairs
    ref = quality._video_of(ref_path, "reference")
    dists = [quality._video_of(d, "distorted video") for d in dist_paths]
    base = QualitySettings(size=(320, 180), subsample=SUBSAMPLE, threads=1, start_s=0.2, duration_s=0.54)
    for s, ds in ((replace(base, subsample=2), dists), (replace(base, metrics=("xpsnr",)), dists),
                  (base, dists[:1]), (replace(base, duration_s=0.52), dists)):
        assert chained_scoring_command(ref, ds, s, [quality._compared_span(ref, d, s) for d in ds], tmp_path) is None
    q = quality.measure_batch(ref_path, dist_paths[:1], base, lead=True)[0]
    assert q.frame_numbers == [5, 10] and "concat" not in " ".join(q.command)
