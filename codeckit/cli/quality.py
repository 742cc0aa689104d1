"""`codeckit quality`: VMAF (and PSNR, SSIM, XPSNR) of distorted videos against a reference."""
from __future__ import annotations

import csv
import os
import sys

import click
from rich.table import Table
from rich.markup import escape

from ..errors import CodeckitError, error_fields
from ..quality import MODELS, QualityResult, QualitySettings, measure
from . import cli
from .common import console, err_console, print_json

_MODEL_HELP = ", ".join(["auto", *MODELS, "phone"])


@cli.command("quality")
@click.argument("reference", type=click.Path(dir_okay=False, path_type=str))
@click.argument("distorted", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=str))
@click.option("--model", "models", multiple=True, metavar="NAME",
              help=f"VMAF model (repeat to score several in one pass): {_MODEL_HELP}, or a model .json file. "
                   "Default auto: the 4K model at 2160p and above, else vmaf_v0.6.1.")
@click.option("--psnr", is_flag=True, help="Also PSNR (Y, Cb, Cr), from libvmaf.")
@click.option("--ssim", is_flag=True, help="Also SSIM, from libvmaf.")
@click.option("--ms-ssim", "ms_ssim", is_flag=True, help="Also MS-SSIM, from libvmaf.")
@click.option("--xpsnr", is_flag=True, help="Also XPSNR (FFmpeg's xpsnr filter, when the build has it).")
@click.option("--scale", type=click.Choice(["reference", "model"]), default="reference", show_default=True,
              help="reference: the distorted is scaled to the reference's size (bicubic); "
                   "model: both are scaled to the model's size (1080p, or 2160p for the 4K model).")
@click.option("--subsample", type=click.IntRange(1), default=1, show_default=True,
              help="Score every Nth frame (libvmaf n_subsample).")
@click.option("--threads", type=click.IntRange(1), default=None, help="libvmaf threads (default: every core).")
@click.option("--start", "start_s", type=float, default=0.0, help="Skip this many seconds of both videos.")
@click.option("--duration", "duration_s", type=float, default=None, help="Compare only this many seconds.")
@click.option("--offset", "offset_s", type=float, default=0.0,
              help="Seconds the distorted runs later than the reference (negative: earlier).")
@click.option("--tolerance", "tolerance_s", type=float, default=None,
              help="How far the durations may differ, in seconds (default: 0.2 s or 3 frames).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (pooled metrics; per-frame with --per-frame).")
@click.option("--csv", "as_csv", is_flag=True, help="Print per-frame values as CSV, one row per scored frame.")
@click.option("--per-frame", "per_frame", is_flag=True, help="With --json: include every frame's values.")
def quality_cmd(reference: str, distorted: tuple[str, ...], models: tuple[str, ...], psnr: bool, ssim: bool,
                ms_ssim: bool, xpsnr: bool, scale: str, subsample: int, threads: int | None, start_s: float,
                duration_s: float | None, offset_s: float, tolerance_s: float | None, as_json: bool,
                as_csv: bool, per_frame: bool) -> int:
    """Measure VMAF of each DISTORTED video against REFERENCE.

    Sizes, frame rates and start times are aligned first; the pooled scores are the mean, harmonic
    mean, minimum and the 1 % and 5 % lows (means of the worst frames). Every distorted file is
    measured even when some fail; the exit code is 1 if any failed.
    """
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    extras = tuple(name for name, on in (("psnr", psnr), ("ssim", ssim), ("ms_ssim", ms_ssim),
                                         ("xpsnr", xpsnr)) if on)
    settings = QualitySettings(model=tuple(models) if len(models) > 1 else (models[0] if models else "auto"),
                               metrics=extras, scale=scale, subsample=subsample, threads=threads,
                               start_s=start_s, duration_s=duration_s, offset_s=offset_s,
                               duration_tolerance_s=tolerance_s)
    results: list[QualityResult] = []
    errors: list[dict] = []
    for dist in distorted:
        try:
            if sys.stderr.isatty():
                with err_console.status(f"VMAF of {dist} ..."):
                    results.append(measure(reference, dist, settings))
            else:
                results.append(measure(reference, dist, settings))
        except CodeckitError as exc:
            if _is_reference_error(exc, reference) or exc.code == "url_not_supported":
                raise       # the reference is unusable (nothing else can be measured), or a usage error (exit 2)
            # the error's fields, as every command's failed item carries them; `path` stays the distorted as
            # given (what the error names, unless it is a scratch file of the measurement, gone by now)
            errors.append({"error": str(exc), **error_fields(exc), "path": dist})
            err_console.print(f"[red]✗[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    if as_json:
        print_json({"reference": reference, "results": [r.to_dict(per_frame=per_frame) for r in results],
                    "errors": errors})
    elif as_csv:
        _write_csv(results)
    else:
        for r in results:
            console.print(_table(r))
    return 1 if errors else 0


def _is_reference_error(exc: CodeckitError, reference: str) -> bool:
    return bool(exc.path) and os.path.abspath(exc.path) == os.path.abspath(reference)


def _write_csv(results: list[QualityResult]) -> None:
    keys: list[str] = []
    for r in results:
        keys += [k for k in r.per_frame if k not in keys]
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["distorted", "frame", *keys])
    for r in results:
        for i, n in enumerate(r.frame_numbers):
            w.writerow([r.distorted, n, *(f"{r.per_frame[k][i]:.6f}" if k in r.per_frame else "" for k in keys)])


def _table(r: QualityResult) -> Table:
    t = Table(title=f"{r.distorted}", title_justify="left", header_style="bold")
    notes = [f"against {r.reference}", f"model {r.model}", f"{r.frames} frames"
             + (f" (every {r.settings.subsample})" if r.settings.subsample > 1 else "")]
    a = r.alignment
    notes += a.scaled
    if a.fps_converted:
        notes.append(f"distorted {a.distorted_fps} fps -> {a.reference_fps} fps")
    notes.append(a.pix_fmt)
    t.caption = " · ".join(notes)
    t.caption_justify = "left"
    for col in ("metric", "mean", "harmonic", "min", "1% low", "5% low", "max"):
        t.add_column(col, justify="left" if col == "metric" else "right")
    for name, m in r.metrics.items():
        style = "bold" if name == "vmaf" else None
        t.add_row(name, *(f"{x:.3f}" if name.startswith(("vmaf", "psnr", "xpsnr")) or name not in r.per_frame
                          else f"{x:.4f}" for x in (m.mean, m.harmonic_mean, m.min, m.low_1pct, m.low_5pct, m.max)),
                  style=style)
    return t


__all__ = ["quality_cmd"]
