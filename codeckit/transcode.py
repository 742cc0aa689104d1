"""The transcode job: walk sources, mirror them under OUT, probe and plan each, and encode them in a batch.

`transcode()` is what `codeckit transcode` runs. A rerun into the same OUT reads the journal there: finished
items are skipped, unfinished ones redone, and temporary files of a killed run removed.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Callable

from .batch import BatchEvent, BatchItem, BatchReport, ItemContext, Journal, auto_jobs, cpu_count, run_batch
from .cluster import check_backend, engine
from .encode import EncodeResult, encode, progress_reporter, temp_path_for
from .errors import CodeckitError, error_fields
from .plan import PLAN_VERSION, EncodeJob, plan
from .probe import MediaInfo, probe
from .profiles import Target
from .sources import VIDEO_EXTENSIONS, Source, remove_stale_temps, walk_sources


@dataclass
class TranscodeOptions:
    jobs: int | str = "auto"            # a number, or "auto": jobs x encoder threads sized to the cores
    overwrite: bool = False             # redo items whose output exists
    force_encode: bool = False          # re-encode even when a remux would do
    verify: str = "sample"              # sample | full | off
    backend: str = "local"              # local (threads) | dask | ray: see codeckit.cluster
    address: str | None = None          # an existing Dask scheduler or Ray cluster (else one is started)
    dry_run: bool = False
    timeout: float | None = None        # per FFmpeg run
    stall_timeout: float | None | str = "default"   # seconds without progress; "default": $CODECKIT_STALL_TIMEOUT
    capabilities: dict | None = None    # replaces the machine's encoder checks (tests)
    verify_vmaf: bool = False           # VMAF-target profiles: measure each output, re-encode once if it misses


@dataclass
class ItemReport:
    source: str
    output: str | None
    state: str                          # done | failed | skipped | interrupted | planned (dry run)
    reason: str | None = None           # why skipped / failed, for people
    code: str | None = None             # why failed, for programs: the error's reason code
    result: EncodeResult | None = None
    job: EncodeJob | None = None
    stderr_tail: str | None = None
    traceback: str | None = None
    failure: dict | None = None         # a failed item's error fields (errors.error_fields): code, message, path...

    @classmethod
    def failed(cls, source: str, output: str | None, exc: CodeckitError, reason: str | None = None) -> "ItemReport":
        """A failed item, with the error's fields (its JSON as every command's failed item reads)."""
        return cls(source, output, "failed", reason or (exc.message if exc.path else str(exc)), exc.code,
                   failure=error_fields(exc))

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"source": self.source, "output": self.output, "state": self.state,
                             "reason": self.reason, "code": self.code, **(self.failure or {})}
        if self.result is not None:
            d["result"] = self.result.to_dict()
        if self.job is not None:
            d["plan"] = self.job.describe()
        return d


@dataclass
class TranscodeReport:
    items: list[ItemReport]
    out_dir: str
    target: str
    wall_s: float
    jobs: int
    threads: int | None
    dry_run: bool = False
    interrupted: bool = False
    cleaned: list[str] = field(default_factory=list)     # temporary files of an earlier run removed
    ignored: int = 0                                      # non-video files a folder walk passed over
    engine: str | None = None                             # where the batch ran (cluster.Engine.describe)

    def count(self, state: str) -> int:
        return sum(1 for i in self.items if i.state == state)

    @property
    def results(self) -> list[EncodeResult]:
        return [i.result for i in self.items if i.result is not None]

    @property
    def bytes_in(self) -> int:
        return sum(r.bytes_in for r in self.results)

    @property
    def bytes_out(self) -> int:
        return sum(r.bytes_out for r in self.results)

    @property
    def saving(self) -> float | None:
        return 1 - self.bytes_out / self.bytes_in if self.bytes_in else None

    @property
    def cpu_s(self) -> float:
        return sum(r.cpu_s for r in self.results)

    @property
    def media_s(self) -> float:
        return sum(r.duration_s or 0.0 for r in self.results)

    @property
    def speed(self) -> float | None:
        """Media seconds transcoded per wall second of the whole batch (× realtime)."""
        return self.media_s / self.wall_s if self.wall_s > 0 and self.media_s else None

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0 and not self.interrupted

    def summary(self) -> dict:
        return {"done": self.count("done"), "skipped": self.count("skipped"), "failed": self.count("failed"),
                "interrupted": self.count("interrupted"), "planned": self.count("planned"),
                "bytes_in": self.bytes_in, "bytes_out": self.bytes_out, "saving": self.saving,
                "wall_s": round(self.wall_s, 3), "cpu_s": round(self.cpu_s, 3), "media_s": round(self.media_s, 3),
                "speed": self.speed, "jobs": self.jobs, "threads_per_job": self.threads,
                "non_video_skipped": self.ignored, **self._vmaf_summary()}

    def _vmaf_summary(self) -> dict:
        """VMAF-target items: the target, the VMAF reached (mean, min) and how many fell short by > 0.5."""
        scored = [r for r in self.results if getattr(r, "vmaf_target", None) is not None and r.vmaf is not None]
        if not scored:
            return {}
        vs = [r.vmaf for r in scored]
        return {"vmaf": {"target": scored[0].vmaf_target, "items": len(vs), "mean": round(sum(vs) / len(vs), 3),
                         "min": round(min(vs), 3), "below_target": sum(1 for r in scored if r.vmaf < r.vmaf_target - 0.5),
                         "knob_values": [r.knob_value for r in scored]}}

    def to_dict(self) -> dict:
        return {"out_dir": self.out_dir, "profile": self.target, "dry_run": self.dry_run, "engine": self.engine,
                "interrupted": self.interrupted, "summary": self.summary(), "cleaned": self.cleaned,
                "items": [i.to_dict() for i in self.items]}


# ---------------------------------------------------------------- sources and outputs

def find_sources(paths: list[str | os.PathLike], *, exclude: list[Path] = ()) -> tuple[list[Source], int]:
    """The sources a walk finds and how many non-video files it passed over (`walk_sources` also names the
    entries it could not read). A folder's contents are mirrored under OUT; a file named directly goes to
    OUT/<its name>."""
    walk = walk_sources(paths, exclude=exclude)
    return walk.sources, walk.skipped_by_extension


def output_for(source: Source, out_dir: Path, target: Target) -> Path:
    return out_dir / source.relative.with_suffix(target.extension)


def _outputs(sources: list[Source], out_dir: Path, target: Target) -> list[Path]:
    """One output per source, under `out_dir` (see `output_names`)."""
    return [out_dir / rel for rel in output_names([s.relative for s in sources], target.extension)]


def output_names(relatives: list[PurePath], extension: str) -> list[PurePath]:
    """One relative output per source (its relative path, `extension` for its own), never two on one name.
    Sources that would meet (a.mov, a.mp4 -> a.mp4) keep their own extension (a.mov.mp4), except the one already
    named like the output; a name that is still taken (a source named a.mov.mp4 beside a.mov) gets a number
    (a.mov-2.mp4). The same for local and object-storage outputs, so a batch names its outputs one way."""
    plain = [r.with_suffix(extension) for r in relatives]
    groups: dict[PurePath, list[int]] = {}
    for i, dst in enumerate(plain):
        groups.setdefault(dst, []).append(i)
    renamed = []
    for members in groups.values():
        keeper = next((i for i in members if relatives[i].suffix == extension), members[0])
        renamed += [i for i in members if i != keeper]
    outs = list(plain)
    taken = {plain[i] for i in range(len(plain)) if i not in set(renamed)}
    for i in sorted(renamed):
        rel, n = relatives[i], 2
        name = rel.with_name(rel.name + extension)
        while name in taken:
            name, n = rel.with_name(f"{rel.name}-{n}{extension}"), n + 1
        taken.add(name)
        outs[i] = name
    return outs


def item_key(source: Path, output: Path, target: Target, force_encode: bool) -> str:
    """Identifies an item and everything that changes its result: the source file (path, size, mtime — not a
    hash of its bytes, which would cost a full read), where it goes, the target, codeckit's planner."""
    try:
        st = source.stat()
        stamp = [st.st_size, st.st_mtime_ns]
    except OSError:
        stamp = [None, None]
    text = json.dumps([PLAN_VERSION, str(source), *stamp, str(output), target.fingerprint(), force_encode])
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def threads_per_item(infos: list[MediaInfo]) -> int:
    """Encoder threads one item uses well: x264/x265 scale poorly on small pictures, where running more files
    side by side is the better use of the cores."""
    pixels = max((v.upright_width * v.upright_height for i in infos for v in i.video[:1]), default=0)
    if pixels <= 640 * 480:
        return 1
    if pixels <= 1280 * 720:
        return 2
    if pixels <= 1920 * 1088:
        return 4
    return 8


def size_jobs(jobs: int | str, n_items: int, infos: list[MediaInfo], cores: int | None = None
              ) -> tuple[int, int | None]:
    """(items at once, encoder threads per item or None to let the encoder take all the cores)."""
    cores = cores or cpu_count()
    if isinstance(jobs, str):
        if jobs != "auto":
            jobs = int(jobs)
    if jobs == "auto":
        n = auto_jobs(n_items, threads_per_item=threads_per_item(infos), cores=cores)
    else:
        n = max(1, min(int(jobs), max(1, n_items)))
    return n, (None if n == 1 else max(1, cores // n))


# ---------------------------------------------------------------- the job

@dataclass
class _Payload:
    job: EncodeJob | None
    error: CodeckitError | None
    verify: str
    timeout: float | None
    per_title: Any = None
    stall_timeout: float | None | str = "default"               # a VMAF target: codeckit.search.per_title.PerTitle does this item


def _work(payload: _Payload, ctx: ItemContext) -> EncodeResult:
    if payload.error is not None:
        raise payload.error
    if payload.per_title is not None:
        return payload.per_title.run(ctx, verify=payload.verify, timeout=payload.timeout)
    job = payload.job
    return encode(job, on_progress=progress_reporter(ctx, job, job.duration_s), verify=payload.verify,
                  cancel=ctx.cancel_event, timeout=payload.timeout, stall_timeout=payload.stall_timeout)


def transcode(sources: list[str | os.PathLike], out_dir: str | os.PathLike, target: Target,
              options: TranscodeOptions | None = None, *, on_event: Callable[[BatchEvent], None] | None = None,
              on_planned: Callable[[int, float], None] | None = None,
              cancel: threading.Event | None = None, storage=None) -> TranscodeReport:
    """Transcode every source into `out_dir` as `target` says; see the module's docstring.

    Sources and `out_dir` may be object-storage URLs (s3://...): `storage` (codeckit.storage.Storage) says how
    to reach them, and each item is then staged and uploaded by its worker (codeckit.transcode_remote).

    `on_planned(n_items_to_run, total_media_seconds)` is called once planning is done (for progress displays);
    `on_event` gets the batch's events (start / progress / done / failed / skipped / interrupted).
    """
    opts = options or TranscodeOptions()
    check_backend(opts.backend, opts.address)
    from .transcode_remote import transcode_remote, uses_storage
    if uses_storage(sources, out_dir):
        from .storage import Storage
        return transcode_remote(sources, str(out_dir), target, opts, storage or Storage(), on_event=on_event,
                                on_planned=on_planned, cancel=cancel)
    start = time.monotonic()
    out = Path(os.path.abspath(os.fspath(out_dir)))
    walk = walk_sources(list(sources), exclude=[out])
    found, ignored = walk.sources, walk.skipped_by_extension
    outputs = _outputs(found, out, target)
    if opts.dry_run:
        journal = Journal.read(out / ".codeckit-journal.jsonl")
        cleaned: list[str] = []
    else:
        try:
            journal = Journal.in_folder(out).open()
        except OSError as exc:
            raise CodeckitError(f"cannot write to the output folder: {exc.strerror}", path=out,
                            code="output_not_writable") from exc
        cleaned = journal.remove_leftovers() + remove_stale_temps(out)
    try:
        report = _run(_Run(found, outputs, out, target, opts, journal, cleaned, ignored, start), on_event,
                      on_planned, cancel)
    finally:
        journal.close()
    # entries that cannot be read fail on their own (no output, nothing to journal): the batch went on
    report.items[:0] = [ItemReport.failed(e.path, None, e) for e in walk.errors]
    return report


@dataclass
class _Run:
    """What one transcode run carries from step to step."""
    found: list[Source]
    outputs: list[Path]
    out: Path
    target: Target
    opts: TranscodeOptions
    journal: Journal
    cleaned: list[str]
    ignored: int
    start: float
    settled: list[ItemReport] = field(default_factory=list)   # items decided before the batch (skipped, refused)
    skipped: list[BatchItem] = field(default_factory=list)    # ... and the skipped ones, for the journal

    def report(self, items: list[ItemReport], jobs: int, threads: int | None, **kw) -> TranscodeReport:
        return TranscodeReport(items=_in_order(self.settled + items, self.found), out_dir=str(self.out),
                               target=self.target.name, wall_s=time.monotonic() - self.start, jobs=jobs,
                               threads=threads, ignored=self.ignored, **kw)


@dataclass
class _Item:
    """One source to transcode, from selection through probe and plan to its batch item."""
    source: Source
    output: Path
    key: str
    info: MediaInfo | None = None
    job: EncodeJob | None = None
    error: CodeckitError | None = None
    per_title: Any = None               # a VMAF target: the search-and-encode that runs (PerTitle)


def _run(run: _Run, on_event, on_planned, cancel) -> TranscodeReport:
    """Select, probe, size, plan; then stop at the plan (dry run) or run the batch and collect its outcomes."""
    pending = _select(run)
    _probe_all(pending)
    jobs, threads = size_jobs(run.opts.jobs, len(pending), [p.info for p in pending if p.info is not None])
    for item in pending:
        _plan_item(item, run, threads)
    if run.opts.dry_run:
        return run.report([_planned_report(p) for p in pending], jobs, threads, dry_run=True)
    batch_items = run.skipped + [_batch_item(p, run.opts) for p in pending]
    if on_planned is not None:
        on_planned(len(pending), sum(b.weight for b in batch_items if b.skip is None))
    # local items run in threads (FFmpeg does the work in child processes, and progress reaches the display);
    # a rerun with nothing left to do starts no cluster
    where = engine(run.opts.backend, run.opts.address, jobs, local="threads") if pending else nullcontext()
    with where as eng:
        batch = run_batch(batch_items, _work, jobs=jobs, backend=eng.batch_backend if eng else "threads",
                          journal=run.journal, on_event=on_event, cancel=cancel)
    return run.report(_item_reports(pending, batch), jobs, threads, interrupted=batch.interrupted,
                      cleaned=run.cleaned, engine=eng.describe() if eng else None)


def _skip_reason(dst: Path, key: str, journal: Journal, made: dict[str, str], opts: TranscodeOptions) -> str | None:
    if not dst.exists() or opts.overwrite:
        return None
    last = journal.last(key)
    if last and last["state"] in ("done", "skipped"):
        return "done in an earlier run"
    if str(dst) in made:
        return None  # made by an earlier run from an older source or another profile: redo it
    return "output exists (--overwrite to redo it)"


def _select(run: _Run) -> list[_Item]:
    """The items to do; those to skip (or refuse) go to `run.settled` and `run.skipped`."""
    pending: list[_Item] = []
    made = {r.get("output"): k for k, r in run.journal.entries.items() if r["state"] == "done"}
    for src, dst in zip(run.found, run.outputs):
        if dst.resolve() == src.path.resolve():   # before the skip check: such an output always "exists"
            exc = CodeckitError("the output would replace its own source", path=src.path, code="output_is_source",
                                hint="choose another output folder")
            run.settled.append(ItemReport.failed(str(src.path), str(dst), exc, "the output would replace its own "
                                                 "source; choose another output folder"))
            continue
        key = item_key(src.path, dst, run.target, run.opts.force_encode)
        reason = _skip_reason(dst, key, run.journal, made, run.opts)
        if reason is not None:
            run.skipped.append(BatchItem(key, str(src.path), skip=reason,
                                         info={"source": str(src.path), "output": str(dst)}))
            run.settled.append(ItemReport(str(src.path), str(dst), "skipped", reason))
        else:
            pending.append(_Item(src, dst, key))
    return pending


def _probe_all(items: list[_Item]) -> None:
    """Probe every item first (in threads: PyAV lets go of the GIL): their sizes decide jobs x threads."""
    def probe_one(item: _Item) -> None:
        try:
            item.info = probe(item.source.path)
        except CodeckitError as exc:
            item.error = exc
    with ThreadPoolExecutor(max_workers=max(1, min(8, cpu_count()))) as pool:
        list(pool.map(probe_one, items))


def _plan_item(item: _Item, run: _Run, threads: int | None) -> None:
    if item.info is None:
        return
    try:
        if _wants_vmaf_search(run.target):
            item.job, item.per_title = _plan_per_title(item.info, run.target, item.output, threads, run.opts)
        else:
            item.job = plan(item.info, run.target, item.output, force_encode=run.opts.force_encode,
                            threads=threads, capabilities=run.opts.capabilities)
    except CodeckitError as exc:
        item.error = exc


def _planned_report(item: _Item) -> ItemReport:
    """A dry run's line for an item: its plan, or why it could not be planned."""
    src, dst, err = str(item.source.path), str(item.output), item.error
    if err is not None:
        return ItemReport.failed(src, dst, err)
    return ItemReport(src, dst, "planned", job=item.job)


def _batch_item(item: _Item, opts: TranscodeOptions) -> BatchItem:
    # an item that failed to probe or plan still goes through the batch: its error is raised and journaled there
    payload = _Payload(job=item.job, error=item.error, verify=opts.verify, timeout=opts.timeout,
                       per_title=item.per_title, stall_timeout=opts.stall_timeout)
    weight = (item.job.duration_s or 0.0) if item.job else 0.0
    return BatchItem(item.key, str(item.source.path), payload=payload, weight=weight,
                     cleanup=(str(temp_path_for(item.output)),),
                     info={"source": str(item.source.path), "output": str(item.output)})


def _item_reports(items: list[_Item], batch: BatchReport) -> list[ItemReport]:
    """The batch's outcomes as item reports; an item never started (the batch was stopped first) is interrupted."""
    by_label = {str(i.source.path): ItemReport(str(i.source.path), str(i.output), "interrupted", "not started")
                for i in items}
    for o in batch.outcomes:
        if o.state == "skipped":
            continue
        ir = by_label[o.label]
        ir.state, ir.reason = o.state, None
        if o.state == "done":
            ir.result = o.result
        else:
            ir.reason, ir.code, ir.failure = o.error, o.error_code, o.failure
            ir.stderr_tail = o.stderr_tail
            ir.traceback = o.traceback
    return list(by_label.values())


# ---------------------------------------------------------------- per-title (VMAF-target) items

def _wants_vmaf_search(target: Target) -> bool:
    if target.video.vmaf is None:
        return False  # most profiles: do not pay for importing the search (numpy, libvmaf glue) at start-up
    from .search.per_title import wants_search
    return wants_search(target)


def _plan_per_title(info: MediaInfo, target: Target, dst: Path, threads: int | None, opts: TranscodeOptions):
    """A VMAF target: the plan shown (at the encoder's default value) and the search-and-encode that runs."""
    from .search.per_title import PerTitle, plan_for_display
    job = plan_for_display(info, target, dst, threads=threads, capabilities=opts.capabilities)
    return job, PerTitle(info=info, target=target, output=str(dst), threads=threads,
                         capabilities=opts.capabilities, verify_vmaf=opts.verify_vmaf)


def _in_order(items: list[ItemReport], found: list[Source]) -> list[ItemReport]:
    order = {str(s.path): i for i, s in enumerate(found)}
    return sorted(items, key=lambda i: order.get(i.source, len(order)))


__all__ = ["ItemReport", "Source", "TranscodeOptions", "TranscodeReport", "VIDEO_EXTENSIONS", "find_sources",
           "item_key", "output_for", "size_jobs", "threads_per_item", "transcode"]
