"""Sample encodes (like ab-av1's sample_encode): every sample of a source encoded at one knob value and scored
against the same span of the source, through the sample cache; one knob value tried is one Probe."""
from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

from ..errors import CodeckitError
from ..ffmpeg import run_ffmpeg
from ..probe import MediaInfo
from ..quality import QualitySettings, check_scorable, measure, model_for_size
from ..quality_graph import frame_exact_trim
from .cache import SampleCache, entry_key, source_identity
from .model import KnobGrid
from .samples import (EncodeRecipe, PacketStats, Span, encode_args, extract_window, keyframe_interval_s,
                      packet_profile, plan_samples, sample_count, video_packets, window_input_options,
                      windows_usable)

# Sample scores are subsampled (every 3rd frame) on sources this tall and up: VMAF at 1080p costs about
# half an x264-medium encode per frame. An odd step: encoders lay out frame types in powers of two (x264's
# B-pyramid, SVT-AV1's mini-GOPs), and every 2nd frame picks mostly one type. Replayed over the per-frame
# VMAF of full x264 encodes of the 2-minute bench mix (6 random 1 s samples), every 2nd frame strayed from
# the all-frames mean by 0.20-0.23 VMAF (sd), every 3rd by 0.08-0.09, every 4th by 0.32-0.35.
SUBSAMPLE_FROM_HEIGHT = 720
SAMPLE_SUBSAMPLE = 3

log = logging.getLogger("codeckit.search")


@dataclass
class SampleResult:
    start_s: float | None
    duration_s: float | None
    bytes: int
    frames: int
    seconds: float
    vmaf: float
    scored_frames: int
    encode_cpu_s: float
    score_cpu_s: float
    wall_s: float
    cached: bool = False
    key_bytes: int = 0           # of which keyframes (each sample starts with one)
    keyframes: int = 0
    window_cpu_s: float = 0.0    # decoding the sample's frames from the source once (extract_window)


def _bitrate(results: list[SampleResult], seconds: float, key_every_s: float | None) -> float:
    """Bits per second the samples predict. A sample starts with a keyframe a long encode has only every
    `key_every_s`: the samples' keyframes are counted at that rate instead (None: the whole source, as is)."""
    if not seconds:
        return 0.0
    total = sum(r.bytes for r in results)
    keys = sum(r.keyframes for r in results)
    if key_every_s is None or not keys:
        return 8 * total / seconds
    key_bytes = sum(r.key_bytes for r in results)
    return 8 * (total - key_bytes + key_bytes / keys * seconds / key_every_s) / seconds


@dataclass
class Probe:
    """One knob value tried: every sample encoded at it and scored."""
    knob: float
    vmaf: float                  # frame-weighted mean over the samples
    bytes: int
    seconds: float
    bitrate: float               # bits per second of video
    samples: list[SampleResult]
    cpu_s: float
    wall_s: float
    cached: bool                 # every sample came from the cache


def plain_number(x: float | None):
    """A knob value as people write it: 27, 27.25."""
    if x is None:
        return None
    return int(x) if float(x).is_integer() else float(x)


class Prober:
    """Encodes and scores every sample at a knob value (one probe), through the sample cache; keeps the probes.

    The samples' decoded windows live in a temporary folder until `close()`.
    """

    def __init__(self, src: Path, info: MediaInfo, recipe: EncodeRecipe, grid: KnobGrid, ffmpeg_version: str,
                 *, samples: int | None, sample_duration_s: float | None, model: str, subsample: int | None,
                 cache: bool | str | Path, on_probe: Callable[[Probe], None] | None,
                 score_size: tuple[int, int] | None = None, windows_of: "Prober | None" = None,
                 score_threads: int | None = None, large_subsample: int = SAMPLE_SUBSAMPLE):
        v = info.video[0]
        check_scorable(*(score_size or (v.width, v.height)), src)   # before any sample is encoded
        self.src, self.info, self.v, self.recipe, self.grid = src, info, v, recipe, grid
        self.ffmpeg_version, self.on_probe = ffmpeg_version, on_probe
        profile = packet_profile(src, v.index) if sample_count(info, samples, sample_duration_s) else None
        self.spans = plan_samples(info, count=samples, duration_s=sample_duration_s, profile=profile)
        self.full = len(self.spans) == 1 and self.spans[0].whole
        self.key_every_s = keyframe_interval_s(profile, v.duration_s or info.duration_s)
        if subsample is None:
            subsample = large_subsample if (not self.full and v.height >= SUBSAMPLE_FROM_HEIGHT) else 1
        self.model_name = model_for_size(v.width, v.height).name if model == "auto" else model
        # score_size: every sample scored at this display size (a ladder's top rung), both sides scaled to it
        self.qs = QualitySettings(model=self.model_name, subsample=subsample, size=score_size, threads=score_threads)
        self.store = SampleCache(None if cache is True else (cache if cache else None), enabled=bool(cache))
        self.src_id = source_identity(src, info.duration_s)
        self.fps = v.avg_fps or v.nominal_fps or 25.0
        self.probes: dict[int, Probe] = {}          # by grid position u
        self.workdir = Path(tempfile.mkdtemp(prefix="codeckit-search-"))
        self.use_windows = not self.full and recipe.decoded_windows and windows_usable(info, self.spans, self.workdir)
        self.window_options = window_input_options(info) if self.use_windows else []
        self.windows: dict[int, tuple[Path, float]] = {}   # sample -> (its decoded frames, CPU spent decoding them)
        self.window_dir = self.workdir
        if windows_of is not None and windows_of.spans == self.spans and windows_of.use_windows and self.use_windows:
            # the same samples of the same source (another size or speed of a per-title ladder): their decoded
            # windows are shared, decoded once (on the 1080p bench source, 5 sizes each decoding its own
            # windows spent 7.1 s of a 35 s analysis on it); `windows_of` must stay open while this one runs
            self.windows, self.window_dir = windows_of.windows, windows_of.window_dir

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __call__(self, u: int) -> Probe:
        """Every sample at grid position u, encoded (or from the cache) and scored; the probe is kept."""
        k = self.grid.knob(u)
        t0 = time.monotonic()
        results = [self._sample(i, span, k) for i, span in enumerate(self.spans)]
        return self.keep(u, self.summarize(k, results, time.monotonic() - t0))

    def keep(self, u: int, p: Probe) -> Probe:
        """Record the probe at grid position u (and tell `on_probe`)."""
        self.probes[u] = p
        if self.on_probe:
            self.on_probe(p)
        return p

    def summarize(self, k: float, results: list[SampleResult], wall_s: float = 0.0) -> Probe:
        """The probe at knob value k that these sample results make (all of a probe's, or some of them)."""
        scored = sum(r.scored_frames for r in results)
        seconds = sum(r.seconds for r in results)
        return Probe(knob=plain_number(k), vmaf=sum(r.vmaf * r.scored_frames for r in results) / max(1, scored),
                     bytes=sum(r.bytes for r in results), seconds=seconds,
                     bitrate=_bitrate(results, seconds, None if self.full else self.key_every_s),
                     samples=results,
                     cpu_s=sum(r.window_cpu_s + r.encode_cpu_s + r.score_cpu_s for r in results if not r.cached),
                     wall_s=wall_s, cached=all(r.cached for r in results))

    def _sample(self, i: int, span: Span, k: float) -> SampleResult:
        """One sample at knob value k: from the cache, or encoded, scored and then cached."""
        key = self.sample_key(span, k)
        hit = self.cached(key)
        if hit is not None:
            return hit
        r = self._encode_and_score(i, span, k)
        self.store.put(key, asdict(r))
        return r

    def sample_key(self, span: Span, k: float) -> str:
        """The sample cache's key of one sample at knob value k."""
        return entry_key({"source": self.src_id, "span": [span.start_s, span.pre_roll_s, span.duration_s,
                                                          span.post_roll_s],
                          "encode": self.recipe.cache_parts(k), "score": self.qs.key(),
                          "ffmpeg": self.ffmpeg_version})

    def cached(self, key: str) -> SampleResult | None:
        hit = self.store.get(key)
        if hit is not None:
            try:
                return SampleResult(**{**hit, "cached": True})
            except TypeError as exc:
                log.warning("ignoring a search cache entry of another shape: %s", exc)
        return None

    def _decoded(self, i: int, span: Span) -> tuple[Path, float]:
        """The sample's frames decoded once, on first use; the CPU is counted once, by the first probe."""
        if i in self.windows:
            return self.windows[i][0], 0.0
        path = self.window_dir / f"w{i}.nut"
        run = extract_window(self.src, span, self.v.index, path)
        self.windows[i] = (path, run.cpu_s)
        return self.windows[i]

    def _encode_and_score(self, i: int, span: Span, k: float) -> SampleResult:
        out = self.workdir / f"k{k:g}-s{i}.mkv"
        s0 = time.monotonic()
        window_cpu = 0.0
        if self.use_windows:
            # the sample's frames, decoded once: the encode reads them whole, the scorer from the pre-roll
            ref, window_cpu = self._decoded(i, span)
            args = encode_args(ref, out, self.recipe, k, Span(), 0, input_options=self.window_options)
            ref_ss = 0.0
        else:
            ref, ref_ss = self.src, span.start_s
            args = encode_args(self.src, out, self.recipe, k, span, self.v.index)
        enc = run_ffmpeg(args, subject=self.src, loglevel="error",
                         duration_s=span.encoded_s if not span.whole else self.info.duration_s)
        st = self.encoded_packets(out, k, enc)
        score, scored, score_cpu = self._score(span, ref, ref_ss, out)
        out.unlink(missing_ok=True)
        return self.result(span, st, score, scored, encode_cpu_s=enc.cpu_s, score_cpu_s=score_cpu,
                           wall_s=time.monotonic() - s0, window_cpu_s=window_cpu)

    def encoded_packets(self, out: Path, k: float, enc) -> PacketStats:
        """The sample encode's video packets; CodeckitError (FFmpeg's last lines) when it made no frame."""
        st = video_packets(out)
        if st.frames == 0:
            impl = self.recipe.implementation
            raise CodeckitError(f"the sample encode with {impl.name} at {impl.knob.option} {k:g} produced no frames",
                                path=self.src, stderr_tail=enc.stderr_tail)
        return st

    def result(self, span: Span, st: PacketStats, vmaf: float, scored: int, *, encode_cpu_s: float,
               score_cpu_s: float, wall_s: float, window_cpu_s: float) -> SampleResult:
        """One sample's result from its encode's packets and its score."""
        return SampleResult(start_s=span.start_s, duration_s=span.duration_s, bytes=st.bytes, frames=st.frames,
                            seconds=st.seconds or st.frames / self.fps, vmaf=vmaf, scored_frames=scored,
                            encode_cpu_s=encode_cpu_s, score_cpu_s=score_cpu_s, wall_s=wall_s,
                            key_bytes=st.key_bytes, keyframes=st.keyframes, window_cpu_s=window_cpu_s)

    def _score(self, span: Span, ref: Path, ref_ss: float, out: Path) -> tuple[float, int, float]:
        """(VMAF, frames scored, CPU seconds) of the sample encode `out` against the same span of `ref`."""
        if span.whole:
            q = measure(self.src, out, self.qs)
            return q.score, q.frames, q.cpu_s
        start_s, duration_s, lead = self.score_trim(span)
        q = measure(ref, out, self.qs, offset_s=-ref_ss, start_s=start_s, duration_s=duration_s)
        return (*self.sample_vmaf(q, lead), q.cpu_s)

    def score_trim(self, span: Span) -> tuple[float, float, bool]:
        """(start, duration) of a sample's score in its window, and whether it starts a frame early.
        Scored from one frame before the span, whose score is dropped: libvmaf's motion feature is 0 on the
        first frame it sees, which lowers that frame's VMAF (by up to 0.2 on a 1 s sample), and a long
        encode has no such frame at that point."""
        lead_s = 1.0 / self.fps
        lead = lead_s if span.pre_roll_s >= lead_s else 0.0
        start_s, duration_s = span.pre_roll_s - lead, span.duration_s + lead
        if not self.v.vfr:
            # the same frames, with the trim's ends off any frame: at 24/30/50/60 fps the end fell exactly on
            # one, and the batched path's chained score (which plans frame counts) was not tried there
            start_s, duration_s = frame_exact_trim(start_s, duration_s, Fraction(self.fps).limit_denominator(1001))
        return start_s, duration_s, bool(lead)

    @staticmethod
    def sample_vmaf(q, lead: bool) -> tuple[float, int]:
        """(VMAF, frames scored) of a sample's score, the lead frame dropped."""
        values = q.per_frame["vmaf"][1:] if lead and q.frames > 1 else q.per_frame["vmaf"]
        return sum(values) / len(values), len(values)


__all__ = ["Probe", "Prober", "SAMPLE_SUBSAMPLE", "SUBSAMPLE_FROM_HEIGHT", "SampleResult", "plain_number"]
