"""Where the batch runs: local processes, a Dask cluster or a Ray cluster, all through joblib's backends.

With no address a local cluster is started for the run (Dask: a LocalCluster of process workers, one
thread each; Ray: `ray.init` with as many CPUs as jobs) and stopped after it. The executor that runs
the items only sees `joblib.parallel_config`, so it knows nothing about which engine is underneath.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from ..errors import ConfigError, FeatureMissing

BACKENDS = ("local", "dask", "ray")


@dataclass
class Engine:
    backend: str               # local | dask | ray
    joblib_backend: str        # loky | dask | ray
    n_jobs: int
    address: str | None        # the cluster's, or None for local processes
    started_here: bool         # a local cluster was started for this run

    def describe(self) -> str:
        if self.backend == "local":
            return f"local processes ({self.n_jobs} jobs)"
        where = f"a local cluster started for this run ({self.address})" if self.started_here else self.address
        return f"{self.backend} on {where} ({self.n_jobs} jobs)"


def default_jobs() -> int:
    return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def engine(backend: str = "local", address: str | None = None, jobs: int | None = None):
    """Set joblib's backend for the `with` block and yield the Engine."""
    import joblib

    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}", hint="use " + ", ".join(BACKENDS))
    if address and backend == "local":
        raise ConfigError("--address needs --backend dask or --backend ray")
    n = jobs or default_jobs()
    if backend == "local":
        with joblib.parallel_config(backend="loky", n_jobs=n):
            yield Engine("local", "loky", n, None, False)
        return
    if backend == "dask":
        with _dask(address, n) as (addr, started):
            with joblib.parallel_config(backend="dask", n_jobs=n):
                yield Engine("dask", "dask", n, addr, started)
        return
    with _ray(address, n) as (addr, started):
        with joblib.parallel_config(backend="ray", n_jobs=n):
            yield Engine("ray", "ray", n, addr, started)


@contextlib.contextmanager
def _dask(address: str | None, n: int):
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise FeatureMissing("--backend dask needs dask.distributed, which is not installed",
                             hint="pip install 'codeckit[dask]'") from exc
    import logging
    logging.getLogger("distributed").setLevel(logging.ERROR)
    cluster = None
    if address:
        client = Client(address, timeout="30s")
    else:
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        yield client.scheduler.address, cluster is not None
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@contextlib.contextmanager
def _ray(address: str | None, n: int):
    try:
        import ray
        from ray.util.joblib import register_ray
    except ImportError as exc:
        raise FeatureMissing("--backend ray needs ray, which is not installed",
                             hint="pip install 'codeckit[ray]'") from exc
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
