"""The one call shape every normalize step has: `step(item) -> item`, or raise `Rejected`."""
from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class Rejected(Exception):
    """A source left out of the corpus: which rule (`reason`, a short code), the measured value and the limit."""

    def __init__(self, reason: str, message: str, value: Any = None, limit: Any = None):
        self.reason, self.message, self.value, self.limit = reason, message, value, limit
        super().__init__(f"{reason}: {message}")

    def to_dict(self) -> dict:
        return {"reason": self.reason, "message": self.message, "value": self.value, "limit": self.limit}


@dataclass
class ClipSpan:
    """A piece of a source, in seconds from its start: [start_s, end_s)."""
    index: int
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass
class Item:
    """One source on its way through the steps; each step reads what earlier ones left and adds its own."""
    source: Path
    content_hash: str = ""
    info: Any = None                 # codeckit.probe.MediaInfo
    scan: Any = None                 # codeckit.normalize.scan.FrameScan
    measurements: dict[str, Any] = field(default_factory=dict)
    clips: list[ClipSpan] = field(default_factory=list)
    annotations: dict | None = None  # the sidecar, parsed: {"path", "format", "data"}
    records: list[dict] = field(default_factory=list)
    probed: Any = None               # codeckit.probe.Probed: the probe's container, open for the scan to read on
    resources: ExitStack = field(default_factory=ExitStack)   # closed when the source's steps end


class Step:
    """A step of the normalize pipeline. Subclasses set `name` and implement `__call__`."""
    name = "step"

    def __call__(self, item: Item) -> Item:  # pragma: no cover - interface
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def run_steps(steps: list[Step], item: Item) -> Item:
    """Run `item` through `steps` in order; a step that rejects it stops the walk (Rejected propagates)."""
    for step in steps:
        item = step(item)
    return item
