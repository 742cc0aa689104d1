"""VMAF (with PSNR, SSIM, MS-SSIM and XPSNR on request) of distorted videos against a reference, via libvmaf in FFmpeg.

The models live in `vmaf_models`, the FFmpeg command that aligns and scores the two in `quality_graph`.
"""
from __future__ import annotations

import functools
import logging
import json
import math
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from .errors import CodeckitError, ConfigError, ProbeError, QualityError
from .ffmpeg import Progress, build_info, check_local_input, run_ffmpeg
from .quality_graph import (Alignment, ChainedScoring, ComparedSpan, InputVideo, batch_scoring_command,
                            chained_scoring_command, libvmaf_pix_fmt, metric_names, scoring_command)
from .sources import local_only
from .vmaf_models import (AUTO_MODEL, EXTRA_METRICS, METRIC_KEYS, MODEL_ALIASES, MODELS, UHD_HEIGHT, UHD_WIDTH,
                          XPSNR_CEILING_DB, VmafModel, model_for_size, resolve_model)

log = logging.getLogger("codeckit.quality")


# libvmaf dies of SIGSEGV on pictures under 18 pixels on a side (FFmpeg 9.0.2's libvmaf, every feature set:
# `ffmpeg -lavfi libvmaf` on testsrc2 at 16x16, 17x64 and 64x17 crashed; 18x64 and 28x28 scored), which
# reached users as "FFmpeg died (signal 11)". Smaller pictures are refused by name before FFmpeg starts.
MIN_SCORED_SIDE = 18


def check_scorable(width: int, height: int, path: str | Path) -> None:
    """QualityError (code `too_small`) when a picture compared at width x height is too small for libvmaf."""
    if min(width, height) < MIN_SCORED_SIDE:
        raise QualityError(f"is compared at {width}x{height}, too small for VMAF (libvmaf needs {MIN_SCORED_SIDE} "
                           "pixels or more on each side and crashes below)", path=path, code="too_small")


# ---------------------------------------------------------------- settings and results


@dataclass(frozen=True)
class QualitySettings:
    """How to compare: the model(s), extra metrics, scaling, trimming and libvmaf's threading and subsampling."""
    model: str | tuple[str, ...] = AUTO_MODEL    # or several: each is scored in the same pass
    metrics: tuple[str, ...] = ()                 # extras: psnr, ssim, ms_ssim, xpsnr
    scale: str = "reference"                      # "reference": distorted -> reference size; "model": both -> model's
    size: tuple[int, int] | None = None           # both -> this display size (SAR 1), e.g. a ladder's top rung
    subsample: int = 1                            # libvmaf n_subsample: score every Nth frame
    threads: int | None = None                    # libvmaf n_threads; None: every core we may use
    start_s: float = 0.0                          # skip this much of both (after the offset)
    duration_s: float | None = None               # compare only this long
    offset_s: float = 0.0                         # the distorted runs this much later than the reference (<0: earlier)
    duration_tolerance_s: float | None = None     # None: max(0.2 s, 3 frames)
    timeout_s: float | None = None

    def __post_init__(self):
        if isinstance(self.model, list):
            object.__setattr__(self, "model", tuple(self.model))
        if self.size is not None:
            size = tuple(int(x) for x in self.size)
            if len(size) != 2 or min(size) < 2:
                raise ConfigError(f"size must be (width, height), not {self.size!r}")
            object.__setattr__(self, "size", size)
        if isinstance(self.metrics, (list, str)):
            object.__setattr__(self, "metrics", tuple([self.metrics] if isinstance(self.metrics, str)
                                                      else self.metrics))
        unknown = [m for m in self.metrics if m not in EXTRA_METRICS]
        if unknown:
            raise ConfigError(f"unknown quality metric {unknown[0]!r}",
                              hint="extra metrics: " + ", ".join(EXTRA_METRICS))
        if self.scale not in ("reference", "model"):
            raise ConfigError(f"unknown scale mode {self.scale!r}", hint="use reference or model")
        if int(self.subsample) < 1:
            raise ConfigError("subsample must be 1 or more")
        # nan passes every comparison below: it switched the duration check off, inf reached FFmpeg's -t
        for name in ("start_s", "duration_s", "offset_s", "duration_tolerance_s"):
            v = getattr(self, name)
            if v is not None and not math.isfinite(v):
                raise ConfigError(f"{name.removesuffix('_s')} must be a number of seconds, not {v}")
        if self.start_s < 0 or (self.duration_s is not None and self.duration_s <= 0):
            raise ConfigError("start must be >= 0 and duration > 0")
        if self.duration_tolerance_s is not None and self.duration_tolerance_s < 0:
            raise ConfigError(f"duration tolerance must be 0 s or more, not {self.duration_tolerance_s:g}")
        for m in self.model_names:      # a bad model is the run's mistake, not each distorted file's
            if m != AUTO_MODEL:
                resolve_model(m)

    @property
    def model_names(self) -> tuple[str, ...]:
        return (self.model,) if isinstance(self.model, str) else tuple(self.model)

    def key(self) -> dict:
        """What changes a score: for caches that keep scores (the search's sample cache)."""
        d = asdict(self)
        d.pop("threads"), d.pop("timeout_s")
        if d["size"] is None:
            d.pop("size")           # keys made before the field existed stay valid
        else:
            d["size"] = list(d["size"])
        return d


@dataclass
class MetricSummary:
    """One metric pooled over the frames compared."""
    name: str
    mean: float
    harmonic_mean: float
    min: float
    max: float
    low_1pct: float          # mean of the worst 1 % of frames (at least one frame)
    low_5pct: float          # mean of the worst 5 % of frames
    frames: int

    def to_dict(self) -> dict:
        return asdict(self)



@dataclass
class QualityResult:
    """VMAF (and extras) of one distorted video against its reference."""
    reference: str
    distorted: str
    model: str                              # the first (main) model
    vmaf: MetricSummary                     # pooled score of the main model
    metrics: dict[str, MetricSummary]       # every pooled metric: vmaf, other models, psnr_y, float_ssim, xpsnr_y...
    frame_numbers: list[int]                # frames scored (every `subsample`th)
    per_frame: dict[str, list[float]]       # metric -> one value per scored frame
    settings: QualitySettings
    alignment: Alignment
    libvmaf_version: str | None
    wall_s: float
    cpu_s: float
    command: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        """The pooled (mean) VMAF."""
        return self.vmaf.mean

    @property
    def frames(self) -> int:
        return len(self.frame_numbers)

    def to_dict(self, per_frame: bool = False) -> dict:
        d = {"reference": self.reference, "distorted": self.distorted, "model": self.model,
             "vmaf": self.vmaf.mean, "frames": self.frames, "subsample": self.settings.subsample,
             "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
             "alignment": asdict(self.alignment), "libvmaf_version": self.libvmaf_version,
             "wall_s": round(self.wall_s, 3), "cpu_s": round(self.cpu_s, 3)}
        if per_frame:
            d["per_frame"] = self.frame_rows()
        return d

    def frame_rows(self) -> list[dict]:
        """One dict per scored frame: {"frame": n, metric: value, ...}."""
        names = list(self.per_frame)
        return [{"frame": n, **{k: self.per_frame[k][i] for k in names}}
                for i, n in enumerate(self.frame_numbers)]


# ---------------------------------------------------------------- pooling


def pool(name: str, values: Sequence[float], libvmaf_pooled: dict | None = None) -> MetricSummary:
    """Mean, harmonic mean, min, max and the 1 % / 5 % lows of per-frame values.

    The harmonic mean is libvmaf's: n / sum(1 / (x + 1)) - 1, defined for zero scores. Where libvmaf
    pooled the metric itself its numbers are used, so they agree with its log to the last digit.
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        nan = float("nan")
        return MetricSummary(name, nan, nan, nan, nan, nan, nan, 0)
    ordered = np.sort(arr)

    def low(frac: float) -> float:
        return float(ordered[:max(1, math.ceil(arr.size * frac))].mean())
    summary = MetricSummary(name=name, mean=float(arr.mean()),
                            harmonic_mean=float(arr.size / np.sum(1.0 / (arr + 1.0)) - 1.0),
                            min=float(ordered[0]), max=float(ordered[-1]), low_1pct=low(0.01),
                            low_5pct=low(0.05), frames=int(arr.size))
    if libvmaf_pooled:
        for key, attr in (("mean", "mean"), ("harmonic_mean", "harmonic_mean"), ("min", "min"), ("max", "max")):
            if key in libvmaf_pooled and libvmaf_pooled[key] is not None:
                setattr(summary, attr, float(libvmaf_pooled[key]))
    return summary


# ---------------------------------------------------------------- inputs


def _video_of(path: str | Path, role: str) -> InputVideo:
    p = check_local_input(path)
    st = p.stat()
    return _probe_video(p, st.st_size, st.st_mtime_ns, role)


@functools.lru_cache(maxsize=64)
def _probe_video(p: Path, size: int, mtime_ns: int, role: str) -> InputVideo:
    # Cached per (path, size, mtime): a search scores many encodes against the same sample.
    from .probe import probe
    info = probe(p)
    if not info.video:
        kinds = "audio only" if info.audio else "no video stream"
        raise QualityError(f"has no video stream to measure ({kinds}); the {role} must be a video", path=p)
    v = info.video[0]
    w, h = (v.height, v.width) if v.rotation in (90, 270) else (v.width, v.height)
    fps_text = v.avg_fps_fraction if not v.vfr else (v.nominal_fps_fraction or v.avg_fps_fraction)
    fps = Fraction(fps_text) if fps_text else None
    return InputVideo(path=p, index=v.index, width=w, height=h, sar=v.sar, fps=fps, vfr=v.vfr, pix_fmt=v.pix_fmt,
                      duration_s=v.duration_s or info.duration_s, color_space=v.color_space, color_range=v.color_range)


def _compared_span(ref: InputVideo, dist: InputVideo, s: QualitySettings) -> ComparedSpan:
    """Where each input's compared part starts and how long it is; raises QualityError when the two durations
    disagree (after the trims): a shorter distorted means a cut or a wrong pairing."""
    ref_ss = s.start_s + max(0.0, -s.offset_s)
    dist_ss = s.start_s + max(0.0, s.offset_s)
    ref_left = None if ref.duration_s is None else max(0.0, ref.duration_s - ref_ss)
    dist_left = None if dist.duration_s is None else max(0.0, dist.duration_s - dist_ss)
    if s.duration_s is not None:
        ref_left = s.duration_s if ref_left is None else min(ref_left, s.duration_s)
        dist_left = s.duration_s if dist_left is None else min(dist_left, s.duration_s)
    if ref_left is not None and dist_left is not None:
        frame = 1.0 / float(ref.fps) if ref.fps else 0.04
        tolerance = s.duration_tolerance_s if s.duration_tolerance_s is not None else max(0.2, 3 * frame)
        if abs(ref_left - dist_left) > tolerance:
            raise QualityError(
                f"lasts {dist_left:.3f} s but the reference {ref.path} lasts {ref_left:.3f} s "
                f"(compared from {dist_ss:g} s and {ref_ss:g} s); they differ by more than {tolerance:.3f} s",
                path=dist.path, hint="compare a common part with start/duration/offset, or check the pairing")
        if ref_left <= 0 or dist_left <= 0:
            raise QualityError("nothing to compare after the start/offset", path=dist.path)
    return ComparedSpan(ref_ss, dist_ss, ref_left, dist_left)



# ---------------------------------------------------------------- reading the logs


def _read_vmaf_log(path: Path, metric_names: Sequence[str], extra: Iterable[str]):
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CodeckitError(f"libvmaf wrote no readable log ({exc})", path=path) from exc
    keep = list(metric_names) + [k for m in extra if m != "xpsnr" for k in METRIC_KEYS[m]]
    frames = data.get("frames") or []
    numbers = [int(f.get("frameNum", i)) for i, f in enumerate(frames)]
    per_frame: dict[str, list[float]] = {}
    for key in keep:
        values = [f["metrics"].get(key) for f in frames]
        if values and all(v is not None for v in values):
            per_frame[key] = [float(v) for v in values]
    pooled = data.get("pooled_metrics") or {}
    return numbers, per_frame, pooled, data.get("version")


_XPSNR_LINE = re.compile(r"^n:\s*(\d+)\s+XPSNR y:\s*(\S+)\s+XPSNR u:\s*(\S+)\s+XPSNR v:\s*(\S+)")


def _read_xpsnr(path: Path) -> dict[int, tuple[float, float, float]]:
    """XPSNR's stats file: "n:    1  XPSNR y: 26.3488  XPSNR u: 36.1993  XPSNR v: 36.3283" (frames from 1)."""
    out = {}
    try:
        text = path.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        m = _XPSNR_LINE.match(line)
        if m:
            vals = tuple(min(XPSNR_CEILING_DB, float(x)) if x.lower() not in ("nan",) else float("nan")
                         for x in m.groups()[1:])
            out[int(m.group(1)) - 1] = vals  # type: ignore[assignment]
    return out


# ---------------------------------------------------------------- measuring


def measure(reference: str | Path, distorted: str | Path, settings: QualitySettings | None = None, *,
            on_progress: Callable[[Progress], None] | None = None, **overrides) -> QualityResult:
    """VMAF of `distorted` against `reference` (plus the extras in `settings.metrics`).

    `overrides` are QualitySettings fields (`model=`, `subsample=`, `metrics=`, `start_s=` ...).
    The distorted is scaled to the reference's coded size with bicubic (or both to the model's size
    with scale="model"), resampled to the reference's frame rate when the rates differ, both start
    at time zero, and both are fed to libvmaf in one pixel format. Raises QualityError (durations
    differ, no video), ProbeError (missing or unreadable file), FeatureMissing (no libvmaf/xpsnr), ConfigError
    (code url_not_supported) for an object-storage URL, before anything is read.
    """
    local_only([reference, distorted], "quality")
    s = replace(settings, **overrides) if settings else QualitySettings(**overrides)
    build = _require_filters(s)
    # Both probes at once: PyAV releases the GIL while it reads, and this is most of codeckit's own overhead.
    with ThreadPoolExecutor(max_workers=2) as pool_:
        ref_f = pool_.submit(_video_of, reference, "reference")
        dist_f = pool_.submit(_video_of, distorted, "distorted video")
        ref, dist = ref_f.result(), dist_f.result()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="codeckit-vmaf-") as tmp:
        plan = scoring_command(ref, dist, s, _compared_span(ref, dist, s), Path(tmp))
        check_scorable(*plan.alignment.compared_size, ref.path)
        run = run_ffmpeg(plan.args, subject=dist.path, timeout=s.timeout_s, on_progress=on_progress,
                         duration_s=plan.expected_duration_s, loglevel="error", exe=build.path)
        return _result(ref, dist, s, plan, run, time.monotonic() - start, run.cpu_s)


def measure_batch(reference: str | Path, distorted: Sequence[str | Path], settings: QualitySettings | None = None,
                  *, lead: bool = False, **overrides) -> list[QualityResult]:
    """`measure` of each distorted video against one reference, all in one FFmpeg run: the reference is read
    once and split, one libvmaf per distorted, so each scores as `measure` would score it. Each result's
    `wall_s` and `cpu_s` are the run's, shared evenly. One FFmpeg start and one read of the reference per
    distorted saved: two 1080p sample scores in one run cost 0.55 CPU-s against 0.61 in two runs.

    lead=True: the first frame compared only leads in (libvmaf's motion is 0 on the first frame it sees, which
    lowers its score); its score is left out of every result (unless it is the only one), and where the run
    allows (`quality_graph.chained_scoring_command`) it is not computed at all: the pairs go through one
    libvmaf, each pair's other kept frames scored exactly as in its own run."""
    local_only([reference, *distorted], "quality")
    s = replace(settings, **overrides) if settings else QualitySettings(**overrides)
    build = _require_filters(s)
    ref = _video_of(reference, "reference")
    dists = [_video_of(d, "distorted video") for d in distorted]
    if not dists:
        return []
    spans = [_compared_span(ref, d, s) for d in dists]
    start = time.monotonic()
    if lead:
        with tempfile.TemporaryDirectory(prefix="codeckit-vmaf-") as tmp:
            chain = chained_scoring_command(ref, dists, s, spans, Path(tmp))
            if chain:
                check_scorable(*chain.commands[0].alignment.compared_size, ref.path)
            try:
                results = chain and _chained_results(ref, dists, s, chain, build, start)
            except CodeckitError as exc:      # scored the usual way below, which reports a real fault
                log.debug("chained scoring failed, scoring each pair: %s", exc)
                results = None
            if results:
                return results
    with tempfile.TemporaryDirectory(prefix="codeckit-vmaf-") as tmp:
        plans = batch_scoring_command(ref, dists, s, spans, Path(tmp))
        check_scorable(*plans[0].alignment.compared_size, ref.path)
        longest = max((p.expected_duration_s for p in plans if p.expected_duration_s is not None), default=None)
        run = run_ffmpeg(plans[0].args, subject=dists[0].path, timeout=s.timeout_s, duration_s=longest,
                         loglevel="error", exe=build.path)
        wall = time.monotonic() - start
        results = [_result(ref, d, s, p, run, wall / len(dists), run.cpu_s / len(dists)) for d, p in zip(dists, plans)]
    return [_without_first(q) for q in results] if lead else results


def _chained_results(ref: InputVideo, dists: list[InputVideo], s: QualitySettings, chain: ChainedScoring, build,
                     start: float) -> list[QualityResult] | None:
    """Each pair's kept frames out of a chained run's log; None when an input trim kept another number of
    frames than planned (the chain's spans would be misplaced: the caller scores the usual way)."""
    run = run_ffmpeg(chain.args, subject=dists[0].path, timeout=s.timeout_s, loglevel="error", exe=build.path)
    if any(sum(1 for line in c.read_text().splitlines() if line and not line.startswith("#")) != 1
           for c in chain.checks):
        return None
    names = ["vmaf"] if len(chain.commands[0].models) == 1 else metric_names(chain.commands[0].models)
    numbers, per_frame, _, version = _read_vmaf_log(chain.log_path, names, s.metrics)
    where = {n: i for i, n in enumerate(numbers)}
    if "vmaf" not in per_frame or any(k not in where for kept in chain.kept for k in kept):
        return None
    wall = time.monotonic() - start
    out = []
    for dist, cmd, kept in zip(dists, chain.commands, chain.kept):
        values = {k: [v[where[i]] for i in kept] for k, v in per_frame.items()}
        metrics = {k: pool(k, v) for k, v in values.items()}
        out.append(QualityResult(
            reference=str(ref.path), distorted=str(dist.path), model=cmd.models[0].name, vmaf=metrics["vmaf"],
            metrics=metrics, frame_numbers=list(chain.frame_numbers), per_frame=values, settings=s,
            alignment=cmd.alignment, libvmaf_version=version, wall_s=wall / len(dists),
            cpu_s=run.cpu_s / len(dists), command=run.args))
    return out


def _without_first(q: QualityResult) -> QualityResult:
    """The result with its first scored frame left out (kept when it is the only one)."""
    if q.frames <= 1:
        return q
    per_frame = {k: v[1:] for k, v in q.per_frame.items()}
    metrics = {k: pool(k, v) for k, v in per_frame.items()}
    return replace(q, per_frame=per_frame, metrics=metrics, vmaf=metrics["vmaf"], frame_numbers=q.frame_numbers[1:])


def _require_filters(s: QualitySettings):
    build = build_info()
    build.require_filter("libvmaf", "VMAF (libvmaf)")
    if "xpsnr" in s.metrics:
        build.require_filter("xpsnr", "XPSNR")
    return build


def _result(ref: InputVideo, dist: InputVideo, s: QualitySettings, plan, run, wall_s: float,
            cpu_s: float) -> QualityResult:
    """The result of one pair from its logs (read while the run's folder is still there)."""
    names = ["vmaf"] if len(plan.models) == 1 else metric_names(plan.models)
    numbers, per_frame, pooled, version = _read_vmaf_log(plan.log_path, names, s.metrics)
    if plan.xpsnr_path:
        xp = _read_xpsnr(plan.xpsnr_path)
        if xp:
            for j, key in enumerate(METRIC_KEYS["xpsnr"]):
                per_frame[key] = [xp.get(n, (float("nan"),) * 3)[j] for n in numbers]
    if not numbers or "vmaf" not in per_frame:
        raise QualityError("no frames were compared (is either video empty after the start/offset?)",
                           path=dist.path, stderr_tail=run.stderr_tail)
    metrics = {k: pool(k, v, pooled.get(k)) for k, v in per_frame.items()}
    return QualityResult(
        reference=str(ref.path), distorted=str(dist.path), model=plan.models[0].name, vmaf=metrics["vmaf"],
        metrics=metrics, frame_numbers=numbers, per_frame=per_frame, settings=s, alignment=plan.alignment,
        libvmaf_version=version, wall_s=wall_s, cpu_s=cpu_s, command=run.args)


def measure_many(reference: str | Path, distorted: Iterable[str | Path], settings: QualitySettings | None = None,
                 **overrides) -> list[QualityResult]:
    """`measure` for each distorted video against one reference, in order."""
    return [measure(reference, d, settings, **overrides) for d in distorted]


def vmaf(reference: str | Path, distorted: str | Path, **overrides) -> float:
    """The pooled (mean) VMAF of `distorted` against `reference`."""
    return measure(reference, distorted, **overrides).score


__all__ = ["AUTO_MODEL", "Alignment", "EXTRA_METRICS", "METRIC_KEYS", "MIN_SCORED_SIDE", "MODELS", "MODEL_ALIASES",
           "MetricSummary", "check_scorable",
           "QualityError", "QualityResult", "QualitySettings", "UHD_HEIGHT", "UHD_WIDTH", "VmafModel",
           "XPSNR_CEILING_DB", "libvmaf_pix_fmt", "measure", "measure_batch", "measure_many", "model_for_size",
           "pool", "resolve_model", "vmaf", "ProbeError"]
