"""`codeckit encoders`: every codec and implementation the codec layer knows, and which work here."""
from __future__ import annotations

import click
from rich.table import Table

from ..codecs import CODECS, implementations_of, probe_capabilities, resolve_codec
from ..ffmpeg import build_info
from . import cli
from .common import console, print_json


@cli.command("encoders")
@click.option("--codec", "codec", default=None, help="Only this codec (h264, hevc, av1, vp9, ffv1, prores).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--refresh", is_flag=True, help="Redo the test encodes instead of using the cached results.")
def encoders_cmd(codec: str | None, as_json: bool, refresh: bool) -> int:
    """List encoder implementations, hardware and software, and whether each works on this machine.

    An implementation works when a real test encode through it succeeds; results are cached per
    machine and FFmpeg build (--refresh redoes them).
    """
    build = build_info()
    codecs = [resolve_codec(codec).name] if codec else list(CODECS)
    caps = probe_capabilities(refresh=refresh, build=build)
    rows = []
    for name in codecs:
        for impl in implementations_of(name):
            cap = caps[impl.name]
            rows.append({
                "codec": name, "implementation": impl.name, "kind": impl.kind,
                "available": cap.available, "reason": cap.reason,
                "knob": impl.knob.option.lstrip("-") if impl.knob else None,
                "knob_range": [impl.knob.lo, impl.knob.hi] if impl.knob else None,
                "bit_depths": list(impl.bit_depths),
                "hw_api": impl.hw.api if impl.hw else None,
            })
    if as_json:
        print_json({"ffmpeg": build.path, "ffmpeg_version": build.version, "encoders": rows})
        return 0
    t = Table(title=f"Encoders (FFmpeg {build.version})", title_justify="left", header_style="bold")
    for col in ("codec", "implementation", "kind", "works here", "quality knob", "bit depth", "why not"):
        t.add_column(col)
    for r in rows:
        knob = f"{r['knob']} {r['knob_range'][0]:g}-{r['knob_range'][1]:g}" if r["knob"] else "-"
        t.add_row(CODECS[r["codec"]].name, r["implementation"], r["kind"],
                  "[green]yes[/]" if r["available"] else "[red]no[/]", knob,
                  "/".join(str(d) for d in r["bit_depths"]), "" if r["available"] else r["reason"])
    console.print(t)
    return 0
