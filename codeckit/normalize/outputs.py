"""What a normalize run leaves in OUT besides the clips: the manifest (JSON Lines, optional Parquet), the rejects
list, optional webdataset shards, and the Summary that counts them.

Written at the end of a run from the finished sources' journal entries, in id order, so the files do not depend
on which worker finished first, nor on the engine.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..errors import CodeckitError
from ..storage import is_url, join, name_of, scratch_root, upload_tree
from .profile import TrainingProfile
from .writers import FilesWriter, JsonlWriter, ParquetWriter, WebDatasetWriter, parse_size, require_pyarrow

CLIPS_DIR = "clips"
SHARDS_DIR = "shards"
MANIFEST = "manifest.jsonl"
MANIFEST_PARQUET = "manifest.parquet"
REJECTS = "rejects.jsonl"


@dataclass(frozen=True)
class OutputSpec:
    """Where the outputs go and which ones: webdataset shards of at most `shard_bytes`, a Parquet manifest.
    With an object-storage OUT (`url`), the files are written in the local folder `out` first, then uploaded."""
    out: Path
    shards: str | None = None
    shard_bytes: int = 0
    parquet: bool = False
    url: str | None = None
    storage: object = None

    @property
    def location(self) -> Path | str:
        return self.url or self.out

    def clip(self, rel: str):
        """A clip of the corpus, as the writers read it (a local Path, or a RemoteClip)."""
        return RemoteClip(self.storage, join(self.url, rel)) if self.url else self.out / rel

    def present_clips(self):
        """`present(record)`: is that record's clip there now, with the size the record says (one listing of
        OUT/clips for object storage)? Clip ids do not depend on the profile, so a rerun with another profile
        overwrites the same paths: a journal entry of the earlier profile must not vouch for those files."""
        if not self.url:
            def here(rec: dict) -> bool:
                try:
                    return (self.out / rec["output_path"]).stat().st_size == rec["bytes"]
                except OSError:
                    return False
            return here
        there = self.storage.listing(join(self.url, CLIPS_DIR))
        return lambda rec: (there.get(join(self.url, rec["output_path"])) or {}).get("size") == rec["bytes"]

    @classmethod
    def check(cls, out_dir: str | os.PathLike, shards: str | None, shard_size: str | int,
              parquet: bool, storage=None) -> "OutputSpec":
        """The spec, or the error a user can act on, before any work is done."""
        if shards not in (None, "webdataset"):
            raise CodeckitError(f"unknown shard format {shards!r}", hint="use --shards webdataset")
        size_limit = parse_size(shard_size)
        if parquet:
            require_pyarrow()
        if is_url(str(out_dir)):
            storage.check_output(str(out_dir))
            local = Path(tempfile.mkdtemp(prefix="outputs-", dir=scratch_root()))
            return cls(local, shards, size_limit, parquet, str(out_dir).rstrip("/"), storage)
        return cls(Path(out_dir).absolute(), shards, size_limit, parquet)


@dataclass(frozen=True)
class RemoteClip:
    """A clip in object storage, read by the output writers as they read a local Path."""
    storage: object
    url: str

    @property
    def name(self) -> str:
        return name_of(self.url)

    def is_file(self) -> bool:
        return self.storage.exists(self.url)

    def read_bytes(self) -> bytes:
        return self.storage.read_bytes(self.url)

    def __str__(self) -> str:
        return self.url


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

    @property
    def nothing_usable(self) -> bool:
        """The run finished and the corpus has no clip: every input was rejected, unreadable or failed."""
        return not self.interrupted and not self.unfinished and self.clips_out == 0

    @property
    def exit_code(self) -> int:
        """0 clips made (rejects listed); 1 a source failed with an error or was left unfinished (a rerun retries
        it); 3 nothing usable: every input rejected or unreadable, no clip."""
        if not self.ok:
            return 1
        return 3 if self.nothing_usable else 0

    def add_processed(self, entry: dict) -> None:
        """A source this run finished (done, rejected or failed): its time, its CPU, the peak memory."""
        self.processed += 1
        self.source_hours_run += entry.get("source_s", 0) / 3600
        self.cpu_hours_run += entry.get("cpu_s", 0) / 3600
        for k, v in (entry.get("peak_rss_mb") or {}).items():
            self.peak_rss_mb[k] = max(self.peak_rss_mb.get(k, 0), v)

    def add_reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def to_dict(self) -> dict:
        return {"out_dir": str(self.out_dir), "profile": self.profile, "engine": self.engine,
                "files_in": self.files_in, "unique_sources": self.unique_sources, "duplicates": self.duplicates,
                "accepted_sources": self.accepted, "clips_out": self.clips_out, "remuxed_clips": self.remuxed_clips,
                "rejected": dict(sorted(self.rejected.items())), "rejected_total": sum(self.rejected.values()),
                "failed": self.failed, "skipped_finished_earlier": self.skipped, "processed_now": self.processed,
                "non_video_skipped": self.non_video,
                "unfinished": self.unfinished, "interrupted": self.interrupted,
                "nothing_usable": self.nothing_usable, "exit_code": self.exit_code,
                "source_hours": round(self.source_hours, 6), "source_hours_this_run": round(self.source_hours_run, 6),
                "cpu_hours_this_run": round(self.cpu_hours_run, 6),
                "throughput_source_hours_per_cpu_hour": round(self.throughput, 3) if self.throughput else None,
                "output_bytes": self.output_bytes, "wall_s": round(self.wall_s, 3), "peak_rss_mb": self.peak_rss_mb,
                "manifest": str(self.manifest) if self.manifest else None,
                "manifest_parquet": str(self.manifest_parquet) if self.manifest_parquet else None,
                "rejects": str(self.rejects) if self.rejects else None,
                "clips_dir": str(self.clips_dir) if self.clips_dir else None,
                "shards": [str(s) for s in self.shards], "failures": self.failures}


def _reject(path: Path, reason: str, message: str | None, *, sha256: str | None = None, value=None, limit=None,
            measurements: dict | None = None) -> dict:
    """One line of the rejects list."""
    return {"source_path": str(path), "source_sha256": sha256, "reason": reason, "message": message,
            "value": value, "limit": limit, "measurements": measurements or {}}


def _sort_results(summary: Summary, results: dict[Path, dict], dup_of: dict[Path, Path], prof: TrainingProfile,
                  ffmpeg_version: str) -> tuple[list[dict], list[dict]]:
    """The manifest records of the accepted sources, and the rejects lines of the rejected and failed ones."""
    dups_by_source: dict[Path, list[str]] = {}
    for d, src in dup_of.items():
        dups_by_source.setdefault(src, []).append(str(d))
    records, rejects = [], []
    for src, e in results.items():
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
            summary.add_reject(e["rejection"]["reason"])
            rejects.append({"source_path": str(src), "source_sha256": e["source_sha256"], **e["rejection"],
                            "measurements": e.get("measurements", {})})
        else:
            summary.failed += 1
            # the error's fields (errors.error_fields), as every command's failed item carries them
            failure = e.get("failure") or {}
            summary.failures.append({"source_path": str(src), "error": e.get("error"), **failure})
            rejects.append({**_reject(src, "error", e.get("error"), sha256=e["source_sha256"]), **failure})
    return records, rejects


def _input_rejects(summary: Summary, dup_of: dict[Path, Path], unreadable: dict[Path, dict]) -> list[dict]:
    """The rejects lines of inputs that never reached a worker: duplicates, and files that could not be found,
    resolved or read."""
    rejects = []
    for d, src in sorted(dup_of.items(), key=lambda kv: str(kv[0])):
        rejects.append(_reject(d, "duplicate", f"same content (SHA-256) as {src}", value=str(src)))
    for p, why in sorted(unreadable.items(), key=lambda kv: str(kv[0])):
        rejects.append({**_reject(p, "unreadable", why["message"]), **why})   # why: errors.error_fields
    for r in rejects:
        summary.add_reject(r["reason"])
    return rejects


def _remove_stale_outputs(spec: OutputSpec) -> None:
    """Outputs of an earlier run that this one does not write would contradict the manifest (for an
    object-storage OUT, `_publish` removes them)."""
    if not spec.parquet and (spec.out / MANIFEST_PARQUET).is_file():
        (spec.out / MANIFEST_PARQUET).unlink()
    if spec.shards != "webdataset":
        for old in (spec.out / SHARDS_DIR).glob("shard-*.tar"):
            old.unlink()


def _remove_stale_clips(spec: OutputSpec, results: dict, records: list[dict]) -> None:
    """Clips of this run's sources that their manifest records do not name: written by a run with another
    profile (more clips, another container), or the source is rejected now, or it failed after some of its
    clips were in place (its file changed under it: those clips are of bytes the hash no longer names; a
    retry writes them again). Left there, they disagreed with the manifest and were picked up by anyone
    reading OUT/clips."""
    keep = {r["output_path"] for r in records}
    hashes = {e.get("source_sha256") for e in results.values() if e.get("status") in ("done", "rejected", "failed")}
    if spec.url:
        there = spec.storage.listing(join(spec.url, CLIPS_DIR))
        for url in there:
            rel = url[len(spec.url) + 1:]
            if rel not in keep and _clip_of(name_of(url), hashes):
                spec.storage.remove(url)
        return
    for h in filter(None, hashes):
        for clip in (spec.out / CLIPS_DIR / h[:2]).glob(f"{h[:20]}_*"):
            if clip.relative_to(spec.out).as_posix() not in keep:
                clip.unlink(missing_ok=True)


def _clip_of(name: str, hashes: set) -> bool:
    prefix, sep, _ = name.partition("_")
    return bool(sep) and any(h and h[:20] == prefix for h in hashes)


def _write_manifest(summary: Summary, records: list[dict], spec: OutputSpec) -> None:
    """Every clip's record through every writer the spec asks for: JSON Lines always, Parquet, shards."""
    out = spec.out
    writers = [FilesWriter(), JsonlWriter(out / MANIFEST)]
    if spec.parquet:
        writers.append(ParquetWriter(out / MANIFEST_PARQUET))
    if spec.shards == "webdataset":
        writers.append(WebDatasetWriter(out / SHARDS_DIR, spec.shard_bytes))
    for rec in records:
        for w in writers:
            w.write(rec, spec.clip(rec["output_path"]))
    produced = {w.name: w.close() for w in writers}
    summary.manifest = produced["jsonl"][0]
    summary.manifest_parquet = produced["parquet"][0] if spec.parquet else None
    summary.shards = produced.get("webdataset", [])
    summary.clips_dir = out / CLIPS_DIR if not spec.url else spec.url
    summary.clips_out = len(records)
    summary.remuxed_clips = sum(1 for r in records if r["remuxed"])
    summary.output_bytes = sum(r["bytes"] for r in records)


def _write_rejects(summary: Summary, rejects: list[dict], out: Path) -> None:
    rej = JsonlWriter(out / REJECTS)
    for r in rejects:
        rej.write(r)
    summary.rejects = rej.close()[0]


def write_outputs(summary: Summary, spec: OutputSpec, results: dict[Path, dict], dup_of: dict[Path, Path],
                  unreadable: dict[Path, dict], prof: TrainingProfile,
                  ffmpeg_version: str) -> None:
    """Manifest, rejects list and shards from `results` (each finished source's journal entry, by source path),
    the duplicates and the unreadable inputs; `summary` gets the counts and the paths written."""
    records, rejects = _sort_results(summary, results, dup_of, prof, ffmpeg_version)
    rejects += _input_rejects(summary, dup_of, unreadable)
    _remove_stale_outputs(spec)
    _remove_stale_clips(spec, results, records)
    records.sort(key=lambda r: r["id"])
    rejects.sort(key=lambda r: (r["source_path"], r["reason"]))
    _write_manifest(summary, records, spec)
    _write_rejects(summary, rejects, spec.out)
    if spec.url:
        _publish(summary, spec)


def _publish(summary: Summary, spec: OutputSpec) -> None:
    """An object-storage OUT: upload what was written locally (each object whole), drop the shards and the
    Parquet manifest of an earlier run that this one did not write, and name the objects in the summary."""
    written = set(upload_tree(spec.storage, spec.out, spec.url))
    for url in spec.storage.listing(join(spec.url, SHARDS_DIR)):
        if url not in written:
            spec.storage.remove(url)
    if not spec.parquet:
        spec.storage.remove(join(spec.url, MANIFEST_PARQUET))
    shutil.rmtree(spec.out, ignore_errors=True)

    def where(p):
        return join(spec.url, Path(p).relative_to(spec.out).as_posix()) if p else None
    summary.manifest, summary.manifest_parquet = where(summary.manifest), where(summary.manifest_parquet)
    summary.rejects, summary.clips_dir = where(summary.rejects), join(spec.url, CLIPS_DIR)
    summary.shards = [where(p) for p in summary.shards]
