"""Cutting a source into clips: one whole clip, fixed-length windows, or pieces between scene changes."""
from __future__ import annotations

import math

from .profile import ClipRules
from .steps import ClipSpan, Item, Rejected, Step


def _grid(t: float, fps: float | None) -> float:
    """Snap a time to the output frame grid, so every clip holds a whole number of output frames."""
    if not fps:
        return round(t, 6)
    return round(round(t * fps) / fps, 6)


def _minus_gaps(duration_s: float, gaps: list[tuple[float, float]], fps: float | None) -> list[tuple[float, float]]:
    """[0, duration_s] without the gaps (gradual transitions), their edges moved onto the output frame grid
    away from the gap (a clip never holds a frame of a fade or a dissolve)."""
    out, t = [], 0.0
    for a, b in sorted(gaps):
        if fps:
            a, b = math.floor(a * fps + 1e-6) / fps, math.ceil(b * fps - 1e-6) / fps
        if a > t:
            out.append((t, min(a, duration_s)))
        t = max(t, b)
    if t < duration_s:
        out.append((t, duration_s))
    return out


def plan_clips(duration_s: float, rules: ClipRules, *, fps: float | None = None,
               scene_times: list[float] | None = None,
               gaps: list[tuple[float, float]] | None = None) -> list[ClipSpan]:
    """The clips of a source `duration_s` long (times relative to its start). An empty list means
    nothing long enough was left. In scenes mode, clips break at `scene_times` and leave out `gaps`."""
    if duration_s <= 0:
        return []
    if rules.mode == "none":
        return [ClipSpan(0, 0.0, round(duration_s, 6))]
    pieces: list[tuple[float, float]] = []
    if rules.mode == "fixed":
        n = int(math.floor(duration_s / rules.length_s + 1e-9))
        pieces = [(k * rules.length_s, (k + 1) * rules.length_s) for k in range(n)]
        tail = pieces[-1][1] if pieces else 0.0
        if duration_s - tail >= rules.min_length_s - 1e-9:
            pieces.append((tail, duration_s))
    else:  # scenes
        spans = []
        for lo, hi in _minus_gaps(duration_s, gaps or [], fps):
            bounds = [lo, *sorted(t for t in (scene_times or []) if lo < t < hi), hi]
            spans += zip(bounds, bounds[1:])
        for a, b in spans:
            n = max(1, math.ceil((b - a) / rules.max_length_s - 1e-9))
            step = (b - a) / n
            pieces += [(a + k * step, a + (k + 1) * step) for k in range(n)]
    out: list[ClipSpan] = []
    for a, b in pieces:
        a, b = _grid(a, fps), _grid(b, fps)
        if b - a >= rules.min_length_s - 1e-6 and b - a <= max(rules.max_length_s, rules.length_s) + 1e-6:
            out.append(ClipSpan(len(out), a, b))
        if rules.max_clips is not None and len(out) >= rules.max_clips:
            break
    return out


class CutClips(Step):
    """Fills `item.clips`; rejects a source that yields no clip long enough."""
    name = "clips"

    def __init__(self, rules: ClipRules, fps: float | None):
        self.rules, self.fps = rules, fps

    def __call__(self, item: Item) -> Item:
        duration = item.scan.end_s if item.scan is not None and item.scan.end_s else item.info.duration_s
        scenes = item.scan.scene_times if item.scan is not None else []
        gaps = item.scan.transitions if item.scan is not None else []
        item.clips = plan_clips(duration or 0.0, self.rules, fps=self.fps, scene_times=scenes, gaps=gaps)
        if self.rules.mode == "scenes":
            item.measurements["scene_cuts"] = [round(t, 3) for t in scenes]
            if gaps:
                item.measurements["transitions"] = [[round(a, 3), round(b, 3)] for a, b in gaps]
        if not item.clips:
            raise Rejected("clips", f"no {self.rules.mode} clip of at least {self.rules.min_length_s:g} s",
                           round(duration or 0.0, 3), self.rules.min_length_s)
        return item
