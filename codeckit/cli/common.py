"""What every command shares: the consoles, error and warning rendering, JSON output."""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading

import click

from ..errors import CodeckitError, error_fields

#: `console` (tables and progress) and `err_console` (errors and warnings, never mixed into --json output) are
#: made on first use (module __getattr__): importing rich and building them costs about 20 CPU-ms (measured),
#: which a `--json` run that prints no warning never needs. `from .common import console` still works.
_CONSOLES = {"console": {}, "err_console": {"stderr": True}}
_consoles_lock = threading.Lock()


def __getattr__(name: str):
    if name not in _CONSOLES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _consoles_lock:   # a warning from a worker thread and the main thread's output: one console each
        if name not in globals():
            from rich.console import Console
            globals()[name] = Console(**_CONSOLES[name])
    return globals()[name]


def _err_console():
    return __getattr__("err_console")   # the module's own code: its globals do not go through __getattr__


#: Whether this process has printed its --json document (a command prints one, and an error after it none).
json_printed = False

#: The version of the document `--json` prints for an error that stopped a command (see error_document).
ERROR_SCHEMA_VERSION = 1


def print_json(data) -> None:
    global json_printed
    json_printed = True
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def error_document(exc: CodeckitError | click.ClickException) -> dict:
    """What `--json` prints on stdout for an error that stopped the command (a usage or configuration error,
    exit 2): `{"schema_version": 1, "error": {"code", "message", "path", "hint", "type", ...}}`.

    A CodeckitError gives its own fields (FFmpegError adds `detail` and `returncode`); click's usage errors
    (a bad option value, a missing argument) are `usage_error` with click's message and `--help` as the hint.
    Built here only, from errors.error_fields (which every failed item of a batch carries too), so every
    command's error document has one shape."""
    if isinstance(exc, CodeckitError):
        error = error_fields(exc)
    else:
        usage = isinstance(exc, click.UsageError)
        error = {"code": "usage_error" if usage else "cli_error", "message": exc.format_message(), "path": None,
                 "hint": f"see {exc.ctx.command_path if exc.ctx else 'codeckit'} --help" if usage else None,
                 "type": type(exc).__name__}
    return {"schema_version": ERROR_SCHEMA_VERSION, "error": error}


def report_error(exc: CodeckitError | click.ClickException, verbose: bool = False, as_json: bool = False) -> None:
    """An error that stopped the command: its line on stderr as always and, with `as_json`, its document on
    stdout (unless the command printed its own already: stdout holds exactly one JSON document)."""
    if isinstance(exc, CodeckitError):
        from rich.text import Text
        err_console = _err_console()
        # Text, not markup: "[package] speed = ..." or a path with [brackets] must print as it is
        err_console.print(Text.assemble(("error:", "bold red"), " ", str(exc)), highlight=False, soft_wrap=True)
        if verbose and exc.stderr_tail:
            err_console.print("[dim]FFmpeg said:[/]")
            err_console.print(exc.stderr_tail, highlight=False, markup=False, style="dim")
    else:
        exc.show()   # click's own "Usage: ... Error: ..." lines
    if as_json and not json_printed:
        print_json(error_document(exc))


class RichLogHandler(logging.Handler):
    """codeckit's log records on stderr, one line each: `warning: ignoring unreadable encoder cache ...`."""
    STYLES = {"warning": "bold yellow", "error": "bold red", "critical": "bold red"}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from rich.text import Text
            label = record.levelname.lower()
            text = record.getMessage().replace("\n", " ")
            # Text, not markup: a path or FFmpeg line with [brackets] must print as it is
            _err_console().print(Text.assemble((f"{label}:", self.STYLES.get(label, "dim")), " ", text),
                              highlight=False, soft_wrap=True)
        except Exception:  # a warning that cannot be shown must not stop the command
            self.handleError(record)


def install_log_handler(verbose: bool = False) -> None:
    """Show the `codeckit` logger's warnings (and INFO too with --verbose) on stderr through rich.

    Called once by the CLI's entry point; a library user configures logging as they like instead.
    Installing again replaces the earlier handler, so a record is never printed twice.
    """
    logger = logging.getLogger("codeckit")
    for old in [h for h in logger.handlers if isinstance(h, RichLogHandler)]:
        logger.removeHandler(old)
    level = logging.INFO if verbose else logging.WARNING
    handler = RichLogHandler(level)
    logger.addHandler(handler)
    logger.setLevel(level)


def fmt_fps(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}".rstrip("0").rstrip(".")


def fmt_bytes(n: int | float | None) -> str:
    if n is None:
        return "-"
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def fmt_bitrate(bps: int | None) -> str:
    return "-" if not bps else f"{bps / 1000:.0f} kb/s"


#: The signal that stopped this process's command, if one did (the exit code of an escaped interrupt).
stopped_by: int | None = None


class StopSignals:
    """While active (`with`): Ctrl-C and SIGTERM stop the batch. The stop request is raised first (so running
    items end as interrupted, not failed), then KeyboardInterrupt; `exit_code` is then 128 + the signal's number
    (130 for Ctrl-C, 143 for SIGTERM), as shells report a process that a signal ended."""

    def __init__(self, cancel: threading.Event | None = None):
        self.cancel = cancel or threading.Event()
        self.signum: int | None = None
        self._previous: dict = {}

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or signal.SIGINT)

    def _stop(self, signum, frame):
        global stopped_by
        first = self.signum is None
        self.signum = self.signum or signum
        stopped_by = self.signum
        self.cancel.set()
        if first:
            raise KeyboardInterrupt()

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(sig) is signal.SIG_IGN:
                continue  # e.g. a background job of a script: whoever ignored it meant it
            self._previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._stop)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}


def short_path(path: str | None) -> str:
    """A path for people (relative when under the current folder), escaped for rich markup."""
    if not path:
        return "-"
    from rich.markup import escape

    from ..storage import is_url
    if is_url(path):         # relpath would make s3://b/k into "s3:/b/k", a local path that does not exist
        return escape(path)
    try:
        rel = os.path.relpath(path)
        shown = rel if not rel.startswith("..") else path
    except ValueError:
        shown = path
    return escape(shown)
