"""The batch executor and its journal, on plain Python work (the batch knows nothing about video)."""
from __future__ import annotations

import json
import threading
import time

import pytest

from codeckit.batch import (BatchItem, Cancelled, Journal, JournalBusy, auto_jobs, cpu_count, run_batch)
from codeckit.errors import CodeckitError, ConfigError


def square(x, ctx):
    if x == 3:
        raise CodeckitError("three is not welcome", path="item-3")
    if x == 4:
        raise ZeroDivisionError("a bug")
    ctx.progress(fraction=1.0)
    return x * x


def items(n, **kw):
    return [BatchItem(key=f"k{i}", label=f"item-{i}", payload=i, **kw) for i in range(n)]


def test_failures_are_recorded_and_the_batch_goes_on(tmp_path):
    events = []
    with Journal.in_folder(tmp_path) as j:
        report = run_batch(items(6), square, jobs=2, journal=j, on_event=events.append)
    states = {o.label: o.state for o in report.outcomes}
    assert states == {"item-0": "done", "item-1": "done", "item-2": "done", "item-3": "failed",
                      "item-4": "failed", "item-5": "done"}
    by = {o.label: o for o in report.outcomes}
    assert by["item-3"].error == "three is not welcome" and by["item-3"].traceback is None
    assert "ZeroDivisionError" in by["item-4"].error and "Traceback" in by["item-4"].traceback
    assert by["item-5"].result == 25
    kinds = {e.kind for e in events}
    assert {"start", "progress", "done", "failed"} <= kinds
    j = Journal.read(tmp_path / ".codeckit-journal.jsonl")
    assert j.state("k5") == "done" and j.last("k5")["result"] == 25 and j.state("k3") == "failed"


def test_skipped_items_are_not_run_and_recorded_once(tmp_path):
    ran = []

    def work(x, ctx):
        ran.append(x)
        return x
    its = items(3)
    its[1].skip = "done in an earlier run"
    with Journal.in_folder(tmp_path) as j:
        report = run_batch(its, work, jobs=1, journal=j)
    assert sorted(ran) == [0, 2] and report.count("skipped") == 1
    with Journal.in_folder(tmp_path) as j:
        run_batch(its, work, jobs=1, journal=j)
    lines = (tmp_path / ".codeckit-journal.jsonl").read_text().splitlines()
    assert sum(1 for ln in lines if json.loads(ln)["state"] == "skipped") == 1


def test_journal_tolerates_a_torn_last_line(tmp_path):
    path = tmp_path / "j.jsonl"
    with Journal(path) as j:
        j.record("a", "started", cleanup=[str(tmp_path / "tmp-a")])
        j.record("a", "done")
        j.record("b", "started", cleanup=[str(tmp_path / "tmp-b")])
    with open(path, "ab") as fh:
        fh.write(b'{"t": 1, "key": "b", "state": "do')  # killed mid-write
    (tmp_path / "tmp-b").write_bytes(b"half an encode")
    with Journal(path) as j:
        assert j.state("a") == "done" and j.state("b") == "started" and j.ignored_lines == 1
        assert j.remove_leftovers() == [str(tmp_path / "tmp-b")]
        j.record("b", "done")
    assert not (tmp_path / "tmp-b").exists()
    lines = path.read_text().splitlines()
    assert lines[-2] == '{"t": 1, "key": "b", "state": "do'   # the torn line stays on a line of its own
    assert json.loads(lines[-1])["state"] == "done"              # and the next record starts afresh
    assert Journal.read(path).state("b") == "done"


def test_one_run_at_a_time_per_journal(tmp_path):
    with Journal.in_folder(tmp_path):
        with pytest.raises(JournalBusy, match="another codeckit run"):
            Journal.in_folder(tmp_path).open()
    Journal.in_folder(tmp_path).open().close()  # free again


def test_journal_is_compacted_when_reruns_pile_up(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text("".join(json.dumps({"t": i, "key": "same", "state": "started"}) + "\n" for i in range(1200)))
    with Journal(path) as j:
        assert j.state("same") == "started"
        j.record("other", "done")
    assert len(path.read_text().splitlines()) == 2


def test_cancel_stops_the_batch_and_marks_running_items_interrupted(tmp_path):
    cancel = threading.Event()
    started = threading.Event()

    def slow(x, ctx):
        started.set()
        for _ in range(200):
            ctx.check_cancelled()
            time.sleep(0.01)
        return x

    def stopper():
        started.wait(5)
        cancel.set()
    threading.Thread(target=stopper).start()
    with Journal.in_folder(tmp_path) as j:
        report = run_batch(items(6, cleanup=("nothing",)), slow, jobs=2, journal=j, cancel=cancel)
    assert report.interrupted
    assert report.count("interrupted") >= 1 and report.count("done") == 0
    j = Journal.read(tmp_path / ".codeckit-journal.jsonl")
    assert {r["state"] for r in j.entries.values()} == {"interrupted"}
    assert len(j.entries) < 6  # items never started are not in the journal


def test_work_raising_cancelled_is_interrupted_not_failed():
    def work(x, ctx):
        raise Cancelled()
    report = run_batch(items(1), work)
    assert report.outcomes[0].state == "interrupted" and report.interrupted


def square_plain(x, ctx):
    return x * x


def test_process_backend_runs_picklable_work():
    report = run_batch(items(3), square_plain, jobs=2, backend="processes")
    assert sorted(o.result for o in report.outcomes) == [0, 1, 4]


def test_unknown_backend_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown batch backend"):
        run_batch(items(2), square_plain, jobs=2, backend="no-such-backend")


def test_auto_jobs_fills_the_cores_and_no_more():
    assert auto_jobs(10, threads_per_item=1, cores=8) == 8
    assert auto_jobs(3, threads_per_item=1, cores=8) == 3
    assert auto_jobs(10, threads_per_item=4, cores=8) == 2
    assert auto_jobs(10, threads_per_item=4, cores=2) == 1
    assert cpu_count() >= 1


def test_backend_without_result_generators_runs_in_waves(tmp_path):
    # Ray's joblib backend hands results back only all at once; the batch then runs waves of 2 x jobs
    from joblib._parallel_backends import ThreadingBackend
    from joblib.parallel import register_parallel_backend

    class AllAtOnce(ThreadingBackend):
        supports_return_generator = False
    register_parallel_backend("all-at-once", AllAtOnce)
    with Journal.in_folder(tmp_path) as j:
        report = run_batch(items(7), square_plain, jobs=2, backend="all-at-once", journal=j)
    assert sorted(o.result for o in report.outcomes) == [0, 1, 4, 9, 16, 25, 36]
    assert {r["state"] for r in Journal.read(tmp_path / ".codeckit-journal.jsonl").entries.values()} == {"done"}


@pytest.mark.cluster
def test_one_job_on_a_dask_cluster_runs_in_its_workers(tmp_path):
    # Dask's joblib backend uses every worker whatever n_jobs says: jobs=1 must not take the in-process path
    # (whose work holds this process's journal lock and cannot travel)
    pytest.importorskip("distributed")
    from codeckit.cluster import engine
    with engine("dask", jobs=2) as eng, Journal.in_folder(tmp_path) as j:
        report = run_batch(items(3), square_plain, jobs=1, backend=eng.batch_backend, journal=j)
    assert sorted(o.result for o in report.outcomes) == [0, 1, 4] and not report.failed
    assert {r["state"] for r in map(json.loads, (tmp_path / ".codeckit-journal.jsonl").read_text().splitlines())
            } == {"started", "done"}


def test_local_engine_is_threads_or_processes_and_uses_the_affinity_cpu_count():
    from codeckit.cluster import default_jobs, engine
    assert default_jobs() == cpu_count()
    with engine(local="threads") as eng:
        assert (eng.joblib_backend, eng.batch_backend, eng.n_jobs) == ("threading", "threads", cpu_count())
        assert eng.describe() == f"local threads ({cpu_count()} jobs)"
    with engine(jobs=3) as eng:
        assert (eng.batch_backend, eng.describe()) == ("processes", "local processes (3 jobs)")


def test_an_error_from_the_bookkeeping_stops_the_running_items():
    """A journal that cannot be written (disk full) as one item ends: the error comes out of run_batch and the
    items still running are told to stop; their threads end at once rather than keeping the interpreter's exit
    waiting on work nobody records (it waited for the whole item: 8 s here)."""
    class FullDisk:
        def state(self, key):
            return None

        def record(self, key, state, **fields):
            if key == "k0" and state == "done":
                raise OSError(28, "No space left on device")

    stopped = []

    def work(x, ctx):
        t0 = time.monotonic()
        while time.monotonic() - t0 < (8 if x else 0.3):    # item 1 runs when item 0's record fails
            if ctx.cancelled:
                stopped.append(x)
                raise Cancelled()
            time.sleep(0.02)
        return x

    with pytest.raises(OSError, match="No space"):
        run_batch(items(3), work, jobs=2, journal=FullDisk())
    t0 = time.monotonic()
    for t in threading.enumerate():
        if t.name.startswith("codeckit-item"):
            t.join(timeout=8)
    assert time.monotonic() - t0 < 2 and stopped == [1]
