"""Where a batch runs: this machine, a Dask cluster or a Ray cluster, through joblib's backends (local threads
run in codeckit.batch itself).

One engine for every batch command (transcode, normalize). With no address a local cluster is started for
the run (Dask: a LocalCluster of process workers, one thread each; Ray: `ray.init` with as many CPUs as jobs)
and stopped after it. The executor that runs the items only sees `joblib.parallel_config`, so it knows nothing
about which engine is underneath. What "local" means is the command's choice: threads when progress callbacks
must reach the parent's display, or the heavy work is in FFmpeg children and GIL-free decoding (transcode,
normalize), processes when the work itself holds the GIL.
"""
from __future__ import annotations

import contextlib
import logging
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
           local: str = "processes") -> Iterator[Engine]:
    """Set joblib's backend for the `with` block and yield the Engine; `local` is threads or processes. Local
    threads run without joblib (codeckit.batch runs them itself), which is then not imported (32 CPU-ms)."""
    check_backend(backend, address)
    n = jobs or default_jobs()
    if backend == "local":
        joblib_backend, cluster = LOCAL_JOBLIB[local], contextlib.nullcontext((None, False))
    else:
        joblib_backend, cluster = backend, (_dask if backend == "dask" else _ray)(address, n)
    with cluster as (addr, started):
        if joblib_backend == "threading":
            yield Engine(backend, joblib_backend, n, addr, started)
            return
        import joblib
        with joblib.parallel_config(backend=joblib_backend, n_jobs=n):
            yield Engine(backend, joblib_backend, n, addr, started)


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
