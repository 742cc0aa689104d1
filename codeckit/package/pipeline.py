"""The package job: every source -> one folder DIR/<name> with HLS + DASH over CMAF segments, checked.

Per source: probe, pick the rungs (static ladder or per-title), encode all renditions in one FFmpeg run,
package with Shaka Packager, declare the measured bandwidths, check, then rename the finished folder into place:
DIR/<name> appears only complete and checked. A rerun reads DIR's journal and skips finished sources; a source
that fails is named and the batch goes on.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..batch import BatchEvent, BatchItem, Journal, cpu_count, run_batch
from ..errors import CodeckitError, PackageCheckFailed, error_fields
from ..fileio import PACKAGE_TEMP_MARK as TEMP_SUFFIX
from ..fileio import atomic_write_text
from ..probe import probe
from ..profiles.fields import check_declared, choice, declared
from ..profiles.target import implementation_value, speed_value
from ..sources import Source, walk_sources
from ..staged import file_stamp, portable, staged_run  # staged sources are named by URL
from .check import PACKAGE_JSON, check_package
from .ladder import Ladder, load_ladder, select_rungs
from .manifests import declare_measured
from .packager import FORMATS, packager_exe, run_packager
from .renditions import rendition_job, rung_threads, run_renditions

#: Bumped when a change to the package job changes what it writes (finished packages are then redone).
PACKAGE_VERSION = 1


def _formats(v) -> tuple[str, ...]:
    items = [x.strip().lower() for x in (v.split(",") if isinstance(v, str) else v) if x.strip()]
    if not items or any(x not in FORMATS for x in items):
        raise ValueError("hls, dash, or hls,dash")
    return tuple(dict.fromkeys(items))


def _positive(v):
    if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < float("inf"):
        return v
    raise ValueError("a positive number")


def _optional_positive(v):
    return None if v is None else int(_positive(v))


@dataclass(frozen=True)
class PackageOptions:
    """How `codeckit package` packages (each field declared once: its check and doc)."""
    ladder: str = declared("apple", check=str, doc="apple, apple-hevc, per-title, or a ladder FILE.toml")
    codec: str = declared("h264", check=choice(("h264", "hevc", "av1")), doc="video codec of every rung")
    formats: tuple = declared(FORMATS, check=_formats, doc="hls, dash, or both (one set of segments)")
    segment_s: float = declared(4.0, check=_positive, doc="segment length in seconds (a keyframe starts each)")
    rungs: int | None = declared(None, check=_optional_positive, doc="keep this many rungs (top and bottom kept)")
    max_height: int | None = declared(None, check=_optional_positive, doc="no rung taller than this")
    speed: str = declared("medium", check=speed_value, doc="encoder speed: slowest .. fastest (or 0-6)")
    prefer: str = declared("hardware", check=implementation_value,
                           doc="hardware (first, then software), software, or an implementation name")
    jobs: Any = "auto"                       # sources at once, or "auto"
    threads: int | None = None               # encoder threads per rendition (None: the cores shared by pixels)
    overwrite: bool = False                  # redo finished packages
    capabilities: dict | None = field(default=None, compare=False)   # replaces the machine's encoder checks
    per_title: dict = field(default_factory=dict)                    # options of the per-title ladder

    def __post_init__(self):
        check_declared(self, "package")

    def fingerprint(self) -> dict:
        d = asdict(self)
        for k in ("jobs", "overwrite", "capabilities"):
            d.pop(k)
        return d


@dataclass
class PackageResult:
    source: str
    output: str
    rungs: list[dict]
    implementation: str
    segment_s: float
    encode_wall_s: float
    encode_cpu_s: float
    package_wall_s: float
    bytes: int
    check: dict
    ladder: dict | None = None          # per-title: the ladder.json record
    notes: list[str] = field(default_factory=list)   # what was not done as asked, and why (also in package.json)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ItemReport:
    source: str
    output: str | None
    state: str                          # done | failed | skipped | interrupted
    reason: str | None = None
    result: PackageResult | None = None
    error_type: str | None = None       # the error class (ProbeError, PackageCheckFailed, ...) or the walk's code
    failure: dict | None = None         # a failed item's error fields (errors.error_fields): code, message, path...

    def to_dict(self) -> dict:
        d = {"source": self.source, "output": self.output, "state": self.state, "reason": self.reason,
             "error_type": self.error_type, **(self.failure or {})}
        if self.result is not None:
            d["result"] = self.result.to_dict()
        return d


@dataclass
class PackageReport:
    out_dir: str
    items: list[ItemReport]
    wall_s: float
    interrupted: bool = False

    def count(self, state: str) -> int:
        return sum(1 for i in self.items if i.state == state)

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(i.state in ("done", "skipped") for i in self.items)

    def to_dict(self) -> dict:
        return {"out_dir": self.out_dir, "ok": self.ok, "wall_s": round(self.wall_s, 3),
                "interrupted": self.interrupted, "items": [i.to_dict() for i in self.items],
                "summary": {s: self.count(s) for s in ("done", "skipped", "failed", "interrupted")}}


@dataclass
class _Payload:
    source: str
    final: Path
    options: PackageOptions
    ladder: Ladder | None
    threads: int | None
    cores: int = 1                          # this source's share of the machine


def _names(sources: list[Source], out: Path) -> list[Path]:
    """DIR/<relative path without its extension>; sources that would meet keep their extension."""
    plain = [out / s.relative.with_suffix("") for s in sources]
    seen = {}
    for p in plain:
        seen[p] = seen.get(p, 0) + 1
    return [out / s.relative.with_name(s.relative.name.replace(".", "-")) if seen[p] > 1 else p
            for s, p in zip(sources, plain)]


def item_key(source: Path, final: Path, options: PackageOptions) -> str:
    """The source (path, size, mtime; a staged object's URL, size and ETag), where it goes, and every option
    that changes the package."""
    text = json.dumps([PACKAGE_VERSION, *file_stamp(source), portable(str(final)), options.fingerprint()],
                      default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def temp_dir_for(final: Path) -> Path:
    return final.with_name(f".{final.name}{TEMP_SUFFIX}")


def remove_stale_packages(out: Path) -> list[str]:
    """Temporary package folders a killed run left (call it holding the journal lock)."""
    removed = []
    for dirpath, dirs, _files in os.walk(out):
        for d in list(dirs):
            if d.startswith(".") and d.endswith(TEMP_SUFFIX):
                shutil.rmtree(Path(dirpath) / d, ignore_errors=True)
                removed.append(str(Path(dirpath) / d))
                dirs.remove(d)
    return removed


def package(sources: list[str | os.PathLike], out_dir: str | os.PathLike, options: PackageOptions | None = None,
            *, on_event: Callable[[BatchEvent], None] | None = None,
            cancel: threading.Event | None = None, storage=None) -> PackageReport:
    """Package every source into out_dir/<name>; see the module's docstring. Sources and `out_dir` may be
    object-storage URLs: the run is then staged (codeckit.staged)."""
    with staged_run(sources, out_dir, storage) as (local_sources, local_out):
        report = _package(local_sources, local_out, options, on_event=on_event, cancel=cancel)
        if str(local_out) != str(out_dir):
            report.out_dir = str(out_dir)
        for item in report.items:   # staged: each source's URL and its package's place under the output URL
            item.source, item.output, item.reason = portable([item.source, item.output, item.reason])
            item.failure = portable(item.failure)
            if item.result is not None:
                item.result.source, item.result.output = portable([item.result.source, item.result.output])
    return report


def _package(sources, out_dir, options, *, on_event, cancel) -> PackageReport:
    opts = options or PackageOptions()
    packager_exe()      # say which extra to install before any encode
    ladder = None if opts.ladder == "per-title" else load_ladder(opts.ladder).for_codec(opts.codec)
    start = time.monotonic()
    out = Path(os.path.abspath(os.fspath(out_dir)))
    walk = walk_sources(list(sources), exclude=[out])
    try:
        journal = Journal.in_folder(out).open()
    except OSError as exc:
        raise CodeckitError(f"cannot write to the output folder: {exc.strerror}", path=out,
                            code="output_not_writable") from exc
    try:
        remove_stale_packages(out)
        finals = _names(walk.sources, out)
        # one FFmpeg already runs an encoder per rung: "auto" packages one source at a time
        jobs = 1 if opts.jobs == "auto" else max(1, int(opts.jobs))
        items = []
        for src, final in zip(walk.sources, finals):
            key = item_key(src.real, final, opts)
            last = journal.last(key)
            done = (final / PACKAGE_JSON).exists() and last and last["state"] == "done" and not opts.overwrite
            items.append(BatchItem(key=key, label=str(src.path), skip="done in an earlier run" if done else None,
                                   payload=_Payload(str(src.path), final, opts, ladder, opts.threads,
                                                   max(1, cpu_count() // jobs)),
                                   info={"source": str(src.path), "output": str(final)}))
        batch = run_batch(items, _work, jobs=jobs, backend="threads", journal=journal, on_event=on_event,
                          cancel=cancel)
    finally:
        journal.close()
    by_key = {i.key: i for i in items}
    reports = [ItemReport(e.path, None, "failed", e.message, error_type=e.code, failure=error_fields(e))
               for e in walk.errors]
    for o in batch.outcomes:
        final = by_key[o.key].payload.final
        reports.append(ItemReport(o.label, str(final), o.state, o.error if o.state != "skipped" else
                                  by_key[o.key].skip, o.result if isinstance(o.result, PackageResult) else None,
                                  error_type=o.error_type, failure=o.failure))
    return PackageReport(str(out), reports, time.monotonic() - start, batch.interrupted)


def _work(p: _Payload, ctx) -> PackageResult:
    tmp = temp_dir_for(p.final)
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "enc").mkdir(parents=True)
    try:
        return _package_one(p, tmp, ctx)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _package_one(p: _Payload, tmp: Path, ctx) -> PackageResult:
    o = p.options
    info = probe(p.source)
    ladder_record, notes = None, []
    if p.ladder is None:
        from .per_title import per_title_rungs
        ladder_record, ladder, rungs, notes = per_title_rungs(info, o, tmp / "search", threads=p.threads)
    else:
        ladder = p.ladder
        rungs = select_rungs(info, ladder, max_height=o.max_height, count=o.rungs)
    threads = p.threads or rung_threads(rungs, p.cores)
    job = rendition_job(info, rungs, tmp / "enc", codec=o.codec, segment_s=o.segment_s, quality=ladder.quality,
                        bufsize_factor=ladder.bufsize_factor, speed=o.speed, prefer=o.prefer, threads=threads,
                        capabilities=o.capabilities)

    def progress(pr) -> None:
        if ctx is not None:
            ctx.progress(fraction=pr.fraction, out_time_s=pr.out_time_s, fps=pr.fps, speed=pr.speed,
                         renditions=len(rungs), implementation=job.renditions[0].implementation)
    run = run_renditions(job, on_progress=progress)
    if ctx is not None:
        ctx.check_cancelled()
    t0 = time.monotonic()
    run_packager(job, tmp, "enc", "pkg", o.formats)
    pkg = tmp / "pkg"
    declare_measured(pkg)
    v = info.primary_video
    meta = {"codeckit_package": PACKAGE_VERSION, "source": {"path": portable(p.source), "width": v.upright_width,
                                                             "height": v.upright_height},
            "segment_s": job.segment_s, "keyint": job.keyint, "fps": job.fps, "codec": o.codec,
            "implementation": job.renditions[0].implementation, "ladder": ladder.name, "formats": list(o.formats),
            "rungs": [{**r.rung.to_dict(), "folder": r.name, "rate_control": r.note} for r in job.renditions],
            "audio": job.audio is not None, "subtitles": job.subtitles is not None, "notes": notes}
    atomic_write_text(pkg / PACKAGE_JSON, json.dumps(meta, indent=2) + "\n")
    report = check_package(pkg, segment_s=job.segment_s)
    if not report.ok:
        lines = "; ".join(f"{f.rule}: {f.where}: {f.detail}" for f in report.failures[:5])
        raise PackageCheckFailed(f"the package fails its check ({lines})", path=p.source,
                                 failures=report.failures)
    if ladder_record is not None:
        _measure_rungs(ladder_record, job, report, p.source)
        atomic_write_text(pkg / "ladder.json", json.dumps(ladder_record, indent=2) + "\n")
    _move_into_place(pkg, p.final)
    size = sum(f.stat().st_size for f in p.final.rglob("*") if f.is_file())
    return PackageResult(source=p.source, output=str(p.final), rungs=meta["rungs"],
                         implementation=meta["implementation"], segment_s=job.segment_s, encode_wall_s=run.wall_s,
                         encode_cpu_s=run.cpu_s, package_wall_s=time.monotonic() - t0, bytes=size,
                         check=report.to_dict(), ladder=ladder_record, notes=notes)


def _measure_rungs(record: dict, job, report, source: str) -> None:
    """Each per-title rung's measured bitrate (its segments) and VMAF (the whole rendition against the source,
    every 2nd frame, both at the display size the analysis scored at: the top rung's)."""
    from ..quality import QualitySettings, measure
    averages = {r["key"]: r["average"] for r in report.renditions}
    size = tuple(int(x) for x in record["scored_at"].split("x"))
    for rung, rendition in zip(record["rungs"], job.renditions):
        rung["measured_bitrate"] = averages.get(rendition.name)
        q = measure(source, rendition.output, QualitySettings(subsample=2, size=size))
        rung["measured_vmaf"] = round(q.score, 3)


def _move_into_place(pkg: Path, final: Path) -> None:
    """The checked folder becomes DIR/<name> by one rename (an older package is moved aside first, then removed)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old{TEMP_SUFFIX}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(pkg, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


__all__ = ["PACKAGE_VERSION", "ItemReport", "PackageOptions", "PackageReport", "PackageResult", "item_key",
           "package", "remove_stale_packages"]
