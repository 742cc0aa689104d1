"""VMAF (with PSNR, SSIM, MS-SSIM and XPSNR on request) of distorted videos against a reference, via libvmaf in FFmpeg."""
from __future__ import annotations

import functools
import json
import math
import os
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from .errors import CodeckitError, ConfigError, ProbeError
from .ffmpeg import Progress, build_info, check_local_input, input_url, run_ffmpeg

# ---------------------------------------------------------------- models


@dataclass(frozen=True)
class VmafModel:
    """One VMAF model as libvmaf names it, and the display it was trained for."""
    name: str                   # codeckit's name for it (and the metric's name in results)
    spec: str                   # libvmaf's `model=` entry (without `name=`)
    size: tuple[int, int]       # the frame size the model expects (for scale="model")
    note: str = ""


MODELS: dict[str, VmafModel] = {m.name: m for m in (
    VmafModel("vmaf_v0.6.1", "version=vmaf_v0.6.1", (1920, 1080), "default: 1080p TV at 3 picture heights"),
    VmafModel("vmaf_v0.6.1neg", "version=vmaf_v0.6.1neg", (1920, 1080),
              "no-enhancement-gain: does not reward sharpening or contrast boosts"),
    VmafModel("vmaf_4k_v0.6.1", "version=vmaf_4k_v0.6.1", (3840, 2160), "4K TV at 1.5 picture heights"),
    # The phone model is vmaf_v0.6.1 with its score transform switched on (libvmaf's enable_transform).
    VmafModel("vmaf_v0.6.1_phone", "version=vmaf_v0.6.1:enable_transform=true", (1920, 1080),
              "vmaf_v0.6.1 for phone viewing (enable_transform)"),
)}
MODEL_ALIASES = {"default": "vmaf_v0.6.1", "vmaf": "vmaf_v0.6.1", "neg": "vmaf_v0.6.1neg",
                 "4k": "vmaf_4k_v0.6.1", "vmaf_4k": "vmaf_4k_v0.6.1", "phone": "vmaf_v0.6.1_phone",
                 "vmaf_phone": "vmaf_v0.6.1_phone", "vmaf_v0.6.1phone": "vmaf_v0.6.1_phone"}
AUTO_MODEL = "auto"
#: References this tall (or this wide) and above get the 4K model when the model is "auto".
UHD_HEIGHT, UHD_WIDTH = 2160, 3840

# Extra metrics: name -> libvmaf feature extractors (XPSNR is FFmpeg's own filter, run beside libvmaf).
EXTRA_METRICS = {"psnr": ("psnr",), "ssim": ("float_ssim",), "ms_ssim": ("float_ms_ssim",), "xpsnr": ()}
# Per-frame keys each extra metric yields, in the order they are reported.
METRIC_KEYS = {"psnr": ("psnr_y", "psnr_cb", "psnr_cr"), "ssim": ("float_ssim",),
               "ms_ssim": ("float_ms_ssim",), "xpsnr": ("xpsnr_y", "xpsnr_u", "xpsnr_v")}
# XPSNR of identical frames is infinite; pooled as this ceiling (libvmaf caps its PSNR the same way, at 60 dB).
XPSNR_CEILING_DB = 100.0

# Pixel formats libvmaf takes: (chroma, bit depth) -> pix_fmt.
_LIBVMAF_FORMATS = {(c, d): f"yuv{c}p" + ("" if d == 8 else f"{d}le")
                    for c in ("420", "422", "444") for d in (8, 10, 12, 16)}


def resolve_model(name: str) -> VmafModel:
    """A model by codeckit's name, an alias, or a path to a libvmaf model JSON file."""
    key = name.strip()
    key = MODEL_ALIASES.get(key.lower(), key)
    if key in MODELS:
        return MODELS[key]
    if key.lower().endswith(".json"):
        path = Path(key)
        if not path.is_file():
            raise ConfigError(f"VMAF model file {path} does not exist")
        return VmafModel(path.stem, f"path={path.resolve()}", (1920, 1080), "model file")
    raise ConfigError(f"unknown VMAF model {name!r}",
                      hint="use one of " + ", ".join([AUTO_MODEL, *MODELS, "phone"]) + " or a model .json file")


def model_for_size(width: int, height: int) -> VmafModel:
    """The model VMAF practice uses for a reference of this size: 4K at 2160p and above, else the 1080p one."""
    if height >= UHD_HEIGHT or width >= UHD_WIDTH:
        return MODELS["vmaf_4k_v0.6.1"]
    return MODELS["vmaf_v0.6.1"]


# ---------------------------------------------------------------- settings and results


@dataclass(frozen=True)
class QualitySettings:
    """How to compare: the model(s), extra metrics, scaling, trimming and libvmaf's threading and subsampling."""
    model: str | tuple[str, ...] = AUTO_MODEL    # or several: each is scored in the same pass
    metrics: tuple[str, ...] = ()                 # extras: psnr, ssim, ms_ssim, xpsnr
    scale: str = "reference"                      # "reference": distorted -> reference size; "model": both -> model's
    subsample: int = 1                            # libvmaf n_subsample: score every Nth frame
    threads: int | None = None                    # libvmaf n_threads; None: every core
    start_s: float = 0.0                          # skip this much of both (after the offset)
    duration_s: float | None = None               # compare only this long
    offset_s: float = 0.0                         # the distorted runs this much later than the reference (<0: earlier)
    duration_tolerance_s: float | None = None     # None: max(0.2 s, 3 frames)
    timeout_s: float | None = None

    def __post_init__(self):
        if isinstance(self.model, list):
            object.__setattr__(self, "model", tuple(self.model))
        if isinstance(self.metrics, (list, str)):
            object.__setattr__(self, "metrics", tuple([self.metrics] if isinstance(self.metrics, str)
                                                      else self.metrics))
        unknown = [m for m in self.metrics if m not in EXTRA_METRICS]
        if unknown:
            raise ConfigError(f"unknown quality metric {unknown[0]!r}",
                              hint="extra metrics: " + ", ".join(EXTRA_METRICS))
        if self.scale not in ("reference", "model"):
            raise ConfigError(f"unknown scale mode {self.scale!r}", hint="use reference or model")
        if int(self.subsample) < 1:
            raise ConfigError("subsample must be 1 or more")
        if self.start_s < 0 or (self.duration_s is not None and self.duration_s <= 0):
            raise ConfigError("start must be >= 0 and duration > 0")

    @property
    def model_names(self) -> tuple[str, ...]:
        return (self.model,) if isinstance(self.model, str) else tuple(self.model)

    def key(self) -> dict:
        """What changes a score: for caches that keep scores (the search's sample cache)."""
        d = asdict(self)
        d.pop("threads"), d.pop("timeout_s")
        return d


@dataclass
class MetricSummary:
    """One metric pooled over the frames compared."""
    name: str
    mean: float
    harmonic_mean: float
    min: float
    max: float
    low_1pct: float          # mean of the worst 1 % of frames (at least one frame)
    low_5pct: float          # mean of the worst 5 % of frames
    frames: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Alignment:
    """What was done to make the two videos comparable, frame for frame."""
    reference_size: tuple[int, int]
    distorted_size: tuple[int, int]
    compared_size: tuple[int, int]
    scaled: list[str]                 # e.g. ["distorted 88x72 -> 176x144 (bicubic)"]
    reference_fps: str | None
    distorted_fps: str | None
    fps_converted: bool               # the distorted was resampled to the reference's rate
    pix_fmt: str                      # what libvmaf was fed
    reference_start_s: float
    distorted_start_s: float
    duration_s: float | None          # what was compared (None: to the end)
    retagged: list[str] = field(default_factory=list)   # e.g. ["reference matrix unknown -> bt709 (label only)"]


@dataclass
class QualityResult:
    """VMAF (and extras) of one distorted video against its reference."""
    reference: str
    distorted: str
    model: str                              # the first (main) model
    vmaf: MetricSummary                     # pooled score of the main model
    metrics: dict[str, MetricSummary]       # every pooled metric: vmaf, other models, psnr_y, float_ssim, xpsnr_y...
    frame_numbers: list[int]                # frames scored (every `subsample`th)
    per_frame: dict[str, list[float]]       # metric -> one value per scored frame
    settings: QualitySettings
    alignment: Alignment
    libvmaf_version: str | None
    wall_s: float
    cpu_s: float
    command: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        """The pooled (mean) VMAF."""
        return self.vmaf.mean

    @property
    def frames(self) -> int:
        return len(self.frame_numbers)

    def to_dict(self, per_frame: bool = False) -> dict:
        d = {"reference": self.reference, "distorted": self.distorted, "model": self.model,
             "vmaf": self.vmaf.mean, "frames": self.frames, "subsample": self.settings.subsample,
             "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
             "alignment": asdict(self.alignment), "libvmaf_version": self.libvmaf_version,
             "wall_s": round(self.wall_s, 3), "cpu_s": round(self.cpu_s, 3)}
        if per_frame:
            d["per_frame"] = self.frame_rows()
        return d

    def frame_rows(self) -> list[dict]:
        """One dict per scored frame: {"frame": n, metric: value, ...}."""
        names = list(self.per_frame)
        return [{"frame": n, **{k: self.per_frame[k][i] for k in names}}
                for i, n in enumerate(self.frame_numbers)]


from .errors import QualityError  # noqa: E402,F401  (defined with every other error; kept importable from here)


# ---------------------------------------------------------------- pooling


def pool(name: str, values: Sequence[float], libvmaf_pooled: dict | None = None) -> MetricSummary:
    """Mean, harmonic mean, min, max and the 1 % / 5 % lows of per-frame values.

    The harmonic mean is libvmaf's: n / sum(1 / (x + 1)) - 1, defined for zero scores. Where libvmaf
    pooled the metric itself its numbers are used, so they agree with its log to the last digit.
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        nan = float("nan")
        return MetricSummary(name, nan, nan, nan, nan, nan, nan, 0)
    ordered = np.sort(arr)

    def low(frac: float) -> float:
        return float(ordered[:max(1, math.ceil(arr.size * frac))].mean())
    summary = MetricSummary(name=name, mean=float(arr.mean()),
                            harmonic_mean=float(arr.size / np.sum(1.0 / (arr + 1.0)) - 1.0),
                            min=float(ordered[0]), max=float(ordered[-1]), low_1pct=low(0.01),
                            low_5pct=low(0.05), frames=int(arr.size))
    if libvmaf_pooled:
        for key, attr in (("mean", "mean"), ("harmonic_mean", "harmonic_mean"), ("min", "min"), ("max", "max")):
            if key in libvmaf_pooled and libvmaf_pooled[key] is not None:
                setattr(summary, attr, float(libvmaf_pooled[key]))
    return summary


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class _Video:
    """What the comparison needs to know of one input."""
    path: Path
    index: int               # the stream's index in the file
    width: int               # as FFmpeg's decoder hands frames over: rotation applied (ffmpeg autorotates)
    height: int
    sar: str
    fps: Fraction | None
    vfr: bool
    pix_fmt: str | None
    duration_s: float | None
    color_space: str = "unknown"     # the YUV matrix tag (probe's names, which are FFmpeg's)
    color_range: str = "unknown"


def _video_of(path: str | Path, role: str) -> _Video:
    p = check_local_input(path)
    st = p.stat()
    return _probe_video(p, st.st_size, st.st_mtime_ns, role)


@functools.lru_cache(maxsize=64)
def _probe_video(p: Path, size: int, mtime_ns: int, role: str) -> _Video:
    # Cached per (path, size, mtime): a search scores many encodes against the same sample.
    from .probe import probe
    info = probe(p)
    if not info.video:
        kinds = "audio only" if info.audio else "no video stream"
        raise QualityError(f"has no video stream to measure ({kinds}); the {role} must be a video", path=p)
    v = info.video[0]
    w, h = (v.height, v.width) if v.rotation in (90, 270) else (v.width, v.height)
    fps_text = v.avg_fps_fraction if not v.vfr else (v.nominal_fps_fraction or v.avg_fps_fraction)
    fps = Fraction(fps_text) if fps_text else None
    return _Video(path=p, index=v.index, width=w, height=h, sar=v.sar, fps=fps, vfr=v.vfr, pix_fmt=v.pix_fmt,
                  duration_s=v.duration_s or info.duration_s, color_space=v.color_space, color_range=v.color_range)


def _format_facts(pix_fmt: str | None) -> tuple[str, int]:
    """(chroma "420"/"422"/"444", bit depth) of a pixel format; unknown formats count as 4:2:0 8-bit.

    RGB and 4:4:4 formats map to 4:4:4; gray, 4:1:1, 4:4:0 and friends to 4:2:0 (libvmaf takes no others).
    """
    if not pix_fmt:
        return "420", 8
    try:
        import av
        fmt = av.VideoFormat(pix_fmt, 16, 16)   # a sized format tells the chroma planes' size
        comps = fmt.components
        depth = max(c.bits for c in comps)
        if fmt.is_rgb:
            return "444", depth
        if len(comps) < 3:
            return "420", depth
        wsub, hsub = comps[0].width // max(1, comps[1].width), comps[0].height // max(1, comps[1].height)
        return {(1, 1): "444", (2, 1): "422"}.get((wsub, hsub), "420"), depth
    except Exception:
        return "420", 8


def libvmaf_pix_fmt(reference_pix_fmt: str | None, distorted_pix_fmt: str | None) -> str:
    """The pixel format both inputs are fed to libvmaf in: the reference's chroma subsampling at the
    higher of the two bit depths (8, 10, 12 or 16), so that neither side loses precision."""
    chroma, rdepth = _format_facts(reference_pix_fmt)
    _, ddepth = _format_facts(distorted_pix_fmt)
    depth = max(rdepth, ddepth)
    depth = min((d for d in (8, 10, 12, 16) if d >= depth), default=16)
    return _LIBVMAF_FORMATS[(chroma, depth)]


def _even(x: float) -> int:
    return max(2, int(round(x / 2.0)) * 2)


def _fps_text(f: Fraction | None) -> str | None:
    return None if f is None else f"{f.numerator}/{f.denominator}"


# ---------------------------------------------------------------- the FFmpeg graph


@dataclass
class _Plan:
    args: list[str]
    alignment: Alignment
    models: list[VmafModel]
    log_path: Path
    xpsnr_path: Path | None
    expected_duration_s: float | None


def _plan(ref: _Video, dist: _Video, s: QualitySettings, workdir: Path) -> _Plan:
    import ffmpeg as ffmpeg_python  # ffmpeg-python: builds the -filter_complex graph and its escaping

    models = [model_for_size(ref.width, ref.height) if m == AUTO_MODEL else resolve_model(m)
              for m in s.model_names]
    ref_ss = s.start_s + max(0.0, -s.offset_s)
    dist_ss = s.start_s + max(0.0, s.offset_s)

    # Durations must agree (after the trims): a shorter distorted means a cut or a wrong pairing.
    ref_left = None if ref.duration_s is None else max(0.0, ref.duration_s - ref_ss)
    dist_left = None if dist.duration_s is None else max(0.0, dist.duration_s - dist_ss)
    if s.duration_s is not None:
        ref_left = s.duration_s if ref_left is None else min(ref_left, s.duration_s)
        dist_left = s.duration_s if dist_left is None else min(dist_left, s.duration_s)
    if ref_left is not None and dist_left is not None:
        frame = 1.0 / float(ref.fps) if ref.fps else 0.04
        tolerance = s.duration_tolerance_s if s.duration_tolerance_s is not None else max(0.2, 3 * frame)
        if abs(ref_left - dist_left) > tolerance:
            raise QualityError(
                f"lasts {dist_left:.3f} s but the reference {ref.path} lasts {ref_left:.3f} s "
                f"(compared from {dist_ss:g} s and {ref_ss:g} s); they differ by more than {tolerance:.3f} s",
                path=dist.path, hint="compare a common part with start/duration/offset, or check the pairing")
        if ref_left <= 0 or dist_left <= 0:
            raise QualityError("nothing to compare after the start/offset", path=dist.path)

    def open_input(v: _Video, ss: float, t: float | None, same_file: bool = False):
        kw = {"protocol_whitelist": "file"}
        if same_file:
            # a file against itself: ffmpeg-python would merge two identical inputs into one node and then
            # refuse the graph; a (harmless) different queue size keeps them two inputs
            kw["thread_queue_size"] = 16
        if ss > 0:
            kw["ss"] = f"{ss:.6f}"
        if t is not None:
            kw["t"] = f"{t:.6f}"
        return ffmpeg_python.input(input_url(v.path), **kw)[str(v.index)]

    # The distorted drives the output (one score per distorted frame; libvmaf repeats the last reference
    # frame past the reference's end), so a distorted a frame or two longer is cut to the reference.
    dist_t = s.duration_s
    if ref_left is not None and dist_left is not None and dist_left > ref_left:
        dist_t = ref_left
    d = open_input(dist, dist_ss, dist_t)
    r = open_input(ref, ref_ss, s.duration_s, same_file=ref.path == dist.path)
    # Both start at zero, whatever their containers' start times or edit lists say.
    d = d.filter("setpts", expr="PTS-STARTPTS")
    r = r.filter("setpts", expr="PTS-STARTPTS")

    # libvmaf's two inputs must agree on the YUV matrix and range tags, and FFmpeg converts one side to the
    # other's when they differ: a matrix through RGB. A side tagged "unknown" is not in another matrix, it
    # is unlabelled: it takes the other side's label instead of a conversion. (An untagged 10-bit encode
    # against its BT.709-tagged source lost 4.7 VMAF to that round trip; so does a raw `ffmpeg -lavfi
    # libvmaf`.) Two different known tags are a real difference and are converted as FFmpeg does.
    retagged: list[str] = []
    for what, option, rv, dv in (("matrix", "colorspace", ref.color_space, dist.color_space),
                                 ("range", "range", ref.color_range, dist.color_range)):
        if rv == dv or (what == "range" and "pc" in (rv, dv)):
            continue                 # an unknown range means limited (tv): against full range it is converted
        if dv == "unknown":
            d = d.filter("setparams", **{option: rv})
            retagged.append(f"distorted {what} unknown -> {rv} (label only)")
        elif rv == "unknown":
            r = r.filter("setparams", **{option: dv})
            retagged.append(f"reference {what} unknown -> {dv} (label only)")

    fps_converted = False
    if ref.fps and (ref.vfr or dist.vfr or dist.fps is None or
                    abs(float(dist.fps) - float(ref.fps)) > 1e-4 * float(ref.fps)):
        # Frame rates differ (or wander): the distorted is resampled to the reference's rate, so each
        # reference frame meets the distorted frame shown at that moment.
        d = d.filter("fps", fps=_fps_text(ref.fps))
        if ref.vfr:
            r = r.filter("fps", fps=_fps_text(ref.fps))
        fps_converted = True

    scaled: list[str] = []
    # Sizes are the coded ones: the SAR is carried along untouched (scaling to a display size would
    # turn an anamorphic pair such as carphone's 176x144 at SAR 128:117 into a size mismatch).
    target = (ref.width, ref.height)
    if s.scale == "model":
        mh = models[0].size[1]
        target = (_even(mh * ref.width / ref.height), mh)
    if (dist.width, dist.height) != target:
        d = d.filter("scale", w=target[0], h=target[1], flags="bicubic")
        scaled.append(f"distorted {dist.width}x{dist.height} -> {target[0]}x{target[1]} (bicubic)")
    if (ref.width, ref.height) != target:
        r = r.filter("scale", w=target[0], h=target[1], flags="bicubic")
        scaled.append(f"reference {ref.width}x{ref.height} -> {target[0]}x{target[1]} (bicubic)")
    if scaled and dist.sar != ref.sar:
        d = d.filter("setsar", sar=ref.sar.replace(":", "/"))

    pix_fmt = libvmaf_pix_fmt(ref.pix_fmt, dist.pix_fmt)
    d = d.filter("format", pix_fmts=pix_fmt)
    r = r.filter("format", pix_fmts=pix_fmt)

    log_path = workdir / "vmaf.json"
    xpsnr_path = workdir / "xpsnr.txt" if "xpsnr" in s.metrics else None
    if xpsnr_path:
        ds, rs = d.split(), r.split()
        d, d2 = ds[0], ds[1]
        r, r2 = rs[0], rs[1]
    if len(models) == 1:
        model_arg = models[0].spec
    else:
        names = _metric_names(models)
        model_arg = "|".join(f"{m.spec}:name={n}" for m, n in zip(models, names))
    # Pair each distorted frame with the reference frame nearest in time. libvmaf's default pairs it with
    # the last reference frame at or before it, which is one frame off whenever a container rounds the
    # timestamps (MKV/WebM keep milliseconds: 33 ms is before 33.37 ms at 29.97 fps).
    opts = {"model": model_arg, "log_fmt": "json", "log_path": str(log_path),
            "n_threads": s.threads or os.cpu_count() or 1, "ts_sync_mode": "nearest"}
    if s.subsample > 1:
        opts["n_subsample"] = int(s.subsample)
    features = [f"name={f}" for m in s.metrics for f in EXTRA_METRICS[m]]
    if features:
        opts["feature"] = "|".join(features)
    outs = [ffmpeg_python.filter([d, r], "libvmaf", **opts)]
    if xpsnr_path:
        outs.append(ffmpeg_python.filter([d2, r2], "xpsnr", stats_file=str(xpsnr_path), ts_sync_mode="nearest"))
    args = ffmpeg_python.output(*outs, "-", f="null").get_args()

    expected = None if ref_left is None or dist_left is None else min(ref_left, dist_left)
    alignment = Alignment(
        reference_size=(ref.width, ref.height), distorted_size=(dist.width, dist.height), compared_size=target,
        scaled=scaled, reference_fps=_fps_text(ref.fps), distorted_fps=_fps_text(dist.fps),
        fps_converted=fps_converted, pix_fmt=pix_fmt, reference_start_s=ref_ss, distorted_start_s=dist_ss,
        duration_s=s.duration_s, retagged=retagged)
    return _Plan(args=args, alignment=alignment, models=models, log_path=log_path, xpsnr_path=xpsnr_path,
                 expected_duration_s=expected)


def _metric_names(models: Sequence[VmafModel]) -> list[str]:
    """The first model's score is "vmaf" (as libvmaf calls a lone model's); the others keep their names."""
    names = ["vmaf"]
    for m in models[1:]:
        n = re.sub(r"[^A-Za-z0-9_.]", "_", m.name)
        while n in names:
            n += "_"
        names.append(n)
    return names


# ---------------------------------------------------------------- reading the logs


def _read_vmaf_log(path: Path, metric_names: Sequence[str], extra: Iterable[str]):
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CodeckitError(f"libvmaf wrote no readable log ({exc})", path=path) from exc
    keep = list(metric_names) + [k for m in extra if m != "xpsnr" for k in METRIC_KEYS[m]]
    frames = data.get("frames") or []
    numbers = [int(f.get("frameNum", i)) for i, f in enumerate(frames)]
    per_frame: dict[str, list[float]] = {}
    for key in keep:
        values = [f["metrics"].get(key) for f in frames]
        if values and all(v is not None for v in values):
            per_frame[key] = [float(v) for v in values]
    pooled = data.get("pooled_metrics") or {}
    return numbers, per_frame, pooled, data.get("version")


_XPSNR_LINE = re.compile(r"^n:\s*(\d+)\s+XPSNR y:\s*(\S+)\s+XPSNR u:\s*(\S+)\s+XPSNR v:\s*(\S+)")


def _read_xpsnr(path: Path) -> dict[int, tuple[float, float, float]]:
    """XPSNR's stats file: "n:    1  XPSNR y: 26.3488  XPSNR u: 36.1993  XPSNR v: 36.3283" (frames from 1)."""
    out = {}
    try:
        text = path.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        m = _XPSNR_LINE.match(line)
        if m:
            vals = tuple(min(XPSNR_CEILING_DB, float(x)) if x.lower() not in ("nan",) else float("nan")
                         for x in m.groups()[1:])
            out[int(m.group(1)) - 1] = vals  # type: ignore[assignment]
    return out


# ---------------------------------------------------------------- measuring


def measure(reference: str | Path, distorted: str | Path, settings: QualitySettings | None = None, *,
            on_progress: Callable[[Progress], None] | None = None, **overrides) -> QualityResult:
    """VMAF of `distorted` against `reference` (plus the extras in `settings.metrics`).

    `overrides` are QualitySettings fields (`model=`, `subsample=`, `metrics=`, `start_s=` ...).
    The distorted is scaled to the reference's coded size with bicubic (or both to the model's size
    with scale="model"), resampled to the reference's frame rate when the rates differ, both start
    at time zero, and both are fed to libvmaf in one pixel format. Raises QualityError (durations
    differ, no video), ProbeError (missing or unreadable file), FeatureMissing (no libvmaf/xpsnr).
    """
    s = replace(settings, **overrides) if settings else QualitySettings(**overrides)
    build = build_info()
    build.require_filter("libvmaf", "VMAF (libvmaf)")
    if "xpsnr" in s.metrics:
        build.require_filter("xpsnr", "XPSNR")
    # Both probes at once: PyAV releases the GIL while it reads, and this is most of codeckit's own overhead.
    with ThreadPoolExecutor(max_workers=2) as pool_:
        ref_f = pool_.submit(_video_of, reference, "reference")
        dist_f = pool_.submit(_video_of, distorted, "distorted video")
        ref, dist = ref_f.result(), dist_f.result()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="codeckit-vmaf-") as tmp:
        plan = _plan(ref, dist, s, Path(tmp))
        run = run_ffmpeg(plan.args, subject=dist.path, timeout=s.timeout_s, on_progress=on_progress,
                         duration_s=plan.expected_duration_s, loglevel="error", exe=build.path)
        names = ["vmaf"] if len(plan.models) == 1 else _metric_names(plan.models)
        numbers, per_frame, pooled, version = _read_vmaf_log(plan.log_path, names, s.metrics)
        if plan.xpsnr_path:
            xp = _read_xpsnr(plan.xpsnr_path)
            if xp:
                for j, key in enumerate(METRIC_KEYS["xpsnr"]):
                    per_frame[key] = [xp.get(n, (float("nan"),) * 3)[j] for n in numbers]
    if not numbers or "vmaf" not in per_frame:
        raise QualityError("no frames were compared (is either video empty after the start/offset?)",
                           path=dist.path, stderr_tail=run.stderr_tail)
    metrics = {k: pool(k, v, pooled.get(k)) for k, v in per_frame.items()}
    return QualityResult(
        reference=str(ref.path), distorted=str(dist.path), model=plan.models[0].name, vmaf=metrics["vmaf"],
        metrics=metrics, frame_numbers=numbers, per_frame=per_frame, settings=s, alignment=plan.alignment,
        libvmaf_version=version, wall_s=time.monotonic() - start, cpu_s=run.cpu_s, command=run.args)


def measure_many(reference: str | Path, distorted: Iterable[str | Path], settings: QualitySettings | None = None,
                 **overrides) -> list[QualityResult]:
    """`measure` for each distorted video against one reference, in order."""
    return [measure(reference, d, settings, **overrides) for d in distorted]


def vmaf(reference: str | Path, distorted: str | Path, **overrides) -> float:
    """The pooled (mean) VMAF of `distorted` against `reference`."""
    return measure(reference, distorted, **overrides).score


__all__ = ["AUTO_MODEL", "Alignment", "EXTRA_METRICS", "MODELS", "MetricSummary", "QualityError",
           "QualityResult", "QualitySettings", "VmafModel", "libvmaf_pix_fmt", "measure", "measure_many",
           "model_for_size", "pool", "resolve_model", "vmaf", "ProbeError"]
