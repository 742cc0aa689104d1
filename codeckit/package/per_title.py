"""Per-title ladders (Netflix's approach): rate-quality curves for candidate resolutions measured on short
samples of the source with the search's machinery (samples, cache, VMAF, its monotone curve), and rungs at the
resolution and knob value that give the most VMAF at each rung's bitrate: the convex hull across resolutions.

Every sample encode is scored at the top candidate's display size (each rendition upscaled to the ladder's top
rung, as a viewer sees it and as Netflix scores it; a source larger than the top rung is scaled down to it).
Each size gets a few probes (QUALITIES) and a monotone curve in the knob through them (log bitrate and VMAF,
PCHIP as in the search), so the rungs fall between the probed values instead of on a coarse grid. The probes
encode one speed step faster than the package (a proxy), and the second smallest size probed at the package's
own speed moves every curve onto it; the samples' decoded windows are shared by every size.
The rungs sit at bitrates spaced evenly (in log rate) over the range the static ladder would span on this
source, so a per-title ladder and the static one are compared over the same rates with as many rungs.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from ..codecs import SPEEDS, EncoderRequest, choose_encoder
from ..codecs.table import speed_index
from ..compare.rd import RDPoint, convex_hull as rd_convex_hull
from ..errors import QualityError
from ..ffmpeg import build_info
from ..probe import MediaInfo
from ..search.model import KnobGrid, MonotoneCurve
from ..search.samples import POST_ROLL_S, PRE_ROLL_S, EncodeRecipe
from ..search.sample_batch import probe_all
from ..search.sample_encode import Prober
from .ladder import Ladder, Rung, load_ladder, select_rungs

#: The static ladder the per-title one is measured against (its sizes, its span of rates), and the one a source
#: VMAF cannot score is packaged with.
STATIC_LADDER = "apple"

#: Common 0-100 qualities probed at every candidate size (x264: CRF 31 and 21). Two probes per size and the
#: monotone curve between them: the analysis CPU is mostly sample encodes at the large sizes.
QUALITIES = (50.0, 75.0)
#: The analysis encodes this many speed steps faster than the package (x264 fast -> veryfast), then moves its
#: curves onto the package's speed by one probe at that speed: Netflix's fast convex-hull estimate (Wu,
#: Katsavounidis et al., "Fast encoding parameter selection for convex hull video encoding", 2020).
PROXY_SPEED_STEPS = 1
#: libvmaf threads of a sample's score: a sample scores a dozen frames, and a pool of threads for them cost
#: 15 % more CPU than one (0.52 s against 0.44 s at 1080p, 2 cores)
SCORE_THREADS = 1
#: Candidate sizes: this many, spaced evenly in log height from the ladder's bottom size to the top (each the
#: nearest ladder size; 1080p: 1080, 720, 360, 234). Five (1080, 720, 540, 360, 234: thinned at 1.3x) cost
#: 4 more sample encodes and scores, and the hull on the 1080p bench never used 540p; BD-rate the same
#: (-8.2 %). Thinning at 1.4x instead (1080, 720, 432, 234) put the bottom rung at 432p: -6.4 %.
CANDIDATE_SIZES = 4
#: `size_step` option: candidate sizes thinned so each is this many times taller than the next kept.
SIZE_STEP = 1.3
#: VMAF subsample of the sample scores where the search would take every 3rd frame (sampled sources of
#: SUBSAMPLE_FROM_HEIGHT lines and up; Prober's `large_subsample`): every 5th. A score's CPU is mostly fixed (libvmaf's start, decoding and scaling
#: every frame): 0.36 s against 0.43 s at 1080p; the bench's predicted rung VMAFs moved by <= 0.4 and the
#: same rungs were picked.
VMAF_SUBSAMPLE = 5
#: The curves are read this many knob units past the probed values (x264 CRF: 2 steps, rate x1.25 each).
EXTRAPOLATE = 2.0
#: The lowest rung has at least this VMAF (at the top rung's size) when the hull reaches it.
VMAF_FLOOR = 40.0
#: A rung is dropped from the top when it buys less than this much VMAF over the one below it.
MIN_VMAF_GAIN = 1.0
#: The cap (maxrate) of each rung over its predicted bitrate: room for the harder parts of the title.
CAP_OVER_PREDICTED = 1.5
MAX_RUNGS = 6
#: Samples: their encodes (rolls included) add up to about this share of the source; half-second samples on
#: sources under SHORT_SOURCE_S (each sample's rolls cost 0.75 s of encode whatever its length).
ANALYSIS_SHARE = 0.2
SHORT_SOURCE_S = 30.0


@dataclass
class Point:
    width: int
    height: int
    knob: float
    bitrate: float
    vmaf: float
    cpu_s: float

    def to_dict(self) -> dict:
        return {"width": self.width, "height": self.height, "knob": self.knob, "bitrate": round(self.bitrate),
                "vmaf": round(self.vmaf, 3)}


def convex_hull(points: list[Point]) -> list[Point]:
    """The upper convex hull of VMAF over log bitrate, cheapest first (compare.rd's hull)."""
    return [p.data for p in rd_convex_hull(RDPoint(p.bitrate, p.vmaf, data=p) for p in points)]


class SizeCurve:
    """Bitrate and VMAF of one size as monotone functions of the knob's grid position u, through its probes."""

    def __init__(self, width: int, height: int, probes: list[Point], grid: KnobGrid):
        self.width, self.height, self.grid, self.probes = width, height, grid, probes
        us = {grid.u(p.knob): p for p in probes}
        self.rate = MonotoneCurve({u: math.log(max(p.bitrate, 1.0)) for u, p in us.items()}, 0.0)
        self.vmaf = MonotoneCurve({u: p.vmaf for u, p in us.items()}, 0.0)
        room = EXTRAPOLATE / grid.step
        self.u_lo, self.u_hi = grid.clamp(int(min(us) - room)), grid.clamp(int(max(us) + room))

    def at(self, u: int) -> Point:
        return Point(self.width, self.height, self.grid.knob(u), math.exp(self.rate(u)), min(100.0, self.vmaf(u)),
                     0.0)

    def u_for_rate(self, bitrate: float) -> int | None:
        """The grid position whose predicted rate is closest to `bitrate` (None: out of this curve's reach)."""
        if not math.exp(self.rate(self.u_lo)) <= bitrate <= math.exp(self.rate(self.u_hi)):
            return None
        return min(range(self.u_lo, self.u_hi + 1), key=lambda u: abs(self.rate(u) - math.log(bitrate)))


def best_at(curves: list[SizeCurve], bitrate: float) -> Point | None:
    """The most VMAF any size reaches at `bitrate`: the hull across resolutions at that rate."""
    best = None
    for c in curves:
        u = c.u_for_rate(bitrate)
        if u is not None and (best is None or c.at(u).vmaf > best.vmaf):
            best = c.at(u)
    return best


def pick_at_rates(curves: list[SizeCurve], lo: float, hi: float, count: int, *, floor: float = VMAF_FLOOR,
                  min_gain: float = MIN_VMAF_GAIN) -> list[Point]:
    """`count` rungs at bitrates spaced evenly in log rate from lo to hi, each the best size and knob value at
    its rate; the bottom moves up to the VMAF floor when the range starts under it, and rungs buying less
    than `min_gain` VMAF over the one below are dropped (the top one kept)."""
    reach = [r for c in curves for r in (math.exp(c.rate(c.u_lo)), math.exp(c.rate(c.u_hi)))]
    lo, hi = max(lo, min(reach)), min(hi, max(reach))
    floor_rate = next((r for r in _geometric(lo, hi, 64) if getattr(best_at(curves, r), "vmaf", 0.0) >= floor),
                      None)
    if floor_rate and count > 1:
        lo = floor_rate
    rates = _geometric(lo, hi, count)
    picked = [p for p in (best_at(curves, r) for r in rates) if p is not None]
    kept: list[Point] = []
    for p in picked:
        if kept and (p.bitrate <= kept[-1].bitrate or p.vmaf - kept[-1].vmaf < min_gain):
            if p is picked[-1] and p.bitrate > kept[-1].bitrate:
                kept[-1] = p              # the top of the range wins over a rung too close below it
            continue
        kept.append(p)
    # rates falling between sizes' reaches (no curve there): at least the best top point
    return kept or [max((c.at(c.u_hi) for c in curves), key=lambda p: p.vmaf)]


def _geometric(lo: float, hi: float, n: int) -> list[float]:
    return [lo * (hi / lo) ** (i / (n - 1)) for i in range(n)] if hi > lo and n > 1 else [hi]


def candidate_sizes(info: MediaInfo, *, max_height: int | None, ladder: Ladder | None = None,
                    step: float | None = None, count: int = CANDIDATE_SIZES) -> list[tuple[int, int]]:
    """The static ladder's sizes this source can have (never above it), smallest first: `count` of them,
    nearest to heights spaced evenly in log height from the bottom to the top; or, with `step`, thinned so
    that each is at least `step` times taller than the next smaller one kept (the top and bottom kept)."""
    rungs = select_rungs(info, ladder or load_ladder(STATIC_LADDER), max_height=max_height)
    sizes = sorted({(r.width, r.height) for r in rungs}, key=lambda s: s[0] * s[1])
    if step is None:
        if len(sizes) <= count:
            return sizes
        lo, hi = math.log(sizes[0][1]), math.log(sizes[-1][1])
        aims = [lo + (hi - lo) * i / (count - 1) for i in range(count)]
        return sorted({min(sizes, key=lambda s: abs(math.log(s[1]) - a)) for a in aims}, key=lambda s: s[0] * s[1])
    kept = sizes[-1:]
    for s in reversed(sizes[:-1]):
        if kept[-1][1] >= step * s[1]:
            kept.append(s)
    if sizes and sizes[0] not in kept:
        if len(kept) > 1:
            kept[-1] = sizes[0]       # the bottom size replaces a kept one too close above it
        else:
            kept.append(sizes[0])
    return sorted(kept, key=lambda s: s[0] * s[1])


def calibration_size(sizes: list[tuple[int, int]], height: int | None = None) -> tuple[int, int]:
    """The size probed at the package's own speed: the one nearest `height` (None: the second smallest, 360p
    of a 1080p source). Its probes encode at the slower speed, so a small size is cheap: 360p instead of 540p
    saved ~1 CPU-s on the 1080p bench, and the rungs and BD-rate did not move (-8.2 %)."""
    if height is None:
        return sizes[min(1, len(sizes) - 1)]
    return min(sizes, key=lambda s: abs(s[1] - height))


def analysis_samples(info: MediaInfo, count: int | None = None) -> tuple[int | None, float]:
    """(samples, seconds each) for the analysis: encodes adding up to ANALYSIS_SHARE of the source."""
    total = info.primary_video.duration_s or info.duration_s or 0.0
    seconds = 0.5 if total < SHORT_SOURCE_S else 1.0
    if count is None:
        count = max(2, round(ANALYSIS_SHARE * total / (seconds + PRE_ROLL_S + POST_ROLL_S)))
    return count, seconds


def proxy_speed(speed: str | int, steps: int = PROXY_SPEED_STEPS) -> str:
    """The faster speed the analysis encodes at: `steps` faster than the package's, never the fastest (x264's
    ultrafast drops CABAC and B-frames: another curve, not a cheaper copy of the same one)."""
    i = speed_index(speed)
    return SPEEDS[max(i, min(i + steps, len(SPEEDS) - 2))]


def measure_curves(info: MediaInfo, impl, speed, sizes, qualities, *, threads: int | None, opts: dict
                   ) -> tuple[list[Point], list[SizeCurve], dict]:
    """Probe every size at every quality on the samples, at the proxy speed; (probes, one curve per size
    calibrated to the package's own speed, how it was measured). See the module's docstring."""
    grid = KnobGrid.of(impl.knob, impl.knob.lo, impl.knob.hi)
    knobs = sorted({impl.knob.value_for_quality(q) for q in qualities})
    count, seconds = analysis_samples(info, opts.get("samples"))
    fast = proxy_speed(speed, opts.get("proxy_speed_steps", PROXY_SPEED_STEPS))
    version = build_info().version
    probers: list[Prober] = []

    # `batch`: every sample encoded at all sizes and knob values by one FFmpeg run and scored by one
    # (search.sample_batch); False: one run per encode and per score, as the search probes
    batch = opts.get("batch", True)

    def prober(w: int, h: int, at_speed) -> Prober:
        recipe = EncodeRecipe(impl, at_speed, 8, (f"scale={w}:{h}:flags=bicubic", "setsar=1"),
                              ("-threads", str(threads)) if threads else ())
        probers.append(Prober(Path(info.path), info, recipe, grid, version, samples=count, sample_duration_s=seconds,
                              model="auto", subsample=opts.get("subsample"), cache=opts.get("cache", True),
                              on_probe=None, score_size=sizes[-1], windows_of=probers[0] if probers else None,
                              score_threads=SCORE_THREADS, large_subsample=VMAF_SUBSAMPLE))
        return probers[-1]
    try:
        us = [grid.u(k) for k in knobs]
        jobs = [(prober(w, h, fast), us) for w, h in sizes]
        job_sizes, calibration = list(sizes), None
        if fast != SPEEDS[speed_index(speed)]:
            # one size at the package's own speed too: the proxy's curves move onto it
            job_sizes.append(calibration_size(sizes, opts.get("calibration_height")))
            jobs.append((prober(*job_sizes[-1], speed), us))
        measured = probe_all(jobs) if batch else [[pr(u) for u in us_] for pr, us_ in jobs]
        points = [_point(w, h, p) for (w, h), ps in zip(job_sizes, measured) for p in ps]
        n_proxy = len(sizes) * len(knobs)
        if len(jobs) > len(sizes):
            calibration = _calibration(points[:n_proxy], points[n_proxy:], grid)
        first = probers[0]
        sampling = {"whole_source": first.full, "samples": 0 if first.full else len(first.spans),
                    "sample_seconds": None if first.full else seconds, "vmaf_subsample": first.qs.subsample,
                    "proxy_speed": fast, "calibration": calibration and calibration.to_dict(),
                    "proxy_points": [p.to_dict() for p in points[:n_proxy]] if calibration else None,
                    "calibration_points": [p.to_dict() for p in points[n_proxy:]] if calibration else None,
                    "cpu_s": _cpu_breakdown(probers)}
    finally:
        for pr in reversed(probers):
            pr.close()
    curves = []
    for w, h in sizes:
        probes = [p for p in points[:n_proxy] if (p.width, p.height) == (w, h)]
        curves.append(SizeCurve(w, h, [calibration.apply(p, grid) for p in probes] if calibration else probes, grid))
    return points, curves, sampling


def _cpu_breakdown(probers: list[Prober]) -> dict:
    """The analysis CPU by step (decoding the windows, sample encodes, scores), of what was not cached."""
    rs = [r for pr in probers for p in pr.probes.values() for r in p.samples if not r.cached]
    return {"windows": round(sum(r.window_cpu_s for r in rs), 2), "encodes": round(sum(r.encode_cpu_s for r in rs), 2),
            "scores": round(sum(r.score_cpu_s for r in rs), 2), "sample_scores": len(rs)}


@dataclass
class Calibration:
    """From the proxy speed to the package's: log-rate and VMAF offsets at two knob values (grid positions),
    linear in between and beyond. At one knob the offset misleads: x264 veryfast against fast on the 1080p
    bench mix at 540p was 1.53x fewer bits and 9.4 VMAF lower at CRF 31, but 1.29x and 2.9 at CRF 21."""
    u: tuple[int, int]
    log_rate: tuple[float, float]
    vmaf: tuple[float, float]

    def _at(self, pair: tuple[float, float], u: float) -> float:
        (u0, u1), (a, b) = self.u, pair
        return a if u0 == u1 else a + (b - a) * (u - u0) / (u1 - u0)

    def apply(self, p: Point, grid: KnobGrid) -> Point:
        u = grid.u(p.knob)
        return Point(p.width, p.height, p.knob, p.bitrate * math.exp(self._at(self.log_rate, u)),
                     p.vmaf + self._at(self.vmaf, u), p.cpu_s)

    def to_dict(self) -> dict:
        return {"u": list(self.u), "log_rate_offset": [round(x, 4) for x in self.log_rate],
                "vmaf_offset": [round(x, 3) for x in self.vmaf]}


def _calibration(proxy: list[Point], real: list[Point], grid: KnobGrid) -> Calibration:
    pairs = [(grid.u(r.knob), next(p for p in proxy if (p.width, p.height, p.knob) == (r.width, r.height, r.knob)), r)
             for r in sorted(real, key=lambda r: grid.u(r.knob))]
    (u0, p0, r0), (u1, p1, r1) = pairs[0], pairs[-1]
    return Calibration((u0, u1), (math.log(r0.bitrate / p0.bitrate), math.log(r1.bitrate / p1.bitrate)),
                       (r0.vmaf - p0.vmaf, r1.vmaf - p1.vmaf))


def _point(w: int, h: int, probe) -> Point:
    return Point(w, h, float(probe.knob), probe.bitrate, probe.vmaf, probe.cpu_s)


def static_span(info: MediaInfo, curves: list[SizeCurve], impl, *, codec: str, max_height: int | None,
                count: int | None) -> tuple[float, float, int]:
    """(lowest, highest bitrate, rungs) the Apple ladder would have on this source: its bottom and top rungs'
    capped rates, each the lower of the cap and the curve's rate at the ladder's quality."""
    ladder = load_ladder(STATIC_LADDER).for_codec(codec)
    rungs = select_rungs(info, ladder, max_height=max_height, count=count)
    by_size = {(c.width, c.height): c for c in curves}
    u = KnobGrid.of(impl.knob, impl.knob.lo, impl.knob.hi).u(impl.knob.value_for_quality(ladder.quality))

    def rate(r) -> float:
        c = by_size.get((r.width, r.height))
        return r.bitrate if c is None else min(r.bitrate, math.exp(c.rate(u)))
    return rate(rungs[0]), rate(rungs[-1]), len(rungs)


def per_title_ladder(info: MediaInfo, options, workdir: Path, *, threads: int | None = None) -> tuple[dict, Ladder]:
    """(the ladder.json record, the Ladder its rungs come from): measured points, hull, picked rungs."""
    started, opts = time.monotonic(), dict(options.per_title or {})
    sel = choose_encoder(EncoderRequest(options.codec, speed=options.speed, bit_depth=8, prefer=options.prefer),
                         options.capabilities)
    impl = sel.current.implementation
    sizes = [tuple(s) for s in opts.get("sizes") or candidate_sizes(info, max_height=options.max_height,
                                                                     step=opts.get("size_step"))]
    points, curves, sampling = measure_curves(info, impl, options.speed, sizes, opts.get("qualities", QUALITIES),
                                              threads=threads, opts=opts)
    lo, hi, n = static_span(info, curves, impl, codec=options.codec, max_height=options.max_height,
                            count=options.rungs)
    picked = pick_at_rates(curves, lo, hi, min(options.rungs or n, MAX_RUNGS))
    rungs = [{"width": p.width, "height": p.height, "knob": p.knob, "predicted_bitrate": round(p.bitrate),
              "predicted_vmaf": round(p.vmaf, 3), "maxrate": int(p.bitrate * CAP_OVER_PREDICTED),
              "measured_bitrate": None, "measured_vmaf": None} for p in picked]
    record = {"method": "per-title convex hull", "encoder": impl.name, "knob": impl.knob.option.lstrip("-"),
              "scored_at": f"{sizes[-1][0]}x{sizes[-1][1]}", "sampling": sampling,
              "span": {"low_bitrate": round(lo), "high_bitrate": round(hi), "static_rungs": n},
              "points": [p.to_dict() for c in curves for p in c.probes],
              "hull": [p.to_dict() for p in convex_hull([p for c in curves for p in c.probes])],
              "rungs": rungs, "analysis_cpu_s": round(sum(p.cpu_s for p in points), 3),
              "analysis_wall_s": round(time.monotonic() - started, 3)}
    ladder = Ladder(name="per-title", title="per-title convex hull", codec=options.codec, rungs=(),
                    quality=70.0, bufsize_factor=2.0)
    return record, ladder


def per_title_rungs(info: MediaInfo, options, workdir: Path, *, threads: int | None = None
                    ) -> tuple[dict | None, Ladder, list[Rung], list[str]]:
    """(the ladder.json record, the ladder, its rungs, notes) of the per-title ladder; a source VMAF cannot score
    (libvmaf: under 18 px a side, the `too_small` error, raised before any sample is encoded) gets the static
    ladder instead (no record) and a note saying why, rather than failing."""
    try:
        record, ladder = per_title_ladder(info, options, workdir, threads=threads)
    except QualityError as exc:
        if exc.code != "too_small":
            raise
        ladder = load_ladder(STATIC_LADDER).for_codec(options.codec)
        note = (f"per-title ladder not measured: the source {exc.message}; the static {ladder.name} ladder is "
                "used instead")
        return None, ladder, select_rungs(info, ladder, max_height=options.max_height, count=options.rungs), [note]
    rungs = [Rung(r["width"], r["height"], r["maxrate"], r["knob"]) for r in record["rungs"]]
    return record, ladder, rungs, []


__all__ = ["Point", "SizeCurve", "analysis_samples", "best_at", "candidate_sizes", "convex_hull",
           "measure_curves", "per_title_ladder", "per_title_rungs", "pick_at_rates", "proxy_speed", "static_span"]
