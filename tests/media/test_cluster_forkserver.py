"""Local process workers forked from a forkserver (codeckit.cluster): they run the work, and nothing of them
outlives the `with` block (the server and the workers are reaped: their CPU is counted in the caller's)."""
import os
import resource

from joblib import Parallel, delayed

from codeckit.cluster import engine


def _pid(_):
    import sys
    return os.getpid(), os.getppid(), "codeckit.verify" in sys.modules


def test_workers_come_from_a_forkserver_with_the_modules_preloaded_and_are_reaped():
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with engine("local", jobs=2, preload=("codeckit.verify",)):
        rows = Parallel()(delayed(_pid)(i) for i in range(4))
    parents = {ppid for _, ppid, _ in rows}
    assert os.getpid() not in parents and len(parents) == 1       # forked by one server, not by this process
    assert all(preloaded for *_, preloaded in rows)
    server = parents.pop()
    assert not os.path.exists(f"/proc/{server}")                   # ended and reaped with its workers
    assert all(not os.path.exists(f"/proc/{pid}") for pid, _, _ in rows)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert after.ru_utime + after.ru_stime > before.ru_utime + before.ru_stime   # their CPU counted here
