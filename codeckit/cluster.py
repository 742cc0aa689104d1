"""Where a batch runs: this machine, a Dask cluster or a Ray cluster, all through joblib's backends.

One engine for every batch command (transcode, normalize). With no address a local cluster is started for
the run (Dask: a LocalCluster of process workers, one thread each; Ray: `ray.init` with as many CPUs as jobs)
and stopped after it. The executor that runs the items only sees `joblib.parallel_config`, so it knows nothing
about which engine is underneath. What "local" means is the command's choice: threads when progress callbacks
must reach the parent's display (transcode), processes when the work itself is Python (normalize).
"""
from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from dataclasses import dataclass
from typing import Iterator

from .batch import cpu_count
from .errors import ConfigError, FeatureMissing

BACKENDS = ("local", "dask", "ray")
#: joblib's backend for each meaning of "local".
LOCAL_JOBLIB = {"processes": "loky", "threads": "threading"}


@dataclass
class Engine:
    backend: str               # local | dask | ray
    joblib_backend: str        # loky | threading | dask | ray
    n_jobs: int
    address: str | None        # the cluster's, or None on this machine
    started_here: bool         # a local cluster was started for this run

    @property
    def batch_backend(self) -> str:
        """The name `batch.run_batch` takes for this engine."""
        return {v: k for k, v in LOCAL_JOBLIB.items()}.get(self.joblib_backend, self.joblib_backend)

    def describe(self) -> str:
        if self.backend == "local":
            return f"local {self.batch_backend} ({self.n_jobs} jobs)"
        where = f"a local cluster started for this run ({self.address})" if self.started_here else self.address
        return f"{self.backend} on {where} ({self.n_jobs} jobs)"


def default_jobs() -> int:
    return cpu_count()


def check_backend(backend: str, address: str | None = None) -> None:
    """ConfigError for an unknown backend, or an address given to the local one (before any work starts)."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}", hint="use " + ", ".join(BACKENDS),
                          code="unknown_backend")
    if address and backend == "local":
        raise ConfigError("--address needs --backend dask or --backend ray", code="address_without_cluster")


@contextlib.contextmanager
def engine(backend: str = "local", address: str | None = None, jobs: int | None = None, *,
           local: str = "processes", preload: tuple[str, ...] = ()) -> Iterator[Engine]:
    """Set joblib's backend for the `with` block and yield the Engine; `local` is threads or processes.

    `preload`: modules the local process workers need; when given, the workers are forked from a forkserver
    that imported them once (see `_forkserver`) instead of each starting a fresh interpreter."""
    import joblib

    check_backend(backend, address)
    n = jobs or default_jobs()
    if backend == "local":
        joblib_backend = LOCAL_JOBLIB[local]
        cluster = _forkserver(preload) if joblib_backend == "loky" and preload else \
            contextlib.nullcontext((None, False))
    else:
        joblib_backend, cluster = backend, (_dask if backend == "dask" else _ray)(address, n)
    with cluster as (addr, started):
        with joblib.parallel_config(backend=joblib_backend, n_jobs=n):
            yield Engine(backend, joblib_backend, n, addr, started)


@contextlib.contextmanager
def _forkserver(preload: tuple[str, ...]):
    """loky's workers forked from Python's forkserver, which imports `preload` once, for the `with` block.

    loky's own start spawns a fresh interpreter per worker that imports joblib, loky, PyAV and the work's
    modules again: 0.35-0.45 CPU-s a worker, measured on the normalize bench (two workers, 2 cores). With
    the forkserver that import happens once (0.33 CPU-s) and each worker is a fork of it (copy-on-write); loky
    still watches its workers (a killed one is a TerminatedWorkerError, as before). `fork` from this process
    is not safe (rich's and joblib's threads), the forkserver is a clean single-threaded process."""
    from joblib.externals.loky.backend import context

    if "forkserver" not in multiprocessing.get_all_start_methods() or not _main_reloadable():
        yield None, False
        return
    before = context.get_start_method()
    multiprocessing.set_forkserver_preload(list(preload))  # read when the server starts (once a process)
    context.set_start_method("forkserver", force=True)
    try:
        yield None, False
    finally:
        context.set_start_method(before, force=True)
        _stop_forkserver()


def _main_reloadable() -> bool:
    """Whether a forked worker can set up `__main__` as Python's spawn does (a module run with -m, or a script
    file); a program read from stdin or `-c` cannot be re-read: keep loky's own start there."""
    import sys
    main = sys.modules.get("__main__")
    if getattr(getattr(main, "__spec__", None), "name", None):
        return True
    path = getattr(main, "__file__", None)
    return path is None or os.path.isfile(path)


def _stop_forkserver() -> None:
    """End loky's workers, then the forkserver, and reap it: the server is this process's child, but nothing
    waits for it (it would outlive the command as an orphan, its CPU time and its workers' counted nowhere:
    the bench measures the command's whole process tree). Joining the workers first lets the server reap them."""
    from multiprocessing import forkserver
    from joblib.externals.loky import reusable_executor

    executor = reusable_executor._executor
    if executor is not None:
        executor.shutdown(wait=True)
    server = getattr(forkserver, "_forkserver", None)
    if server is not None and hasattr(server, "_stop"):  # Python's own (test) hook: close its pipe, waitpid
        server._stop()


@contextlib.contextmanager
def _dask(address: str | None, n: int):
    """A Dask client (on `address`, or on a LocalCluster of `n` one-thread process workers started here)."""
    distributed = _require("distributed", "dask", "dask.distributed")
    logging.getLogger("distributed").setLevel(logging.ERROR)
    cluster = None
    if address:
        client = distributed.Client(address, timeout="30s")
    else:
        cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=logging.ERROR)
        client = distributed.Client(cluster)
    try:
        yield client.scheduler.address, cluster is not None
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@contextlib.contextmanager
def _ray(address: str | None, n: int):
    """Ray joined (on `address`, or started here with `n` CPUs unless already running) and joblib's backend."""
    ray = _require("ray", "ray", "ray")
    from ray.util.joblib import register_ray

    started = False
    if not ray.is_initialized():
        kwargs = {"include_dashboard": False, "log_to_driver": False, "logging_level": "error"}
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=n, **kwargs)
            started = True
    register_ray()
    try:
        yield address or "local", started
    finally:
        if started:
            ray.shutdown()


def _require(module: str, backend: str, package: str):
    """Import a cluster's client library, or say which extra installs it."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise FeatureMissing(f"--backend {backend} needs {package}, which is not installed",
                             hint=f"pip install 'codeckit[{backend}]'") from exc


__all__ = ["BACKENDS", "Engine", "check_backend", "default_jobs", "engine"]
