"""`codeckit normalize`: a messy video collection in, a uniform training corpus out (clips, manifest, shards)."""
from __future__ import annotations

import os
import sys

import click

from ..normalize.pipeline import normalize
from ..normalize.profile import DEFAULT_PROFILE, parse_clips_option
from . import cli
from ..ffmpeg import STALL_ENV
from . import common
from .common import StopSignals, fmt_bytes, print_json
from .options import backend_options, stall_option, storage_options


@cli.command("normalize")
@storage_options
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Output folder: clips/, manifest.jsonl, rejects.jsonl, shards/.")
@click.option("--profile", default=DEFAULT_PROFILE, show_default=True,
              help="Training profile name (see `codeckit profiles`) or a TOML file.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override one profile field, e.g. video.quality=60, filter.min_duration_s=2, clips.mode=fixed.")
@click.option("--clips", "clips", default=None, metavar="MODE",
              help="none | fixed:SECONDS | scenes | scenes:MIN-MAX (overrides the profile's [clips]).")
@click.option("--shards", type=click.Choice(["webdataset"]), default=None,
              help="Also write tar shards holding each clip with its JSON record.")
@click.option("--shard-size", default="1GB", show_default=True, help="Target size of one shard (500MB, 2GiB...).")
@click.option("--parquet", is_flag=True, help="Also write the manifest as Parquet (needs pyarrow).")
@backend_options(local="processes")
@click.option("-j", "--jobs", type=click.IntRange(1, 1024), default=None,
              help="Sources processed at once (default: the number of cores).")
@click.option("--threads", type=click.IntRange(1, 256), default=None,
              help="Encoder threads per job (default 1: a fixed count keeps outputs identical across machines).")
@click.option("--force-encode", is_flag=True, help="Re-encode even sources that already conform.")
@stall_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of tables.")
def normalize_cmd(sources, out_dir, profile, sets, clips, shards, shard_size, parquet, backend, address, jobs,
                  threads, force_encode, stall_timeout, as_json, storage=None) -> int:
    """Normalize video files and folders into a training corpus under OUT.

    Each source is probed, checked by the profile's filters (duration, size, aspect, truncation, black or
    static content, bits per pixel), cut into clips if asked, and encoded to exactly the profile (or
    stream-copied when it already conforms). Exact duplicates are processed once. Rerunning the same
    command skips what is finished.

    Exit codes: 0 the run finished and the corpus has clips (rejected sources are listed in rejects.jsonl);
    1 a source failed with an error, or some were left unfinished (a rerun retries them); 3 nothing usable:
    every input was rejected or unreadable, and the corpus has no clip; 2 a usage or configuration error, or the output folder is busy
    or cannot be written; 130 stopped by Ctrl-C, 143 by SIGTERM (rerun to finish).
    """
    progress = None
    task = None
    live = not as_json and sys.stdout.isatty()

    def on_event(kind: str, data: dict) -> None:
        nonlocal progress, task
        if kind == "start":
            if not as_json:
                common.err_console.print(f"{data['files']} file(s); {data['skipped']} finished earlier; "
                                  f"{data['todo']} to process", highlight=False, soft_wrap=True)
            if live:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
                progress = Progress(TextColumn("[bold]normalize"), BarColumn(), MofNCompleteColumn(),
                                    TimeElapsedColumn(), TextColumn("{task.description}"), console=common.console)
                progress.start()
                task = progress.add_task("", total=data["todo"])
        elif kind == "engine" and not as_json:
            common.err_console.print(f"running on {data['engine']}", highlight=False)
        elif kind == "item":
            line = _item_line(data)
            if progress is not None:
                from rich.markup import escape
                progress.update(task, advance=1, description=escape(line[:60]))
            elif not as_json:
                common.err_console.print(line, highlight=False, markup=False, soft_wrap=True)

    if stall_timeout is not None:   # read by every FFmpeg run, in the worker processes too (they inherit it)
        os.environ[STALL_ENV] = f"{stall_timeout:g}"
    stop = StopSignals()
    try:
        with stop:
            summary = normalize(sources, out_dir, profile, sets=sets, clips=parse_clips_option(clips),
                                shards=shards, shard_size=shard_size, parquet=parquet, backend=backend,
                                address=address, jobs=jobs, threads=threads, force_encode=force_encode,
                                on_event=on_event, storage=storage)
    finally:
        if progress is not None:
            progress.stop()
    if as_json:
        print_json(summary.to_dict())
    else:
        _render(summary)
    if stop.signum is not None:
        return stop.exit_code
    return summary.exit_code


def _item_line(e: dict) -> str:
    name = e.get("source", "?")
    if e.get("status") == "done":
        n = len(e.get("records", []))
        how = "copied" if e["records"] and all(r["remuxed"] for r in e["records"]) else "encoded"
        return f"✓ {name}: {n} clip(s) {how} in {e.get('wall_s', 0):.1f} s"
    if e.get("status") == "rejected":
        r = e["rejection"]
        return f"– {name}: rejected ({r['reason']}): {r['message']}"
    return f"✗ {name}: {e.get('error')}"


def _render(s) -> None:
    """The summary table on stdout, what went wrong on stderr. rich's table and markup are imported here, not
    at the top: a --json run never renders them (rich.progress and rich.table: about 6 CPU-ms, measured)."""
    from rich.markup import escape
    from rich.table import Table

    console, err_console = common.console, common.err_console
    d = s.to_dict()
    t = Table(title=f"normalize → {s.out_dir} ({s.profile}, {s.engine})", title_justify="left", show_header=False)
    t.add_column(style="bold")
    t.add_column()
    t.add_row("items in", f"{s.files_in} file(s), {s.unique_sources} unique"
              + (f"; {s.non_video} non-video file{'s' if s.non_video != 1 else ''} skipped" if s.non_video else ""))
    t.add_row("out", f"{s.clips_out} clip(s) from {s.accepted} source(s) ({s.remuxed_clips} stream-copied)")
    rej = ", ".join(f"{k} {v}" for k, v in sorted(s.rejected.items())) or "none"
    t.add_row("rejected", f"{sum(s.rejected.values())} ({rej})")
    if s.failed:
        t.add_row("failed", f"[red]{s.failed}[/]")
    t.add_row("this run", f"{s.processed} processed, {s.skipped} finished earlier"
              + (f", [red]{s.unfinished} unfinished[/]" if s.unfinished else ""))
    t.add_row("source hours", f"{s.source_hours:.4f} h (this run {s.source_hours_run:.4f} h)")
    t.add_row("output", fmt_bytes(s.output_bytes))
    tp = d["throughput_source_hours_per_cpu_hour"]
    t.add_row("throughput", f"{tp:g} source-hours per CPU-hour" if tp else "-")
    t.add_row("wall time", f"{s.wall_s:.1f} s")
    if s.peak_rss_mb:
        t.add_row("peak memory", ", ".join(f"{k} {v:.0f} MB" for k, v in sorted(s.peak_rss_mb.items()))
                  + " (per worker)")
    t.add_row("clips", str(s.clips_dir))
    t.add_row("manifest", str(s.manifest) + (f", {s.manifest_parquet}" if s.manifest_parquet else ""))
    t.add_row("rejects", str(s.rejects))
    if s.shards:
        t.add_row("shards", f"{len(s.shards)} in {s.shards[0].parent}")
    console.print(t)
    if s.nothing_usable:
        err_console.print(f"[red]nothing usable[/]: no source gave a clip ({s.files_in} input(s): "
                          f"{sum(s.rejected.values())} rejected, {s.failed} failed); see {escape(str(s.rejects))}",
                          highlight=False)
    for f in s.failures[:20]:
        err_console.print(f"[red]✗[/] {escape(str(f['source_path']))}: {escape(str(f['error']))}", highlight=False,
                          soft_wrap=True)
    if s.interrupted or s.unfinished:
        err_console.print(f"[yellow]stopped early[/] ({s.interrupted or 'unfinished items'}); "
                          "run the same command again to finish", highlight=False)
