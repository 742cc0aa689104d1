"""The report's plots as inline SVG (matplotlib, Agg, imported only here so other commands never load it)."""
from __future__ import annotations

import io
import math
import re
from pathlib import Path

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")


def _pyplot():
    import matplotlib
    matplotlib.use("Agg", force=True)
    matplotlib.rcParams["svg.hashsalt"] = "codeckit"      # same ids for the same plot: reports diff cleanly
    import matplotlib.pyplot as plt
    return plt


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    _pyplot().close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]        # inline: no XML declaration or DOCTYPE
    return re.sub(r"<metadata>.*?</metadata>", "", text, count=1, flags=re.S)   # RDF boilerplate only


def colors(labels: list[str]) -> dict[str, str]:
    return {label: _COLORS[i % len(_COLORS)] for i, label in enumerate(labels)}


def rd_curves(source: str, rows: list[dict], hull: list[dict], labels: list[str], title: str | None = None) -> str:
    """Bitrate (log) vs VMAF of every configuration on one source, with the convex hull dashed; `title` (else
    the file's name) names the source (report.labels.source_labels tells same-named sources apart)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    col = colors(labels)
    for label in labels:
        pts = sorted((r["bitrate"] / 1000, r["vmaf"]) for r in rows if r["config"] == label)
        if pts:
            ax.plot(*zip(*pts), marker="o", ms=4, lw=1.5, color=col[label], label=label)
    if hull:
        ax.plot([h["bitrate"] / 1000 for h in hull], [h["vmaf"] for h in hull], ls="--", lw=1, color="#555",
                label="convex hull")
    ax.set_xscale("log")
    ax.set_xlabel("bitrate (kb/s, log)")
    ax.set_ylabel("VMAF")
    ax.set_title(title or Path(source).name, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    else:   # every configuration failed here (matplotlib warns on stderr about an empty legend)
        ax.text(0.5, 0.5, "no measured point", transform=ax.transAxes, ha="center", va="center", color="#555")
    return _svg(fig)


def speed_vs_bd(points: list[tuple[str, float, float]], anchor: str, labels: list[str]) -> str | None:
    """Encoder CPU-seconds per source second (log) against BD-rate (VMAF, all sources); the anchor sits at 0 %."""
    pts = [(lab, x, y) for lab, x, y in points if x and x > 0 and y is not None and math.isfinite(y)]
    if not pts:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    col = colors(labels)
    for lab, x, y in pts:
        ax.scatter([x], [y], s=40, color=col.get(lab, "#333"), marker="s" if lab == anchor else "o", zorder=3)
        ax.annotate(lab, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.axhline(0, color="#999", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("encoder CPU-seconds per source second (log)")
    ax.set_ylabel(f"BD-rate vs {anchor} (VMAF, %)")
    ax.grid(True, which="both", alpha=0.3)
    return _svg(fig)


def cost_bars(costs: list[dict]) -> str | None:
    """USD per source hour at the VMAF floor, stacked compute / storage / egress, per configuration."""
    rows = [c for c in costs if c.get("usd_per_source_hour") is not None]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 0.6 + 0.45 * len(rows)))
    names = [c["config"] for c in rows]
    left = [0.0] * len(rows)
    for part, color in (("compute", "#4c72b0"), ("storage", "#55a868"), ("egress", "#c44e52")):
        vals = [c[part] for c in rows]
        ax.barh(names, vals, left=left, color=color, label=part)
        left = [a + b for a, b in zip(left, vals)]
    ax.invert_yaxis()
    ax.set_xlabel("USD per source hour")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(True, axis="x", alpha=0.3)
    return _svg(fig)
