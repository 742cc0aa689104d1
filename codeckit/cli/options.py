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
