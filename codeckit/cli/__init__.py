"""The command line: parses arguments, calls the library, renders with rich. One module per command."""
from __future__ import annotations

import sys

import click

from .. import __version__
from ..errors import CodeckitError
from .common import install_log_handler, report_error


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="codeckit")
@click.option("-v", "--verbose", is_flag=True,
              help="Show FFmpeg's own messages when something fails, and codeckit's info messages.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """codeckit: transcode, compress and normalize video with real encoders, checked with VMAF."""
    ctx.obj = {"verbose": verbose}


def _register() -> None:
    from . import (compare, encoders, normalize, package, probe, profiles, quality,  # noqa: F401  (each module
                   search, transcode)  # adds its command to `cli`)


def main(argv: list[str] | None = None) -> None:
    _register()
    verbose = "-v" in (argv or sys.argv[1:]) or "--verbose" in (argv or sys.argv[1:])
    install_log_handler(verbose)
    try:
        rv = cli.main(args=argv, prog_name="codeckit", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    except CodeckitError as exc:
        report_error(exc, verbose)
        sys.exit(2)
    except KeyboardInterrupt:
        from . import common
        sys.exit(128 + (common.stopped_by or 2))   # 130 Ctrl-C, 143 SIGTERM
    except BrokenPipeError:
        sys.exit(0)
    sys.exit(rv if isinstance(rv, int) else 0)
