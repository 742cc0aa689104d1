"""`codeckit transcode`: a folder of mixed video into a smaller, uniform archive, resumable at any moment."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path

import click
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from ..batch import BatchEvent
from ..profiles import load_profile
from ..transcode import ItemReport, TranscodeOptions, TranscodeReport, transcode
from ..verify import VERIFY_MODES
from . import cli
from .common import StopSignals, console, err_console, fmt_bytes, print_json, short_path
from .options import backend_options, jobs_option, stall_option, storage_options


def _speed(x: float | None) -> str:
    return f"{x:.2f}x" if x else "-"


def _item_line(ir: ItemReport) -> str:
    if ir.state == "done" and ir.result is not None:
        r = ir.result
        how = "remux" if r.remux else r.implementation
        saving = f" ({-r.saving * 100:+.0f}%)" if r.saving is not None else ""
        line = (f"[green]done[/]    {short_path(ir.source)} -> {short_path(ir.output)}  {how}  "
                f"{fmt_bytes(r.bytes_in)} -> {fmt_bytes(r.bytes_out)}{saving}  {r.wall_s:.1f} s  {_speed(r.speed)}")
        if getattr(r, "vmaf_target", None) is not None and r.vmaf is not None:   # a VMAF-target (per-title) item
            line += (f"  {(r.search or {}).get('knob_option', 'knob')} {r.knob_value:g} -> VMAF {r.vmaf:.2f}"
                     f" ({escape(r.vmaf_from)})")
        if r.fallbacks:
            line += "  [yellow](fell back from " + escape(", ".join(f"{n}: {e}" for n, e in r.fallbacks)) + ")[/]"
        return line
    if ir.state == "skipped":
        return f"[dim]skipped {short_path(ir.source)}: {escape(ir.reason or '')}[/]"
    if ir.state == "interrupted":
        return f"[yellow]stopped[/] {short_path(ir.source)}"
    return f"[red]failed[/]  {short_path(ir.source)}: {escape(ir.reason or '')}"


class _Display:
    """Rich bars for the batch and each running item on a terminal; plain lines otherwise; nothing with --json."""

    def __init__(self, mode: str, verbose: bool = False):
        self.mode = mode                     # bars | lines | quiet
        self.verbose = verbose               # also a line per skipped file (else only counted)
        self.bars: Progress | None = None
        self.total_task = None
        self.tasks: dict[str, int] = {}
        self.seconds: dict[str, float] = {}
        self.finished_s = 0.0
        self.lock = threading.Lock()
        self.shown: set[str] = set()         # sources whose outcome was printed as it happened

    @contextmanager
    def live(self):
        if self.mode == "bars":
            self.bars = Progress(TextColumn("{task.description}", justify="left"), BarColumn(bar_width=30),
                                 TaskProgressColumn(), TextColumn("{task.fields[info]}"), TimeRemainingColumn(),
                                 console=console, transient=True)
            with self.bars:
                yield self
        else:
            yield self

    def planned(self, n: int, media_s: float) -> None:
        if self.bars is not None:
            self.total_task = self.bars.add_task(f"[bold]{n} file{'s' if n != 1 else ''}", total=max(media_s, 1e-3),
                                                 info="")

    def _overall(self) -> None:
        if self.bars is not None and self.total_task is not None:
            self.bars.update(self.total_task, completed=self.finished_s + sum(self.seconds.values()))

    def event(self, ev: BatchEvent) -> None:
        key = ev.item.key
        if ev.kind == "start" and self.bars is not None:
            name = Path(ev.item.label).name
            with self.lock:
                self.tasks[key] = self.bars.add_task(f"  {escape(name[:40])}", total=max(ev.item.weight, 1e-3), info="")
            return
        if ev.kind == "progress":
            if self.bars is None or key not in self.tasks:
                return
            p = ev.progress or {}
            info = f"{p.get('fps') or 0:.0f} fps {_speed(p.get('speed'))} {p.get('implementation', '')}"
            with self.lock:
                self.seconds[key] = min(p.get("out_time_s") or 0.0, ev.item.weight)
                self.bars.update(self.tasks[key], completed=self.seconds[key], info=info)
                self._overall()
            return
        if ev.kind in ("done", "failed", "skipped", "interrupted"):
            with self.lock:
                if self.bars is not None and key in self.tasks:
                    self.bars.remove_task(self.tasks.pop(key))
                self.seconds.pop(key, None)
                if ev.kind != "skipped":
                    self.finished_s += ev.item.weight
                self._overall()
            if self.mode != "quiet" and (ev.kind != "skipped" or self.verbose):
                self.shown.add(ev.item.label)
                ir = ItemReport(ev.item.label, ev.item.info.get("output"), ev.kind,
                                reason=ev.outcome.error if ev.outcome else None,
                                result=ev.outcome.result if ev.outcome and ev.kind == "done" else None)
                (self.bars.console if self.bars is not None else console).print(
                    _item_line(ir), highlight=False, emoji=False, soft_wrap=True)


@cli.command("transcode")
@storage_options
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Output folder: the sources' folder structure is mirrored under it.")
@click.option("-p", "--profile", "profile", required=True, metavar="NAME|FILE",
              help="A shipped profile (see `codeckit profiles`) or a TOML file.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override one profile field, e.g. --set video.quality=80 (repeatable).")
@jobs_option("Files at once; auto sizes jobs x encoder threads to the cores.")
@backend_options(local="threads")
@click.option("--overwrite", is_flag=True, help="Redo items whose output exists.")
@click.option("--force-encode", is_flag=True, help="Re-encode even files a stream copy (remux) would do for.")
@click.option("--dry-run", is_flag=True, help="Print the plan (implementation, filters, arguments) and stop.")
@click.option("--verify", "verify", type=click.Choice(VERIFY_MODES), default="sample", show_default=True,
              help="Check each output before it is renamed into place: sampled GOPs, full decode, or off.")
@click.option("--verify-vmaf", "verify_vmaf", is_flag=True,
              help="With a VMAF-target profile (quality = { vmaf = N }): measure each output (every 5th frame) and "
                   "encode it once more at a better value when it misses the target by more than 0.5.")
@stall_option
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON summary.")
@click.pass_context
def transcode_cmd(ctx: click.Context, sources: tuple[str, ...], out_dir: str, profile: str, sets: tuple[str, ...],
                  jobs, backend: str, address: str | None, overwrite: bool, force_encode: bool, dry_run: bool,
                  verify: str, verify_vmaf: bool, stall_timeout: float | None, as_json: bool, storage=None) -> int:
    """Transcode files and folders (SOURCES) into OUT as a profile says.

    Each output is written under a temporary name and renamed into place only after it is checked. A journal
    in OUT records every item, so rerunning the same command after a crash, kill -9 or Ctrl-C skips finished
    files, redoes unfinished ones and removes leftover temporary files.

    Exit codes: 0 every file done or skipped; 1 a file failed (the others were done); 2 a usage or
    configuration error, or the output folder is busy or cannot be written (nothing was done); 130 stopped by
    Ctrl-C, 143 by SIGTERM (rerun to finish).
    """
    verbose = bool(ctx.obj and ctx.obj.get("verbose"))
    target = load_profile(profile, sets)
    opts = TranscodeOptions(jobs=jobs, backend=backend, address=address, overwrite=overwrite,
                            force_encode=force_encode, verify=verify, dry_run=dry_run, verify_vmaf=verify_vmaf,
                            stall_timeout="default" if stall_timeout is None else (stall_timeout or None))
    mode = "quiet" if as_json else ("bars" if console.is_terminal else "lines")
    display = _Display(mode if not dry_run else "quiet", verbose)
    cancel = threading.Event()
    stop = StopSignals(cancel)
    with stop, display.live():
        report = transcode(list(sources), out_dir, target, opts, on_event=display.event,
                           on_planned=display.planned, cancel=cancel, storage=storage)
    if as_json:
        print_json(report.to_dict())
    elif dry_run:
        _print_plan(report)
    else:
        _print_summary(report, verbose, display.shown)
    if report.interrupted:
        return stop.exit_code
    return 1 if report.count("failed") else 0


def _print_plan(report: TranscodeReport) -> None:
    for ir in report.items:
        if ir.state == "planned" and ir.job is not None:
            console.print(str(ir.job), highlight=False, emoji=False, markup=False, soft_wrap=True)
        else:
            console.print(_item_line(ir), highlight=False, emoji=False, soft_wrap=True)
    console.print(f"dry run: {report.count('planned')} to transcode, {report.count('skipped')} skipped, "
                  f"{report.count('failed')} failed to plan{_non_video(report)}; {report.jobs} at a time"
                  + (f", {report.threads} encoder thread(s) each" if report.threads else ""), highlight=False,
                  emoji=False, soft_wrap=True)


def _non_video(report: TranscodeReport) -> str:
    n = report.ignored
    return f", {n} non-video file{'s' if n != 1 else ''} skipped" if report.ignored else ""


def _print_summary(report: TranscodeReport, verbose: bool, shown: set[str] = frozenset()) -> None:
    if verbose:
        for ir in report.items:
            if ir.state == "failed" and (ir.stderr_tail or ir.traceback):
                err_console.print(f"[red]{short_path(ir.source)}[/]:", highlight=False, emoji=False)
                err_console.print(ir.traceback or ir.stderr_tail, highlight=False, emoji=False, markup=False,
                                  style="dim")
    for ir in report.items:
        # failed before it could run (an entry that could not be read, an output that is its source): no
        # event printed it
        if ir.state == "failed" and ir.source not in shown:
            console.print(_item_line(ir), highlight=False, emoji=False, soft_wrap=True)
    s = report.summary()
    reasons: dict[str, int] = {}
    for ir in report.items:
        if ir.state == "skipped":
            reasons[ir.reason or "?"] = reasons.get(ir.reason or "?", 0) + 1
    skipped = f"{s['skipped']} skipped" + (" (" + escape("; ".join(f"{n} {r}" for r, n in reasons.items())) + ")"
                                           if reasons else "")
    parts = [f"[green]{s['done']} done[/]", skipped,
             f"[red]{s['failed']} failed[/]" if s["failed"] else "0 failed"]
    if s["interrupted"]:
        parts.append(f"[yellow]{s['interrupted']} unfinished[/]")
    line = ", ".join(parts) + _non_video(report)
    if s["bytes_in"]:
        saving = f" (saved {s['saving'] * 100:.0f}%)" if s["saving"] is not None and s["saving"] >= 0 else \
            f" ({-s['saving'] * 100:.0f}% larger)" if s["saving"] is not None else ""
        line += f" · {fmt_bytes(s['bytes_in'])} -> {fmt_bytes(s['bytes_out'])}{saving}"
    line += f" · wall {s['wall_s']:.1f} s · CPU {s['cpu_s']:.1f} s · {_speed(s['speed'])} realtime"
    line += f" · {report.jobs} job(s)" + (f" x {report.threads} thread(s)" if report.threads else "")
    if report.engine and not report.engine.startswith("local"):
        line += f" · {escape(report.engine)}"
    if "vmaf" in s:
        v = s["vmaf"]
        line += (f" · VMAF target {v['target']:g}: mean {v['mean']:.2f}, min {v['min']:.2f}"
                 + (f", [yellow]{v['below_target']} below[/]" if v["below_target"] else ""))
    console.print(line, highlight=False, emoji=False, soft_wrap=True)
    if report.cleaned:
        console.print(f"[dim]removed {len(report.cleaned)} temporary file(s) left by an earlier run[/]",
                      highlight=False, emoji=False)
    if report.interrupted:
        console.print("[yellow]interrupted[/]: run the same command again to resume", highlight=False, emoji=False)
