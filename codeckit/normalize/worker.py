"""The work for one source, as a batch worker runs it: read its info, scan its frames, filter, cut clips, attach
annotations, encode and verify every clip, and return one journal entry (never raising for a bad source).
"""
from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

from ..batch import Cancelled
from ..errors import CodeckitError, FFmpegError, ProbeError, SourceChanged, error_fields
from .clips import CutClips
from .encode_clip import DECODE_ERRORS_EXIT, clip_job, encode_clip
from .filters import Decodable, build_filters, frame_filters, from_frame_filters
from .outputs import CLIPS_DIR
from .profile import ClipRules, TrainingProfile
from .scan import complete_samples, encode_sample_rate, read_encode_samples, scan
from .sidecar import Annotate, clip_annotations
from .steps import ClipSpan, Item, Rejected, Step, run_steps


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
    storage: object = None              # codeckit.storage.Storage when the source or OUT is a URL
    prefetch: tuple[str, ...] = ()      # sources this worker will likely get next (staged meanwhile)
    info: object = None                 # codeckit.probe.MediaInfo, when the run probed the source already
    identity: str | None = None         # a local file's identity when the run hashed it (hashing.file_identity)


class ReadInfo(Step):
    """Fills `item.info` (codeckit.probe's MediaInfo, or the one the run probed already: `known`); rejects a source
    that does not open or has no video."""
    name = "probe"

    def __init__(self, known=None):
        self.known = known

    def __call__(self, item):
        from ..probe import probed
        try:
            if self.known is not None:
                item.info = self.known
            else:   # the container stays open for the scan (ScanFrames), which reads on from it
                item.probed = item.resources.enter_context(probed(item.source))
                item.info = item.probed.info
        except ProbeError as exc:
            raise Rejected("decodable", f"undecodable: {exc.message}") from None
        if not item.info.video:
            raise Rejected("decodable", "no video stream (audio only)")
        return item


class ScanFrames(Step):
    """Fills `item.scan` (a FrameScan: packets, keyframes, frame samples, scene cuts when clips follow scenes)."""
    name = "scan"

    def __init__(self, rules: ClipRules, black_luma: float | None = 24.0, prejudge=()):
        self.rules, self.black_luma = rules, black_luma
        self.prejudge = list(prejudge)    # black, static and what follows them, judged on the keyframes alone

    def __call__(self, item):
        try:
            # a source cut into one clip is decoded whole by its encode: the samples come from there (one decode),
            # after a prescreen of two keyframes; when those already fail a filter from black on, every keyframe
            # (and, when they are too few, frames beyond them) is decoded now and the source is judged before any
            # encode, as before
            item.scan = scan(item.source, scenes=self.rules.mode == "scenes", rules=self.rules,
                             black_luma=self.black_luma, decode_more=self.rules.mode != "none",
                             probed=item.probed)
            if item.scan.pending and any(f.judge(f.measure(item)) for f in self.prejudge):
                complete_samples(item.source, item.scan)
        except ProbeError as exc:
            raise Rejected("decodable", f"undecodable: {exc.message}") from None
        finally:
            item.probed = None
            item.resources.close()      # the probe's container: nothing reads it after the scan
        record_scan(item)
        return item


def record_scan(item: Item) -> None:
    item.measurements["scan"] = {"samples": len(item.scan.sample_times),
                                 "mode": "encode" if item.scan.pending else item.scan.sample_mode,
                                 "keyframes": len(item.scan.keyframe_times)}


class EncodeClips(Step):
    """Every clip of the item: plan, encode (or stream-copy), verify, rename into place, record."""
    name = "encode"

    def __init__(self, task: Task, publish=None, cancel=None, frame_filters=()):
        self.task = task
        self.publish = publish      # called with each clip's relative path once it is in place (uploads)
        self.cancel = cancel        # the batch's stop request (in a worker process: the run's death)
        self.frame_filters = list(frame_filters)    # judged here when the scan left them `pending`

    def __call__(self, item):
        t = self.task
        out_dir = Path(t.out_dir)
        whole = t.profile.clips.mode == "none"
        for clip in item.clips:
            if self.cancel is not None and self.cancel.is_set():
                raise Cancelled()
            cid = clip_id(item.content_hash, clip.index)
            rel = Path(CLIPS_DIR) / cid[:2] / (cid + t.profile.target.extension)
            job = clip_job(item.info, item.scan, t.profile.target, clip, whole, out_dir / rel,
                           capabilities=t.capabilities, threads=t.threads, force_encode=t.force_encode)
            accept = self._samples_for(item, job)
            try:
                out = encode_clip(job, cancel=self.cancel, accept=accept)
            except FFmpegError as exc:
                if accept is None or exc.returncode != DECODE_ERRORS_EXIT:
                    raise
                raise Rejected("decodable", f"frames failed to decode in the encode ({exc.detail or 'FFmpeg'})",
                               limit=Decodable.limit) from None
            if self.publish is not None:
                self.publish(rel.as_posix())
            item.records.append(_clip_record(item, clip, cid, rel, t.profile, job.remux, out,
                                             _portable_args(out.args, item.source, out_dir / rel)))
        return item

    def _samples_for(self, item: Item, job):
        """For a scan left `pending`: the samples from this encode, judged before its clip is renamed into place
        (returns the check `encode_clip` runs), or, for a stream copy (nothing decoded) or one of several
        clips, decoded and judged now."""
        if item.scan is None or not item.scan.pending:
            return None
        if job.remux or len(item.clips) > 1:
            complete_samples(item.source, item.scan)
            self._judge(item)
            return None
        job.samples_rate = encode_sample_rate(item.scan.end_s)

        def accept(samples: Path) -> None:
            read_encode_samples(samples, item.scan, job.samples_rate)
            self._judge(item)
        return accept

    def _judge(self, item: Item) -> None:
        record_scan(item)
        for f in self.frame_filters:
            f(item)


def _clip_record(item: Item, clip: ClipSpan, cid: str, rel: Path, prof: TrainingProfile, remuxed: bool, out,
                 encoder_args: list[str]) -> dict:
    """The manifest record of one written clip (`_cpu_s` is taken out again by `process_source`)."""
    return {
        "id": cid, "source_sha256": item.content_hash, "clip_index": clip.index,
        "clip_start_s": round(clip.start_s, 6), "clip_end_s": round(clip.end_s, 6),
        "output_path": rel.as_posix(), "width": out.width, "height": out.height, "fps": out.fps,
        "frame_count": out.frames, "duration_s": out.duration_s, "bytes": out.bytes, "codec": out.codec,
        "pix_fmt": out.pix_fmt, "keyframe_interval": prof.target.video.keyint, "remuxed": remuxed,
        "encoder": out.implementation or "copy",
        "encoder_args": encoder_args,
        "measurements": item.measurements,
        "annotations": clip_annotations(item.annotations, clip.start_s, clip.end_s),
        "_cpu_s": out.cpu_s,
    }


def clip_id(content_hash: str, index: int) -> str:
    """Stable across runs and machines: the source's content, and the clip's place in it. No dots (webdataset)."""
    return f"{content_hash[:20]}_{index:04d}"


def _portable_args(args: list[str], source: Path, output: Path) -> list[str]:
    """The FFmpeg arguments with the input and output paths named, not spelled: the manifest must not
    depend on where the files were."""
    from ..ffmpeg import input_url
    names = {input_url(source): "{source}", input_url(output): "{output}"}
    return [names.get(a, a) for a in args]


def build_steps(task: Task, publish=None, cancel=None) -> list[Step]:
    prof = task.profile
    filters = build_filters(prof.filters, reject_hdr=prof.target.video.hdr == "reject")
    return [ReadInfo(task.info), ScanFrames(prof.clips, prof.filters.black_luma, from_frame_filters(filters)),
            *filters, CutClips(prof.clips, prof.fps), Annotate(),
            EncodeClips(task, publish, cancel, frame_filters(filters))]


def process_source(task: Task, ctx=None, *, publish=None) -> dict:
    """Run one source through the steps; return its result (never raises for a bad source, only Cancelled when
    `ctx`, the batch's ItemContext, says the run stopped or died: no clip is renamed into place after that).
    A task with `storage` is staged and uploaded around the steps (codeckit.normalize.remote); `publish(rel)`
    hears of each clip written."""
    if task.storage is not None:
        from .remote import process_remote
        return process_remote(task, ctx)
    start = time.monotonic()
    cpu0 = time.thread_time()   # this item's thread: items of a local run share one process (see pipeline._run)
    item = Item(source=Path(task.source), content_hash=task.content_hash)
    entry: dict = {"key": task.key, "source": task.source, "source_sha256": task.content_hash,
                   **_run_steps_of(task, item, publish, getattr(ctx, "cancel_event", None))}
    ffmpeg_cpu = sum(rec.pop("_cpu_s", 0.0) for rec in item.records)
    self1 = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    entry["records"] = item.records
    entry["measurements"] = item.measurements
    entry["source_s"] = round(_source_seconds(item), 3)
    entry["cpu_s"] = round(time.thread_time() - cpu0 + ffmpeg_cpu, 3)
    entry["wall_s"] = round(time.monotonic() - start, 3)
    entry["peak_rss_mb"] = {"worker": round(self1.ru_maxrss / 1024, 1),
                            "ffmpeg": round(children.ru_maxrss / 1024, 1)}
    entry["pid"] = os.getpid()
    return entry


def _run_steps_of(task: Task, item: Item, publish=None, cancel=None) -> dict:
    """The source's status: done, rejected (with the rule) or failed (with the error); only a done source
    keeps its records."""
    try:
        _check_unchanged(task)
        run_steps(build_steps(task, publish, cancel), item)
        _check_unchanged(task)
        return {"status": "done"}
    except Cancelled:
        raise
    except Rejected as r:
        item.records = []
        return {"status": "rejected", "rejection": r.to_dict()}
    except CodeckitError as exc:
        item.records = []
        return {"status": "failed", "error": str(exc), "failure": error_fields(exc)}
    except Exception as exc:  # a bug must not lose the rest of the batch; it is reported per source
        item.records = []
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}", "failure": error_fields(exc)}
    finally:
        item.resources.close()      # what a step left open when a later one raised (the probe's container)


def _check_unchanged(task: Task) -> None:
    """The run's content hash (clip ids, the manifest) and a probe passed in `Task.info` (the plan) describe the
    file as it was hashed: a file written, replaced or removed since, before or while its clips are made, fails (a rerun
    hashes it again), rather than a clip planned for other dimensions under the old file's hash."""
    from .hashing import file_identity
    if task.identity is None:
        return
    try:
        now = file_identity(task.source)
    except OSError as exc:
        # moved away or deleted since: not an undecodable reject, which a rerun would skip once it is back
        raise SourceChanged(f"the file is gone since the run hashed it ({exc.strerror or exc})",
                            path=task.source, hint="a rerun takes it if it is back") from None
    if now != task.identity:
        raise SourceChanged("the file changed while the run was using it (written or replaced after it was "
                            "hashed)", path=task.source, hint="run again to take its new content")


def _source_seconds(item: Item) -> float:
    if item.scan is not None and item.scan.end_s:
        return item.scan.end_s
    if item.info is not None and item.info.duration_s:
        return item.info.duration_s
    return 0.0
