"""Options shared by several commands, declared once."""
from __future__ import annotations

from typing import Callable

import click

from ..cluster import BACKENDS


def backend_options(local: str) -> Callable:
    """`--backend local|dask|ray` and `--address ADDR` for a batch command; `local` says what local runs on
    (threads or processes)."""
    def decorate(command: Callable) -> Callable:
        command = click.option("--address", default=None,
                               help="Address of an existing Dask scheduler or Ray cluster.")(command)
        return click.option("--backend", type=click.Choice(BACKENDS), default="local", show_default=True,
                            help=f"local {local}, or a Dask or Ray cluster (a local one is started without "
                                 "--address).")(command)
    return decorate


def _parse_jobs(ctx, param, value: str):
    if value == "auto":
        return value
    try:
        n = int(value)
        if n >= 1:
            return n
    except ValueError:
        pass
    raise click.BadParameter("use a whole number of jobs (1 or more) or 'auto'")


def jobs_option(help: str) -> Callable:
    """`-j/--jobs N|auto` for a batch command: items at once (`auto`: the command sizes it to the cores)."""
    return click.option("-j", "--jobs", default="auto", callback=_parse_jobs, show_default=True, metavar="N|auto",
                        help=help)


def stall_option(command: Callable) -> Callable:
    """`--stall-timeout SECONDS`: an FFmpeg run that makes no progress that long is stopped and its item fails."""
    from ..ffmpeg import DEFAULT_STALL_TIMEOUT_S, STALL_ENV
    return click.option("--stall-timeout", "stall_timeout", type=click.FloatRange(min=0), default=None,
                        metavar="SECONDS",
                        help=f"Stop an FFmpeg run that makes no progress for SECONDS; its item fails and the batch "
                             f"goes on (0: never; default ${STALL_ENV} or {DEFAULT_STALL_TIMEOUT_S:g}).")(command)


def storage_options(command: Callable) -> Callable:
    """`--storage-option KEY=VALUE` (repeatable) and `--endpoint-url URL` for commands whose sources and output
    may be object-storage URLs (s3://bucket/prefix); the command receives them as one `storage`
    (codeckit.storage.Storage). Credentials may be given here, but the usual places (AWS_* variables, ~/.aws)
    keep them out of shell histories; they are never printed."""
    import functools

    @functools.wraps(command)
    def wrapper(*args, storage_option=(), endpoint_url=None, **kwargs):
        from ..storage import Storage
        return command(*args, storage=Storage.from_cli(storage_option, endpoint_url), **kwargs)
    wrapper = click.option("--endpoint-url", default=None, metavar="URL",
                           help="Endpoint of an S3-compatible server (MinIO, SeaweedFS, Ceph...); "
                                "default: AWS_ENDPOINT_URL or AWS.")(wrapper)
    return click.option("--storage-option", "storage_option", multiple=True, metavar="KEY=VALUE",
                        help="An fsspec option for s3:// (or other URL) sources and outputs, e.g. "
                             "anon=true, client_kwargs.region_name=eu-west-1.")(wrapper)
