"""Where shots change: hard cuts by PySceneDetect's detectors (or the old luma detector), and gradual
transitions (dissolves, fades) by a linearity test, all fed the frames the scan decodes anyway (one decode).

One small interface, as PySceneDetect's own detectors: `push(index, frame)` for every decoded frame in
presentation order, then `finish()` -> frame indices where a new shot starts. Frames arrive small
(`DETECT_W` x `DETECT_H` BGR, about PySceneDetect's own downscale): on bench/bench_cuts.py AdaptiveDetector found
16 of 16 hard cuts at 256x144 but 15 at 128x72 (a mirrored jump cut); on a 12 s 1080p source the detector and
the downscale cost 0.3 CPU-s against 2.2 CPU-s for decoding the frames.

Gradual transitions are trimmed, not cut: a clip never starts or ends inside one (see `transitions`).
"""
from __future__ import annotations

import logging

import numpy as np

from ..errors import ConfigError

log = logging.getLogger("codeckit.normalize.cuts")

DETECT_W, DETECT_H = 256, 144
DETECTORS = ("content", "adaptive", "luma")
#: what `pip install` needs for the PySceneDetect detectors
EXTRA = "codeckit[scenes]"


def scenedetect_available() -> bool:
    try:
        import scenedetect  # noqa: F401
    except ImportError:
        return False
    return True


def require_detector(name: str) -> None:
    """Fail before any work when the profile asks for a PySceneDetect detector that is not installed: a
    silent fall-back would give other cuts than the profile promises (and the same journal key)."""
    if name != "luma" and not scenedetect_available():
        raise ConfigError(f"[clips] detector = {name!r} needs PySceneDetect, which is not installed",
                          hint=f"pip install '{EXTRA}', or set clips.detector=luma (the older, weaker detector)",
                          code="missing_extra")


class LumaCuts:
    """codeckit's first detector: mean |difference| (0-1) of consecutive small grey frames above a fixed
    threshold. Kept for comparison (bench/bench_cuts.py) and for installs without PySceneDetect."""

    def __init__(self, threshold: float = 0.12):
        self.threshold = threshold
        self._last: np.ndarray | None = None
        self._cuts: list[int] = []

    def push(self, index: int, frame: np.ndarray) -> None:
        grey = frame.astype(np.int16).mean(axis=2) if frame.ndim == 3 else frame.astype(np.int16)
        if self._last is not None and np.abs(grey - self._last).mean() / 255.0 > self.threshold:
            self._cuts.append(index)
        self._last = grey

    def finish(self) -> list[int]:
        return self._cuts


class SceneDetectCuts:
    """PySceneDetect's ContentDetector (HSV difference of consecutive frames against `threshold`) or
    AdaptiveDetector (that difference against the average of its neighbours, `threshold` as the ratio)."""

    def __init__(self, kind: str, threshold: float, *, fps: float, min_scene_s: float):
        from scenedetect import AdaptiveDetector, ContentDetector
        self.fps = fps or 25.0
        min_len = max(1, round(min_scene_s * self.fps))  # frames: the same meaning in PySceneDetect 0.6 and 0.7
        if kind == "adaptive":
            self.detector = AdaptiveDetector(adaptive_threshold=threshold, min_scene_len=min_len)
        else:
            self.detector = ContentDetector(threshold=threshold, min_scene_len=min_len)
        self._cuts: list[int] = []
        self._n = 0

    def _tc(self, index: int):
        from scenedetect import FrameTimecode
        return FrameTimecode(index, fps=self.fps)

    def push(self, index: int, frame: np.ndarray) -> None:
        self._n = index
        self._cuts += [int(tc.frame_num) for tc in self.detector.process_frame(self._tc(index), frame)]

    def finish(self) -> list[int]:
        post = getattr(self.detector, "post_process", None)
        if post is not None:
            self._cuts += [int(tc.frame_num) for tc in (post(self._tc(self._n)) or [])]
        return sorted(set(self._cuts))


def make_detector(name: str, *, fps: float, content_threshold: float = 27.0, adaptive_threshold: float = 3.0,
                  luma_threshold: float = 0.12, min_scene_s: float = 0.5):
    """The detector a profile's [clips] `detector` names."""
    if name not in DETECTORS:
        raise ConfigError(f"unknown scene detector {name!r}", hint="one of " + ", ".join(DETECTORS),
                          code="invalid_value")
    if name == "luma":
        return LumaCuts(luma_threshold)
    require_detector(name)
    threshold = adaptive_threshold if name == "adaptive" else content_threshold
    return SceneDetectCuts(name, threshold, fps=fps, min_scene_s=min_scene_s)


def transitions(grey: np.ndarray, fps: float, *, min_change: float = 12.0, max_residual: float = 0.25,
                black_luma: float | None = 24.0) -> list[tuple[int, int]]:
    """Frame spans [first, last] that belong to a gradual transition, from every frame's small grey picture.

    A dissolve or a fade is a blend: a frame in it is (nearly) the average of the frames `w` before and
    after it (w = 0.2 s), while those two differ (mean |difference| >= `min_change`, 0-255). Motion is not:
    a moving picture is far from the average of its neighbours (residual / change about 0.5 and more), and
    a hard cut gives exactly 0.5. So a frame counts when residual <= `max_residual` x change; a run of such
    frames, widened by w on each side (the frames the test looked at), is the transition. Frames darker than
    `black_luma` (the black between a fade out and a fade in) count too: a clip of black teaches nothing.
    """
    n = len(grey)
    w = max(2, round(0.2 * (fps or 25.0)))
    mark = np.zeros(n, bool)
    if n > 2 * w:
        g = grey.astype(np.float32)
        before, mid, after = g[:-2 * w], g[w:-w], g[2 * w:]
        change = np.abs(after - before).reshape(n - 2 * w, -1).mean(axis=1)
        resid = np.abs(mid - (before + after) / 2).reshape(n - 2 * w, -1).mean(axis=1)
        core = (change >= min_change) & (resid <= max_residual * change)
        for i in np.nonzero(core)[0]:
            mark[i: i + 2 * w + 1] = True      # frames i .. i+2w were the ones compared
    if black_luma is not None and n:
        mark |= grey.reshape(n, -1).mean(axis=1) < black_luma
    spans, start = [], None
    for i, m in enumerate([*mark, False]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            spans.append((start, i - 1))
            start = None
    return spans
