"""The normalize batch: find sources, hash them, drop exact duplicates, then per source
probe -> scan -> filters -> clips -> annotations -> encode/verify -> record, on local processes or a cluster.

Each source is one item of `codeckit.batch.run_batch`; its journal (in OUT) records every item as it
finishes, so a killed worker (or a killed run) costs only the items that had not finished. The manifest,
rejects list and shards are written at the end from the journal, in id order, so they do not depend on which
worker finished first, nor on the engine.
"""
from __future__ import annotations

import os
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .. import __version__
from ..batch import BatchItem, Journal, run_batch
from ..errors import CodeckitError, ProbeError
from ..sources import SourceWalk, remove_stale_temps, walk_sources
from .clips import Clip
from .encode_clip import clip_job, encode_clip
from .filters import build_filters
from .hashing import HashCache, content_hash, group_duplicates
from .profile import DEFAULT_PROFILE, TrainingProfile, load_training_profile
from .scan import scan
from .sidecar import SIDECAR_SUFFIXES, Annotate, clip_annotations, find_sidecar
from .steps import Item, Rejected, Step, run_steps
from .writers import FilesWriter, JsonlWriter, ParquetWriter, WebDatasetWriter, parse_size, require_pyarrow

#: Bumped when the same source and profile would give different outputs: part of the journal key.
PIPELINE_VERSION = 1
STATE_DIR = ".codeckit"
CLIPS_DIR = "clips"
SHARDS_DIR = "shards"
MANIFEST = "manifest.jsonl"
MANIFEST_PARQUET = "manifest.parquet"
REJECTS = "rejects.jsonl"
#: Encoder threads per job. Fixed, not "auto": x264's output depends on its thread count, so "auto" would
#: make the corpus differ from machine to machine (and 3 threads on 2 cores was seen to differ run to run);
#: 1 and 2 gave the same bytes in 16 runs out of 16. Parallelism comes from running several jobs.
DEFAULT_THREADS = 2


# ---------------------------------------------------------------- the steps a worker runs

class Probe(Step):
    name = "probe"

    def __call__(self, item):
        from ..probe import probe
        try:
            item.info = probe(item.source)
        except ProbeError as exc:
            raise Rejected("decodable", f"undecodable: {exc.message}") from None
        if not item.info.video:
            raise Rejected("decodable", "no video stream (audio only)")
        return item


class Scan(Step):
    name = "scan"

    def __init__(self, scenes: bool, threshold: float):
        self.scenes, self.threshold = scenes, threshold

    def __call__(self, item):
        try:
            item.scan = scan(item.source, scenes=self.scenes, scene_threshold=self.threshold)
        except ProbeError as exc:
            raise Rejected("decodable", f"undecodable: {exc.message}") from None
        item.measurements["scan"] = {"samples": len(item.scan.sample_times), "mode": item.scan.sample_mode,
                                     "keyframes": len(item.scan.keyframe_times)}
        return item


class Encode(Step):
    """Every clip of the item: plan, encode (or stream-copy), verify, rename into place, record."""
    name = "encode"

    def __init__(self, task: "Task"):
        self.task = task

    def __call__(self, item):
        t = self.task
        prof = t.profile
        out_dir = Path(t.out_dir)
        whole = prof.clips.mode == "none"
        for clip in item.clips:
            cid = clip_id(item.content_hash, clip.index)
            rel = Path(CLIPS_DIR) / cid[:2] / (cid + prof.target.extension)
            job = clip_job(item.info, item.scan, prof.target, clip, whole, out_dir / rel,
                           capabilities=t.capabilities, threads=t.threads, force_encode=t.force_encode)
            out = encode_clip(job)
            item.records.append({
                "id": cid, "source_sha256": item.content_hash, "clip_index": clip.index,
                "clip_start_s": round(clip.start_s, 6), "clip_end_s": round(clip.end_s, 6),
                "output_path": rel.as_posix(), "width": out.width, "height": out.height, "fps": out.fps,
                "frame_count": out.frames, "duration_s": out.duration_s, "bytes": out.bytes, "codec": out.codec,
                "pix_fmt": out.pix_fmt, "keyframe_interval": prof.target.video.keyint, "remuxed": job.remux,
                "encoder": out.implementation or "copy",
                "encoder_args": _portable_args(out.args, item.source, out_dir / rel),
                "measurements": item.measurements,
                "annotations": clip_annotations(item.annotations, clip.start_s, clip.end_s),
                "_cpu_s": out.cpu_s,
            })
        return item


def clip_id(content_hash: str, index: int) -> str:
    """Stable across runs and machines: the source's content, and the clip's place in it. No dots (webdataset)."""
    return f"{content_hash[:20]}_{index:04d}"


def _portable_args(args: list[str], source: Path, output: Path) -> list[str]:
    """The FFmpeg arguments with the input and output paths named, not spelled: the manifest must not
    depend on where the files were."""
    from ..ffmpeg import input_url
    names = {input_url(source): "{source}", input_url(output): "{output}"}
    return [names.get(a, a) for a in args]


@dataclass
class Task:
    """What a worker needs to process one source (picklable: it travels to Dask and Ray workers)."""
    source: str
    content_hash: str
    key: str
    profile: TrainingProfile
    out_dir: str
    capabilities: dict | None = None
    threads: int | None = None
    force_encode: bool = False


def build_steps(task: Task) -> list[Step]:
    prof = task.profile
    return [Probe(), Scan(prof.clips.mode == "scenes", prof.clips.scene_threshold),
            *build_filters(prof.filters, reject_hdr=prof.target.video.hdr == "reject"),
            Clip(prof.clips, prof.fps), Annotate(), Encode(task)]


def _cpu(usage) -> float:
    return usage.ru_utime + usage.ru_stime


def process_source(task: Task, ctx=None) -> dict:
    """Run one source through the steps; return its result (never raises for a bad source). `ctx` is the
    batch's ItemContext (unused: progress reaches the parent only per item)."""
    start = time.monotonic()
    self0 = resource.getrusage(resource.RUSAGE_SELF)
    item = Item(source=Path(task.source), content_hash=task.content_hash)
    entry: dict = {"key": task.key, "source": task.source, "source_sha256": task.content_hash}
    ffmpeg_cpu = 0.0
    try:
        run_steps(build_steps(task), item)
        entry["status"] = "done"
    except Rejected as r:
        entry["status"] = "rejected"
        entry["rejection"] = r.to_dict()
        item.records = []
    except CodeckitError as exc:
        entry["status"] = "failed"
        entry["error"] = str(exc)
        item.records = []
    except Exception as exc:  # a bug must not lose the rest of the batch; it is reported per source
        entry["status"] = "failed"
        entry["error"] = f"{type(exc).__name__}: {exc}"
        item.records = []
    for rec in item.records:
        ffmpeg_cpu += rec.pop("_cpu_s", 0.0)
    self1 = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    entry["records"] = item.records
    entry["measurements"] = item.measurements
    entry["source_s"] = round(_source_seconds(item), 3)
    entry["cpu_s"] = round(_cpu(self1) - _cpu(self0) + ffmpeg_cpu, 3)
    entry["wall_s"] = round(time.monotonic() - start, 3)
    entry["peak_rss_mb"] = {"worker": round(self1.ru_maxrss / 1024, 1),
                            "ffmpeg": round(children.ru_maxrss / 1024, 1)}
    entry["pid"] = os.getpid()
    return entry


def _source_seconds(item: Item) -> float:
    if item.scan is not None and item.scan.end_s:
        return item.scan.end_s
    if item.info is not None and item.info.duration_s:
        return item.info.duration_s
    return 0.0


# ---------------------------------------------------------------- the driver

@dataclass
class Summary:
    out_dir: Path
    profile: str
    engine: str
    files_in: int = 0
    unique_sources: int = 0
    duplicates: int = 0
    accepted: int = 0                 # sources with at least one clip in the manifest
    clips_out: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    skipped: int = 0                  # finished by an earlier run (journal)
    non_video: int = 0                # files a folder walk passed over for their extension
    processed: int = 0                # run now
    remuxed_clips: int = 0
    source_hours: float = 0.0         # of every source in the manifest or rejects
    source_hours_run: float = 0.0     # of the sources processed by this run
    cpu_hours_run: float = 0.0
    output_bytes: int = 0
    wall_s: float = 0.0
    peak_rss_mb: dict = field(default_factory=dict)
    manifest: Path | None = None
    manifest_parquet: Path | None = None
    rejects: Path | None = None
    clips_dir: Path | None = None
    shards: list[Path] = field(default_factory=list)
    unfinished: int = 0
    interrupted: str | None = None
    failures: list[dict] = field(default_factory=list)

    @property
    def throughput(self) -> float | None:
        """Source hours per CPU hour, for this run's work."""
        return self.source_hours_run / self.cpu_hours_run if self.cpu_hours_run else None

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted and not self.unfinished

    def to_dict(self) -> dict:
        return {"out_dir": str(self.out_dir), "profile": self.profile, "engine": self.engine,
                "files_in": self.files_in, "unique_sources": self.unique_sources, "duplicates": self.duplicates,
                "accepted_sources": self.accepted, "clips_out": self.clips_out, "remuxed_clips": self.remuxed_clips,
                "rejected": dict(sorted(self.rejected.items())), "rejected_total": sum(self.rejected.values()),
                "failed": self.failed, "skipped_finished_earlier": self.skipped, "processed_now": self.processed,
                "non_video_skipped": self.non_video,
                "unfinished": self.unfinished, "interrupted": self.interrupted,
                "source_hours": round(self.source_hours, 6), "source_hours_this_run": round(self.source_hours_run, 6),
                "cpu_hours_this_run": round(self.cpu_hours_run, 6),
                "throughput_source_hours_per_cpu_hour": round(self.throughput, 3) if self.throughput else None,
                "output_bytes": self.output_bytes, "wall_s": round(self.wall_s, 3), "peak_rss_mb": self.peak_rss_mb,
                "manifest": str(self.manifest) if self.manifest else None,
                "manifest_parquet": str(self.manifest_parquet) if self.manifest_parquet else None,
                "rejects": str(self.rejects) if self.rejects else None,
                "clips_dir": str(self.clips_dir) if self.clips_dir else None,
                "shards": [str(s) for s in self.shards], "failures": self.failures}


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
    from .cluster import engine

    started = time.monotonic()
    threads = threads or DEFAULT_THREADS
    prof = load_training_profile(profile, sets, clips)
    if shards not in (None, "webdataset"):
        raise CodeckitError(f"unknown shard format {shards!r}", hint="use --shards webdataset")
    size_limit = parse_size(shard_size)
    if parquet:
        require_pyarrow()
    out = Path(out_dir).absolute()
    state = out / STATE_DIR
    state.mkdir(parents=True, exist_ok=True)
    emit = on_event or (lambda kind, data: None)

    walk = collect_sources(sources, exclude=out)
    paths = [s.real for s in walk.sources]
    hashes, unreadable = _hash_all(paths, HashCache(state / "hashes.jsonl"))
    unreadable.update({Path(e.path): e.message for e in walk.errors})
    first, dup_of = group_duplicates(hashes, prefer=lambda p: find_sidecar(p) is not None)
    fp = prof.fingerprint()
    build = build_info()
    caps = probe_capabilities()
    summary = Summary(out_dir=out, profile=prof.name, engine=backend, files_in=len(paths) + len(walk.errors),
                      unique_sources=len(first), duplicates=len(dup_of), non_video=walk.skipped_by_extension)

    with Journal.in_folder(out) as journal:  # locked: one run per output folder
        journal.remove_leftovers()
        remove_stale_temps(out / CLIPS_DIR)  # clips of a killed run: the journal's lock says no run writes here
        items, keys = [], {}
        for h, src in sorted(first.items(), key=lambda kv: str(kv[1])):
            key = f"{h}:{fp}:{PIPELINE_VERSION}:{PLAN_VERSION}"
            keys[src] = key
            if _finished(journal, key, out):
                summary.skipped += 1
                continue
            task = Task(source=str(src), content_hash=h, key=key, profile=prof, out_dir=str(out),
                        capabilities=caps, threads=threads, force_encode=force_encode)
            items.append(BatchItem(key=key, label=str(src), payload=task, weight=max(1, src.stat().st_size),
                                   info={"source": str(src), "sha256": h}))
        emit("start", {"files": summary.files_in, "todo": len(items), "skipped": summary.skipped})

        def finished_item(entry: dict) -> None:
            summary.processed += 1
            summary.source_hours_run += entry.get("source_s", 0) / 3600
            summary.cpu_hours_run += entry.get("cpu_s", 0) / 3600
            for k, v in (entry.get("peak_rss_mb") or {}).items():
                summary.peak_rss_mb[k] = max(summary.peak_rss_mb.get(k, 0), v)
            emit("item", entry)

        def on_batch_event(ev) -> None:
            if ev.kind == "done":
                finished_item(ev.outcome.result)
            elif ev.kind in ("failed", "interrupted"):
                finished_item({"source": ev.item.label, "status": "failed", "error": ev.outcome.error})

        with engine(backend, address, jobs) as eng:
            summary.engine = eng.describe()
            emit("engine", {"engine": summary.engine})
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
        summary.unfinished = sum(1 for it in items if journal.state(it.key) != "done")

        _write_outputs(summary, journal, keys, dup_of, unreadable, prof, out, shards, size_limit, parquet,
                       build.version)
    summary.wall_s = time.monotonic() - started
    emit("end", summary.to_dict())
    return summary


def _result(journal: Journal, key: str) -> dict | None:
    rec = journal.last(key)
    return rec.get("result") if rec and rec.get("state") == "done" else None


def _finished(journal: Journal, key: str, out: Path) -> bool:
    """Accepted with every clip still on disk, or rejected; a source that failed is tried again."""
    res = _result(journal, key)
    if not res or res.get("status") not in ("done", "rejected"):
        return False
    return all((out / rec["output_path"]).is_file() for rec in res.get("records", []))


def _write_outputs(summary: Summary, journal: Journal, keys: dict[Path, str], dup_of: dict[Path, Path],
                   unreadable: dict[Path, str], prof: TrainingProfile, out: Path,
                   shards: str | None, size_limit: int, parquet: bool, ffmpeg_version: str) -> None:
    dups_by_source: dict[Path, list[str]] = {}
    for d, src in dup_of.items():
        dups_by_source.setdefault(src, []).append(str(d))
    records, rejects = [], []
    for src, key in keys.items():
        e = _result(journal, key)
        if e is None:
            continue  # unfinished: the next run does it
        if e["status"] == "done" and not _finished(journal, key, out):
            continue  # a clip went missing: the next run redoes it
        summary.source_hours += e.get("source_s", 0) / 3600
        if e["status"] == "done":
            summary.accepted += 1
            for rec in e["records"]:
                rec = dict(rec)
                rec.update(source_path=str(src), duplicates=sorted(dups_by_source.get(src, [])),
                           profile=prof.name, profile_fingerprint=prof.fingerprint(),
                           codeckit_version=__version__, ffmpeg_version=ffmpeg_version)
                records.append(rec)
        elif e["status"] == "rejected":
            r = e["rejection"]
            summary.rejected[r["reason"]] = summary.rejected.get(r["reason"], 0) + 1
            rejects.append({"source_path": str(src), "source_sha256": e["source_sha256"], **r,
                            "measurements": e.get("measurements", {})})
        else:
            summary.failed += 1
            summary.failures.append({"source_path": str(src), "error": e.get("error")})
            rejects.append({"source_path": str(src), "source_sha256": e["source_sha256"], "reason": "error",
                            "message": e.get("error"), "value": None, "limit": None, "measurements": {}})
    for d, src in sorted(dup_of.items(), key=lambda kv: str(kv[0])):
        summary.rejected["duplicate"] = summary.rejected.get("duplicate", 0) + 1
        rejects.append({"source_path": str(d), "source_sha256": None, "reason": "duplicate",
                        "message": f"same content (SHA-256) as {src}", "value": str(src), "limit": None,
                        "measurements": {}})
    for p, why in sorted(unreadable.items(), key=lambda kv: str(kv[0])):
        summary.rejected["unreadable"] = summary.rejected.get("unreadable", 0) + 1
        rejects.append({"source_path": str(p), "source_sha256": None, "reason": "unreadable", "message": why,
                        "value": None, "limit": None, "measurements": {}})

    # outputs of an earlier run that this one does not write would contradict the manifest
    if not parquet and (out / MANIFEST_PARQUET).is_file():
        (out / MANIFEST_PARQUET).unlink()
    if shards != "webdataset":
        for old in (out / SHARDS_DIR).glob("shard-*.tar"):
            old.unlink()
    records.sort(key=lambda r: r["id"])
    rejects.sort(key=lambda r: (r["source_path"], r["reason"]))
    writers = [FilesWriter(), JsonlWriter(out / MANIFEST)]
    if parquet:
        writers.append(ParquetWriter(out / MANIFEST_PARQUET))
    if shards == "webdataset":
        writers.append(WebDatasetWriter(out / SHARDS_DIR, size_limit))
    for rec in records:
        for w in writers:
            w.write(rec, out / rec["output_path"])
    produced = {w.name: w.close() for w in writers}
    rej = JsonlWriter(out / REJECTS)
    for r in rejects:
        rej.write(r)
    summary.rejects = rej.close()[0]
    summary.manifest = produced["jsonl"][0]
    summary.manifest_parquet = produced["parquet"][0] if parquet else None
    summary.shards = produced.get("webdataset", [])
    summary.clips_dir = out / CLIPS_DIR
    summary.clips_out = len(records)
    summary.remuxed_clips = sum(1 for r in records if r["remuxed"])
    summary.output_bytes = sum(r["bytes"] for r in records)
