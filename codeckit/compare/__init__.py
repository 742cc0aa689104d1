"""`codeckit compare`: encoders side by side on your sources: RD curves, BD-rate, convex hull, cost, and a report.

The pieces, each usable alone: `configs` (NAME[:SPEED] -> implementation + speed), `points` (knob values
aimed at VMAF targets with the search), `run` (encode + measure one point, as batch items with a journal),
`rd` (`bd_rate`, `convex_hull`), `cost` (the cost model, defaults in cost.toml), `analysis` (the tables),
`report` (report.json, results.csv, report.html). `compare()` runs them all.
"""
from .compare import CompareOptions, CompareReport, compare
from .configs import Config, parse_configs
from .cost import Cost, CostModel, cost_of, default_cost_model, parse_cost
from .points import DEFAULT_VMAF_RANGE, Placement, place_points, vmaf_targets
from .rd import BDResult, RDPoint, bd_rate, convex_hull

__all__ = ["BDResult", "CompareOptions", "CompareReport", "Config", "Cost", "CostModel", "DEFAULT_VMAF_RANGE",
           "Placement", "RDPoint", "bd_rate", "compare", "convex_hull", "cost_of", "default_cost_model",
           "parse_configs", "parse_cost", "place_points", "vmaf_targets"]
