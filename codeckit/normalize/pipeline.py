"""The normalize batch: find sources, hash them, drop exact duplicates, then per source
probe -> scan -> filters -> clips -> annotations -> encode/verify -> record, on local processes or a cluster.

Each source is one item of `codeckit.batch.run_batch`; its journal (in OUT) records every item as it
finishes, so a killed worker (or a killed run) costs only the items that had not finished. The manifest,
rejects list and shards are written at the end from the journal, in id order, so they do not depend on which
worker finished first, nor on the engine.
"""
from __future__ import annotations

import functools
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from ..batch import BatchItem, Journal, run_batch
from ..errors import CodeckitError
from ..sources import SourceWalk, remove_stale_temps, walk_sources
from .hashing import HashCache, content_hash, group_duplicates
from .outputs import CLIPS_DIR, OutputSpec, Summary, write_outputs
from .profile import DEFAULT_PROFILE, load_training_profile
from .sidecar import SIDECAR_SUFFIXES, find_sidecar
from .worker import Task, process_source

#: Bumped when the same source and profile would give different outputs: part of the journal key.
PIPELINE_VERSION = 1
STATE_DIR = ".codeckit"
#: Encoder threads per job. Fixed, not "auto": x264's output depends on its thread count, so "auto" would
#: make the corpus differ from machine to machine (and 3 threads on 2 cores was seen to differ run to run);
#: 1 and 2 gave the same bytes in 16 runs out of 16. Parallelism comes from running several jobs.
DEFAULT_THREADS = 2


def collect_sources(sources: Iterable[str | os.PathLike], exclude: Path | None = None) -> SourceWalk:
    """Files given, and video files under folders given (see `walk_sources`), links resolved, each file once,
    sorted; sidecars named directly and OUT are left out."""
    named = [s for s in sources if Path(s).suffix.lower() not in SIDECAR_SUFFIXES or Path(s).is_dir()]
    walk = walk_sources(named, exclude=[exclude] if exclude else ())
    real = {s.real: s for s in walk.sources}
    walk.sources = [real[p] for p in sorted(real, key=str)]
    return walk


def _hash_all(paths: list[Path], cache: HashCache) -> tuple[dict[Path, str], dict[Path, str]]:
    hashes, errors = {}, {}
    todo = []
    for p in paths:
        h = cache.lookup(p)
        if h:
            hashes[p] = h
        else:
            todo.append(p)

    def one(p):
        try:
            return p, content_hash(p), None
        except OSError as exc:
            return p, None, exc.strerror or str(exc)
    with ThreadPoolExecutor(max_workers=4) as pool:  # hashlib releases the GIL: threads read in parallel
        new = {}
        for p, h, err in pool.map(one, todo):
            if h:
                new[p] = hashes[p] = h
            else:
                errors[p] = err
    cache.add(new)
    return hashes, errors


Event = Callable[[str, dict], None]


@dataclass
class Inputs:
    """The files a run was given, hashed: one source per content, the rest named and why."""
    paths: list[Path]
    first: dict[str, Path]            # content hash -> the source that stands for it
    dup_of: dict[Path, Path]          # a duplicate -> the source it repeats
    unreadable: dict[Path, str]       # -> why it could not be read (or resolved, or found)
    non_video: int                    # files a folder walk passed over for their extension


def _find_inputs(sources: Iterable[str | os.PathLike], out: Path, state: Path) -> Inputs:
    walk = collect_sources(sources, exclude=out)
    paths = [s.real for s in walk.sources]
    hashes, unreadable = _hash_all(paths, HashCache(state / "hashes.jsonl"))
    unreadable.update({Path(e.path): e.message for e in walk.errors})
    first, dup_of = group_duplicates(hashes, prefer=lambda p: find_sidecar(p) is not None)
    return Inputs(paths + [Path(e.path) for e in walk.errors], first, dup_of, unreadable, walk.skipped_by_extension)


def normalize(sources: Iterable[str | os.PathLike], out_dir: str | os.PathLike, profile: str = DEFAULT_PROFILE, *,
              sets: Iterable[str] = (), clips: dict | None = None, shards: str | None = None,
              shard_size: str | int = "1GB", parquet: bool = False, backend: str = "local",
              address: str | None = None, jobs: int | None = None, threads: int | None = None,
              force_encode: bool = False, on_event: Event | None = None) -> Summary:
    """Normalize `sources` (files and folders) into OUT: clips, manifest, rejects list, optional shards.

    Returns the Summary; a source that fails or is rejected never stops the batch. Rerunning with the
    same arguments skips every source the journal records as finished.
    """
    from ..codecs import probe_capabilities
    from ..ffmpeg import build_info
    from ..plan import PLAN_VERSION
    from ..cluster import engine
    from .cuts import require_detector

    started = time.monotonic()
    prof = load_training_profile(profile, sets, clips)
    if prof.clips.mode == "scenes":
        require_detector(prof.clips.detector)  # before any work, not once per source in the workers
    spec = OutputSpec.check(out_dir, shards, shard_size, parquet)
    out = spec.out
    state = out / STATE_DIR
    try:
        state.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CodeckitError(f"cannot write to the output folder: {exc.strerror}", path=out) from exc
    emit = on_event or (lambda kind, data: None)

    inputs = _find_inputs(sources, out, state)
    build = build_info()
    make_task = functools.partial(Task, profile=prof, out_dir=str(out), capabilities=probe_capabilities(),
                                  threads=threads or DEFAULT_THREADS, force_encode=force_encode)
    summary = Summary(out_dir=out, profile=prof.name, engine=backend, files_in=len(inputs.paths),
                      unique_sources=len(inputs.first), duplicates=len(inputs.dup_of), non_video=inputs.non_video)

    with Journal.in_folder(out) as journal:  # locked: one run per output folder
        journal.remove_leftovers()
        remove_stale_temps(out / CLIPS_DIR)  # clips of a killed run: the journal's lock says no run writes here
        fp = prof.fingerprint()
        keys = {src: f"{h}:{fp}:{PIPELINE_VERSION}:{PLAN_VERSION}"
                for h, src in sorted(inputs.first.items(), key=lambda kv: str(kv[1]))}
        items = _queue(inputs.first, keys, journal, out, summary, make_task)
        emit("start", {"files": len(inputs.paths), "todo": len(items), "skipped": summary.skipped})
        with engine(backend, address, jobs) as eng:
            summary.engine = eng.describe()
            emit("engine", {"engine": summary.engine})
            _run(eng, items, journal, summary, emit)
        summary.unfinished = sum(1 for it in items if journal.state(it.key) != "done")
        write_outputs(summary, spec, _finished_results(journal, keys, out), inputs.dup_of, inputs.unreadable,
                      prof, build.version)
    summary.wall_s = time.monotonic() - started
    emit("end", summary.to_dict())
    return summary


def _queue(first: dict[str, Path], keys: dict[Path, str], journal: Journal, out: Path, summary: Summary,
           make_task: Callable[..., Task]) -> list[BatchItem]:
    """A batch item per source the journal does not record as finished (`summary.skipped` counts the others)."""
    items = []
    for h, src in sorted(first.items(), key=lambda kv: str(kv[1])):
        key = keys[src]
        if _finished(journal, key, out):
            summary.skipped += 1
            continue
        task = make_task(source=str(src), content_hash=h, key=key)
        items.append(BatchItem(key=key, label=str(src), payload=task, weight=max(1, src.stat().st_size),
                               info={"source": str(src), "sha256": h}))
    return items


def _run(eng, items: list[BatchItem], journal: Journal, summary: Summary, emit: Event) -> None:
    """The items on the engine's executor; a stop (Ctrl-C, a lost worker or cluster) is noted in the summary,
    not raised: what finished is journaled, and its outputs are still written."""
    def on_batch_event(ev) -> None:
        if ev.kind == "done":
            entry = ev.outcome.result
        elif ev.kind in ("failed", "interrupted"):
            entry = {"source": ev.item.label, "status": "failed", "error": ev.outcome.error}
        else:
            return
        summary.add_processed(entry)
        emit("item", entry)

    try:
        if items:
            report = run_batch(items, process_source, jobs=eng.n_jobs,
                               backend="processes" if eng.backend == "local" else eng.joblib_backend,
                               journal=journal, on_event=on_batch_event)
            if report.interrupted:
                summary.interrupted = "interrupted"
    except KeyboardInterrupt:
        summary.interrupted = "interrupted (Ctrl-C)"
    except Exception as exc:  # a worker killed or a cluster lost: what finished is journaled
        summary.interrupted = f"{type(exc).__name__}: {exc}".strip()


def _finished_results(journal: Journal, keys: dict[Path, str], out: Path) -> dict[Path, dict]:
    """Each finished source's journal entry, by source path: not the unfinished ones, nor an accepted one
    whose clip went missing (the next run does them)."""
    results = {}
    for src, key in keys.items():
        e = _result(journal, key)
        if e is not None and (e["status"] != "done" or _finished(journal, key, out)):
            results[src] = e
    return results


def _result(journal: Journal, key: str) -> dict | None:
    rec = journal.last(key)
    return rec.get("result") if rec and rec.get("state") == "done" else None


def _finished(journal: Journal, key: str, out: Path) -> bool:
    """Accepted with every clip still on disk, or rejected; a source that failed is tried again."""
    res = _result(journal, key)
    if not res or res.get("status") not in ("done", "rejected"):
        return False
    return all((out / rec["output_path"]).is_file() for rec in res.get("records", []))
