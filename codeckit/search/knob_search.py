"""The knob search: the value of CRF, CQ or QP that reaches a VMAF target with the fewest bytes (like ab-av1's crf-search)."""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ..codecs import BY_NAME, EncoderRequest, Implementation, choose_encoder
from ..codecs.capability import Capability, probe_capabilities
from ..errors import ConfigError, EncoderUnavailable
from ..ffmpeg import build_info
from ..probe import MediaInfo, probe
from ..sources import local_only
from .model import KnobGrid, MonotoneCurve, monotone_search
from .sample_encode import SAMPLE_SUBSAMPLE, SUBSAMPLE_FROM_HEIGHT, Probe, Prober, SampleResult, plain_number
from .samples import EncodeRecipe, Span

DEFAULT_TOLERANCE = 0.5          # VMAF points above the target that still count as a hit
DEFAULT_MAX_PROBES = 6
# VMAF approaches 100 roughly exponentially as the knob improves, so the search models
# y = -log(VMAF_CEILING - vmaf), which is close to linear in the knob over the useful range.
VMAF_CEILING = 100.5
# Prior slope of y per point of the common 0-100 quality scale (x264: about 0.15 per CRF step near CRF 23),
# used only until two probes give a real secant.
Y_PER_QUALITY = 0.058
# Prior slope of log(bitrate) per point of the common scale (x264: bitrate halves every ~6 CRF steps).
LOG_BITRATE_PER_QUALITY = 0.045
# The first probe: VMAF 93 is about the common quality 70 (each encoder's default); 2.5 quality points per VMAF.
FIRST_GUESS_QUALITY_AT_93 = 70.0
QUALITY_PER_VMAF = 2.5
# Sampled searches (not the whole source): a probe's own error (about 0.9 VMAF for 6 one-second samples of
# a 2-minute mix) is far larger than the curve's between two probes (in y, VMAF against x264 CRF is a
# straight line within 0.02 over CRF 24.5-28.5 of full encodes), so a third probe inside a bracket buys
# nothing but CPU. The search stops once a passing and a failing probe lie within BRACKET_VMAF of each
# other, and the answer is read off the curve between them. While only one side is known the next probe
# aims AIM_VMAF past the target, so it likely closes such a bracket instead of landing on the same side.
BRACKET_VMAF = 5.0
AIM_VMAF = 0.75



@dataclass
class SearchResult:
    """The knob value found for a VMAF target, and what the search saw on the way."""
    source: str
    target_vmaf: float
    tolerance: float
    encoder: str
    codec: str
    knob_option: str
    knob_value: float | None     # None only when nothing could be tried (27, or 27.25 for float knobs)
    quality: float | None        # the same value on codeckit's common 0-100 scale
    predicted_vmaf: float | None
    predicted_bitrate: float | None
    predicted_size_bytes: int | None
    reached: bool                # the samples at knob_value reach target_vmaf
    reason: str                  # why the search stopped where it did
    constrained_by_bitrate: bool  # max_bitrate moved the answer to a cheaper value
    probes: list[Probe]
    probe_encodes: int           # knob values encoded now (not from the cache)
    cached_probes: int
    samples: list[Span]
    full_pass: bool              # the "samples" are the whole source: the prediction is exact
    source_duration_s: float | None
    speed: str | int
    bit_depth: int
    filters: list[str]
    model: str
    subsample: int
    encoder_args: list[str] = field(default_factory=list)   # the output args at knob_value
    wall_s: float = 0.0
    cpu_s: float = 0.0           # FFmpeg children's CPU seconds plus this process's
    interpolated: bool = False   # knob_value lies between two probes: predicted from the curve through them

    @property
    def probes_count(self) -> int:
        return len(self.probes)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["samples"] = [asdict(s) for s in self.samples]
        d["probes_count"] = self.probes_count
        return d


def _resolve_encoder(encoder: str | Implementation, prefer: str, bit_depth: int,
                     capabilities: dict[str, Capability] | None) -> Implementation:
    if isinstance(encoder, Implementation):
        impl = encoder
    elif encoder in BY_NAME:
        impl = BY_NAME[encoder]
    else:
        sel = choose_encoder(EncoderRequest(encoder, bit_depth=bit_depth, prefer=prefer), capabilities)
        return sel.current.implementation
    caps = capabilities if capabilities is not None else probe_capabilities()
    cap = caps.get(impl.name)
    if cap is None or not cap.available:
        raise EncoderUnavailable(f"{impl.name} does not work on this machine ({cap.reason if cap else 'unknown'})",
                                 hint="run `codeckit encoders` to see what works here")
    return impl


def _bit_depth_for(impl: Implementation, source_depth: int | None, wanted: int | None) -> int:
    if wanted is not None:
        return wanted
    if source_depth and source_depth > 8 and 10 in impl.pix_fmts:
        return 10
    return 8 if 8 in impl.pix_fmts else min(impl.pix_fmts)


def _y(vmaf: float) -> float:
    return -math.log(VMAF_CEILING - min(vmaf, 100.0))


def _vmaf(y: float) -> float:
    return VMAF_CEILING - math.exp(-y)


def _cap_bitrate(run_probe, probes: dict[int, "Probe"], best_u: int, grid: KnobGrid, cap: float, prior: float,
                 budget: int) -> tuple[int, str]:
    """Move the answer to the best quality whose bitrate stays under `cap`.

    In w = -u (larger is cheaper) -log(bitrate) grows, so the same monotone search finds the smallest
    w, i.e. the best quality, that keeps under the cap. Every probe so far is known already.
    """
    w_lo, w_hi = -best_u, -grid.u_lo
    known = {-u: -math.log(max(p.bitrate, 1.0)) for u, p in probes.items() if w_lo <= -u <= w_hi}
    w, why, _ = monotone_search(lambda w_: -math.log(max(run_probe(-w_).bitrate, 1.0)), -math.log(cap),
                                w_lo, w_hi, w_lo + 1, prior, 0.05, budget, known=known)
    if w is None:
        cheapest = min(probes, key=lambda u: probes[u].bitrate)
        return cheapest, f"no value in range keeps the bitrate under {cap / 1000:.0f} kb/s; the cheapest tried"
    return -w, f"capped by the maximum bitrate of {cap / 1000:.0f} kb/s ({why})"


def _between_probes(probes: dict[int, Probe], best_u: int, target: float, prior: float,
                    bitrate_prior: float) -> tuple[int, float, float, int] | None:
    """The cheapest grid value between the failing probe just below `best_u` and `best_u` itself that the
    curve through the probes predicts reaches `target`: the probes stop once one lands within the
    tolerance, and the target usually lies inside that window, not at its top. Returns (u, predicted
    VMAF, predicted bitrate, the failing probe's u), or None when no cheaper value is predicted to reach
    it, or nothing failing was tried below `best_u`.
    """
    failing = [u for u, p in probes.items() if u < best_u and p.vmaf < target]
    if not failing or best_u - max(failing) < 2:
        return None
    f = max(failing)
    curve = MonotoneCurve({u: _y(p.vmaf) for u, p in probes.items()}, prior)
    u = next((u for u in range(f + 1, best_u + 1) if curve(u) >= _y(target)), best_u)
    if u == best_u:
        return None
    rate = MonotoneCurve({u_: math.log(max(p.bitrate, 1.0)) for u_, p in probes.items()}, bitrate_prior)
    return u, _vmaf(curve(u)), math.exp(rate(u)), f


def search(source: str | Path, target_vmaf: float, *, encoder: str | Implementation = "libx264",
           prefer: str = "hardware", speed: str | int = "medium", bit_depth: int | None = None,
           filters: Sequence[str] = (), extra_output_args: Sequence[str] = (), recipe: EncodeRecipe | None = None,
           tolerance: float = DEFAULT_TOLERANCE, knob_range: tuple[float, float] | None = None,
           max_bitrate: float | None = None, max_probes: int = DEFAULT_MAX_PROBES,
           samples: int | None = None, sample_duration_s: float | None = None, model: str = "auto",
           subsample: int | None = None, cache: bool | str | Path = True,
           on_probe: Callable[[Probe], None] | None = None,
           capabilities: dict[str, Capability] | None = None, info: MediaInfo | None = None) -> SearchResult:
    """Find the knob value of `encoder` that reaches `target_vmaf` with the fewest bytes.

    `encoder` is an implementation name (libx264, hevc_nvenc, ...) or a codec (h264, av1: the first
    working implementation, hardware first unless `prefer="software"`), or pass a ready `recipe`.
    `filters` (an FFmpeg -vf chain as a list) are applied before encoding, as a transcode would; the
    encode is scored against the source at the source's size. Samples: `samples` spans of
    `sample_duration_s` spread over the source (whole source when it is short); each knob value tried
    is one probe (all samples). `knob_range` narrows the native range; `max_bitrate` (bits/s) caps the
    answer, at the cost of the target when both cannot hold. Sample encodes and scores are cached on
    disk (`cache=False` to skip, or a folder). `info` is the source's MediaInfo when the caller has probed it.
    """
    local_only([source], "search")     # before Path(): it would make s3://b/k into s3:/b/k
    started, cpu0 = time.monotonic(), time.process_time()
    src = Path(source)
    info = info if info is not None else probe(src)
    if not info.video:
        raise ConfigError("has no video stream to encode", path=src)
    v = info.video[0]
    if recipe is None:
        depth_hint = bit_depth or (10 if (v.bit_depth or 8) > 8 else 8)
        impl = _resolve_encoder(encoder, prefer, depth_hint, capabilities)
        recipe = EncodeRecipe(impl, speed, _bit_depth_for(impl, v.bit_depth, bit_depth), tuple(filters),
                              tuple(extra_output_args))
    _check_settings(target_vmaf, tolerance, max_bitrate, knob_range)
    build = build_info()
    build.require_filter("libvmaf", "VMAF (libvmaf)")
    lo, hi = _knob_limits(recipe, knob_range)
    grid = KnobGrid.of(recipe.implementation.knob, lo, hi)
    prober = Prober(src, info, recipe, grid, build.version, samples=samples, sample_duration_s=sample_duration_s,
                     model=model, subsample=subsample, cache=cache, on_probe=on_probe)
    try:
        found = _find(prober, (lo, hi), target_vmaf, tolerance, max_bitrate, max_probes)
    finally:
        prober.close()
    return _result(prober, found, target_vmaf, tolerance, started, cpu0)


def _check_settings(target_vmaf: float, tolerance: float, max_bitrate: float | None,
                    knob_range: tuple[float, float] | None) -> None:
    """ConfigError for a setting out of its range, before anything is encoded (a negative max_bitrate
    ended in a math domain error after the probes, 0 meant no cap). A negative tolerance stays allowed
    here (per-title transcode's tests force a re-encode with one); the CLI refuses it."""
    def finite(x) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
    if not finite(target_vmaf) or not 0 < target_vmaf <= 100:
        raise ConfigError(f"target VMAF {target_vmaf:g} is outside 0-100")
    if not finite(tolerance):
        raise ConfigError(f"tolerance {tolerance!r} must be a number of VMAF points")
    if max_bitrate is not None and (not finite(max_bitrate) or max_bitrate <= 0):
        raise ConfigError(f"max_bitrate {max_bitrate!r} must be a bitrate above 0 (bits per second), or None")
    if knob_range is not None and not all(finite(x) for x in knob_range):
        raise ConfigError(f"knob range {knob_range!r} must be two numbers")


def _knob_limits(recipe: EncodeRecipe, knob_range: tuple[float, float] | None) -> tuple[float, float]:
    """The knob values the search may try: the recipe's native range, narrowed by `knob_range`."""
    knob = recipe.implementation.knob
    lo, hi = recipe.knob_range
    if knob_range is not None:
        lo, hi = max(lo, min(knob_range)), min(hi, max(knob_range))
        if lo > hi:
            raise ConfigError(f"knob range {knob_range} is outside {recipe.implementation.name}'s "
                              f"{knob.lo:g}-{knob.hi:g}")
    return lo, hi


@dataclass
class _Found:
    """Where the search stopped: the grid position chosen and why, and the priors it used."""
    best_u: int | None
    reason: str
    reached: bool
    constrained: bool
    prior: float                 # y per grid step
    bitrate_prior: float         # log(bitrate) per grid step


def _find(prober: Prober, knob_limits: tuple[float, float], target_vmaf: float, tolerance: float,
          max_bitrate: float | None, max_probes: int) -> _Found:
    """Run the monotone search on the probes, then move the answer under `max_bitrate` if it is over."""
    knob, grid, probes = prober.recipe.implementation.knob, prober.grid, prober.probes
    lo, hi = knob_limits
    # Prior slope of y per grid step, from the knob's map to the common scale at the first guess.
    q0 = max(10.0, min(98.0, FIRST_GUESS_QUALITY_AT_93 + QUALITY_PER_VMAF * (target_vmaf - 93.0)))
    k0 = max(lo, min(hi, knob.value_for_quality(q0)))
    dq = abs(knob.quality_for_value(k0 + 1) - knob.quality_for_value(k0 - 1)) / 2 or 1.0
    prior = Y_PER_QUALITY * dq * grid.step
    bitrate_prior = LOG_BITRATE_PER_QUALITY * dq * grid.step
    y_target = _y(target_vmaf)
    window = _y(min(100.0, target_vmaf + tolerance)) - y_target
    if prober.full:
        aim, settle = 0.0, None        # exact probes: the search narrows down to neighbouring values
    else:
        aim = y_target - _y(target_vmaf - AIM_VMAF)

        def settle(y_pass: float, y_fail: float) -> bool:
            return _vmaf(y_pass) - _vmaf(y_fail) <= BRACKET_VMAF

    best_u, reason, _ = monotone_search(lambda u: _y(prober(u).vmaf), y_target, grid.u_lo, grid.u_hi,
                                        grid.clamp(grid.u(k0)), prior, window, max_probes, aim=aim, settle=settle)
    reached = best_u is not None
    if best_u is None:
        # out of reach: the best quality tried is the answer
        best_u = max(probes) if probes else None
    constrained = False
    if max_bitrate and best_u is not None and probes[best_u].bitrate > max_bitrate:
        best_u, reason = _cap_bitrate(prober, probes, best_u, grid, max_bitrate, bitrate_prior,
                                      max(2, max_probes - len(probes) + 2))
        constrained = True
        reached = probes[best_u].vmaf >= target_vmaf
    return _Found(best_u, reason, reached, constrained, prior, bitrate_prior)


def _result(prober: Prober, found: _Found, target_vmaf: float, tolerance: float, started: float,
            cpu0: float) -> SearchResult:
    """The SearchResult: the answer read off the probes (or off the curve between two of them)."""
    probes, grid, recipe, info = prober.probes, prober.grid, prober.recipe, prober.info
    impl = recipe.implementation
    knob = impl.knob
    best_u, reason = found.best_u, found.reason
    chosen = probes.get(best_u) if best_u is not None else None
    predicted_vmaf = chosen.vmaf if chosen else None
    predicted_bitrate = chosen.bitrate if chosen else None
    between = _between_probes(probes, best_u, target_vmaf, found.prior, found.bitrate_prior) \
        if found.reached and not found.constrained else None
    if between:
        best_u, predicted_vmaf, predicted_bitrate, failing_u = between
        reason += (f"; {knob.format(grid.knob(best_u))} lies between the probes at {knob.format(grid.knob(failing_u))} "
                   f"and {knob.format(chosen.knob)}, where the curve through them reaches the target")
    k_best = grid.knob(best_u) if best_u is not None else None
    total_s = info.duration_s or prober.v.duration_s
    ffmpeg_cpu_total = sum(p.cpu_s for p in probes.values())
    return SearchResult(
        source=str(prober.src), target_vmaf=float(target_vmaf), tolerance=float(tolerance), encoder=impl.name,
        codec=impl.codec, knob_option=knob.option.lstrip("-"), knob_value=plain_number(k_best),
        quality=round(knob.quality_for_value(k_best), 2) if k_best is not None else None,
        predicted_vmaf=predicted_vmaf, predicted_bitrate=predicted_bitrate,
        predicted_size_bytes=int(round(predicted_bitrate * total_s / 8)) if chosen and total_s else None,
        reached=bool(chosen and found.reached), reason=reason, constrained_by_bitrate=found.constrained,
        probes=list(probes.values()), probe_encodes=sum(1 for p in probes.values() if not p.cached),
        cached_probes=sum(1 for p in probes.values() if p.cached), samples=prober.spans, full_pass=prober.full,
        source_duration_s=total_s, speed=recipe.speed, bit_depth=recipe.bit_depth, filters=list(recipe.filters),
        model=prober.model_name, subsample=prober.qs.subsample,
        encoder_args=recipe.output_args(k_best) if k_best is not None else [],
        wall_s=time.monotonic() - started, cpu_s=ffmpeg_cpu_total + (time.process_time() - cpu0),
        interpolated=between is not None)


# SampleResult, Probe and the subsampling constants are part of this module's API (they moved to sample_encode).
__all__ = ["DEFAULT_MAX_PROBES", "DEFAULT_TOLERANCE", "Probe", "SAMPLE_SUBSAMPLE", "SUBSAMPLE_FROM_HEIGHT",
           "SampleResult", "SearchResult", "search"]
