"""`compare()`: sources x encoder configurations -> RD points, BD-rate, hull, cost, and the report files in DIR."""
from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ..batch import BatchEvent, BatchItem, Journal, cpu_count, run_batch
from ..codecs.capability import probe_capabilities
from ..encode import temp_path_for
from ..errors import CodeckitError, ConfigError, error_fields
from ..probe import MediaInfo, probe
from ..quality import check_scorable
from ..sources import remove_stale_temps, walk_sources
from ..staged import portable, staged_run  # staged sources are named by URL, not by scratch copies
from ..transcode import threads_per_item
from . import analysis
from .configs import Config, find_config, parse_configs
from .cost import CostModel, default_cost_model
from .points import DEFAULT_VMAF_RANGE, STRATEGIES
from .report import SCHEMA_VERSION, write_csv, write_html, write_json
from .run import (QUALITY, PlacementWork, placement_key, point_key, point_work, run_placement, run_point)
from .versions import machine, versions


@dataclass
class CompareOptions:
    encoders: str = "libx264,libx265"        # NAME[:SPEED],...
    speed: str = "medium"                    # for encoders listed without one
    anchor: str | None = None                # default: the first configuration
    points: int = 5
    vmaf_range: tuple[float, float] = DEFAULT_VMAF_RANGE
    min_vmaf: float = analysis.DEFAULT_MIN_VMAF
    cost: CostModel | None = None            # default: cost.toml
    strategy: str = "ends"                   # point placement: see compare.points
    jobs: int | str = "auto"
    capabilities: dict | None = None         # replaces the machine's encoder checks (tests)


@dataclass
class CompareReport:
    """What `compare()` returns: the report.json data, where the files are, and what ran now."""
    data: dict
    out_dir: str
    files: dict[str, str]
    computed: int                             # items run now (placements + encodes)
    cached: int                               # items taken from the journal
    failures: list[dict] = field(default_factory=list)
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.failures and not self.interrupted


def _check(opts: CompareOptions) -> None:
    if opts.points < 2:
        raise ConfigError("--points must be 2 or more (BD-rate needs 4)", code="bad_option")
    lo, hi = sorted(opts.vmaf_range)
    if not 0 < lo < hi <= 100:
        raise ConfigError(f"VMAF range {lo:g}-{hi:g} must lie within 0-100 and not be empty", code="bad_option")
    if opts.strategy not in STRATEGIES:
        raise ConfigError(f"unknown placement strategy {opts.strategy!r}", hint="use " + ", ".join(STRATEGIES),
                          code="bad_option")


def compare(sources: list[str | os.PathLike], out_dir: str | os.PathLike, options: CompareOptions | None = None, *,
            on_event: Callable[[BatchEvent], None] | None = None,
            cancel: threading.Event | None = None, storage=None) -> CompareReport:
    """Encode every source with every configuration at `points` knob values, measure each encode, and write
    report.json, results.csv and report.html into `out_dir`. A rerun reuses every finished result.
    Sources and `out_dir` may be object-storage URLs: the run is then staged (codeckit.staged)."""
    with staged_run(sources, out_dir, storage) as (local_sources, local_out):
        report = _compare(local_sources, local_out, options, on_event=on_event, cancel=cancel)
    if str(local_out) != str(out_dir):
        report.out_dir = str(out_dir)
        report.files = {k: str(out_dir).rstrip("/") + "/" + os.path.basename(v) for k, v in report.files.items()}
    return report


def _compare(sources, out_dir, options, *, on_event, cancel) -> CompareReport:
    opts = options or CompareOptions()
    _check(opts)
    started = time.monotonic()
    caps = opts.capabilities if opts.capabilities is not None else probe_capabilities()
    configs = parse_configs(opts.encoders, speed=opts.speed, capabilities=caps)
    anchor = find_config(configs, opts.anchor) if opts.anchor else configs[0]
    model = opts.cost or default_cost_model()
    out = Path(os.path.abspath(os.fspath(out_dir)))
    walk = walk_sources(list(sources), exclude=[out])
    failures = [{"source": e.path, "stage": "source", "error": e.message, **error_fields(e)} for e in walk.errors]
    infos, probe_failures = _probe_all([str(s.path) for s in walk.sources])
    failures += probe_failures
    vers = versions([c.encoder for c in configs])
    try:
        journal = Journal.in_folder(out).open()
    except OSError as exc:
        raise CodeckitError(f"cannot write to the output folder: {exc.strerror}", path=out,
                            code="output_not_writable") from exc
    try:
        journal.remove_leftovers()
        remove_stale_temps(out)
        run = _Stages(out, journal, configs, opts, vers, caps, on_event, cancel or threading.Event())
        rows = run.all(infos)
    finally:
        journal.close()
    failures = portable(failures + run.failures)
    # as JSON keeps it (tuples become lists), so the data returned equals report.json's
    data = portable(json.loads(json.dumps(_report(infos, configs, anchor, opts, model, vers, rows, run.placements,
                                                  failures))))
    data["run"] = {"created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "wall_s": round(time.monotonic() - started, 3), "computed": run.computed, "cached": run.cached,
                   "interrupted": run.interrupted}
    files = {"json": str(write_json(data, out)), "csv": str(write_csv(data["results"], out)),
             "html": str(write_html(data, out))}
    return CompareReport(data, str(out), files, run.computed, run.cached, failures, run.interrupted)


def _probe_all(paths: list[str]) -> tuple[list[MediaInfo], list[dict]]:
    """Probe the sources in threads (PyAV lets go of the GIL); a file that is not video fails on its own."""
    def one(p: str):
        try:
            info = probe(p)
            if not info.video or not (info.duration_s or info.video[0].duration_s):
                raise CodeckitError("has no video stream with a duration to compare on", path=p)
            check_scorable(info.video[0].width, info.video[0].height, p)   # encodes are scored at its size
            return info
        except CodeckitError as exc:
            return exc
    with ThreadPoolExecutor(max_workers=max(1, min(8, cpu_count()))) as pool:
        got = list(pool.map(one, paths))
    infos = [g for g in got if isinstance(g, MediaInfo)]
    fails = [{"source": p, "stage": "probe", "error": str(g), **error_fields(g)} for p, g in zip(paths, got)
             if not isinstance(g, MediaInfo)]
    return infos, fails


def _sizing(jobs: int | str, infos: list[MediaInfo]) -> tuple[int, int]:
    """(items at once, encoder threads per item). Unlike transcode's sizing this never depends on how many
    items there are: the threads are part of every argv (and of its cache key), so a rerun with one more
    encoder must plan the same commands."""
    cores = cpu_count()
    n = max(1, cores // threads_per_item(infos)) if jobs == "auto" else max(1, int(jobs))
    return n, max(1, cores // n)


class _Stages:
    """The two batch stages of one compare run (placement, then encodes), through one journal."""

    def __init__(self, out: Path, journal: Journal, configs: list[Config], opts: CompareOptions, vers: dict,
                 caps, on_event, cancel: threading.Event):
        self.out, self.journal, self.configs, self.opts, self.vers, self.caps = out, journal, configs, opts, vers, caps
        self.on_event, self.cancel = on_event, cancel
        self.failures: list[dict] = []
        self.placements: list[dict] = []
        self.computed = self.cached = 0
        self.interrupted = False

    def all(self, infos: list[MediaInfo]) -> list[dict]:
        if not infos:
            return []
        jobs, threads = _sizing(self.opts.jobs, infos)
        placed = self._place(infos, jobs, threads)
        items = []
        for info in infos:
            for cfg in self.configs:
                p = placed.get((info.path, cfg.label))
                for knob in (p or {}).get("knobs", []):
                    try:
                        w = point_work(info, cfg, knob, self.out, threads, self.caps)
                    except CodeckitError as exc:
                        self._fail(info.path, cfg, "plan", str(exc), error_fields(exc), knob)
                        continue
                    items.append(BatchItem(point_key(w, self.vers), f"{Path(info.path).name} {cfg.label} {knob:g}",
                                           payload=w, weight=w.duration_s, cleanup=(str(temp_path_for(w.job.output)),),
                                           info={"source": info.path, "config": cfg.label, "knob": knob,
                                                 "output": w.job.output}))
        results = self._batch(items, run_point, jobs, "encode")
        return [results[i.key] for i in items if i.key in results]

    def _place(self, infos: list[MediaInfo], jobs: int, threads: int) -> dict[tuple[str, str], dict]:
        items = []
        for info in infos:
            for cfg in self.configs:
                w = PlacementWork(info, cfg, self.opts.points, tuple(sorted(self.opts.vmaf_range)), self.opts.strategy,
                                  str(self.out / ".search-cache"), threads, self.caps)
                items.append(BatchItem(placement_key(w, self.vers), f"{Path(info.path).name} {cfg.label} placing",
                                       payload=w, weight=info.duration_s or 0.0,
                                       info={"source": info.path, "config": cfg.label, "stage": "placement"}))
        results = self._batch(items, run_placement, jobs, "placement")
        placed = {}
        for it in items:
            if it.key in results:
                w = it.payload
                placed[(w.info.path, w.config.label)] = results[it.key]
                self.placements.append({"source": w.info.path, "config": w.config.label, **results[it.key]})
        return placed

    def _batch(self, items: list[BatchItem], work, jobs: int, stage: str) -> dict[str, dict]:
        """Results by key: finished ones from the journal, the others run now."""
        results, todo = {}, []
        for it in items:
            last = self.journal.last(it.key)
            if last and last["state"] == "done" and isinstance(last.get("result"), dict):
                results[it.key] = last["result"]
                self.cached += 1
            else:
                todo.append(it)
        if not todo or self.cancel.is_set():
            return results
        rep = run_batch(todo, work, jobs=jobs, backend="threads", journal=self.journal, on_event=self.on_event,
                        cancel=self.cancel)
        self.interrupted |= rep.interrupted
        by_key = {it.key: it for it in todo}
        for o in rep.outcomes:
            if o.state == "done":
                results[o.key] = json.loads(json.dumps(o.result))   # exactly what the journal keeps
                self.computed += 1
            elif o.state == "failed":
                info = by_key[o.key].info
                self.failures.append({"source": info["source"], "config": info["config"], "stage": stage,
                                      "knob": info.get("knob"), "error": o.error, **(o.failure or {})})
        return results

    def _fail(self, source: str, cfg: Config, stage: str, error: str, fields: dict, knob=None) -> None:
        self.failures.append({"source": source, "config": cfg.label, "stage": stage, "knob": knob, "error": error,
                              **fields})


def _report(infos: list[MediaInfo], configs: list[Config], anchor: Config, opts: CompareOptions, model: CostModel,
            vers: dict, rows: list[dict], placements: list[dict], failures: list[dict]) -> dict:
    """report.json's data (all but "run"): the same on a rerun that only reads the journal. Sources are named
    as results name them (a staged source by its URL: codeckit.staged.portable)."""
    sources = portable([i.path for i in infos])
    order = {label: k for k, label in enumerate(c.label for c in configs)}
    rows = sorted(rows, key=lambda r: (sources.index(r["source"]), order[r["config"]], r["bitrate"]))
    costs = analysis.cost_table(rows, configs, sources, model, opts.min_vmaf)
    libvmaf = sorted({r["libvmaf"] for r in rows if r.get("libvmaf")})
    return {
        "schema_version": SCHEMA_VERSION,
        "settings": {"encoders": [c.label for c in configs], "anchor": anchor.label, "points": opts.points,
                     "vmaf_range": sorted(opts.vmaf_range), "min_vmaf": opts.min_vmaf, "strategy": opts.strategy,
                     "cost": model.to_dict(), "quality": QUALITY.key()},
        "sources": [{"path": i.path, "duration_s": i.duration_s, "width": i.video[0].width,
                     "height": i.video[0].height, "fps": i.video[0].avg_fps, "codec": i.video[0].codec}
                    for i in infos],
        "versions": {**vers, "libvmaf": libvmaf[0] if len(libvmaf) == 1 else (libvmaf or None)},
        "machine": machine(),
        "placements": sorted(portable(placements), key=lambda p: (sources.index(p["source"]), order[p["config"]])),
        "results": rows,
        "bd_rate": analysis.bd_table(rows, configs, anchor, sources),
        "hull": analysis.hull_table(rows, sources),
        "cost": [c.to_dict() for c in costs],
        "cheapest": analysis.cheapest(costs),
        "fewest_bytes_at_floor": analysis.fewest_bytes(costs),
        "failures": failures,
    }
