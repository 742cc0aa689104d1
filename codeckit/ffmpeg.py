"""Run FFmpeg: local inputs only, progress, timeouts and stall detection, readable failures.

Finding the binary and what its build can do is `codeckit.ffmpeg_build`; its names are re-exported here."""
from __future__ import annotations

import functools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from .errors import FFmpegError, FFmpegNotFound, FFmpegStalled, FFmpegTimeout, UnsafeInput
from .ffmpeg_build import (FFMPEG_ENV, AVOption, EncoderHelp, FFmpegBuild, build_info,  # noqa: F401  (re-exported)
                           codec_context_options, encoder_help, ffmpeg_exe)

#: Environment variable: seconds without progress after which a run is stopped as stalled (0: never).
STALL_ENV = "CODECKIT_STALL_TIMEOUT"
#: The default stall timeout. FFmpeg reports progress every 0.5 s whatever the encoder does, and the frame count,
#: output time or size moves as soon as one frame is out; the slowest encoder settings met here (libaom-av1
#: cpu-used 0, x265 placebo with a 60-frame lookahead at 4K) take minutes before the first frame, so the
#: default leaves ten.
DEFAULT_STALL_TIMEOUT_S = 600.0

STDERR_TAIL_LINES = 40


# ---------------------------------------------------------------- inputs

# Demuxers that open other files or URLs named inside the input: never followed.
_REFERENCING_DEMUXERS = {"hls", "applehttp", "concat", "dash", "webm_dash_manifest", "mpl2", "tee",
                         "imf", "ffmetadata", "sdp", "rtsp", "data"}
_PLAYLIST_MAGIC = (b"#EXTM3U", b"ffconcat", b"#EXT-X-", b"[playlist]")


def check_local_input(path: str | Path) -> Path:
    """Refuse inputs that are not a readable, non-empty local file, or that are playlists/concat lists."""
    from .errors import ProbeError
    p = Path(path)
    if not p.exists():
        raise ProbeError("no such file", path=p, code="no_such_file")
    if not p.is_file():
        raise ProbeError("not a regular file", path=p, code="not_a_file")
    try:
        with open(p, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise ProbeError(f"cannot read: {exc.strerror}", path=p, code="unreadable") from exc
    if not head:
        raise ProbeError("empty file (0 bytes)", path=p, code="empty")
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(_PLAYLIST_MAGIC) or (b"<MPD" in head and b"urn:mpeg:dash" in head):
        raise UnsafeInput("is a playlist or concat list that points at other files or URLs; "
                          "codeckit only opens local media files", path=p)
    return p


def refuse_referencing_demuxer(path: str | Path, demuxer: str) -> None:
    names = set(demuxer.split(","))
    if names & _REFERENCING_DEMUXERS:
        raise UnsafeInput(f"opens as {demuxer!r}, which reads other files or URLs; refused", path=path)


def input_url(path: str | Path) -> str:
    """How FFmpeg must be given a local path: with the file: protocol, so that a name such as
    `-x.mp4` or `http:odd.mp4` is never read as an option or another protocol."""
    return "file:" + os.path.abspath(os.fspath(path))


def input_args(path: str | Path) -> list[str]:
    """`-i` for a local file, restricted to the file protocol (no URLs followed from inside it)."""
    return ["-protocol_whitelist", "file", "-i", input_url(path)]


# ---------------------------------------------------------------- running

@dataclass
class Progress:
    """One update from FFmpeg's -progress stream."""
    frame: int = 0
    fps: float = 0.0
    out_time_s: float = 0.0
    total_size: int = 0
    speed: float = 0.0
    done: bool = False
    duration_s: float | None = None

    @property
    def fraction(self) -> float | None:
        if not self.duration_s:
            return None
        return max(0.0, min(1.0, self.out_time_s / self.duration_s))


@dataclass
class RunResult:
    args: list[str]
    returncode: int
    wall_s: float
    cpu_s: float
    stderr_tail: str
    stdout: str = ""
    last_progress: Progress = field(default_factory=Progress)


_CONTEXT_ADDRESS = re.compile(r"\[(\S+) @ 0x[0-9a-f]+\] ")


def _first_error_line(tail: Sequence[str]) -> str:
    """The line that says what went wrong, without FFmpeg's "[h264_nvenc @ 0x55...]" address, which changes
    every run (so messages compare and cache as equal)."""
    keys = ("error", "invalid", "unknown", "not ", "cannot", "could not", "failed", "unable", "no such")
    line = next((ln for ln in tail if any(k in ln.lower() for k in keys) and "conversion failed" not in ln.lower()),
                tail[-1] if tail else "no message")
    return _CONTEXT_ADDRESS.sub(r"[\1] ", line.strip())


def _parse_speed(value: str) -> float:
    try:
        return float(value.rstrip("x"))
    except ValueError:
        return 0.0


def _die_with_parent():
    """A preexec function that makes the kernel SIGKILL the child when the process that started it dies
    (Linux's PR_SET_PDEATHSIG), or None elsewhere. Without it, kill -9 of codeckit (or of a loky or Dask worker)
    left FFmpeg running in its own session, writing into the output folder while the next run worked there.
    The libc function is looked up here, in the parent: the child only makes one foreign call before exec."""
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:   # the parent died between fork and prctl: the signal will never come
            os._exit(137)
    return preexec


_PR_SET_PDEATHSIG = 1


@functools.lru_cache(maxsize=1)
def _prctl():
    """libc's prctl (Linux), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes
        fn = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - no libc prctl
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return fn


def _start(cmd: list[str], exe: str) -> subprocess.Popen:
    try:
        # its own process group: a stop kills FFmpeg and whatever it started (a wrapper script's children),
        # and a terminal's Ctrl-C reaches codeckit, which stops its runs itself; it dies with its parent
        # (the death signal comes when the *thread* that started it ends: run_ffmpeg waits for FFmpeg in that
        # thread, so it never ends first)
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True,  # not process_group=0: Python 3.11+ only
                                preexec_fn=_die_with_parent())
    except OSError as exc:
        raise FFmpegNotFound(f"cannot run FFmpeg at {exe}: {exc}") from exc


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL to FFmpeg's process group (its id is FFmpeg's pid). Not proc.kill(): that polls, and so may reap
    the child before _wait_cpu_s reads its CPU time."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _keep_stderr_tail(proc: subprocess.Popen, tail: deque[str]) -> threading.Thread:
    """Drain stderr on a thread into `tail` (its last lines): a full pipe would block FFmpeg."""
    def read_stderr():
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                tail.append(line)
    thread = threading.Thread(target=read_stderr, daemon=True)
    thread.start()
    return thread


def stall_timeout_default() -> float | None:
    """$CODECKIT_STALL_TIMEOUT (seconds, 0 for never) or DEFAULT_STALL_TIMEOUT_S."""
    raw = os.environ.get(STALL_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_STALL_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        from .errors import ConfigError
        raise ConfigError(f"{STALL_ENV}={raw!r} is not a number of seconds") from None
    return value if value > 0 else None


class _Watchdog:
    """One thread per run that stops FFmpeg (its whole process group) at the first of: the timeout, no progress
    for `stall` seconds, or `cancel` set. `why` says which."""

    def __init__(self, proc: subprocess.Popen, timeout: float | None, stall: float | None,
                 cancel: threading.Event | None):
        self.proc, self.timeout, self.stall, self.cancel = proc, timeout, stall, cancel
        self.start = self.last_move = time.monotonic()
        self.mark: tuple = ()
        self.why: str | None = None
        self.done = threading.Event()
        self.thread = None
        if timeout or stall or cancel is not None:
            self.thread = threading.Thread(target=self._watch, daemon=True)
            self.thread.start()

    def saw(self, p: Progress) -> None:
        """A progress block arrived: it counts as progress only when something moved."""
        mark = (p.frame, p.out_time_s, p.total_size)
        if mark != self.mark:
            self.mark, self.last_move = mark, time.monotonic()

    def _watch(self) -> None:
        while not self.done.wait(0.2):
            now = time.monotonic()
            if self.cancel is not None and self.cancel.is_set():
                self.why = "cancelled"
            elif self.timeout and now - self.start > self.timeout:
                self.why = "timeout"
            elif self.stall and now - self.last_move > self.stall:
                self.why = "stalled"
            if self.why:
                _kill_group(self.proc)
                return

    def stop(self) -> None:
        self.done.set()


def _read_progress(stream, progress: Progress, on_progress: Callable[[Progress], None] | None,
                   watchdog: _Watchdog | None = None) -> None:
    """Fold FFmpeg's `-progress` key=value lines into `progress`; each block's end goes to `on_progress`."""
    for raw in stream:
        key, _, value = raw.decode("ascii", "replace").strip().partition("=")
        if key == "frame":
            progress.frame = int(value or 0)
        elif key == "fps":
            progress.fps = float(value or 0)
        elif key in ("out_time_us", "out_time_ms") and value not in ("", "N/A"):
            progress.out_time_s = max(0.0, int(value) / 1e6)  # out_time_ms is in us too
        elif key == "total_size" and value.isdigit():
            progress.total_size = int(value)
        elif key == "speed":
            progress.speed = _parse_speed(value)
        elif key == "progress":
            progress.done = value == "end"
            if watchdog is not None:
                watchdog.saw(progress)
            if on_progress:
                on_progress(Progress(**progress.__dict__))


def _wait_cpu_s(proc: subprocess.Popen) -> float:
    """Reap `proc`, set its returncode, and return its CPU seconds: wait4 gives this child's own CPU time,
    which stays right when many runs share the process."""
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except ChildProcessError:  # reaped already (a poll elsewhere): the status is known, the CPU time lost
        proc.wait()
        return 0.0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def _run_error(returncode: int, tail: Sequence[str], *, stopped: str | None, watchdog: _Watchdog,
               subject: str | Path | None, stderr_tail: str) -> FFmpegError | None:
    """The error a finished run stands for (None for success), with FFmpeg's first error line as `detail`."""
    detail = _first_error_line(tail) if tail else None
    fields = dict(path=subject, stderr_tail=stderr_tail, detail=detail, returncode=returncode)
    if stopped == "timeout":
        return FFmpegTimeout(f"FFmpeg stopped after the {watchdog.timeout:g} s timeout", **fields)
    if stopped == "stalled":
        return FFmpegStalled(f"FFmpeg made no progress for {watchdog.stall:g} s and was stopped (stall timeout; "
                             f"{STALL_ENV} or --stall-timeout sets it)", **fields)
    if stopped == "cancelled":
        return FFmpegError("FFmpeg was stopped (the run was interrupted)", code="interrupted", **fields)
    if returncode == 0:
        return None
    if any("no space left on device" in line.lower() for line in tail):
        return FFmpegError("no space left on device while writing the output", code="no_space",
                           hint="free some space and run the same command again", **fields)
    if returncode < 0:
        reason = f"FFmpeg died (signal {-returncode})"
        if tail:
            reason += f": {detail}"
        return FFmpegError(reason, code="ffmpeg_killed", **fields)
    if returncode == 255 and not tail:
        return FFmpegError("FFmpeg was interrupted", code="interrupted", **fields)
    # an empty tail still names the failure: _first_error_line says "no message"
    fields["detail"] = _first_error_line(tail)
    return FFmpegError(f"FFmpeg failed: {fields['detail']}", **fields)


def run_ffmpeg(args: Sequence[str], *, subject: str | Path | None = None, timeout: float | None = None,
               on_progress: Callable[[Progress], None] | None = None, duration_s: float | None = None,
               loglevel: str = "warning", capture_stdout: bool = False, exe: str | None = None,
               stall_timeout: float | None | str = "default", cancel: threading.Event | None = None) -> RunResult:
    """Run FFmpeg with `args` (everything after the binary), never through a shell.

    `subject` names the file the run is about, for error messages. Progress is read from
    `-progress pipe:1` unless `capture_stdout` (then stdout is returned, e.g. for a rawvideo pipe).
    FFmpeg runs in its own process group, and the whole group is killed after `timeout` (FFmpegTimeout), after
    `stall_timeout` seconds without progress (FFmpegStalled; "default": $CODECKIT_STALL_TIMEOUT or 600 s,
    None: never; progress runs only), or as soon as `cancel` is set (FFmpegError, code "interrupted").
    Raises FFmpegError (with the stderr tail) on a non-zero exit.
    """
    exe = exe or ffmpeg_exe()
    stall = stall_timeout_default() if stall_timeout == "default" else stall_timeout
    cmd = [exe, "-hide_banner", "-nostdin", "-loglevel", loglevel]
    if not capture_stdout:
        cmd += ["-nostats", "-progress", "pipe:1"]
    cmd += list(args)
    tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    start = time.monotonic()
    proc = _start(cmd, exe)
    err_thread = _keep_stderr_tail(proc, tail)
    watchdog = _Watchdog(proc, timeout, None if capture_stdout else stall, cancel)
    progress = Progress(duration_s=duration_s)
    stdout = b""
    cpu_s = 0.0
    try:
        if capture_stdout:
            stdout = proc.stdout.read()
        else:
            _read_progress(proc.stdout, progress, on_progress, watchdog)
        cpu_s = _wait_cpu_s(proc)
    finally:
        watchdog.stop()
        if proc.returncode is None:
            _kill_group(proc)
            proc.wait()
        err_thread.join(timeout=5)
        proc.stdout.close()
        proc.stderr.close()
    result = RunResult(args=cmd, returncode=proc.returncode, wall_s=time.monotonic() - start, cpu_s=cpu_s,
                       stderr_tail="\n".join(tail),
                       stdout=stdout.decode("utf-8", "replace") if capture_stdout else "", last_progress=progress)
    error = _run_error(proc.returncode, list(tail), stopped=watchdog.why, watchdog=watchdog,
                       subject=subject, stderr_tail=result.stderr_tail)
    if error:
        raise error
    return result
