"""The cost model: CPU-seconds, bytes and delivery turned into dollars per hour of source, per configuration.

Every field is declared once (profiles' `declared`: key, check, doc); the defaults live in cost.toml beside
this file, and `--cost k=v,...` overrides them.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path

from ..errors import ConfigError
from ..profiles.fields import check_declared, declarations, declared, number
from ..profiles.tables import parse_value

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

COST_DEFAULTS = Path(__file__).with_name("cost.toml")
SOURCE_HOUR_S = 3600.0
GB = 1e9


@dataclass(frozen=True)
class CostModel:
    """Prices and audience. Costs are for one hour of source encoded once, stored `months`, watched `views` times."""
    cpu_hour: float = declared(check=number(0), doc="USD per CPU-hour of encoding (user+sys of the encoder)")
    storage_gb_month: float = declared(check=number(0), doc="USD per GB stored for a month")
    egress_gb: float = declared(check=number(0), doc="USD per GB delivered")
    views: float = declared(check=number(0), doc="how many times each encode is delivered in full")
    months: float = declared(check=number(0), doc="how many months each encode is stored")

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def field_docs() -> dict[str, str]:
    """key -> one-line doc, for help texts and the README."""
    return {d.key: d.spec.doc for d in declarations(CostModel)}


def default_cost_model() -> CostModel:
    raw = tomllib.loads(COST_DEFAULTS.read_text())
    model = CostModel(**raw)
    check_declared(model, "cost")
    return model


def parse_cost(text: str | None, base: CostModel | None = None) -> CostModel:
    """`cpu_hour=0.05,views=1000` over `base` (default: cost.toml); ConfigError names the bad key or value."""
    model = base or default_cost_model()
    if not text:
        return model
    known = field_docs()
    changes = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in known:
            raise ConfigError(f"--cost {item.strip()!r} is not key=value with a known key",
                              hint="keys: " + ", ".join(known), code="bad_option")
        changes[key] = parse_value(value.strip())
    model = replace(model, **changes)
    try:
        check_declared(model, "cost")
    except ConfigError as exc:   # its "[cost] key = ..." would read as markup on a rich console
        raise ConfigError("--cost " + exc.message.split("] ", 1)[-1], hint=exc.hint, code=exc.code) from None
    return model


@dataclass
class Cost:
    """USD per hour of source for one encode (or a duration-weighted mix of them): compute, storage, egress."""
    compute: float
    storage: float
    egress: float

    @property
    def total(self) -> float:
        return self.compute + self.storage + self.egress

    def to_dict(self) -> dict:
        return {"usd_per_source_hour": round(self.total, 6), "compute": round(self.compute, 6),
                "storage": round(self.storage, 6), "egress": round(self.egress, 6)}


def cost_of(cpu_s: float, size_bytes: int, duration_s: float, model: CostModel) -> Cost:
    """The cost of an encode that took `cpu_s` and wrote `size_bytes` for `duration_s` of source, scaled
    to one hour of source."""
    if duration_s <= 0:
        raise ConfigError("cannot cost an encode of a source without a duration")
    per_hour = SOURCE_HOUR_S / duration_s
    gb = size_bytes * per_hour / GB
    return Cost(compute=cpu_s * per_hour / SOURCE_HOUR_S * model.cpu_hour,
                storage=gb * model.storage_gb_month * model.months,
                egress=gb * model.egress_gb * model.views)


__all__ = ["COST_DEFAULTS", "Cost", "CostModel", "cost_of", "default_cost_model", "field_docs", "parse_cost"]
