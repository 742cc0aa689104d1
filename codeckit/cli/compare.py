"""`codeckit compare`: encoders side by side on your sources (RD curves, BD-rate, hull, cost, HTML report)."""
from __future__ import annotations

import threading

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.markup import escape
from rich.table import Table

from ..batch import BatchEvent
from ..compare import CompareOptions, CompareReport, compare
from ..compare.analysis import DEFAULT_MIN_VMAF, METRICS
from ..compare.cost import field_docs, parse_cost
from ..compare.points import DEFAULT_VMAF_RANGE, STRATEGIES
from ..compare.report import source_labels
from . import cli
from .common import StopSignals, err_console, print_json
from .options import jobs_option, storage_options

_COST_HELP = ("Cost model overrides, KEY=VALUE,... (defaults in codeckit/compare/cost.toml): "
              + "; ".join(f"{k}: {doc}" for k, doc in field_docs().items()) + ".")


def _vmaf_range(ctx, param, value: str):
    try:
        lo, hi = (float(x) for x in value.replace(":", "-").split("-"))
        return lo, hi
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a range LO-HI (e.g. 80-97)")


class _Bars:
    """A bar per running item on stderr (a terminal only); a line per finished or failed item otherwise."""

    def __init__(self, enabled: bool):
        self.bars = Progress(TextColumn("{task.description}"), BarColumn(bar_width=30), TaskProgressColumn(),
                             console=err_console, transient=True) if enabled else None
        self.tasks: dict[str, int] = {}
        self.lock = threading.Lock()

    def event(self, ev: BatchEvent) -> None:
        if self.bars is None:
            return
        with self.lock:
            key = ev.item.key
            if ev.kind == "start":
                self.tasks[key] = self.bars.add_task(escape(ev.item.label[:60]), total=max(ev.item.weight, 1e-3))
            elif ev.kind == "progress" and key in self.tasks:
                self.bars.update(self.tasks[key], completed=(ev.progress or {}).get("out_time_s") or 0.0)
            elif key in self.tasks:
                self.bars.remove_task(self.tasks.pop(key))
                if ev.kind == "failed":
                    self.bars.console.print(f"[red]failed[/] {escape(str(ev.item.label))}: {escape(str(ev.outcome.error))}",
                                            highlight=False)


_METRIC_NAMES = {"vmaf": "VMAF", "psnr_y": "PSNR-Y"}


def _bd_cell(r: dict, marks: dict[str, str] | None = None) -> str:
    """A value and its status when not ok: inline "(low_overlap)", or a mark explained below the table."""
    if r["value_pct"] is None:
        return r["status"]
    if r["status"] == "ok":
        return f"{r['value_pct']:+.2f} %"
    return f"{r['value_pct']:+.2f} %" + (f" {marks[r['status']]}" if marks else f" ({r['status']})")


def _bd_grid(title: str, corner: str, rows: list[tuple[str, str]], cols: list[tuple[str, str]], cell) -> Table:
    """A table with `rows` down and `cols` across, each a (key, header) pair; cell(row key, col key) -> text."""
    t = Table(title=title, title_justify="left")
    t.add_column(corner)
    for _, header in cols:
        t.add_column(escape(header), justify="right", overflow="fold")   # a squeezed cell wraps, never loses text
    for key, name in rows:
        t.add_row(escape(name), *(cell(key, c) for c, _ in cols))
    return t


def bd_tables(report: dict, width: int = 80) -> list[Table]:
    """The BD-rate tables as printed, in the first layout whose tables all fit `width` columns: configurations
    down and metric x (each source, all) across (one table: the usual few sources); sources down and metric x
    configuration across (more sources than configurations); else a table per metric, with the longer list
    down. The last layout is printed even when it does not fit (rich wraps its cells)."""
    anchor = report["settings"]["anchor"]
    rows = report["bd_rate"]
    sources = list(dict.fromkeys(r["source"] for r in rows))
    names = {**source_labels([s for s in sources if s != "all"]), "all": "all"}   # a/clip.mp4, b/clip.mp4
    configs = list(dict.fromkeys(r["config"] for r in rows))
    cells = {(r["config"], r["metric"], r["source"]): _bd_cell(r) for r in rows}
    title = f"BD-rate vs {anchor} (negative: fewer bits for the same quality)"
    src = [(s, names[s]) for s in sources]
    cfg = [(c, c) for c in configs]
    layouts = [
        [_bd_grid(title, "configuration", cfg, [((m, s), f"{m} {n}") for m in METRICS for s, n in src],
                  lambda c, k: cells[(c, k[0], k[1])])],
        [_bd_grid(title, "source", src, [((m, c), f"{m} {c}") for m in METRICS for c in configs],
                  lambda s, k: cells[(k[1], k[0], s)])],
    ]

    def per_metric() -> list[Table]:
        return [_bd_grid(f"{title}: {_METRIC_NAMES[m]}", "source", src, cfg, lambda s, c, m=m: cells[(c, m, s)])
                if len(sources) >= len(configs) else
                _bd_grid(f"{title}: {_METRIC_NAMES[m]}", "configuration", cfg, src,
                         lambda c, s, m=m: cells[(c, m, s)])
                for m in METRICS]
    layouts.append(per_metric())
    measure = Console(width=10_000)   # the width a table wants (a console of `width` caps it at `width`)
    for layout in layouts:
        if all(measure.measure(t).maximum <= width for t in layout):
            return layout
    # still too wide: the statuses become marks ("-3.10 % *1"), explained once under each table
    flagged = sorted({r["status"] for r in rows if r["status"] != "ok" and r["value_pct"] is not None})
    marks = {st: f"*{i}" for i, st in enumerate(flagged, 1)}
    cells.update({(r["config"], r["metric"], r["source"]): _bd_cell(r, marks) for r in rows})
    tables = per_metric()
    for t in tables:
        t.caption = "  ".join(f"{m} {st}" for st, m in marks.items()) or None
        t.caption_justify = "left"
    return tables


def cost_table(report: dict) -> Table:
    floor = report["settings"]["min_vmaf"]
    t = Table(title=f"USD per source hour at VMAF >= {floor:g}", title_justify="left")
    for name in ("configuration", "total", "compute", "storage", "egress", "kb/s"):
        t.add_column(name, justify="left" if name == "configuration" else "right")
    for c in report["cost"]:
        if c["usd_per_source_hour"] is None:
            t.add_row(c["config"], "below floor", "-", "-", "-", "-")
        else:
            t.add_row(c["config"], *(f"{c[k]:.4f}" for k in ("usd_per_source_hour", "compute", "storage", "egress")),
                      f"{c['bitrate'] / 1000:.0f}")
    return t


@cli.command("compare")
@storage_options
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Folder for report.json, results.csv, report.html, the encodes and the journal.")
@click.option("--encoders", default="libx264,libx265", show_default=True, metavar="NAME[:SPEED],...",
              help="Implementations (libx264, hevc_nvenc ...) or codecs, each with an optional speed.")
@click.option("--speed", default="medium", show_default=True, help="Speed of encoders listed without one.")
@click.option("--anchor", default=None, help="The configuration BD-rates are against (default: the first).")
@click.option("--points", type=click.IntRange(2, 20), default=5, show_default=True, help="RD points per curve.")
@click.option("--vmaf-range", default=f"{DEFAULT_VMAF_RANGE[0]:g}-{DEFAULT_VMAF_RANGE[1]:g}", show_default=True,
              callback=_vmaf_range, help="VMAF the points are aimed at, spread evenly.")
@click.option("--min-vmaf", type=click.FloatRange(1, 100), default=DEFAULT_MIN_VMAF, show_default=True,
              help="The VMAF floor of the cost table and of the fewest-bytes answer.")
@click.option("--cost", "cost", default=None, metavar="KEY=VALUE,...", help=_COST_HELP)
@click.option("--placement", type=click.Choice(STRATEGIES), default="ends", show_default=True,
              help="ends: search the range's two ends, read the others off the curve; each: a search per point.")
@jobs_option("Encodes at once; auto sizes jobs x encoder threads to the cores.")
@click.option("--json", "as_json", is_flag=True, help="Print report.json on stdout.")
def compare_cmd(sources, out_dir, encoders, speed, anchor, points, vmaf_range, min_vmaf, cost, placement, jobs,
                as_json, storage=None) -> int:
    """Compare encoders on SOURCES: each configuration is encoded at --points knob values aimed at VMAF
    targets over --vmaf-range, each encode measured (VMAF, PSNR-Y, SSIM, CPU, decode speed); BD-rate
    against the anchor, the convex hull and the cost model go to OUT/report.json, results.csv and a
    self-contained report.html. Rerunning reuses every finished encode. Exit code 1 when an item failed."""
    opts = CompareOptions(encoders=encoders, speed=speed, anchor=anchor, points=points, vmaf_range=vmaf_range,
                          min_vmaf=min_vmaf, cost=parse_cost(cost), strategy=placement, jobs=jobs)
    bars = _Bars(err_console.is_terminal and not as_json)
    cancel = threading.Event()
    stop = StopSignals(cancel)
    with stop:
        if bars.bars is not None:
            with bars.bars:
                report = compare(list(sources), out_dir, opts, on_event=bars.event, cancel=cancel, storage=storage)
        else:
            report = compare(list(sources), out_dir, opts, on_event=bars.event, cancel=cancel, storage=storage)
    if as_json:
        print_json(report.data)
    else:
        _render(report)
    if report.interrupted:
        return stop.exit_code
    return 0 if report.ok else 1


def _render(report: CompareReport) -> None:
    d = report.data
    if d["bd_rate"]:
        for t in bd_tables(d, err_console.width):
            err_console.print(t)
    else:  # one configuration: nothing to hold against the anchor (an empty table printed its title only)
        err_console.print(f"BD-rate: none, only one configuration ({escape(d['settings']['anchor'])}, the anchor); "
                          "give --encoders two or more", highlight=False, soft_wrap=True)
    err_console.print(cost_table(d))
    best, fewest = d.get("cheapest"), d.get("fewest_bytes_at_floor")
    floor = d["settings"]["min_vmaf"]
    if best:
        err_console.print(f"cheapest at VMAF >= {floor:g}: [bold]{escape(best['config'])}[/] "
                          f"({best['usd_per_source_hour']:.4f} USD per source hour)", highlight=False)
    if fewest:
        err_console.print(f"fewest bytes at VMAF >= {floor:g}: [bold]{escape(fewest['config'])}[/] "
                          f"({fewest['bitrate'] / 1000:.0f} kb/s)", highlight=False)
    for f in report.failures:
        err_console.print(f"[red]failed[/] {escape(str(f.get('source')))} {escape(f.get('config') or '')} "
                          f"({f['stage']}): {escape(str(f['error']))}", highlight=False, markup=True)
    err_console.print(f"{report.computed} computed, {report.cached} from earlier runs; "
                      f"report: {escape(str(report.files['html']))}", highlight=False, soft_wrap=True)
