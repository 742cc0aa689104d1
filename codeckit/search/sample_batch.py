"""Many probes at once, for a caller that knows every knob value (and size, speed) it will try up front: a
per-title ladder. Each sample is encoded at all of them by one FFmpeg run (its decoded window read once,
each size scaled once and split among its knob values) and scored by one run per SCORE_BATCH encodes (the
window read once; the encodes fed one after another to one libvmaf, so that each one's lead frame, whose
score a sample drops, is not computed: `quality.measure_batch(lead=True)`). The bitstreams and the kept
scores are those of the Probers' own one-at-a-time path (`Prober.__call__`, which the adaptive search keeps
using); only the FFmpeg runs and the frames scored are fewer. On the 1080p bench titles (10 sample encodes
of 2 samples each) see docs/per-title-analysis.md.
"""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from ..ffmpeg import run_ffmpeg
from ..quality import measure_batch
from .sample_encode import Probe, Prober, SampleResult
from .samples import Span, batch_sample_args

#: Encodes scored by one FFmpeg run: one libvmaf for them all where the run chains them (~110 MB at 1080p),
#: else one each, so a run's memory stays ~1.2 GB.
SCORE_BATCH = 10


def batchable(probers: Sequence[Prober]) -> bool:
    """Whether these probers can share runs: the same samples, decoded into the same windows, scored alike."""
    first = probers[0]
    return all(pr.use_windows and pr.spans == first.spans and pr.windows is first.windows
               and pr.qs == first.qs and pr.window_options == first.window_options for pr in probers)


def probe_all(jobs: Sequence[tuple[Prober, Sequence[int]]]) -> list[list[Probe]]:
    """Every prober of `jobs` probed at each of its grid positions, as `prober(u)` would (the probes kept on
    the prober, `on_probe` called), with the runs shared (see the module's docstring); probers that cannot
    share them are probed one at a time. Returns the probes in the order asked."""
    if not jobs:
        return []
    if not batchable([pr for pr, _ in jobs]):
        return [[pr(u) for u in us] for pr, us in jobs]
    first = jobs[0][0]
    t0 = time.monotonic()
    wanted = [(pr, u) for pr, us in jobs for u in us]
    results: dict[tuple[int, int], list[SampleResult]] = {(id(pr), u): [] for pr, u in wanted}
    for i, span in enumerate(first.spans):
        todo = []
        for pr, u in wanted:
            key = pr.sample_key(span, pr.grid.knob(u))
            hit = pr.cached(key)
            if hit is not None:
                results[(id(pr), u)].append(hit)
            else:
                todo.append((pr, u, key))
        for (pr, u, key), r in zip(todo, _encode_and_score(first, i, span, [(pr, u) for pr, u, _ in todo])):
            pr.store.put(key, asdict(r))
            results[(id(pr), u)].append(r)
    wall = time.monotonic() - t0
    out = []
    for pr, us in jobs:
        probes = []
        for u in us:
            probes.append(pr.keep(u, pr.summarize(pr.grid.knob(u), results[(id(pr), u)], wall / len(wanted))))
        out.append(probes)
    return out


def _encode_and_score(first: Prober, i: int, span: Span, todo: list[tuple[Prober, int]]) -> list[SampleResult]:
    """One sample encoded at every (prober, grid position) of `todo` in one run and scored in batches. The
    runs' CPU is shared evenly among the sample results (their sums are the runs'); the window's decode is
    counted once, on the first."""
    if not todo:
        return []
    s0 = time.monotonic()
    window, window_cpu = first._decoded(i, span)
    outs = [(pr, pr.grid.knob(u), pr.workdir / f"k{pr.grid.knob(u):g}-s{i}.mkv") for pr, u in todo]
    enc = run_ffmpeg(batch_sample_args(window, [(pr.recipe, k, out) for pr, k, out in outs],
                                       input_options=first.window_options),
                     subject=first.src, loglevel="error", duration_s=span.encoded_s)
    stats = [pr.encoded_packets(out, k, enc) for pr, k, out in outs]
    start_s, duration_s, lead = first.score_trim(span)
    scores = []
    for c in range(0, len(outs), SCORE_BATCH):
        chunk = [out for _, _, out in outs[c:c + SCORE_BATCH]]
        # lead: the lead frame's score, which a sample drops, is not computed where the run allows
        scores += measure_batch(window, chunk, first.qs, lead=lead, offset_s=0.0, start_s=start_s,
                                duration_s=duration_s)
    results = []
    for n, ((pr, k, out), st, q) in enumerate(zip(outs, stats, scores)):
        vmaf, scored = first.sample_vmaf(q, False)     # the lead frame is out already
        Path(out).unlink(missing_ok=True)
        results.append(pr.result(span, st, vmaf, scored, encode_cpu_s=enc.cpu_s / len(outs), score_cpu_s=q.cpu_s,
                                 wall_s=(time.monotonic() - s0) / len(outs),
                                 window_cpu_s=window_cpu if n == 0 else 0.0))
    return results


__all__ = ["SCORE_BATCH", "batchable", "probe_all"]
