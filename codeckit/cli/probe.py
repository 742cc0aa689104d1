"""`codeckit probe`: what each file is, as a table or as JSON."""
from __future__ import annotations

import click
from rich.table import Table
from rich.markup import escape

from ..errors import CodeckitError, error_fields
from ..probe import SCHEMA_VERSION, MediaInfo, probe
from . import cli
from .common import console, err_console, fmt_bitrate, fmt_bytes, fmt_fps, print_json


@cli.command("probe")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document (schema in the README).")
@click.pass_context
def probe_cmd(ctx: click.Context, files: tuple[str, ...], as_json: bool) -> int:
    """Describe media files: container, video, audio and subtitle streams.

    Every file is probed even when some fail; the exit code is 1 if any failed.
    """
    infos: list[MediaInfo] = []
    errors: list[dict] = []
    for f in files:
        try:
            infos.append(probe(f))
        except CodeckitError as exc:
            if exc.code == "url_not_supported":
                raise       # a usage error (exit 2), not a file that failed: probe reads local files only
            errors.append({**error_fields(exc), "path": f, "error": exc.message})   # `path`: as given
            err_console.print(f"[red]✗[/] {escape(str(f))}: {escape(exc.message)}", highlight=False, soft_wrap=True)
    if as_json:
        print_json({"schema_version": SCHEMA_VERSION, "files": [i.to_dict() for i in infos], "errors": errors})
    else:
        for info in infos:
            console.print(_table(info))
    return 1 if errors else 0


def _table(info: MediaInfo) -> Table:
    dur = f"{info.duration_s:.3f} s" if info.duration_s is not None else "unknown"
    t = Table(title=escape(str(info.path)), title_justify="left", show_header=True, header_style="bold")
    t.caption = (f"{info.container} · {dur} · {fmt_bytes(info.size_bytes)} · {fmt_bitrate(info.bit_rate)}"
                 + (f" · {info.chapters} chapters" if info.chapters else ""))
    t.caption_justify = "left"
    t.add_column("#", justify="right")
    t.add_column("type")
    t.add_column("codec")
    t.add_column("details")
    for v in info.video:
        geometry = f"{v.width}x{v.height}"
        if v.sar != "1:1":
            geometry += f" SAR {v.sar} → {v.display_width}x{v.display_height}"
        if v.rotation:
            geometry += f" rotated {v.rotation}° → {v.upright_width}x{v.upright_height}"
        fps = f"{fmt_fps(v.avg_fps)} fps" + (f" (nominal {fmt_fps(v.nominal_fps)}, VFR)" if v.vfr else "")
        frames = f"{v.frame_count if v.frame_count is not None else '?'} frames" + \
            ("" if v.frame_count_exact else " (est.)")
        color = "/".join((v.color_primaries, v.color_transfer, v.color_space, v.color_range))
        details = [geometry, fps, frames, f"{v.pix_fmt} ({v.bit_depth}-bit)", f"color {color}"]
        if v.hdr:
            details.append(f"HDR {v.hdr}")
        details.append("interlaced " + v.field_order if v.interlaced else "progressive")
        details.append(fmt_bitrate(v.bit_rate))
        t.add_row(str(v.index), "video", f"{v.codec} {v.profile or ''}".strip(), " · ".join(details))
    for a in info.audio:
        t.add_row(str(a.index), "audio", f"{a.codec} {a.profile or ''}".strip(),
                  f"{a.sample_rate} Hz · {a.channel_layout or a.channels} · {fmt_bitrate(a.bit_rate)}"
                  + (f" · {a.language}" if a.language else ""))
    for s in info.subtitles:
        t.add_row(str(s.index), "subtitle", s.codec, s.language or "")
    return t
