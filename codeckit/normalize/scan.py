"""One cheap look at a source before anything is encoded: packets, keyframes, small grey frames, scene scores.

Why this way (measured on a 20 s 1080p25 H.264 file, 2 cores; the 480p24 x264-medium encode of it costs
13.2 CPU-s): decoding every frame costs 3.2 CPU-s (+24 % on top of the encode), FFmpeg's blackdetect +
freezedetect in a separate pass 3.1 CPU-s, decoding with the loop filter skipped 2.6, with non-reference
frames dropped too 1.6, with every B-frame dropped 1.0, decoding keyframes only 0.15 CPU-s (+1 %). So the
samples for the black and static filters are the keyframes, read in the same demux pass that counts
packets, bytes and keyframe positions; only a source with too few keyframes (fewer than 8, and more than
2.5 s apart) is decoded further, with the loop filter skipped and B-frames dropped, or, when it is encoded as
one clip, sampled from its encode's own decoded frames (`encode_samples_filter`; 12 s 1080p25 H.264 with 3
keyframes: 0.78 CPU-s of further decoding against its 6.1 CPU-s encode, which the samples do not change). Cutting at scene
changes needs every frame, and decodes them all in that same demux pass (loop filter skipped: small grey
frames do not need it; one decoder thread: a worker per core already fills the machine); those same frames
feed the scene detector (`cuts.py`, PySceneDetect's AdaptiveDetector by default) and the search for gradual
transitions, so a source is demuxed and decoded once for its samples and its cuts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import time
from pathlib import Path

import numpy as np

from ..errors import ProbeError
from ..probe import primary_video_stream
from ..sources import open_media

THUMB_W, THUMB_H = 64, 36
#: Fewer keyframe samples than this and the source is decoded further to get more.
MIN_SAMPLES = 8
#: Samples taken per second of video when decoding beyond keyframes (at most MAX_SAMPLES).
SAMPLES_PER_S = 2.0
MAX_SAMPLES = 240
#: Keyframes this close together (on average) are enough samples, even fewer than MIN_SAMPLES.
KEYFRAME_SPACING_S = 2.5
#: A source whose demuxed video ends before this share of its declared duration is truncated.
TRUNCATED_SHARE = 0.9


@dataclass
class FrameScan:
    """What one demux (and a little decoding) of a source's primary video stream (the one its clips encode) found."""
    packets: int = 0
    video_bytes: int = 0
    start_s: float = 0.0                     # container start time; clip times are relative to it
    end_s: float = 0.0                       # end of the last demuxed video packet, relative to start_s
    declared_s: float | None = None          # duration the container or stream claims
    frame_times: list[float] = field(default_factory=list)   # presentation times of all packets, sorted
    keyframe_times: list[float] = field(default_factory=list)
    decode_errors: int = 0
    demux_error: str | None = None
    sample_mode: str = "keyframes"           # keyframes | decode-sparse | decode-all | encode
    pending: bool = False                    # the samples are to come from the encode's frames (or complete_samples)
    undecoded_keyframes: int = 0             # keyframes the prescreen left for later (complete_samples decodes them)
    sample_times: list[float] = field(default_factory=list)
    thumbs: np.ndarray | None = None         # uint8 [n, THUMB_H, THUMB_W] grey
    scene_times: list[float] = field(default_factory=list)    # where a new scene starts
    transitions: list[tuple[float, float]] = field(default_factory=list)  # [start, end) of fades/dissolves
    decode_cpu_s: float = 0.0

    @property
    def truncated(self) -> bool:
        if self.demux_error:
            return True
        return bool(self.declared_s and self.declared_s > 1.0 and self.end_s < TRUNCATED_SHARE * self.declared_s)

    def mean_luma(self) -> np.ndarray:
        if self.thumbs is None or not len(self.thumbs):
            return np.zeros(0)
        return self.thumbs.reshape(len(self.thumbs), -1).mean(axis=1)

    def step_diffs(self) -> np.ndarray:
        """Mean |difference| (0-255) between consecutive samples."""
        if self.thumbs is None or len(self.thumbs) < 2:
            return np.zeros(0)
        t = self.thumbs.astype(np.int16)
        return np.abs(np.diff(t, axis=0)).reshape(len(t) - 1, -1).mean(axis=1)

    def keyframe_interval_frames(self) -> set[int]:
        """The distinct distances, in frames, between consecutive keyframes."""
        if not self.frame_times or len(self.keyframe_times) < 2:
            return set()
        index = {round(t, 6): i for i, t in enumerate(self.frame_times)}
        pos = sorted(index.get(round(k, 6), -1) for k in self.keyframe_times)
        return {b - a for a, b in zip(pos, pos[1:])}


def _small_bgr(frame) -> np.ndarray:
    from .cuts import DETECT_H, DETECT_W
    return frame.reformat(width=DETECT_W, height=DETECT_H, format="bgr24",
                          interpolation="FAST_BILINEAR").to_ndarray()


def _thumb(frame) -> np.ndarray:
    return frame.reformat(width=THUMB_W, height=THUMB_H, format="gray",
                          interpolation="FAST_BILINEAR").to_ndarray()


def _open(path: Path):
    import av
    try:
        return open_media(path)
    except av.error.FFmpegError as exc:
        raise ProbeError(f"cannot open: {exc.strerror or exc}", path=path) from exc


def scan(path: str | Path, *, scenes: bool = False, scene_threshold: float = 0.12,
         min_samples: int = MIN_SAMPLES, rules=None, black_luma: float | None = 24.0,
         decode_more: bool = True, probed=None) -> FrameScan:
    """Demux the primary video stream (probe's choice) once, decoding keyframes only; decode more only when needed.

    `scenes`: decode every frame in that same pass and find the cuts and gradual transitions, by the
    detector and thresholds of `rules` (a ClipRules; by default its defaults, with `scene_threshold` for
    the luma detector). `decode_more=False`: the source is encoded whole, and its encode, which decodes every frame
    anyway, gives the samples (`encode_samples_filter`): only two keyframes are decoded here, the first and the
    first past the middle, for a prescreen (`pending`; `complete_samples` decodes the rest when they are needed
    before an encode). `probed`: codeckit.probe's `Probed` for this file: its open container is read (not
    closed) and its first decoded frame is the first keyframe's sample (with `scenes`, the file is opened again:
    the loop filter is skipped only by a decoder opened so)."""
    path = Path(path)
    cpu0 = time.thread_time()   # the decoder runs in this thread (one decoder thread): its CPU is counted
    out = FrameScan()
    shared = probed is not None and not scenes
    container = probed.container if shared else _open(path)
    detector = None
    try:
        s = primary_video_stream(container)
        if s is None:
            raise ProbeError("no video stream", path=path)
        out.start_s = container.start_time / 1e6 if container.start_time is not None else 0.0
        declared = container.duration / 1e6 if container.duration else None
        if s.duration and s.time_base:
            declared = float(s.duration * s.time_base)
        out.declared_s = declared
        fps = float(s.average_rate or s.guessed_rate or 25)
        if not shared:          # (the probe's decoder is open already, with one thread)
            _one_thread(s)
        if scenes:
            detector = _detector(rules, scene_threshold, fps)
            _no_loop_filter(s)
        else:
            s.codec_context.skip_frame = "NONKEY"
        pick = None if decode_more or scenes else _Prescreen((declared or 0.0) / 2)
        _first_pass(container, s, out, detector, pick, probed.first_frames.get(s.index) if shared else None)
    finally:
        if not shared:
            container.close()

    if scenes:
        _place_cuts(out, detector.finish(), fps, rules, black_luma)
    elif not decode_more:
        out.pending = bool(out.undecoded_keyframes) or not _enough_keyframes(out, min_samples)
    elif not _enough_keyframes(out, min_samples):
        sample_more(path, out, min_samples)
    out.decode_cpu_s = time.thread_time() - cpu0
    return out


class _Prescreen:
    """Which keyframes a prescreen decodes: the first (a black opening, a black source) and the first past
    `middle_s` (with the first: a frozen source). Two decodes, not every keyframe: the encode gives the samples
    (bench_normalize's mixed corpus: decoding every keyframe cost 0.2 CPU-s more, 0.9 % of its encodes)."""

    def __init__(self, middle_s: float):
        self.middle_s, self.taken = middle_s, 0

    def __call__(self, t: float) -> bool:
        if self.taken == 0 or (self.taken == 1 and t >= self.middle_s):
            self.taken += 1
            return True
        return False


def complete_samples(path: str | Path, out: FrameScan, min_samples: int = MIN_SAMPLES) -> None:
    """The samples a prescreen put off, decoded now: every keyframe, and frames beyond them when those are too
    few (`sample_more`). For a source judged before any encode: a stream copy, one of several clips, or one whose
    prescreen samples already fail a filter."""
    if out.undecoded_keyframes:
        _decode_keyframes(Path(path), out)
        out.pending = not _enough_keyframes(out, min_samples)
    if out.pending:
        sample_more(path, out, min_samples)


def sample_more(path: str | Path, out: FrameScan, min_samples: int = MIN_SAMPLES) -> None:
    """Samples beyond the keyframes: about SAMPLES_PER_S a second (at most MAX_SAMPLES), decoded here."""
    wanted = min(MAX_SAMPLES, max(min_samples, int(out.end_s * SAMPLES_PER_S)))
    _decode_more(Path(path), out, wanted=wanted)
    out.pending = False


def encode_sample_rate(end_s: float) -> float:
    """Samples a second that the encode's frames give: SAMPLES_PER_S, fewer for a source so long that it
    would give more than MAX_SAMPLES."""
    return min(SAMPLES_PER_S, MAX_SAMPLES / end_s) if end_s > 0 else SAMPLES_PER_S


def encode_samples_filter(rate: float) -> str:
    """The filter chain that turns the encode's decoded source frames into the scan's samples: `rate` a
    second, THUMB_W x THUMB_H grey, as `_thumb` makes them."""
    return f"fps={rate:.6g},scale={THUMB_W}:{THUMB_H}:flags=fast_bilinear,format=gray"


def read_encode_samples(raw: str | Path, out: FrameScan, rate: float) -> None:
    """The samples an encode wrote (`encode_samples_filter`'s raw grey frames) into `out`."""
    data = np.fromfile(raw, dtype=np.uint8)
    n = len(data) // (THUMB_W * THUMB_H)
    out.thumbs = data[:n * THUMB_W * THUMB_H].reshape(n, THUMB_H, THUMB_W)
    out.sample_times = [round(i / rate, 6) for i in range(n)]
    out.sample_mode, out.pending = "encode", False


def _one_thread(stream) -> None:
    """Decode in one thread: normalize runs one source per core, so a decoder's own threads only add
    overhead (measured on the bench's 8 s 1080p25 H.264, every frame: 1.19 CPU-s with frame threads,
    1.08 with one; keyframes only: 0.17 and 0.1)."""
    stream.codec_context.thread_count = 1


def _no_loop_filter(stream) -> None:
    try:  # small grey frames do not need the deblocking
        stream.codec_context.options = {"skip_loop_filter": "all"}
    except Exception:
        pass


def _first_pass(container, s, out: FrameScan, detector, pick=None, first_frame=None) -> None:
    """Demux every packet (count, bytes, timestamps, keyframes); decode keyframes only (those `pick(t)` takes,
    when given), or every frame for the scene detector (`detector` not None). `first_frame`, the frame a probe
    decoded already, stands for the first keyframe when it is that keyframe."""
    import av
    tb = float(s.time_base)
    times, keys, thumbs, thumb_times = [], [], [], []
    end = 0.0
    try:
        for packet in container.demux(s):
            if packet.size == 0:
                frames = _decode(packet, out)
            else:
                out.packets += 1
                out.video_bytes += packet.size
                if packet.pts is not None:
                    t = packet.pts * tb - out.start_s
                    times.append(t)
                    end = max(end, t + (packet.duration or 0) * tb)
                    if packet.is_keyframe:
                        keys.append(t)
                frames = []
                # without the detector only keyframes reach the decoder: skip_frame alone still parses every
                # packet, and VP9's decoder ignores it (measured: 0.36 CPU-s for the 5 keyframes of the
                # bench's 8 s 1080p H.264, 0.22 for its VP9 clip, which it decoded whole)
                if detector is not None:
                    frames = _decode(packet, out)
                elif packet.is_keyframe and pick is not None and not pick(keys[-1] if keys else 0.0):
                    out.undecoded_keyframes += 1
                elif packet.is_keyframe:
                    if first_frame is not None and first_frame.pts == packet.pts and first_frame.key_frame:
                        frames, first_frame = [first_frame], None
                    else:
                        frames = _decode(packet, out)
            for f in frames:
                if detector is not None:
                    detector.push(len(thumbs), _small_bgr(f))
                thumbs.append(_thumb(f))
                thumb_times.append((f.time or 0.0) - out.start_s)
    except av.error.FFmpegError as exc:
        out.demux_error = str(exc.strerror or exc)
    times.sort()
    out.frame_times, out.keyframe_times = times, sorted(keys)
    out.end_s = end
    if detector is not None:     # in decode order, which the detector's frame numbers follow
        out.sample_times, out.thumbs, out.sample_mode = thumb_times, _stack(thumbs), "decode-all"
    else:
        _keep_samples(out, thumb_times, thumbs, "keyframes")


def _keep_samples(out: FrameScan, times: list[float], thumbs: list[np.ndarray], mode: str) -> None:
    """The samples in time order (a decoder may return them out of order)."""
    order = np.argsort(times, kind="stable") if times else []
    out.sample_times = [times[i] for i in order]
    out.thumbs = _stack([thumbs[i] for i in order])
    out.sample_mode = mode


def _enough_keyframes(out: FrameScan, min_samples: int) -> bool:
    """Keyframes are a fair sample when there are `min_samples` of them, or at least 3 spread no more than
    KEYFRAME_SPACING_S apart on average (a phone's or a streaming service's GOP of 1-2 s)."""
    n = len(out.sample_times)
    if n >= min(min_samples, len(out.frame_times)):
        return True
    return n >= 3 and out.end_s / n <= KEYFRAME_SPACING_S


def _decode(packet, out: FrameScan) -> list:
    import av
    try:
        return packet.decode()
    except av.error.FFmpegError:
        out.decode_errors += 1
        return []


def _stack(thumbs: list[np.ndarray]) -> np.ndarray:
    if not thumbs:
        return np.zeros((0, THUMB_H, THUMB_W), np.uint8)
    return np.stack(thumbs)


def _decode_more(path: Path, out: FrameScan, *, wanted: int) -> None:
    """Decode beyond keyframes, B-frames dropped, and keep about `wanted` frames evenly spaced in time."""
    _decode_pass(path, out, keyframes_only=False, step=out.end_s / wanted if out.end_s else 0.0)


def _decode_keyframes(path: Path, out: FrameScan) -> None:
    """Every keyframe of the primary video stream, decoded (another open and demux: 2 ms for the bench's 480p
    sources), as the samples; its decode errors replace the prescreen's (this pass decodes those keyframes too)."""
    out.decode_errors = 0
    _decode_pass(path, out, keyframes_only=True)
    out.undecoded_keyframes = 0


def _decode_pass(path: Path, out: FrameScan, *, keyframes_only: bool, step: float = 0.0) -> None:
    """Another open and demux of the primary video stream, whose decoded frames become the samples: its
    keyframes (`keyframes_only`), or a frame every `step` seconds of those left when B-frames are dropped (no
    P-frame refers to one in the streams x264 and most encoders write) and the loop filter skipped."""
    import av

    container = _open(path)
    thumbs, times = [], []
    next_t = 0.0
    try:
        s = primary_video_stream(container)
        _one_thread(s)
        s.codec_context.skip_frame = "NONKEY" if keyframes_only else "BIDIR"
        if not keyframes_only:
            _no_loop_filter(s)
        try:
            for packet in container.demux(s):
                if keyframes_only and packet.size and not packet.is_keyframe:
                    continue
                for f in _decode(packet, out):
                    t = (f.time or 0.0) - out.start_s
                    if keyframes_only or t + 1e-6 >= next_t:
                        thumbs.append(_thumb(f))
                        times.append(t)
                        next_t = t + step
        except av.error.FFmpegError as exc:
            out.demux_error = out.demux_error or str(exc.strerror or exc)
    finally:
        container.close()
    _keep_samples(out, times, thumbs, "keyframes" if keyframes_only else "decode-sparse")


def _detector(rules, luma_threshold: float, fps: float):
    from .cuts import make_detector
    from .profile import ClipRules
    r = rules if rules is not None else ClipRules(scene_threshold=luma_threshold)
    return make_detector(r.detector, fps=fps, content_threshold=r.content_threshold,
                         adaptive_threshold=r.adaptive_threshold, luma_threshold=r.scene_threshold,
                         min_scene_s=r.min_scene_s)


def _place_cuts(out: FrameScan, cut_frames: list[int], fps: float, rules, black_luma: float | None) -> None:
    """Frame indices -> times; a cut inside a gradual transition goes (the transition is trimmed whole)."""
    from .cuts import transitions
    from .profile import ClipRules
    r = rules if rules is not None else ClipRules()
    times = out.sample_times
    spans = []
    if r.trim_transitions and len(times):
        frame_s = 1.0 / fps if fps else 0.04
        spans = [(times[a], times[b] + frame_s)
                 for a, b in transitions(out.thumbs, fps, min_change=r.transition_change, black_luma=black_luma)]
    cuts = [times[i] for i in cut_frames if 0 < i < len(times)]
    out.transitions = [(round(a, 6), round(b, 6)) for a, b in spans]
    out.scene_times = [t for t in cuts if not any(a - 1e-6 <= t <= b + 1e-6 for a, b in spans)]
