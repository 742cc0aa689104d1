"""`codeckit search`: the quality-knob value that reaches a VMAF target with the fewest bytes."""
from __future__ import annotations

import math
import sys

import click
from rich.table import Table

from ..search import DEFAULT_MAX_PROBES, DEFAULT_TOLERANCE, Probe, SearchResult, search
from ..search.sample_encode import SAMPLE_SUBSAMPLE, SUBSAMPLE_FROM_HEIGHT
from ..search.samples import (FULL_PASS_SHARE, MAX_SAMPLES, MIN_SAMPLE_SECONDS, MIN_SAMPLES, SAMPLE_DURATION_S,
                               SAMPLE_SHARE)
from . import cli
from .common import console, err_console, fmt_bitrate, fmt_bytes, print_json


def _ordinal(n: int) -> str:
    """2nd, 3rd, 5th, 11th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# The defaults the help states, from the constants the search uses, so the two cannot drift apart.
_SAMPLES_HELP = (f"How many samples (default {MIN_SAMPLES}-{MAX_SAMPLES}, scoring {SAMPLE_SHARE:.0%} of the source, "
                 f"at least {MIN_SAMPLE_SECONDS:g} s; the whole source when the samples would encode "
                 f"{FULL_PASS_SHARE:.0%} of it or more).")
_SAMPLE_DURATION_HELP = f"Seconds scored per sample (default {SAMPLE_DURATION_S:g})."
_SUBSAMPLE_HELP = (f"Score every Nth frame of the samples (default: {SAMPLE_SUBSAMPLE} for sampled "
                   f"{SUBSAMPLE_FROM_HEIGHT}p and up, else 1).")


def _bitrate(text: str | None) -> float | None:
    if text is None:
        return None
    t = text.strip().lower().removesuffix("bps").removesuffix("b/s")
    mult = {"k": 1e3, "m": 1e6, "g": 1e9}.get(t[-1:], 1.0)
    try:
        rate = float(t[:-1] if t[-1:] in "kmg" else t) * mult
    except ValueError:
        rate = math.nan
    if not math.isfinite(rate) or rate <= 0:
        raise click.BadParameter(f"{text!r} is not a bitrate above 0 (e.g. 4M, 2500k, 800000)",
                                 param_hint="'--max-bitrate'")
    return rate


def _knob_range(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        lo, hi = (float(x) for x in text.replace("-", ":", 1).split(":"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a range LO:HI (e.g. 18:35)")
    return lo, hi


@cli.command("search")
@click.argument("source", type=click.Path(dir_okay=False, path_type=str))
@click.option("--target-vmaf", "target", type=click.FloatRange(1, 100), required=True,
              help="The VMAF the encode must reach (e.g. 93).")
@click.option("--encoder", default=None,
              help="Implementation (libx264, libsvtav1, hevc_nvenc ...) or codec (h264, av1 ...). Default libx264.")
@click.option("--profile", default=None, help="Search for this transcode profile's encoder, speed and filters.")
@click.option("--prefer", type=click.Choice(["hardware", "software"]), default="hardware", show_default=True,
              help="With a codec name: hardware first, or software only.")
@click.option("--speed", default="medium", show_default=True, help="slowest .. fastest, or 0-6.")
@click.option("--bit-depth", type=click.Choice(["8", "10"]), default=None, help="Default: the source's.")
@click.option("--vf", "vf", default=None, help="Filters applied before encoding (an FFmpeg -vf chain).")
@click.option("--tolerance", type=click.FloatRange(0, 100), default=DEFAULT_TOLERANCE, show_default=True,
              help="VMAF points above the target that still count as a hit.")
@click.option("--knob-range", "knob_range", default=None, metavar="LO:HI", help="Narrow the knob's range.")
@click.option("--max-bitrate", default=None, metavar="RATE", help="Cap the answer's bitrate (e.g. 4M).")
@click.option("--max-probes", type=click.IntRange(1, 20), default=DEFAULT_MAX_PROBES, show_default=True)
@click.option("--samples", type=click.IntRange(1, 50), default=None, help=_SAMPLES_HELP)
@click.option("--sample-duration", type=click.FloatRange(0.2, 60), default=None, help=_SAMPLE_DURATION_HELP)
@click.option("--model", default="auto", show_default=True, help="VMAF model (see `codeckit quality -h`).")
@click.option("--subsample", type=click.IntRange(1), default=None, help=_SUBSAMPLE_HELP)
@click.option("--no-cache", is_flag=True, help="Encode and score every sample, ignoring the cache.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def search_cmd(source: str, target: float, encoder: str | None, profile: str | None, prefer: str, speed: str,
               bit_depth: str | None, vf: str | None, tolerance: float, knob_range: str | None,
               max_bitrate: str | None, max_probes: int, samples: int | None, sample_duration: float | None,
               model: str, subsample: int | None, no_cache: bool, as_json: bool) -> int:
    """Find the quality-knob value (CRF, CQ, QP) that reaches --target-vmaf with the fewest bytes.

    Short samples spread over SOURCE are encoded at a few knob values and scored against the same
    spans of the source; a monotone model of knob -> VMAF picks the next value until one lands within
    the tolerance. Sample results are cached, so a repeated or widened search encodes nothing twice.
    Exit code 0 when the target is reached, 1 when it cannot be (range or bitrate cap).
    """
    if encoder and profile:
        raise click.UsageError("choose one of --encoder and --profile")
    kw = dict(tolerance=tolerance, knob_range=_knob_range(knob_range), max_bitrate=_bitrate(max_bitrate),
              max_probes=max_probes, samples=samples, sample_duration_s=sample_duration, model=model,
              subsample=subsample, cache=not no_cache)
    if profile:
        from ..search.per_title import recipe_for_profile
        recipe = recipe_for_profile(source, profile, speed=None)
        kw.update(recipe=recipe, info=recipe.info)
    else:
        kw.update(encoder=encoder or "libx264", prefer=prefer, speed=int(speed) if speed.isdigit() else speed,
                  bit_depth=int(bit_depth) if bit_depth else None, filters=[vf] if vf else [])

    def show(p: Probe) -> None:
        err_console.print(f"  probe {p.knob:>6g}: VMAF {p.vmaf:6.2f}  {fmt_bitrate(int(p.bitrate))}"
                          + ("  (cached)" if p.cached else ""), highlight=False)
    result = search(source, target, on_probe=show if not as_json and sys.stderr.isatty() else None, **kw)
    if as_json:
        print_json(result.to_dict())
    else:
        console.print(_table(result))
    return 0 if result.reached else 1


def _table(r: SearchResult) -> Table:
    t = Table(title=f"{r.source}: VMAF {r.target_vmaf:g} with {r.encoder}", title_justify="left",
              show_header=False)
    t.add_column("what", style="bold")
    t.add_column("value")
    verdict = "[green]reached[/]" if r.reached else "[red]not reached[/]"
    t.add_row(r.knob_option, f"{r.knob_value}  (common quality {r.quality:g})" if r.knob_value is not None else "-")
    t.add_row("predicted VMAF", f"{r.predicted_vmaf:.2f}  {verdict}" if r.predicted_vmaf is not None else "-")
    t.add_row("predicted bitrate", fmt_bitrate(int(r.predicted_bitrate or 0)))
    t.add_row("predicted size", fmt_bytes(r.predicted_size_bytes))
    t.add_row("probes", f"{r.probes_count} ({r.probe_encodes} encoded, {r.cached_probes} from the cache): "
              + ", ".join(f"{p.knob}→{p.vmaf:.2f}" for p in r.probes))
    where = "the whole source" if r.full_pass else \
        f"{len(r.samples)} samples of {r.samples[0].duration_s:g} s at " + \
        ", ".join(f"{s.start_s:.1f}" for s in r.samples) + " s"
    t.add_row("scored on", f"{where}, {r.model}" + (f", every {_ordinal(r.subsample)} frame" if r.subsample > 1 else ""))
    t.add_row("time", f"{r.wall_s:.1f} s wall, {r.cpu_s:.1f} s CPU")
    t.add_row("why here", r.reason)
    t.add_row("encoder args", " ".join(r.encoder_args))
    return t
