"""Run many independent items in parallel, with a journal that lets a rerun skip finished work.

Knows nothing about video: an item is a key (everything that changes its result), a label for people and a
payload handed to a work function. The executor is joblib: threads locally by default (the heavy work happens in
FFmpeg child processes, so threads cost nothing in parallelism and let progress callbacks reach the parent's
display directly), or any joblib backend by name ("processes" = loky, "dask", "ray" once registered), where
only per-item completion reaches the parent.

The journal is JSON Lines, one record per state change (started / done / failed / skipped / interrupted),
appended and fsync'ed, so after a crash, kill -9 or Ctrl-C it says which items finished; a torn last line
(killed mid-write) is ignored. Items that were started and never finished have their temporary files removed
when the journal is opened again.
"""
from __future__ import annotations

import json
import os
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from .errors import CodeckitError, ConfigError, JournalBusy
from .owner import OwnerGone

STATES = ("started", "done", "failed", "skipped", "interrupted")
FINISHED = ("done", "skipped")
JOURNAL_NAME = ".codeckit-journal.jsonl"
#: joblib backend names for the words codeckit uses.
BACKENDS = {"threads": "threading", "processes": "loky"}


class Cancelled(Exception):
    """The batch was told to stop (Ctrl-C, SIGTERM): the item is unfinished, not failed."""


# ---------------------------------------------------------------- items, events, outcomes

@dataclass
class BatchItem:
    key: str                              # identifies the item *and* what changes its result
    label: str                            # for people: usually the source path
    payload: Any = None                   # handed to the work function (picklable for process backends)
    weight: float = 1.0                   # share of the whole, for the overall progress (e.g. media seconds)
    skip: str | None = None               # a reason: recorded as skipped, never run
    cleanup: tuple[str, ...] = ()         # paths to remove when the item does not finish (temporary files)
    info: dict = field(default_factory=dict)   # extra fields for the journal (source, output, ...)


@dataclass
class ItemOutcome:
    key: str
    label: str
    state: str                            # done | failed | skipped | interrupted
    result: Any = None
    error: str | None = None              # for people: what failed and why
    error_type: str | None = None
    error_code: str | None = None         # the error's reason code (CodeckitError.code), "unexpected" for a bug
    traceback: str | None = None          # only for unexpected errors (bugs), for --verbose
    wall_s: float = 0.0
    stderr_tail: str | None = None        # FFmpeg's last words, when it was FFmpeg that failed


@dataclass
class BatchEvent:
    kind: str                             # start | progress | done | failed | skipped | interrupted
    item: BatchItem
    outcome: ItemOutcome | None = None
    progress: dict | None = None          # whatever the work reports: fraction, fps, speed, eta_s, ...


@dataclass
class BatchReport:
    outcomes: list[ItemOutcome]
    wall_s: float
    jobs: int
    backend: str
    interrupted: bool = False

    def count(self, state: str) -> int:
        return sum(1 for o in self.outcomes if o.state == state)

    @property
    def failed(self) -> list[ItemOutcome]:
        return [o for o in self.outcomes if o.state == "failed"]


class ItemContext:
    """What a work function gets besides its payload: a way to report progress and to notice a stop request.

    With process or cluster backends the context travels without callbacks: progress() does nothing there.
    """

    def __init__(self, item: BatchItem | None = None, emit: Callable[[BatchEvent], None] | None = None,
                 cancel: threading.Event | None = None):
        self.item = item
        self._emit = emit
        self.cancel_event = cancel

    def __getstate__(self):
        """A context sent to another process keeps nothing that cannot travel; its stop request there is the
        death of the run that sent it (OwnerGone), so that a worker whose run was killed with -9 stops instead
        of renaming outputs into place that no journal records, while the next run works in the same folder."""
        return {"item": None, "_emit": None, "cancel_event": OwnerGone.here()}

    def progress(self, **info) -> None:
        if self._emit is not None and self.item is not None:
            self._emit(BatchEvent("progress", self.item, progress=info))

    @property
    def cancelled(self) -> bool:
        return self.cancel_event is not None and self.cancel_event.is_set()

    def check_cancelled(self) -> None:
        if self.cancelled:
            raise Cancelled()


# ---------------------------------------------------------------- the journal

def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "to_dict"):
        return _jsonable(value.to_dict())
    if is_dataclass(value):
        return _jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    return str(value)


class JournalView:
    """What the batch reads of a journal, wherever it is kept: the last record per key (`entries`).

    Two kinds write one: `Journal` (a local JSON Lines file with a flock) and
    `codeckit.object_journal.ObjectJournal` (one small object per item under an object-storage prefix, with a
    lock object). Both have open/close (a context manager), `record`, `remove_leftovers`.
    """
    entries: dict[str, dict]

    def last(self, key: str) -> dict | None:
        return self.entries.get(key)

    def state(self, key: str) -> str | None:
        rec = self.entries.get(key)
        return rec["state"] if rec else None

    def unfinished(self) -> list[dict]:
        """Records of items started (or interrupted) and never finished."""
        return [r for r in self.entries.values() if r["state"] in ("started", "interrupted")]


def journal_record(key: str, state: str, fields: dict) -> dict:
    """One journal record (the same shape in every kind of journal)."""
    if state not in STATES:
        raise ValueError(f"unknown journal state {state!r}")
    return {"t": round(time.time(), 3), "key": key, "state": state, **_jsonable(fields)}


class Journal(JournalView):
    """Append-only JSON Lines record of each item's states, with the last state per key in memory.

    Holds an exclusive lock on the file while open (a second run on the same folder gets JournalBusy).
    """

    def __init__(self, path: str | os.PathLike, *, lock: bool = True):
        self.path = Path(path)
        self.lock = lock
        self.entries: dict[str, dict] = {}      # key -> last record
        self.ignored_lines = 0                  # unreadable lines (a torn last line after kill -9)
        self._fd: int | None = None
        self._mutex = threading.Lock()

    @classmethod
    def in_folder(cls, folder: str | os.PathLike, **kw) -> "Journal":
        return cls(Path(folder) / JOURNAL_NAME, **kw)

    def open(self) -> "Journal":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        if self.lock:
            try:
                import fcntl
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except ImportError:  # pragma: no cover - not POSIX
                pass
            except BlockingIOError:
                os.close(fd)
                raise JournalBusy("another codeckit run is writing to this folder (its journal is locked)",
                                  path=self.path, hint="wait for it to finish, or use another output folder")
        self._fd = fd
        self._load()
        return self

    @classmethod
    def read(cls, path: str | os.PathLike) -> "Journal":
        """The journal's records without opening it for writing (no lock; for dry runs and reports)."""
        j = cls(path, lock=False)
        if j.path.is_file():
            j._load()
        return j

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None

    def __enter__(self) -> "Journal":
        return self.open() if self._fd is None else self

    def __exit__(self, *exc) -> None:
        self.close()

    def _load(self) -> None:
        with open(self.path, "rb") as fh:
            data = fh.read()
        lines = data.split(b"\n")
        complete = lines[:-1]                 # the part after the last newline is a torn write or empty
        torn = lines[-1]
        for raw in complete:
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
                self.entries[rec["key"]] = rec
            except (ValueError, KeyError, TypeError):
                self.ignored_lines += 1
        if torn.strip():
            self.ignored_lines += 1
        if self._fd is None:                  # read-only (Journal.read)
            return
        if data and not data.endswith(b"\n"):
            os.write(self._fd, b"\n")         # the next record starts on a line of its own
            os.fsync(self._fd)
        if len(complete) > 1000 and len(complete) > 4 * len(self.entries):
            self._compact()

    def _compact(self) -> None:
        """Rewrite the journal with only each key's last record (reruns keep appending)."""
        from .fileio import atomic_open
        with atomic_open(self.path, "wb") as fh:
            for rec in self.entries.values():
                fh.write(json.dumps(rec, ensure_ascii=False).encode() + b"\n")
        # keep the lock: the old descriptor's lock is on the replaced file, so take one on the new file
        old = self._fd
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        if self.lock:
            try:
                import fcntl
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except (ImportError, BlockingIOError):  # pragma: no cover
                pass
        os.close(old)

    def record(self, key: str, state: str, **fields) -> dict:
        """Append one state change and fsync it before returning."""
        rec = journal_record(key, state, fields)
        line = (json.dumps(rec, ensure_ascii=False) + "\n").encode()
        with self._mutex:
            if self._fd is None:
                raise RuntimeError("journal is not open")
            os.write(self._fd, line)
            os.fsync(self._fd)
            self.entries[key] = rec
        return rec

    def remove_leftovers(self) -> list[str]:
        """Delete the temporary files of unfinished items (their `cleanup` paths); returns what was removed."""
        removed = []
        for rec in self.unfinished():
            for p in rec.get("cleanup") or ():
                try:
                    os.unlink(p)
                    removed.append(p)
                except FileNotFoundError:
                    pass
                except OSError:
                    pass
        return removed


# ---------------------------------------------------------------- sizing

def cpu_count() -> int:
    """Cores this process may use (affinity and cgroup-limited CPU sets respected)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def auto_jobs(n_items: int, *, threads_per_item: int = 1, cores: int | None = None) -> int:
    """How many items to run at once so that jobs x threads per item fills the cores, and no more."""
    cores = cores or cpu_count()
    return max(1, min(max(1, n_items), cores // max(1, threads_per_item)))


# ---------------------------------------------------------------- running

def _run_one(work: Callable, item: BatchItem, ctx: ItemContext) -> ItemOutcome:
    start = time.monotonic()

    def outcome(state: str, **kw) -> ItemOutcome:
        return ItemOutcome(item.key, item.label, state, wall_s=time.monotonic() - start, **kw)
    if ctx._emit is not None:
        ctx._emit(BatchEvent("start", item))
    try:
        ctx.check_cancelled()
        return outcome("done", result=work(item.payload, ctx))
    except (Cancelled, KeyboardInterrupt) as exc:
        if isinstance(exc, KeyboardInterrupt) and ctx.cancel_event is not None:
            ctx.cancel_event.set()   # the sequential backend runs items in the main thread, where Ctrl-C lands
        return outcome("interrupted", error="interrupted", error_code="interrupted")
    except CodeckitError as exc:
        if ctx.cancelled:  # a run cut short by the stop request is unfinished, not failed
            return outcome("interrupted", error="interrupted", error_code="interrupted")
        return outcome("failed", error=exc.message if exc.path else str(exc), error_type=type(exc).__name__,
                       error_code=exc.code, stderr_tail=exc.stderr_tail)
    except Exception as exc:  # a bug, not a user mistake: keep the traceback for --verbose
        return outcome("failed", error=f"unexpected error: {type(exc).__name__}: {exc}",
                       error_type=type(exc).__name__, error_code="unexpected", traceback=traceback.format_exc())


def run_batch(items: Iterable[BatchItem], work: Callable[[Any, ItemContext], Any], *, jobs: int = 1,
              backend: str = "threads", journal: JournalView | None = None,
              on_event: Callable[[BatchEvent], None] | None = None,
              cancel: threading.Event | None = None) -> BatchReport:
    """Run `work(payload, ctx)` for every item not marked `skip`, `jobs` at a time; record each state.

    A failing item (an exception) is recorded and the batch goes on. Ctrl-C (or `cancel.set()`) stops the
    batch: running items are told to stop (ctx.cancelled, Cancelled), recorded as interrupted, and the report
    comes back with `interrupted=True`; their temporary files are the work function's to remove (and the
    journal's `cleanup` paths are removed on the next open if the process died first).
    With backend="threads" (default) `work` runs in threads of this process and ctx.progress() reaches
    `on_event`; with "processes", "dask" or "ray" it must be picklable and only start/finish events arrive.
    """
    start = time.monotonic()
    cancel = cancel or threading.Event()
    jobs = max(1, int(jobs))
    joblib_backend = BACKENDS.get(backend, backend)
    # one job runs in this process (joblib's sequential mode), except on Dask, whose joblib backend spreads
    # the work over all the cluster's workers whatever n_jobs says
    local = joblib_backend == "threading" or (jobs == 1 and joblib_backend != "dask")
    batch = _Batch(work, journal, on_event or (lambda ev: None), cancel, local)
    to_run = [item for item in items if not batch.skipped(item)]
    if to_run:
        try:
            batch.run(to_run, joblib_backend, jobs)
        except KeyboardInterrupt:
            cancel.set()
        except ValueError as exc:
            if "backend" in str(exc).lower():
                raise ConfigError(f"unknown batch backend {backend!r}: {exc}",
                                  hint="threads, processes, or a registered joblib backend (dask, ray)") from None
            raise
        if cancel.is_set():
            batch.stop_running()
    return BatchReport(outcomes=batch.outcomes, wall_s=time.monotonic() - start, jobs=jobs, backend=backend,
                       interrupted=cancel.is_set())


class _Batch:
    """One run_batch call: hands items to joblib, records each outcome once (journal, event), tracks what runs."""

    def __init__(self, work: Callable, journal: JournalView | None, emit: Callable[[BatchEvent], None],
                 cancel: threading.Event, local: bool):
        self.work = work
        self.journal = journal
        self.emit = emit
        self.cancel = cancel
        self.local = local                    # in this process: workers record their own outcomes
        self.outcomes: list[ItemOutcome] = []
        self.active: dict[str, BatchItem] = {}    # started, not finished
        self.running: set[str] = set()            # local items whose work function has begun
        self.lock = threading.Condition()

    def skipped(self, item: BatchItem) -> bool:
        """Record a `skip` item as skipped (the journal only if it did not finish before); False for the others."""
        if item.skip is None:
            return False
        out = ItemOutcome(item.key, item.label, "skipped", error=item.skip)
        self.outcomes.append(out)
        if self.journal is not None and self.journal.state(item.key) not in FINISHED:
            self.journal.record(item.key, "skipped", label=item.label, reason=item.skip, **item.info)
        self.emit(BatchEvent("skipped", item, outcome=out))
        return True

    def finish(self, item: BatchItem, out: ItemOutcome) -> None:
        with self.lock:
            if item.key not in self.active:   # already ended (a stop recorded it interrupted): once only
                return
        if self.journal is not None:
            fields: dict[str, Any] = {"label": item.label, **item.info, "wall_s": round(out.wall_s, 3)}
            if out.state == "done":
                fields["result"] = out.result
            elif out.error:
                fields["error"] = out.error
                fields["error_code"] = out.error_code
            if out.state == "interrupted":
                fields["cleanup"] = list(item.cleanup)
            self.journal.record(item.key, out.state, **fields)
        with self.lock:
            self.outcomes.append(out)
            self.active.pop(item.key, None)
            self.lock.notify_all()
        if out.state == "interrupted":
            self.cancel.set()
        self.emit(BatchEvent(out.state, item, outcome=out))

    def tasks(self, chunk: list[BatchItem]):
        """joblib's tasks for `chunk`, each journaled as started when joblib takes it; none after a stop."""
        from joblib import delayed
        for item in chunk:
            if self.cancel.is_set():
                return
            with self.lock:   # before the journal's record: a stop landing in between still ends it interrupted
                self.active[item.key] = item
            if self.journal is not None:
                self.journal.record(item.key, "started", label=item.label, cleanup=list(item.cleanup), **item.info)
            if self.local:
                yield delayed(self.run_here)(item)
            else:
                self.emit(BatchEvent("start", item))
                yield delayed(_run_one)(self.work, item, ItemContext())

    def run_here(self, item: BatchItem) -> str:
        """In this process: the worker records its own outcome, so nothing is lost if the parent stops waiting."""
        with self.lock:
            self.running.add(item.key)
        try:
            self.finish(item, _run_one(self.work, item, ItemContext(item, self.emit, self.cancel)))
        finally:
            with self.lock:
                self.running.discard(item.key)
        return item.key

    def collect(self, results: Iterable[ItemOutcome]) -> None:
        for out in results:
            if not self.local:   # local workers have recorded theirs already
                self.finish(self.active[out.key], out)

    def run(self, to_run: list[BatchItem], joblib_backend: str, jobs: int) -> None:
        from joblib import Parallel, parallel_config
        with parallel_config(backend=joblib_backend, n_jobs=min(jobs, len(to_run))):
            try:
                self.collect(Parallel(return_as=_generator_mode(), pre_dispatch="n_jobs")(self.tasks(to_run)))
            except ValueError as exc:
                if "does not support return_as" not in str(exc):
                    raise
                # a backend that hands results back only all at once (Ray's): run in waves, so that what
                # finished is journaled as each wave ends and a lost worker costs one wave
                # (joblib refuses in Parallel(), before the first task is taken)
                wave = 2 * jobs
                for i in range(0, len(to_run), wave):
                    if self.cancel.is_set():
                        break
                    self.collect(Parallel(return_as="list")(self.tasks(to_run[i:i + wave])))

    def stop_running(self) -> None:
        """Give running items time to stop and clean up (joblib does not wait for its threads when it aborts)."""
        deadline = time.monotonic() + 30
        with self.lock:
            while self.running and self.local and time.monotonic() < deadline:
                self.lock.wait(timeout=0.2)
            left = list(self.active.values())
        for item in left:
            self.finish(item, ItemOutcome(item.key, item.label, "interrupted", error="interrupted"))


def _generator_mode() -> str:
    import joblib
    major, minor = (int(x) for x in joblib.__version__.split(".")[:2])
    return "generator_unordered" if (major, minor) >= (1, 4) else "generator"
