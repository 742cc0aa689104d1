"""What every command shares: the consoles, error rendering, JSON output."""
from __future__ import annotations

import json
import sys

from rich.console import Console

from ..errors import CodeckitError

console = Console()                    # tables and progress
err_console = Console(stderr=True)     # errors and warnings, never mixed into --json output


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def report_error(exc: CodeckitError, verbose: bool = False) -> None:
    err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
    if verbose and exc.stderr_tail:
        err_console.print("[dim]FFmpeg said:[/]")
        err_console.print(exc.stderr_tail, highlight=False, markup=False, style="dim")


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
