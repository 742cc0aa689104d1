"""The normalize batch: find sources, hash them, drop exact duplicates, then per source
probe -> scan -> filters -> clips -> annotations -> encode/verify -> record, on threads of this process or a cluster.

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
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable

from ..batch import BatchItem, JournalView, run_batch
from ..object_journal import open_journal
from ..errors import CodeckitError, SourceError, error_fields
from ..sources import SourceWalk, remove_stale_temps, walk_sources
from ..storage import Storage, is_url, object_hash
from .hashing import HashCache, content_hash, file_identity, group_duplicates
from .outputs import CLIPS_DIR, OutputSpec, Summary, write_outputs
from .profile import DEFAULT_PROFILE, load_training_profile
from .sidecar import SIDECAR_SUFFIXES, find_sidecar
from .worker import Task, process_source

#: Bumped when the same source and profile would give different outputs: part of the journal key.
PIPELINE_VERSION = 1
STATE_DIR = ".codeckit"
#: Encoder threads per job. Fixed, not "auto": x264's output depends on its thread count, so "auto" would
#: make the corpus differ from machine to machine (and 3 threads on 2 cores was seen to differ run to run).
#: One: parallelism comes from running a job per core, and one x264 thread does the same work for less CPU
#: (bench_normalize's mixed corpus, A/B interleaved: 25.25 CPU-s against 25.71 with 2, -1.8 %); a lone
#: source takes longer on the clock, a corpus does not. `--threads N` still sets it.
DEFAULT_THREADS = 1


def collect_sources(sources: Iterable[str | os.PathLike], exclude: Path | str | None = None,
                    storage: Storage | None = None) -> SourceWalk:
    """Files given, and video files under folders given (see `walk_sources`), links resolved, each file once,
    sorted; sidecars named directly and OUT are left out. An object's URL stands for its path."""
    named = [s for s in sources if is_url(s) or Path(s).suffix.lower() not in SIDECAR_SUFFIXES or Path(s).is_dir()]
    walk = walk_sources(named, exclude=[exclude] if exclude else (), storage=storage)
    real = {(s.url or s.real): s for s in walk.sources}
    walk.sources = [real[p] for p in sorted(real, key=str)]
    return walk


def _hash_all(paths: list[Path | str], cache: HashCache, objects: dict[str, str] | None = None,
              storage: Storage | None = None) -> tuple[dict, dict, dict]:
    """Content hashes, unreadable paths, and each local file's identity (`file_identity`) as it was when hashed:
    its worker checks the file still has it. An object (a URL, its identity in `objects`) is read by streaming,
    and cached under its URL, size and ETag."""
    hashes, errors, identities = {}, {}, {}
    todo = []
    objects = objects or {}
    for p in paths:
        if p in objects:
            h = cache.known.get(f"{p}|{objects[p]}")
        else:
            try:
                identities[p] = file_identity(p)   # before reading: a write meanwhile changes it
            except OSError:
                pass
            h = cache.known.get(identities.get(p, ""))
        if h:
            hashes[p] = h
        else:
            todo.append(p)

    def one(p):
        try:
            return p, (object_hash(storage, p) if p in objects else content_hash(p)), None
        except OSError as exc:   # gone or locked since the walk found it
            return p, None, error_fields(SourceError(exc.strerror or str(exc), path=p, code="unreadable"))
        except Exception as exc:  # StorageError: this object fails, the batch goes on
            return p, None, error_fields(exc)
    with ThreadPoolExecutor(max_workers=4) as pool:  # hashlib releases the GIL: threads read in parallel
        new = {}
        for p, h, err in pool.map(one, todo):
            if h:
                new[p] = hashes[p] = h
            else:
                errors[p] = err
    # under the identity taken before reading, so that a file written while it was hashed is hashed again
    cache.add_keys({identities[p]: h for p, h in new.items() if p in identities})
    cache.add_keys({f"{p}|{objects[p]}": h for p, h in new.items() if p in objects})
    return hashes, errors, identities


Event = Callable[[str, dict], None]


@dataclass
class Inputs:
    """The files a run was given, hashed: one source per content, the rest named and why."""
    paths: list[Path]
    unique: dict[Path | str, str]     # a source to process (one per content) -> its content hash, or "" for
                                      # an object its worker hashes while staging it (see _hashed_by_worker)
    dup_of: dict[Path, Path]          # a duplicate -> the source it repeats
    unreadable: dict[Path, dict]      # -> why it could not be read (or resolved, or found): errors.error_fields
    non_video: int                    # files a folder walk passed over for their extension
    objects: dict[str, str]           # an object's URL -> its identity (codeckit.storage.identity)
    identities: dict[Path, str]       # a local file -> its identity when it was hashed (hashing.file_identity)


def _find_inputs(walk: SourceWalk, state: Path, storage: Storage | None = None) -> Inputs:
    paths = [s.url or s.real for s in walk.sources]
    objects = {s.url: s.identity for s in walk.sources if s.url}
    later = _hashed_by_worker(walk)
    hashes, unreadable, identities = _hash_all([p for p in paths if p not in later],
                                               HashCache(state / "hashes.jsonl"), objects, storage)
    unreadable.update({_as_source(e.path): error_fields(e) for e in walk.errors})
    first, dup_of = group_duplicates(hashes, prefer=lambda p: not is_url(p) and find_sidecar(p) is not None)
    unique = {src: h for h, src in first.items()} | {url: "" for url in later}
    return Inputs(paths + [_as_source(e.path) for e in walk.errors], unique, dup_of, unreadable,
                  walk.skipped_by_extension, objects, identities)


def _hashed_by_worker(walk: SourceWalk) -> set[str]:
    """Objects no other source can duplicate, their size being unique among the sources: their content hash
    (for clip ids and the manifest) is taken by the worker from the staged copy, so the parent does not read
    every object once more, before any work starts, than the workers download it (bench_storage). Exact
    duplicates are the same bytes, so only sources of equal size are hashed up front."""
    sizes: dict[int, int] = {}
    size_of = {}
    for s in walk.sources:
        try:
            size = int(s.size) if s.url else os.stat(s.real).st_size
        except (OSError, TypeError, ValueError):
            continue
        size_of[s.url or s.real] = size
        sizes[size] = sizes.get(size, 0) + 1
    return {s.url for s in walk.sources if s.url and s.url in size_of and sizes[size_of[s.url]] == 1}


def _journal_keys(inputs: Inputs, fingerprint: str) -> dict:
    """Each source's journal key: a local source's content hash (a moved or renamed file is still done); an
    object's URL with its size and ETag (stable whether or not the parent hashed it; the URL in it because
    another filesystem's identity may be a modification time, which two objects can share)."""
    from ..plan import PLAN_VERSION
    import hashlib
    keys = {}
    for src, h in sorted(inputs.unique.items(), key=lambda kv: str(kv[0])):
        if is_url(src):
            h = "o" + hashlib.sha256(f"{src}|{inputs.objects.get(src)}".encode()).hexdigest()[:40]
        keys[src] = f"{h}:{fingerprint}:{PIPELINE_VERSION}:{PLAN_VERSION}"
    return keys


def _as_source(path) -> Path | str:
    return path if is_url(path) else Path(path)


def _state_folder(out: Path | str) -> Path:
    """Where the run keeps its hash cache: in OUT, or for an object-storage OUT a local cache folder (it only
    saves reading sources again, so losing it costs time, not results)."""
    if not is_url(out):
        return Path(out) / STATE_DIR
    import hashlib
    import tempfile
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path(tempfile.gettempdir()))
    return base / "codeckit-state" / hashlib.sha1(str(out).encode()).hexdigest()[:16]


def normalize(sources: Iterable[str | os.PathLike], out_dir: str | os.PathLike, profile: str = DEFAULT_PROFILE, *,
              sets: Iterable[str] = (), clips: dict | None = None, shards: str | None = None,
              shard_size: str | int = "1GB", parquet: bool = False, backend: str = "local",
              address: str | None = None, jobs: int | None = None, threads: int | None = None,
              force_encode: bool = False, on_event: Event | None = None,
              storage: Storage | None = None) -> Summary:
    """Normalize `sources` (files and folders) into OUT: clips, manifest, rejects list, optional shards.

    Returns the Summary; a source that fails or is rejected never stops the batch. Rerunning with the
    same arguments skips every source the journal records as finished. Sources and OUT may be object-storage
    URLs (s3://...; `storage` says how to reach them): workers then stage and upload (normalize/remote.py).
    """
    from ..codecs import probe_capabilities
    from ..ffmpeg import build_info
    from ..cluster import engine
    from .cuts import require_detector

    started = time.monotonic()
    remote = is_url(str(out_dir)) or any(is_url(str(s)) for s in sources)
    storage = (storage or Storage()) if remote else None
    prof = load_training_profile(profile, sets, clips)
    if prof.clips.mode == "scenes":
        require_detector(prof.clips.detector)  # before any work, not once per source in the workers
    spec = OutputSpec.check(out_dir, shards, shard_size, parquet, storage=storage)
    out = spec.location
    walk = collect_sources(sources, exclude=out, storage=storage)  # refuses OUT = a source folder: write nothing
    state = _state_folder(out)
    try:
        state.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CodeckitError(f"cannot write to the output folder: {exc.strerror}", path=out,
                            code="output_not_writable") from exc
    emit = on_event or (lambda kind, data: None)

    inputs = _find_inputs(walk, state, storage)
    build = build_info()
    make_task = functools.partial(Task, profile=prof, out_dir=str(out), capabilities=probe_capabilities(),
                                  threads=threads or DEFAULT_THREADS, force_encode=force_encode, storage=storage)
    summary = Summary(out_dir=out, profile=prof.name, engine=backend, files_in=len(inputs.paths),
                      unique_sources=len(inputs.unique), duplicates=len(inputs.dup_of), non_video=inputs.non_video)

    with open_journal(out, storage) as journal:  # locked: one run per output folder or prefix
        journal.remove_leftovers()
        if not remote:
            remove_stale_temps(out / CLIPS_DIR)  # clips of a killed run: the journal's lock says no run writes
        present = spec.present_clips()
        fp = prof.fingerprint()
        keys = _journal_keys(inputs, fp)
        items = _queue(inputs.unique, keys, journal, present, summary, make_task, jobs or engine_jobs(),
                       inputs.identities)
        emit("start", {"files": len(inputs.paths), "todo": len(items), "skipped": summary.skipped})
        with engine(backend, address, jobs, local="threads") as eng:
            summary.engine = eng.describe()
            emit("engine", {"engine": summary.engine})
            _run(eng, items, journal, summary, emit)
        summary.unfinished = sum(1 for it in items if journal.state(it.key) != "done")
        present = spec.present_clips()
        write_outputs(summary, spec, _finished_results(journal, keys, present), inputs.dup_of, inputs.unreadable,
                      prof, build.version)
    summary.wall_s = time.monotonic() - started
    emit("end", summary.to_dict())
    return summary


def engine_jobs() -> int:
    from ..cluster import default_jobs
    return default_jobs()


def _queue(unique: dict, keys: dict, journal: JournalView, present, summary: Summary,
           make_task: Callable[..., Task], jobs: int = 1, identities: dict | None = None) -> list[BatchItem]:
    """A batch item per source the journal does not record as finished (`summary.skipped` counts the others),
    with the local file's identity when it was hashed (`identities`; its worker checks it).
    An object source also names the source `jobs` places later, for its worker to download meanwhile."""
    items = []
    for src, h in sorted(unique.items(), key=lambda kv: str(kv[0])):
        key = keys[src]
        if _finished(journal, key, present):
            summary.skipped += 1
            continue
        task = make_task(source=str(src), content_hash=h, key=key, identity=(identities or {}).get(src))
        items.append(BatchItem(key=key, label=str(src), payload=task,
                               info={"source": str(src), **({"sha256": h} if h else {})}))
    items = _longest_first(items, jobs)
    for n, item in enumerate(items):
        if item.payload.storage is not None and n + jobs < len(items):
            item.payload.prefetch = (items[n + jobs].payload.source,)
    return items


#: Source pixels decoded cost this many times less CPU than output pixels encoded with x264 at the training
#: profiles' settings (bench_normalize's mixed corpus: decoding its 1080p25 H.264 costs 7.2 ms a frame, 3.5 ns a
#: pixel; the 480p24 x264-medium encode 0.47 CPU-s a second of output, 48 ns a pixel).
DECODE_PER_ENCODE_PIXEL = 1 / 14


#: Up to this many sources are peeked at while they are queued (their headers, nothing decoded: about 1 ms each);
#: a bigger batch starts at once, ordered by file size: its tail is a small share of its time, and opening 100k
#: files first would delay the first encode by a minute or more, with nothing shown.
PROBE_WHEN_QUEUED_MAX = 500


def _longest_first(items: list[BatchItem], jobs: int) -> list[BatchItem]:
    """The items, heaviest first: a heavy source started last keeps one core busy while the others idle
    (bench_normalize's mixed corpus on 2 cores, in name order: its last 3.7 s ran alone, 15.6 s for 13.8 s of
    work per core; heaviest first 13.6 s). Up to PROBE_WHEN_QUEUED_MAX local sources are weighed by the work they
    will likely cost, from their headers (`peek_video`: their workers probe them, and scan them on the same open
    container: a full probe here cost another open and first-frame decode, 0.1 CPU-s on that corpus); an object,
    or a file that does not open, goes after them (its worker reports it, by name). A bigger batch goes by file
    size."""
    from ..peek import peek_video

    if len(items) > PROBE_WHEN_QUEUED_MAX:
        for item in items:
            if not is_url(item.payload.source):
                try:
                    item.weight = float(max(1, os.path.getsize(item.payload.source)))
                except OSError:  # gone since it was hashed: its worker says so, by name
                    pass
        return sorted(items, key=lambda it: -it.weight)

    weighed = set()

    def one(item: BatchItem):
        task = item.payload
        peek = None if is_url(task.source) else peek_video(task.source)
        if peek is not None:
            item.weight = max(0.01, _work_estimate(peek, task.profile.target))
            weighed.add(item.key)

    with ThreadPoolExecutor(max_workers=max(1, min(jobs, 8))) as pool:  # PyAV opens files without the GIL
        list(pool.map(one, items))
    return sorted(items, key=lambda it: (it.key not in weighed, -it.weight))


def _work_estimate(v, target) -> float:
    """About how much work a source is, in seconds of target-size output: its encode, and its decode. `v`: the
    source's VideoPeek."""
    fps = v.fps or 25.0
    dur = v.duration_s or 0.0
    out_fps = float(Fraction(target.video.fps)) if target.video.fps else fps
    out = (target.video.width or v.width) * (target.video.height or v.height) * out_fps
    src = v.width * v.height * fps
    return dur * (1 + DECODE_PER_ENCODE_PIXEL * src / max(1.0, out))


def _run(eng, items: list[BatchItem], journal: JournalView, summary: Summary, emit: Event) -> None:
    """The items on the engine's executor; a stop (Ctrl-C, a lost worker or cluster) is noted in the summary,
    not raised: what finished is journaled, and its outputs are still written."""
    def on_batch_event(ev) -> None:
        if ev.kind == "done":
            entry = ev.outcome.result
        elif ev.kind in ("failed", "interrupted"):
            entry = {"source": ev.item.label, "status": "failed", "error": ev.outcome.error,
                     "failure": ev.outcome.failure}
        else:
            return
        if ev.kind != "interrupted":    # a stopped item is unfinished (a rerun does it), not processed
            summary.add_processed(entry)
        emit("item", entry)

    try:
        if items:
            # locally the items are threads of this process, not loky processes: the work is in FFmpeg children
            # and in PyAV decoding, which releases the GIL (two threads decode 2.0x as fast as one), and each
            # loky worker cost ~0.4 CPU-s to start and import, its resource tracker 0.2 (bench_normalize, mixed
            # corpus: 27.6 -> 25.7 CPU-s of the whole run)
            report = run_batch(items, process_source, jobs=eng.n_jobs, backend=eng.batch_backend,
                               journal=journal, on_event=on_batch_event)
            if report.interrupted:
                summary.interrupted = "interrupted"
    except KeyboardInterrupt:
        summary.interrupted = "interrupted (Ctrl-C)"
    except Exception as exc:  # a worker killed or a cluster lost: what finished is journaled
        summary.interrupted = f"{type(exc).__name__}: {exc}".strip()


def _finished_results(journal: JournalView, keys: dict, present) -> dict:
    """Each finished source's journal entry, by source path: not the unfinished ones, nor an accepted one
    whose clip went missing (the next run does them)."""
    results = {}
    for src, key in keys.items():
        e = _result(journal, key)
        if e is not None and (e["status"] != "done" or _finished(journal, key, present)):
            results[src] = e
    return results


def _result(journal: JournalView, key: str) -> dict | None:
    rec = journal.last(key)
    return rec.get("result") if rec and rec.get("state") == "done" else None


def _finished(journal: JournalView, key: str, present: Callable[[dict], bool]) -> bool:
    """Accepted with every clip still there as recorded (`present(record)`), or rejected; a failed source is
    retried."""
    res = _result(journal, key)
    if not res or res.get("status") not in ("done", "rejected"):
        return False
    return all(present(rec) for rec in res.get("records", []))
