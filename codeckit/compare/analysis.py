"""From measured points to answers: BD-rate per source and averaged, the convex hull, the VMAF floor, the cost table."""
from __future__ import annotations

from dataclasses import dataclass

from .cost import Cost, CostModel, cost_of
from .rd import BDResult, RDPoint, bd_rate, convex_hull

METRICS = ("vmaf", "psnr_y")
DEFAULT_MIN_VMAF = 93.0


def _points(rows: list[dict], metric: str) -> list[RDPoint]:
    return [RDPoint(r["bitrate"], r[metric], r["config"], r) for r in rows if r.get(metric) is not None]


def _by(rows: list[dict], *keys: str) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out


def _average(per_source: list[BDResult]) -> BDResult:
    """The BD-rate over sources: the mean of the sources' numbers; `partial` when some sources had none."""
    values = [b.value_pct for b in per_source if b.value_pct is not None]
    if not per_source:
        return BDResult("too_few_points", detail="no source")
    if not values:
        statuses = sorted({b.status for b in per_source})
        return BDResult(statuses[0], detail="no source gave a number: " + ", ".join(statuses))
    if len(values) < len(per_source):
        return BDResult("partial", sum(values) / len(values),
                        detail=f"{len(values)} of {len(per_source)} sources gave a number")
    low = any(b.status == "low_overlap" for b in per_source)
    return BDResult("low_overlap" if low else "ok", sum(values) / len(values),
                    detail="a source's curves overlap little" if low else "")


def bd_table(rows: list[dict], configs: list, anchor, sources: list[str]) -> list[dict]:
    """`bd_rate[]` of the report: every configuration but the anchor, per source and "all", for each metric."""
    by = _by(rows, "source", "config")
    out = []
    for cfg in configs:
        if cfg.label == anchor.label:
            continue
        for metric in METRICS:
            per_source = []
            for src in sources:
                res = bd_rate(_points(by.get((src, anchor.label), []), metric),
                              _points(by.get((src, cfg.label), []), metric), metric)
                per_source.append(res)
                out.append(_bd_row(src, cfg, anchor, metric, res))
            out.append(_bd_row("all", cfg, anchor, metric, _average(per_source)))
    return out


def _bd_row(source: str, cfg, anchor, metric: str, res: BDResult) -> dict:
    return {"source": source, "config": cfg.label, "encoder": cfg.encoder, "speed": cfg.speed,
            "anchor": anchor.label, "metric": metric, **res.to_dict()}


def hull_table(rows: list[dict], sources: list[str]) -> list[dict]:
    """`hull[]`: per source, the upper-left convex hull of bitrate vs VMAF over every configuration."""
    out = []
    for src in sources:
        for p in convex_hull(_points([r for r in rows if r["source"] == src], "vmaf")):
            r = p.data
            out.append({"source": src, "config": r["config"], "encoder": r["encoder"], "speed": r["speed"],
                        "knob": r["knob"], "bitrate": r["bitrate"], "vmaf": r["vmaf"]})
    return out


@dataclass
class ConfigCost:
    """One configuration at the VMAF floor: per source the cheapest point that reaches it, weighted by duration."""
    config: object
    cost: Cost | None                        # None: some source has no point at the floor
    bitrate: float | None                    # duration-weighted bits/s of those points
    floor_bitrate: float | None = None       # the same of the smallest points at the floor (fewer bytes, maybe more CPU)
    chosen: list[dict] = None                # per source: knob, VMAF, bitrate, USD per source hour
    missing: list[str] = None                # sources with no point at the floor

    def to_dict(self) -> dict:
        c = self.cost.to_dict() if self.cost else {"usd_per_source_hour": None, "compute": None, "storage": None,
                                                    "egress": None}
        return {"config": self.config.label, "encoder": self.config.encoder, "speed": self.config.speed, **c,
                "meets_floor": self.cost is not None, "bitrate": self.bitrate, "floor_bitrate": self.floor_bitrate, "points": self.chosen,
                "missing": self.missing}


def cost_table(rows: list[dict], configs: list, sources: list[str], model: CostModel, min_vmaf: float
               ) -> list[ConfigCost]:
    by = _by(rows, "source", "config")
    out = []
    for cfg in configs:
        chosen, missing, parts = [], [], []
        for src in sources:
            ok = [r for r in by.get((src, cfg.label), []) if r["vmaf"] >= min_vmaf]
            if not ok:
                missing.append(src)
                continue
            priced = [(cost_of(r["cpu_s"], r["bytes"], r["duration_s"], model), r) for r in ok]
            c, r = min(priced, key=lambda cr: (cr[0].total, cr[1]["bytes"]))
            parts.append((c, r))
            chosen.append({"source": src, "knob": r["knob"], "vmaf": r["vmaf"], "bitrate": r["bitrate"],
                           "usd_per_source_hour": round(c.total, 6)})
        if missing or not parts:
            out.append(ConfigCost(cfg, None, None, chosen=chosen, missing=missing))
            continue
        total_s = sum(r["duration_s"] for _, r in parts)

        def mean(get) -> float:
            return sum(get(c, r) * r["duration_s"] for c, r in parts) / total_s
        cost = Cost(mean(lambda c, r: c.compute), mean(lambda c, r: c.storage), mean(lambda c, r: c.egress))
        smallest = [min(by[(r["source"], cfg.label)], key=lambda x: (x["vmaf"] < min_vmaf, x["bytes"]))
                    for _, r in parts]
        floor_bitrate = sum(r["bitrate"] * r["duration_s"] for r in smallest) / total_s
        out.append(ConfigCost(cfg, cost, round(mean(lambda c, r: r["bitrate"]), 3), round(floor_bitrate, 3),
                              chosen=chosen, missing=missing))
    return out


def cheapest(costs: list[ConfigCost]) -> dict | None:
    """The configuration that meets the floor on every source at the lowest total cost."""
    ok = [c for c in costs if c.cost is not None]
    if not ok:
        return None
    best = min(ok, key=lambda c: (c.cost.total, c.config.label))
    return {"config": best.config.label, "encoder": best.config.encoder, "speed": best.config.speed,
            "usd_per_source_hour": round(best.cost.total, 6)}


def fewest_bytes(costs: list[ConfigCost]) -> dict | None:
    """The configuration that reaches the floor on every source with the fewest bytes (among the points measured)."""
    ok = [c for c in costs if c.floor_bitrate is not None]
    if not ok:
        return None
    best = min(ok, key=lambda c: (c.floor_bitrate, c.config.label))
    return {"config": best.config.label, "encoder": best.config.encoder, "speed": best.config.speed,
            "bitrate": best.floor_bitrate}


__all__ = ["ConfigCost", "DEFAULT_MIN_VMAF", "METRICS", "bd_table", "cheapest", "cost_table", "fewest_bytes",
           "hull_table"]
