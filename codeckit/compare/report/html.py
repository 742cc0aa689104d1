"""report.html: one self-contained page (inline CSS and SVG, no script, no request anywhere) from report.json's data."""
from __future__ import annotations

from html import escape
from pathlib import Path

from ...fileio import atomic_write_text
from . import plots
from .labels import source_labels

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;
color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}.bad{color:#a00}.good{color:#070}
.plots{display:flex;flex-wrap:wrap;gap:1em}.plot svg{max-width:100%;height:auto}
.note{color:#666;font-size:.9em}code{font-size:.9em}
"""


def _table(head: list[str], rows: list[list], left: int = 1) -> str:
    th = "".join(f'<th class="{"l" if i < left else ""}">{escape(h)}</th>' for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i < left else ""}">{c}</td>' for i, c in enumerate(r))
                   + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _num(x, fmt: str = "{:.2f}") -> str:
    return "–" if x is None else fmt.format(x)


def _bd_cell(row: dict) -> str:
    if row["value_pct"] is None:
        return f'<span class="bad" title="{escape(row["detail"])}">{escape(row["status"])}</span>'
    cls = "good" if row["value_pct"] < 0 else "bad"
    flag = "" if row["status"] == "ok" else f' <span class="note">({escape(row["status"])})</span>'
    return f'<span class="{cls}">{row["value_pct"]:+.2f} %</span>{flag}'


def bd_section(report: dict) -> str:
    rows = report["bd_rate"]
    sources = list(dict.fromkeys(r["source"] for r in rows))
    configs = list(dict.fromkeys(r["config"] for r in rows))
    names = {**source_labels([s for s in sources if s != "all"]), "all": "all sources (mean)"}
    out = []
    for metric in ("vmaf", "psnr_y"):
        cells = {(r["source"], r["config"]): r for r in rows if r["metric"] == metric}
        body = [[escape(names[s])]
                + [_bd_cell(cells[(s, c)]) for c in configs if (s, c) in cells] for s in sources]
        out.append(f"<h3>{'VMAF' if metric == 'vmaf' else 'PSNR-Y'}</h3>" + _table(["source", *configs], body))
    anchor = report["settings"]["anchor"]
    return (f"<h2>BD-rate against {escape(anchor)}</h2><p class='note'>Average bitrate difference at equal "
            "quality (PCHIP over log-rate, over the quality range both curves cover); negative: fewer bits. "
            "A status instead of a number says why there is none.</p>" + "".join(out))


def rd_section(report: dict) -> str:
    labels = report["settings"]["encoders"]
    names = source_labels([s["path"] for s in report["sources"]])     # a/clip.mp4, b/clip.mp4: not clip.mp4 twice
    figs = []
    for s in report["sources"]:
        rows = [r for r in report["results"] if r["source"] == s["path"]]
        hull = [h for h in report["hull"] if h["source"] == s["path"]]
        figs.append(f'<div class="plot">{plots.rd_curves(s["path"], rows, hull, labels, names[s["path"]])}</div>')
    return "<h2>Rate-distortion curves</h2><div class='plots'>" + "".join(figs) + "</div>"


def speed_section(report: dict) -> str:
    anchor = report["settings"]["anchor"]
    speeds = {}
    for r in report["results"]:
        cpu, dur = speeds.get(r["config"], (0.0, 0.0))
        speeds[r["config"]] = (cpu + r["cpu_s"], dur + r["duration_s"])
    bd = {r["config"]: r["value_pct"] for r in report["bd_rate"] if r["source"] == "all" and r["metric"] == "vmaf"}
    bd[anchor] = 0.0
    pts = [(c, cpu / dur if dur else None, bd.get(c)) for c, (cpu, dur) in speeds.items()]
    svg = plots.speed_vs_bd(pts, anchor, report["settings"]["encoders"])
    body = f'<div class="plot">{svg}</div>' if svg else "<p class='note'>No BD-rate to plot.</p>"
    return "<h2>Speed against BD-rate</h2>" + body


def cost_section(report: dict) -> str:
    model = report["settings"]["cost"]
    floor = report["settings"]["min_vmaf"]
    rows = []
    for c in report["cost"]:
        if c["usd_per_source_hour"] is None:
            rows.append([escape(c["config"]), f'<span class="bad">below VMAF {floor:g}</span>', "–", "–", "–", "–"])
            continue
        rows.append([escape(c["config"]), f'{c["usd_per_source_hour"]:.4f}', f'{c["compute"]:.4f}',
                     f'{c["storage"]:.4f}', f'{c["egress"]:.4f}', _num(c["bitrate"] / 1000, "{:.0f}")])
    svg = plots.cost_bars(report["cost"])
    best = report.get("cheapest")
    verdict = (f"<p>Cheapest at VMAF ≥ {floor:g}: <b>{escape(best['config'])}</b> "
               f"({best['usd_per_source_hour']:.4f} USD per source hour).</p>") if best else \
        f"<p class='bad'>No configuration reaches VMAF {floor:g} on every source.</p>"
    assumptions = ", ".join(f"{escape(k)} = {v:g}" for k, v in model.items())
    return (f"<h2>Cost at VMAF ≥ {floor:g}</h2>{verdict}"
            + _table(["configuration", "USD / source hour", "compute", "storage", "egress", "kb/s"], rows)
            + (f'<div class="plot">{svg}</div>' if svg else "")
            + f"<p class='note'>Per configuration and source, the cheapest point that reaches the floor. "
              f"Assumptions: {assumptions}.</p>")


def versions_section(report: dict) -> str:
    v, m = report["versions"], report["machine"]
    rows = [["codeckit", escape(str(v.get("codeckit")))], ["FFmpeg", escape(str(v.get("ffmpeg")))],
            ["libvmaf", escape(str(v.get("libvmaf")))]]
    rows += [[escape(k), escape(str(val or "not reported"))] for k, val in v.get("encoders", {}).items()]
    rows += [["CPU", escape(f"{m.get('cpu')} ({m.get('cores')} cores)")], ["OS", escape(str(m.get("os")))]]
    return "<h2>Versions and machine</h2>" + _table(["what", "version"], rows, left=2)


def render(report: dict) -> str:
    s = report["settings"]
    title = f"codeckit compare: {', '.join(s['encoders'])}"
    head = (f"<h1>{escape(title)}</h1><p>{len(report['sources'])} source(s), {len(report['results'])} encodes, "
            f"{s['points']} points per curve aimed at VMAF {s['vmaf_range'][0]:g}-{s['vmaf_range'][1]:g}; "
            f"anchor {escape(s['anchor'])}.</p>")
    body = "".join(f(report) for f in (rd_section, bd_section, speed_section, cost_section, versions_section))
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><link rel='icon' href='data:,'><title>{escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>{head}{body}</body></html>\n")


def write_html(report: dict, folder: str | Path) -> Path:
    path = Path(folder) / "report.html"
    atomic_write_text(path, render(report))
    return path
