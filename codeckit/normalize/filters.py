"""Source filters: one small interface (measure a value, judge it), one class per rule of a profile's [filter].

Every filter is a normalize step: it records its measurement in `item.measurements[name]` (kept in the
manifest for accepted sources too) and raises `Rejected` with the reason, the measured value and the limit.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .profile import FilterRules
from .steps import Item, Rejected, Step


class SourceFilter(Step):
    """`measure(item)` returns a JSON-able value; `judge(value)` returns why it fails, or None."""
    name = "filter"
    limit: Any = None

    def measure(self, item: Item) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def judge(self, value: Any) -> str | None:  # pragma: no cover - interface
        raise NotImplementedError

    def __call__(self, item: Item) -> Item:
        value = self.measure(item)
        item.measurements[self.name] = value
        why = self.judge(value)
        if why:
            raise Rejected(self.name, why, value, self.limit)
        return item


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(float(x), nd)


class _Range(SourceFilter):
    """A value that must lie in [lo, hi]; either bound may be None (no bound). The limit is [lo, hi]."""

    def __init__(self, lo: float | None, hi: float | None):
        self.lo, self.hi = lo, hi
        self.limit = [lo, hi]


class Duration(_Range):
    name = "duration"

    def measure(self, item):
        # what the demux saw wins over what the header claims (a cut file claims its old length)
        scanned = item.scan.end_s if item.scan is not None and item.scan.packets else None
        return _r(scanned if scanned else item.info.duration_s, 3)

    def judge(self, v):
        if v is None:
            return "duration unknown"
        if self.lo is not None and v < self.lo:
            return f"{v:g} s is shorter than {self.lo:g} s"
        if self.hi is not None and v > self.hi:
            return f"{v:g} s is longer than {self.hi:g} s"
        return None


class Resolution(SourceFilter):
    name = "resolution"

    def __init__(self, min_w: int | None, min_h: int | None):
        self.min_w, self.min_h = min_w, min_h
        self.limit = [min_w, min_h]

    def measure(self, item):
        v = item.info.video[0]
        return [v.upright_width, v.upright_height]

    def judge(self, v):
        if (self.min_w and v[0] < self.min_w) or (self.min_h and v[1] < self.min_h):
            return f"{v[0]}x{v[1]} is smaller than {self.min_w or 0}x{self.min_h or 0}"
        return None


class Aspect(_Range):
    name = "aspect"

    def measure(self, item):
        v = item.info.video[0]
        return _r(v.upright_width / v.upright_height)

    def judge(self, v):
        if (self.lo is not None and v < self.lo) or (self.hi is not None and v > self.hi):
            return f"aspect {v:g} is outside {self.lo or 0:g}-{self.hi or float('inf'):g}"
        return None


class Decodable(SourceFilter):
    """Truncated or damaged: the demux stopped early, or ended before the declared duration, or
    keyframes failed to decode."""
    name = "decodable"
    limit = {"end_share": 0.9, "decode_errors": 0}

    def measure(self, item):
        s = item.scan
        return {"end_s": _r(s.end_s, 3), "declared_s": _r(s.declared_s, 3), "decode_errors": s.decode_errors,
                "demux_error": s.demux_error, "truncated": s.truncated}

    def judge(self, v):
        if v["truncated"]:
            why = f"demux stopped: {v['demux_error']}" if v["demux_error"] else \
                f"video ends at {v['end_s']} s of a declared {v['declared_s']} s"
            return f"truncated ({why})"
        if v["decode_errors"]:
            return f"{v['decode_errors']} packet(s) failed to decode"
        return None


class _FrameShare(SourceFilter):
    """The share of the scan's frame samples (or of the steps between them) whose value is below `threshold`,
    judged against `max_fraction`. Subclasses say which values (`values`) and what the share is (`share_of`)."""
    share_of = "frame samples"

    def __init__(self, max_fraction: float, threshold: float):
        self.max_fraction, self.threshold = max_fraction, threshold
        self.limit = max_fraction

    def values(self, item: Item) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def __call__(self, item: Item) -> Item:
        if item.scan is not None and item.scan.pending:
            return item     # judged once the encode has given the samples (EncodeClips)
        return super().__call__(item)

    def measure(self, item):
        v = self.values(item)
        return _r(float(np.mean(v < self.threshold)) if len(v) else 0.0, 3)

    def judge(self, v):
        return f"{v:.0%} of {self.share_of} (limit {self.max_fraction:.0%})" if v > self.max_fraction else None


class Black(_FrameShare):
    """Black frames: a frame sample's mean luma (0-255) below `threshold` (the profile's `black_luma`)."""
    name = "black"
    share_of = "sampled frames are black"

    def values(self, item):
        return item.scan.mean_luma()


class Static(_FrameShare):
    """Frozen or static content: consecutive frame samples (keyframes, or frames spread over the video) that
    do not change (mean |difference| below `threshold`, the profile's `static_diff`)."""
    name = "static"
    share_of = "sample-to-sample steps show no change"

    def values(self, item):
        return item.scan.step_diffs()


class BitsPerPixel(SourceFilter):
    """Starved sources (a few kbit/s for a big picture) carry blocking, not content."""
    name = "bits_per_pixel"

    def __init__(self, lo: float):
        self.lo = lo
        self.limit = lo

    def measure(self, item):
        v, s = item.info.video[0], item.scan
        fps = v.avg_fps or v.nominal_fps or 0
        dur = s.end_s or item.info.duration_s or 0
        if not (fps and dur and v.width and v.height):
            return None
        return _r(s.video_bytes * 8 / dur / (v.width * v.height * fps), 5)

    def judge(self, v):
        return f"{v:g} bits per pixel is below {self.lo:g}" if v is not None and v < self.lo else None


class HdrPolicy(SourceFilter):
    name = "hdr"
    limit = "reject"

    def measure(self, item):
        return item.info.video[0].hdr

    def judge(self, v):
        return f"HDR ({v}) source and the profile rejects HDR" if v else None


def frame_filters(filters: list[SourceFilter]) -> list[SourceFilter]:
    """The filters that judge the scan's frame samples (black, static), and decodability: judged again once
    samples put off by the scan are decoded (its keyframes beyond the prescreen's may fail to decode)."""
    return [f for f in filters if isinstance(f, (Decodable, _FrameShare))]


def from_frame_filters(filters: list[SourceFilter]) -> list[SourceFilter]:
    """The frame filters and every filter judged after them: what can still reject a source once its samples
    are put off to the encode (a frozen picture costs few bits too: bits per pixel would take its reason)."""
    first = next((i for i, f in enumerate(filters) if isinstance(f, _FrameShare)), len(filters))
    return filters[first:]


def build_filters(rules: FilterRules, *, reject_hdr: bool = False) -> list[SourceFilter]:
    """The filters a profile's [filter] section switches on, in the order they are judged; `reject_hdr` follows the
    profile's `video.hdr = "reject"`."""
    out: list[SourceFilter] = [Decodable()]
    if rules.min_duration_s is not None or rules.max_duration_s is not None:
        out.append(Duration(rules.min_duration_s, rules.max_duration_s))
    if rules.min_width or rules.min_height:
        out.append(Resolution(rules.min_width, rules.min_height))
    if rules.min_aspect is not None or rules.max_aspect is not None:
        out.append(Aspect(rules.min_aspect, rules.max_aspect))
    if reject_hdr:
        out.append(HdrPolicy())
    if rules.max_black_fraction is not None:
        out.append(Black(rules.max_black_fraction, rules.black_luma))
    if rules.max_static_fraction is not None:
        out.append(Static(rules.max_static_fraction, rules.static_diff))
    # after black and static: a black or frozen picture costs few bits too, and its own reason says more
    if rules.min_bits_per_pixel is not None:
        out.append(BitsPerPixel(rules.min_bits_per_pixel))
    return out
