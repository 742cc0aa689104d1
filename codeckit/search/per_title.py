"""Per-title encoding: profiles that say `quality = { vmaf = N }` get a knob search per file before transcode encodes it.

The samples are encoded exactly as the transcode plan would encode the whole file (same filters, encoder,
keyframe interval, threads), so the prediction is for the file transcode writes. With `verify_vmaf` the
written output is measured (every VERIFY_SUBSAMPLE-th frame) and, when it misses the target by more than
the tolerance, encoded once more at a better value.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..codecs import BY_NAME
from ..encode import EncodeResult, encode, progress_reporter
from ..ffmpeg import input_args, input_url
from ..probe import MediaInfo, probe
from ..quality import measure
from .knob_search import DEFAULT_TOLERANCE, SearchResult, _y, search
from .model import KnobGrid, MonotoneCurve
from .samples import _VIDEO_ONLY, EncodeRecipe, Span, _seek_args

#: The full output is measured on every Nth frame when verify_vmaf is on.
VERIFY_SUBSAMPLE = 5


def wants_search(target) -> bool:
    """Does this transcode target ask for a VMAF (and leave the knob to a search)?"""
    return target.video.vmaf is not None and target.video.knob is None


def _without_tags(args: list[str]) -> list[str]:
    # an MP4 codec tag (hvc1) means nothing to the Matroska samples, and Matroska refuses some
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a.startswith("-tag:v"):
            skip = True
            continue
        out.append(a)
    return out


@dataclass(frozen=True)
class PlanRecipe(EncodeRecipe):
    """Samples encoded by the transcode plan itself (codeckit.plan), at each knob value tried."""
    info: Any = None
    target: Any = None
    threads: int | None = None
    capabilities: Any = field(default=None, compare=False, hash=False)

    def job(self, knob: float, output: str | Path = "sample.mkv"):
        from ..plan import plan
        return plan(self.info, self.target, output, knob_value=knob, force_encode=True, threads=self.threads,
                    capabilities=self.capabilities)

    # The plan maps the source's own stream index and rotates by the source's display matrix (which the
    # windows' extraction would already have applied), its filters may read what raw frames do not carry
    # (field order for deinterlacing, HDR metadata for tone mapping), and a batch runs several searches at
    # once, each of whose windows would take ~0.8 GB of temporary space at 1080p: its samples seek in the
    # source itself.
    decoded_windows = False

    def sample_args(self, source, output, knob, span: Span, video_index, container: str = "matroska",
                    input_options=()) -> list[str]:
        job = self.job(knob)
        args = ["-y", *job.global_args, *job.input_options, *_seek_args(span), *input_options, *input_args(source)]
        if job.filter_graph:
            args += ["-filter_complex", job.filter_graph]
        return args + _without_tags(job.video_args) + [*_VIDEO_ONLY, "-f", container, input_url(output)]

    def cache_parts(self, knob: float) -> dict:
        from ..plan import PLAN_VERSION
        job = self.job(knob)
        return {"plan": PLAN_VERSION, "global": job.global_args, "input": job.input_options,
                "graph": job.filter_graph, "video": _without_tags(job.video_args)}

    def output_args(self, knob: float) -> list[str]:
        return list(self.job(knob).video_args)


def recipe_for_target(info: MediaInfo, target, *, threads: int | None = None, capabilities=None) -> PlanRecipe:
    """The recipe that encodes samples of `info` as a transcode to `target` would, with its implementation
    pinned (the one the plan chooses now), so every probe and the final encode use the same encoder."""
    from ..plan import plan
    plain = replace(target, video=replace(target.video, vmaf=None, knob=None))
    first = plan(info, plain, "sample.mkv", force_encode=True, threads=threads, capabilities=capabilities)
    impl = BY_NAME[first.implementation]
    pinned = replace(target, video=replace(target.video, implementation=impl.name))
    depth = first._spec.bit_depth if getattr(first, "_spec", None) is not None else 8
    return PlanRecipe(implementation=impl, speed=target.video.speed, bit_depth=depth, filters=tuple(first.filters),
                      info=info, target=pinned, threads=threads, capabilities=capabilities)


def recipe_for_profile(source: str | Path, profile: str, *, sets=(), speed=None) -> PlanRecipe:
    """`codeckit search --profile NAME`: the recipe of that transcode profile for this source."""
    from ..profiles import load_profile
    from ..sources import local_only
    local_only([source], "search")
    target = load_profile(profile, sets)
    if speed is not None:
        target = replace(target, video=replace(target.video, speed=speed))
    return recipe_for_target(probe(source), target)


def plan_for_display(info: MediaInfo, target, output, **plan_kw):
    """A dry-run plan of a VMAF-target item: the plan at the encoder's default value, with a note that the
    real value is searched per file."""
    from ..plan import plan
    plain = replace(target, video=replace(target.video, vmaf=None, knob=None))
    job = plan(info, plain, output, **{**plan_kw, "force_encode": True})
    job.notes.append(f"quality = {{ vmaf = {target.video.vmaf:g} }}: the {job.implementation} quality value is "
                     "found per file by a VMAF search when this runs (shown here at its default)")
    return job


@dataclass
class VmafEncodeResult(EncodeResult):
    """An EncodeResult of a per-title item, with what the search chose and the VMAF it reached."""
    vmaf_target: float | None = None
    vmaf: float | None = None             # measured on the output (verify_vmaf), else the search's
    vmaf_from: str = ""                   # "output (every 5th frame)" | "search, whole file" | "search, samples"
    search: dict | None = None            # knob found, predicted VMAF and bitrate, probes, why, CPU
    attempts: list[dict] = field(default_factory=list)   # each full encode measured: {"knob", "vmaf"}


def _search_summary(r: SearchResult) -> dict:
    return {"encoder": r.encoder, "knob_option": r.knob_option, "knob_value": r.knob_value,
            "predicted_vmaf": r.predicted_vmaf, "predicted_bitrate": r.predicted_bitrate, "reached": r.reached,
            "probes": [[p.knob, round(p.vmaf, 3)] for p in r.probes], "probe_encodes": r.probe_encodes,
            "full_pass": r.full_pass, "reason": r.reason, "wall_s": round(r.wall_s, 3), "cpu_s": round(r.cpu_s, 3)}


def _better_knob(res: SearchResult, recipe: EncodeRecipe, miss: float, tolerance: float) -> float | None:
    """A knob value whose samples should score `miss` (the full file's shortfall) more than the target's, from
    the search's own knob -> VMAF curve; at least one step better than the value that missed."""
    knob = recipe.implementation.knob
    lo, hi = recipe.knob_range
    grid = KnobGrid.of(knob, lo, hi)
    pts = {grid.u(p.knob): _y(p.vmaf) for p in res.probes}
    curve = MonotoneCurve(pts, prior_slope=0.15 * grid.step)
    want = _y(min(100.0, res.target_vmaf + miss + 0.4 * tolerance))
    u0 = grid.u(res.knob_value)
    u = next((u for u in range(u0 + 1, grid.u_hi + 1) if curve(u) >= want), grid.u_hi)
    return None if u <= u0 else grid.knob(u)


@dataclass
class PerTitle:
    """One transcode item with a VMAF target: search, encode, and optionally measure and re-encode once."""
    info: MediaInfo
    target: Any
    output: str
    threads: int | None = None
    capabilities: Any = None
    verify_vmaf: bool = False
    tolerance: float = DEFAULT_TOLERANCE

    def run(self, ctx=None, *, verify: str = "sample", timeout: float | None = None) -> VmafEncodeResult:
        start = time.monotonic()
        vmaf_target = float(self.target.video.vmaf)
        recipe = recipe_for_target(self.info, self.target, threads=self.threads, capabilities=self.capabilities)
        cancel = getattr(ctx, "cancel_event", None)

        def between_probes(_probe) -> None:
            if ctx is not None:
                ctx.check_cancelled()
        res = search(self.info.path, vmaf_target, recipe=recipe, tolerance=self.tolerance,
                     capabilities=self.capabilities, on_probe=between_probes, info=self.info)
        extra_cpu = res.cpu_s
        duration = self.info.duration_s or 0.0

        def encode_at(knob: float) -> EncodeResult:
            job = recipe.job(knob, self.output)
            return encode(job, on_progress=progress_reporter(ctx, job, duration), verify=verify, cancel=cancel,
                          timeout=timeout)

        knob = res.knob_value
        result = encode_at(knob)
        notes = [f"VMAF {vmaf_target:g}: {res.knob_option} {knob:g} found in {res.probes_count} probe(s) "
                 f"({res.reason}); the samples scored {res.predicted_vmaf:.2f}"]
        vmaf = res.predicted_vmaf
        vmaf_from = "search, whole file" if res.full_pass else "search, samples"
        attempts: list[dict] = []
        if self.verify_vmaf:
            q = measure(self.info.path, self.output, subsample=VERIFY_SUBSAMPLE)
            extra_cpu += q.cpu_s
            attempts.append({"knob": knob, "vmaf": round(q.score, 3), "bytes": result.bytes_out})
            vmaf, vmaf_from = q.score, f"output (every {VERIFY_SUBSAMPLE}th frame)"
            if q.score < vmaf_target - self.tolerance:
                better = _better_knob(res, recipe, vmaf_target - q.score, self.tolerance)
                if better is not None:
                    notes.append(f"the output scored {q.score:.2f}, below {vmaf_target:g} - {self.tolerance:g}: "
                                 f"encoded again at {res.knob_option} {better:g}")
                    extra_cpu += result.cpu_s
                    result = encode_at(better)
                    knob = better
                    q = measure(self.info.path, self.output, subsample=VERIFY_SUBSAMPLE)
                    extra_cpu += q.cpu_s
                    attempts.append({"knob": knob, "vmaf": round(q.score, 3), "bytes": result.bytes_out})
                    vmaf = q.score
        base = {f.name: getattr(result, f.name) for f in fields(EncodeResult)}
        base.update(cpu_s=result.cpu_s + extra_cpu, wall_s=time.monotonic() - start, knob_value=knob,
                    notes=list(result.notes) + notes)
        return VmafEncodeResult(**base, vmaf_target=vmaf_target, vmaf=vmaf, vmaf_from=vmaf_from,
                                search=_search_summary(res), attempts=attempts)


__all__ = ["PerTitle", "PlanRecipe", "VERIFY_SUBSAMPLE", "VmafEncodeResult", "plan_for_display",
           "recipe_for_profile", "recipe_for_target", "wants_search"]
