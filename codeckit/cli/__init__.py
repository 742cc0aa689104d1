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


#: Each module adds the command of its own name to `cli` when imported.
COMMANDS = ("compare", "encoders", "normalize", "package", "probe", "profiles", "quality", "search", "transcode")


def _register(command: str | None = None) -> None:
    """Import the command modules: only `command`'s when it is one, else all (help, an unknown name). All of
    them cost the command line 0.25 CPU-s (compare's plots and search's numpy/scipy among them), measured."""
    import importlib
    for name in (command,) if command in COMMANDS else COMMANDS:
        importlib.import_module(f"{__name__}.{name}")


def _command_of(args: list[str]) -> str | None:
    """The command named on the line: the first word that is not one of the group's options (all flags)."""
    return next((a for a in args if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> None:
    try:
        _main(argv)
    except KeyboardInterrupt:   # one that landed while an error was being reported: still the signal's code
        from . import common
        sys.exit(128 + (common.stopped_by or 2))


def wants_json(args: list[str]) -> bool:
    """Whether the line asks for --json (before any `--`): then even an error that stops the command before it
    runs (click's usage errors among them) prints one JSON document on stdout."""
    return "--json" in (args[:args.index("--")] if "--" in args else args)


def _main(argv: list[str] | None) -> None:
    from . import common
    args = sys.argv[1:] if argv is None else argv
    command = _command_of(args)
    _register(command)
    verbose = "-v" in args or "--verbose" in args
    as_json = wants_json(args)
    common.json_printed = False
    install_log_handler(verbose)
    try:
        rv = cli.main(args=argv, prog_name="codeckit", standalone_mode=False)
    except click.ClickException as exc:
        report_error(exc, verbose, as_json)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:   # click's wrapping of a KeyboardInterrupt (ours, from SIGTERM, included)
        sys.exit(_interrupted(as_json))
    except CodeckitError as exc:
        report_error(exc, verbose, as_json)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(_interrupted(as_json))   # 130 Ctrl-C, 143 SIGTERM
    except BrokenPipeError:
        sys.exit(0)
    sys.exit(rv if isinstance(rv, int) else 0)


def _interrupted(as_json: bool) -> int:
    """The exit code of a signal that stopped the command before it could report (128 + the signal); with
    --json, its error document (`interrupted`) on stdout, unless the command printed its own."""
    import signal

    from . import common
    signum = common.stopped_by or signal.SIGINT
    if as_json and not common.json_printed:
        common.print_json(common.error_document(CodeckitError(
            f"stopped by {'SIGTERM' if signum == signal.SIGTERM else 'Ctrl-C (SIGINT)'}", code="interrupted",
            hint="run the same command again to resume")))
    return 128 + signum
