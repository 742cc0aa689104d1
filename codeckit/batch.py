"""Run many independent items in parallel, with a journal that lets a rerun skip finished work.

Knows nothing about video: an item is a key (everything that changes its result), a label for people and a
payload handed to a work function. The executor is joblib: threads locally by default (the heavy work happens in
FFmpeg child processes, so threads cost nothing in parallelism and let progress callbacks reach the parent's
display directly), or any joblib backend by name ("processes" = loky, "dask", "ray" once registered), where
only per-item completion reaches the parent.

The journal (`codeckit.journal`, re-exported here) records each item's state, so a rerun skips what finished.
"""
from __future__ import annotations

import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .errors import CodeckitError, ConfigError, JournalBusy, error_fields  # noqa: F401  (JournalBusy: re-exported)
from .journal import (FINISHED, JOURNAL_NAME, STATES, Journal, JournalView,  # noqa: F401  (re-exported)
                      journal_record)
from .owner import OwnerGone

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
    failure: dict | None = None           # a failed item's error fields (errors.error_fields): code, message, ...
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
                       error_code=exc.code, stderr_tail=exc.stderr_tail, failure=error_fields(exc))
    except Exception as exc:  # a bug, not a user mistake: keep the traceback for --verbose
        return outcome("failed", error=f"unexpected error: {type(exc).__name__}: {exc}",
                       error_type=type(exc).__name__, error_code="unexpected", traceback=traceback.format_exc(),
                       failure=error_fields(exc))


def _check_backend(backend: str, joblib_backend: str) -> None:
    """Refuse a backend joblib does not know before anything runs (not by reading joblib's error text)."""
    if joblib_backend == "threading":   # run here without joblib (_Batch.run_local)
        return
    from joblib import parallel
    if joblib_backend not in parallel.BACKENDS and joblib_backend not in getattr(parallel, "EXTERNAL_BACKENDS", {}):
        raise ConfigError(f"unknown batch backend {backend!r}",
                          hint="threads, processes, or a registered joblib backend (dask, ray)")


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
    _check_backend(backend, joblib_backend)
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
        """The calls for `chunk` (function, arguments), each journaled as started when it is taken; none after a
        stop."""
        for item in chunk:
            if self.cancel.is_set():
                return
            with self.lock:   # before the journal's record: a stop landing in between still ends it interrupted
                self.active[item.key] = item
            if self.journal is not None:
                self.journal.record(item.key, "started", label=item.label, cleanup=list(item.cleanup), **item.info)
            if self.local:
                yield self.run_here, (item,)
            else:
                self.emit(BatchEvent("start", item))
                yield _run_one, (self.work, item, ItemContext())

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
        if self.local:
            return self.run_local(to_run, min(jobs, len(to_run)))
        from joblib import Parallel, delayed, parallel_config
        with parallel_config(backend=joblib_backend, n_jobs=min(jobs, len(to_run))):
            calls = (delayed(fn)(*args) for fn, args in self.tasks(to_run))
            try:
                self.collect(Parallel(return_as=_generator_mode(), pre_dispatch="n_jobs")(calls))
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
                    self.collect(Parallel(return_as="list")(delayed(fn)(*args)
                                                            for fn, args in self.tasks(to_run[i:i + wave])))

    def run_local(self, to_run: list[BatchItem], jobs: int) -> None:
        """The items in this process: one job in this thread, more on `jobs` threads, a new item taken as one
        ends. Not through joblib's threading backend, which waits on its results by polling every 10 ms:
        10 CPU-ms a second of a run (8 items sleeping 1.5 s on 2 threads: 0.06-0.08 CPU-s through joblib,
        0.017 here), 0.12 CPU-s of a 12 s `codeckit normalize`. The workers record their own outcomes
        (run_here); an error the bookkeeping raises (a journal it cannot write) comes out here, as it did
        out of joblib."""
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
        if jobs <= 1:
            for fn, args in self.tasks(to_run):
                fn(*args)
            return
        pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="codeckit-item")
        running: set = set()
        try:
            for fn, args in self.tasks(to_run):
                running.add(pool.submit(fn, *args))
                while len(running) >= jobs:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    for f in done:
                        f.result()
            for f in wait(running).done:
                f.result()
        except BaseException:
            # the items still running are told to stop: the pool's threads are joined at the interpreter's exit,
            # which would otherwise wait for each running item's whole encode (joblib's threads were daemons)
            self.cancel.set()
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

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
