"""Transcode when the sources or the output are in object storage (`s3://...`): each item is staged, probed,
planned, encoded and verified inside its worker, then uploaded whole (codeckit.storage.put_final).

The parent only lists objects and reads the journal under the output prefix: it never downloads a source, and
the payloads carry URLs, so workers of a Dask or Ray cluster need no shared disk. Because the parent does not
probe, the encoder threads per item cannot be sized from the pictures: "auto" jobs fill the cores with one
thread each (as local transcode does for small pictures), and a dry run lists the items without their plans.
"""
from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from types import SimpleNamespace

from .batch import BatchItem, ItemContext, run_batch
from .cluster import engine
from .encode import EncodeResult, temp_path_for
from .errors import CodeckitError
from .object_journal import ObjectJournal, open_journal
from .profiles import Target
from .sources import walk_sources
from .storage import Storage, is_url, join, name_of, named_as_given, put_final, scratch_dir, stager


@dataclass
class RemotePayload:
    """One item for a worker: where the source is, where the output goes, and how (no local path of either)."""
    source: str                 # URL (or a local path on a machine that has it)
    output: str                 # URL or local path
    target: Target
    options: object             # TranscodeOptions
    threads: int | None
    storage: Storage
    prefetch: tuple[str, ...] = ()   # sources the next items on this worker will need: downloaded meanwhile


def remote_work(p: RemotePayload, ctx: ItemContext) -> EncodeResult:
    """Stage, probe, plan, encode, verify, upload: the whole item in this worker's scratch."""
    from .probe import probe
    from .sources import Source
    from .transcode import _Item, _Payload, _plan_item, _work
    st = stager()
    st.prefetch(p.storage, p.prefetch)
    with scratch_dir("transcode") as d:
        src = st.stage(p.storage, p.source, d) if is_url(p.source) else Path(p.source)
        staged_at = time.monotonic()
        item = _Item(Source(Path(src), Path(src.name)), d / "out" / name_of(p.output), key="")
        # the scratch copies are gone when the report is read: errors name the source and output as given
        names = {str(src): p.source, str(item.output): p.output, str(temp_path_for(item.output)): p.output}
        try:
            item.info = probe(src)
            _plan_item(item, SimpleNamespace(target=p.target, opts=p.options), p.threads)
            if item.error is not None:
                raise item.error
            result = _work(_Payload(item.job, None, p.options.verify, p.options.timeout, item.per_title), ctx)
        except CodeckitError as exc:
            raise _renamed(exc, names) from None
        put_final(p.storage, item.output, p.output)
        notes = list(result.notes) + [f"staged in a worker's scratch; uploaded in "
                                      f"{time.monotonic() - staged_at - result.wall_s:.2f} s"]
    verify = replace(result.verify, path=p.output) if result.verify is not None else None
    return replace(result, input=p.source, output=p.output, notes=notes, verify=verify)


def _renamed(exc: CodeckitError, names: dict[str, str]) -> CodeckitError:
    """`exc` with the scratch paths in its path, message and FFmpeg detail replaced by the names they stand for."""
    exc.path, exc.message = named_as_given(exc.path, names), named_as_given(exc.message, names)
    if getattr(exc, "detail", None):
        exc.detail = named_as_given(exc.detail, names)
    return exc


def remote_outputs(found, out: str, target: Target) -> list[str]:
    """One output URL per source (its key path mirrored, the extension the target's), named as local transcode
    names them (`codeckit.transcode.output_names`: a.mov beside a.mp4 -> a.mov.mp4)."""
    from .transcode import output_names
    rels = output_names([PurePosixPath(Path(s.relative).as_posix()) for s in found], target.extension)
    return [join(out, rel.as_posix()) for rel in rels]


def transcode_remote(sources, out: str, target: Target, opts, storage: Storage, *, on_event=None,
                     on_planned=None, cancel=None):
    """`codeckit.transcode.transcode` for URLs: see the module's docstring."""
    from .transcode import ItemReport, TranscodeReport, item_key, size_jobs
    start = time.monotonic()
    walk = walk_sources(list(sources), exclude=[out], storage=storage)
    outputs = remote_outputs(walk.sources, out, target)
    existing = set(storage.listing(out)) if is_url(out) else set()
    journal = ObjectJournal.read(storage, out) if opts.dry_run and is_url(out) else None
    journal = journal or (open_journal(out, storage) if not opts.dry_run else None)
    cleaned = journal.remove_leftovers() if journal is not None and not opts.dry_run else []
    try:
        items, settled = [], []
        jobs, threads = size_jobs(opts.jobs, len(walk.sources), [])
        for src, dst in zip(walk.sources, outputs):
            key = item_key(Path(src.name + "|" + (src.identity or "")), Path(dst), target, opts.force_encode)
            last = journal.last(key) if journal is not None else None
            done = last and last["state"] in ("done", "skipped") and (dst in existing or not is_url(dst))
            skip = "done in an earlier run" if done and not opts.overwrite else None
            items.append(BatchItem(key, src.name, skip=skip, weight=1.0,
                                   info={"source": src.name, "output": dst},
                                   payload=RemotePayload(src.name, dst, target, opts, threads, storage)))
        todo = [i for i in items if i.skip is None]
        for n, item in enumerate(todo):   # the item `jobs` places on is most likely the same worker's next
            nxt = todo[n + jobs].payload.source if n + jobs < len(todo) else None
            item.payload.prefetch = (nxt,) if nxt else ()
        if opts.dry_run:
            settled = [ItemReport(i.label, i.info["output"], "skipped" if i.skip else "planned", i.skip)
                       for i in items]
            return TranscodeReport(settled, out, target.name, time.monotonic() - start, jobs, threads, dry_run=True)
        if on_planned is not None:
            on_planned(len(todo), float(len(todo)))
        where = engine(opts.backend, opts.address, jobs, local="threads") if todo else nullcontext()
        with where as eng:
            batch = run_batch(items, remote_work, jobs=jobs, backend=eng.batch_backend if eng else "threads",
                              journal=journal, on_event=on_event, cancel=cancel)
    finally:
        if journal is not None and not opts.dry_run:
            journal.close()
    reports = [ItemReport.failed(e.path, None, e) for e in walk.errors]
    by_key = {i.key: i for i in items}
    for o in batch.outcomes:
        ir = ItemReport(o.label, by_key[o.key].info["output"], o.state, o.error, o.error_code,
                        result=o.result if isinstance(o.result, EncodeResult) else None, stderr_tail=o.stderr_tail,
                        traceback=o.traceback, failure=o.failure)
        reports.append(ir)
    return TranscodeReport(reports, out, target.name, time.monotonic() - start, jobs, threads,
                           interrupted=batch.interrupted, cleaned=cleaned, ignored=walk.skipped_by_extension,
                           engine=eng.describe() if eng else None)


def uses_storage(sources, out) -> bool:
    return is_url(str(out)) or any(is_url(str(s)) for s in sources)


__all__ = ["RemotePayload", "remote_work", "transcode_remote", "uses_storage"]
