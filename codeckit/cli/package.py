"""`codeckit package`: sources -> HLS + DASH packages (ladder, one decode, Shaka Packager), and `--check DIR`."""
from __future__ import annotations

import threading
from pathlib import Path

import click
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from ..batch import BatchEvent
from ..package import PackageOptions, check_package, package
from ..package.check import find_packages
from . import cli
from .common import StopSignals, err_console, fmt_bitrate, fmt_bytes, print_json, short_path
from .options import jobs_option, storage_options


class _Bars:
    """One bar per running source (its renditions are encoded together, in one FFmpeg), on stderr."""

    def __init__(self, enabled: bool):
        self.bars = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                             TimeRemainingColumn(), console=err_console) if enabled else None
        self.tasks: dict[str, int] = {}

    def __enter__(self):
        if self.bars:
            self.bars.start()
        return self

    def __exit__(self, *exc):
        if self.bars:
            self.bars.stop()

    def __call__(self, ev: BatchEvent) -> None:
        if not self.bars:
            return
        key = ev.item.key
        if ev.kind == "progress" and ev.progress:
            if key not in self.tasks:
                n = ev.progress.get("renditions", 0)
                self.tasks[key] = self.bars.add_task(f"{escape(Path(ev.item.label).name)} ({n} renditions)",
                                                     total=1.0)
            self.bars.update(self.tasks[key], completed=ev.progress.get("fraction") or 0.0)
        elif ev.kind in ("done", "failed", "interrupted") and key in self.tasks:
            self.bars.remove_task(self.tasks.pop(key))


def _render_check(report, json_out: bool) -> None:
    if json_out:
        return
    state = "[green]ok[/]" if report.ok else "[red]FAILED[/]"
    err_console.print(f"{state} {short_path(report.folder)} ({', '.join(report.formats) or 'no manifests'})")
    for r in report.renditions:
        size = f"{r['width']}x{r['height']}  " if r["kind"] == "video" else ""
        err_console.print(f"  {r['key']:<8} {r['kind']:<6} {size}{r['codec']}  average {fmt_bitrate(r['average'])}"
                          f"  peak {fmt_bitrate(r['peak'])}  {r['segments']} segments", highlight=False,
                          soft_wrap=True)
    for f in report.failures:
        err_console.print(f"  [red]{f.rule}[/] {escape(f.where)}: {escape(f.detail)}", highlight=False,
                          soft_wrap=True)
    for note in report.notes:
        err_console.print(f"  [dim]note: {escape(note)}[/]", highlight=False, soft_wrap=True)


def _check_folders(dirs: tuple[str, ...], json_out: bool) -> int:
    # DIR may be one package or a folder of packages (what `codeckit package -o DIR` writes)
    folders = [f for d in dirs for f in find_packages(d)]
    reports = [check_package(f) for f in folders]
    for r in reports:
        _render_check(r, json_out)
    if json_out:
        print_json({"ok": all(r.ok for r in reports), "packages": [r.to_dict() for r in reports]})
    return 0 if all(r.ok for r in reports) else 1


@cli.command("package")
@storage_options
@click.argument("sources", nargs=-1, type=click.Path(path_type=str))
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False), help="Folder the packages go in.")
@click.option("--ladder", default="apple", show_default=True,
              help="apple, apple-hevc, per-title, or a ladder FILE.toml.")
@click.option("--codec", type=click.Choice(["h264", "hevc", "av1"]), default="h264", show_default=True)
@click.option("--formats", default="hls,dash", show_default=True, help="hls, dash, or hls,dash.")
@click.option("--segment-seconds", type=float, default=4.0, show_default=True)
@click.option("--rungs", type=click.IntRange(1), default=None, help="Keep this many rungs (top and bottom kept).")
@click.option("--max-height", type=click.IntRange(2), default=None, help="No rung taller than this.")
@click.option("--speed", default="medium", show_default=True, help="Encoder speed: slowest .. fastest.")
@click.option("--encoder", "prefer", default="hardware", show_default=True,
              help="hardware (first, then software), software, or an implementation name.")
@jobs_option("Sources at once.")
@click.option("--overwrite", is_flag=True, help="Redo packages finished by an earlier run.")
@click.option("--check", "check_dirs", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="Only check the package(s) in DIR (repeatable); exit 1 when a rule fails.")
@click.option("--json", "json_out", is_flag=True, help="Print the report as JSON on stdout.")
def package_cmd(sources, out_dir, ladder, codec, formats, segment_seconds, rungs, max_height, speed, prefer, jobs,
                overwrite, check_dirs, json_out, storage=None):
    """Package SOURCES for on-demand streaming: a ladder of renditions from one decode, CMAF segments with an
    HLS master playlist and a DASH MPD, every package checked; DIR/<name> appears only when complete."""
    if check_dirs:
        if sources or out_dir:
            raise click.UsageError("--check takes no SOURCES or -o: give each folder its own --check "
                                   "(--check A --check B)")
        return _check_folders(check_dirs, json_out)
    if not sources or not out_dir:
        raise click.UsageError("give SOURCES and -o DIR (or --check DIR)")
    opts = PackageOptions(ladder=ladder, codec=codec, formats=formats, segment_s=segment_seconds, rungs=rungs,
                          max_height=max_height, speed=speed, prefer=prefer, jobs=jobs, overwrite=overwrite)
    cancel = threading.Event()
    stop = StopSignals(cancel)
    with stop, _Bars(not json_out and err_console.is_terminal) as bars:
        report = package(list(sources), out_dir, opts, on_event=bars, cancel=cancel, storage=storage)
    if json_out:
        print_json(report.to_dict())
    else:
        for it in report.items:
            _render_item(it)
        s = report.to_dict()["summary"]
        err_console.print(f"{s['done']} packaged, {s['skipped']} skipped, {s['failed']} failed "
                          f"({report.wall_s:.1f} s) in {short_path(report.out_dir)}", highlight=False)
    if report.interrupted:
        return stop.exit_code
    return 0 if report.ok else 1


def _render_item(it) -> None:
    if it.state == "done" and it.result is not None:
        r = it.result
        sizes = ", ".join(f"{x['height']}p" for x in r.rungs)
        err_console.print(f"[green]done[/]    {short_path(it.source)} -> {short_path(it.output)}  {r.implementation} "
                          f"[{sizes}]  {fmt_bytes(r.bytes)}  encode {r.encode_wall_s:.1f} s", highlight=False)
        for note in r.notes:
            err_console.print(f"  [dim]note: {escape(note)}[/]", highlight=False, soft_wrap=True)
    elif it.state == "skipped":
        err_console.print(f"[dim]skipped {short_path(it.source)}: {escape(it.reason or '')}[/]")
    else:
        err_console.print(f"[red]{it.state}[/]  {short_path(it.source)}: {escape(it.reason or '')}", highlight=False,
                          soft_wrap=True)


__all__ = ["package_cmd"]
