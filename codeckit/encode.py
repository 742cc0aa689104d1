"""Encode: run one EncodeJob into a temporary file beside its destination, verify it, rename it into place.

Nothing is ever left half-written under the output's name: FFmpeg writes `.NAME.codeckit-tmp.EXT` in the
destination folder (same file system, so the final os.replace is atomic), and that file is removed on any
failure, interrupt or stop request. When the chosen implementation fails at run time (a hardware encoder's
session limit, a driver error) the job moves to the next candidate of its Selection, and the result says so.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from .batch import Cancelled
from .codecs import BY_NAME
from .errors import CodeckitError, FFmpegError, failure_line
from .ffmpeg import Progress, run_ffmpeg
from .fileio import ENCODE_TEMP_MARK as TEMP_MARK
from .fileio import is_temp_name  # noqa: F401  (re-exported: the one temporary-name rule lives in fileio)
from .plan import EncodeJob
from .verify import FRAMES_PER_GOP, VerifyReport, verify_output

# FFmpeg's words when an encoder could not start or gave up (not the input's fault).
_ENCODER_FAILURE = ("error while opening encoder", "could not open encoder", "error initializing output stream",
                    "generic error in an external library", "error submitting video frame",
                    "error sending frames to consumers", "function not implemented", "hwupload", "device")


def temp_path_for(output: str | os.PathLike) -> Path:
    """The temporary name an output is written under: hidden, beside it, same extension."""
    p = Path(output)
    return p.with_name(f".{p.stem}{TEMP_MARK}{p.suffix}")


@dataclass
class EncodeResult:
    input: str
    output: str
    remux: bool
    implementation: str | None            # the one that produced the output
    fallbacks: list[tuple[str, str]]      # (implementation, error) for each that failed first
    bytes_in: int
    bytes_out: int
    duration_s: float | None              # media seconds
    wall_s: float
    cpu_s: float                          # FFmpeg's CPU seconds (all attempts) + verification
    encode_cpu_s: float
    verify_cpu_s: float
    verify_wall_s: float
    knob_value: float | None = None
    verify: VerifyReport | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def speed(self) -> float | None:
        """Media seconds per wall second (× realtime)."""
        return self.duration_s / self.wall_s if self.duration_s and self.wall_s > 0 else None

    @property
    def saving(self) -> float | None:
        return 1 - self.bytes_out / self.bytes_in if self.bytes_in else None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fallbacks"] = [list(f) for f in self.fallbacks]
        d["speed"] = self.speed
        d["saving"] = self.saving
        d["verify"] = self.verify.to_dict() if self.verify else None
        return d


def progress_reporter(ctx, job: EncodeJob, duration_s: float | None) -> Callable[[Progress], None] | None:
    """An `on_progress` for `encode` that reports FFmpeg's progress, with an ETA, through a batch item's
    `ctx.progress(...)` (a `batch.ItemContext`); None without a context."""
    if ctx is None:
        return None
    duration = duration_s or 0.0

    def on_progress(p: Progress) -> None:
        eta = (duration - p.out_time_s) / p.speed if p.speed and duration else None
        ctx.progress(fraction=p.fraction, out_time_s=p.out_time_s, duration_s=duration, fps=p.fps,
                     speed=p.speed, frame=p.frame, eta_s=max(0.0, eta) if eta is not None else None,
                     implementation=job.implementation or "copy")
    return on_progress


def _is_encoder_failure(job: EncodeJob, exc: FFmpegError) -> bool:
    """Worth another implementation? Always after a hardware one; after software only when the encoder itself
    would not start (a broken input fails the same way on every encoder)."""
    impl = BY_NAME.get(job.implementation or "")
    if impl is None:
        return False
    if impl.hardware:
        return True
    text = f"{exc.message}\n{exc.stderr_tail or ''}".lower()
    return any(word in text for word in _ENCODER_FAILURE[:4])


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def encode(job: EncodeJob, *, on_progress: Callable[[Progress], None] | None = None, verify: str = "sample",
           cancel: threading.Event | None = None, timeout: float | None = None,
           stall_timeout: float | None | str = "default",
           before_rename: Callable[[Path], None] | None = None) -> EncodeResult:
    """Run `job`, verify the output (`verify`: sample, full or off), and rename it into place.

    Raises FFmpegError (every implementation failed, or the input is broken), VerifyError (the output is not
    what it should be), or Cancelled when `cancel` is set (FFmpeg is stopped at once, even when it makes no
    progress); `stall_timeout` is `run_ffmpeg`'s (seconds without progress); the temporary file is gone in
    every case, and the destination is untouched unless everything succeeded.
    """
    start = time.monotonic()
    out = Path(job.output)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CodeckitError(f"cannot create the output folder {out.parent}: {exc.strerror}", path=job.input) from exc
    tmp = temp_path_for(out)
    encode_cpu = 0.0

    def progress(p: Progress) -> None:
        # raising here makes run_ffmpeg kill FFmpeg and wait for it (its `finally`)
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        if on_progress is not None:
            on_progress(p)

    try:
        while True:
            try:
                run = run_ffmpeg(job.args(tmp), subject=job.input, on_progress=progress, duration_s=job.duration_s,
                                 timeout=timeout, stall_timeout=stall_timeout, cancel=cancel)
                encode_cpu += run.cpu_s
                break
            except FFmpegError as exc:
                _unlink(tmp)
                if cancel is not None and cancel.is_set():
                    raise Cancelled() from exc
                if not _is_encoder_failure(job, exc):
                    raise
                nxt = job.fall_back(failure_line(exc))
                if nxt is None:
                    raise
                job = nxt
        mode, frames_per_gop = _verify_depth(job, verify)
        report = verify_output(tmp, job.expect, mode=mode, frames_per_gop=frames_per_gop,
                               subject=job.input) if verify != "off" else None
        if before_rename is not None:   # the caller's own last check of the written file (it may raise)
            before_rename(tmp)
        if cancel is not None and cancel.is_set():   # checked last: a run that died must not rename anything
            raise Cancelled()
        try:
            os.replace(tmp, out)
        except OSError as exc:
            raise CodeckitError(f"cannot write {out}: {exc.strerror}", path=job.input) from exc
        if report is not None:
            report.path = str(out)    # the file it verified, by the name it has now (the temporary one is gone)
    finally:
        _unlink(tmp)
    failures = list(job.selection.failures) if job.selection else []
    return EncodeResult(
        input=job.input, output=str(out), remux=job.remux, implementation=job.implementation or "copy",
        fallbacks=failures, bytes_in=_size(job.input), bytes_out=_size(out), duration_s=job.duration_s,
        wall_s=time.monotonic() - start, cpu_s=encode_cpu + (report.cpu_s if report else 0.0),
        encode_cpu_s=encode_cpu, verify_cpu_s=report.cpu_s if report else 0.0,
        verify_wall_s=report.wall_s if report else 0.0, knob_value=job.knob_value, verify=report,
        notes=list(job.notes))


def _verify_depth(job: EncodeJob, verify: str) -> tuple[str, int]:
    """How much of the written file `verify="sample"` decodes, by where its bits come from.

    - A stream copy passes the source's bytes through unchecked: a bit flip in the payload (the mutation suite
      found one that the sampled GOPs missed) would land in the output, so a remux is decoded in full.
    - A hardware encoder's bitstream is checked on 3 GOPs of FRAMES_PER_GOP frames (drivers have shipped
      encoders that write broken slices).
    - A software encoder (x264, x265, SVT-AV1, libvpx, ...) that exited cleanly wrote what its library made from
      decoded frames: decoding its P and B frames found nothing in any test or mutant run (the mutants break the
      sources; a broken source frame is encoded as whatever it decoded to). What can still be wrong is where
      the muxer put the bytes (its index, the faststart move), so the 3 sampled GOPs' keyframes are decoded:
      they start the decoder at three places of the file. The 8 clips of bench_normalize's mixed corpus:
      400 -> 147 CPU-ms of verification (16 frames a GOP against the keyframe alone, best of 5).
    """
    if verify != "sample":
        return verify, FRAMES_PER_GOP
    if job.remux:
        return "full", FRAMES_PER_GOP
    impl = BY_NAME.get(job.implementation or "")
    return "sample", (1 if impl is not None and not impl.hardware else FRAMES_PER_GOP)


def _size(path: str | os.PathLike) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
