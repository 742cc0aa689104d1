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
