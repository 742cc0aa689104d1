"""The codec table: codecs, and each implementation of them as one data entry (knob, presets, pixel formats, hw path)."""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

# One speed scale for every implementation, slowest (best compression) to fastest.
SPEEDS = ("slowest", "slower", "slow", "medium", "fast", "faster", "fastest")
SPEED_CHOICES = ", ".join(SPEEDS) + f", or 0-{len(SPEEDS) - 1}"   # the allowed values, for messages

# One quality scale for every implementation: 0 (worst) .. 100 (best useful, near transparent).
# 70 is each implementation's usual default (x264 CRF 23, x265 CRF 28, ...), so equal numbers mean
# roughly equal visual quality across encoders; use a VMAF target when the exact level matters.
DEFAULT_QUALITY = 70.0
QUALITY_ANCHORS = (0.0, DEFAULT_QUALITY, 100.0)


@dataclass(frozen=True)
class Codec:
    name: str                      # FFmpeg's codec name
    title: str
    aliases: tuple[str, ...] = ()
    lossless: bool = False


CODECS: dict[str, Codec] = {c.name: c for c in (
    Codec("h264", "H.264 / AVC", ("avc", "x264")),
    Codec("hevc", "H.265 / HEVC", ("h265", "x265")),
    Codec("av1", "AV1", ()),
    Codec("vp9", "VP9", ()),
    Codec("ffv1", "FFV1 (lossless mezzanine)", (), lossless=True),
    Codec("prores", "Apple ProRes (mezzanine)", ()),
)}


@dataclass(frozen=True)
class Knob:
    """An implementation's quality knob: the option, and its values at quality 0, 70 and 100."""
    option: str                                 # e.g. "-crf", "-cq", "-global_quality"
    at: tuple[float, float, float]              # knob value at QUALITY_ANCHORS
    lo: float                                   # the knob's legal range
    hi: float
    companion: tuple[str, ...] = ()             # args that put the encoder in this mode (e.g. -b:v 0)
    step: float = 1.0                           # the finest change it takes: x264/x265 CRF and NVENC CQ are floats

    @property
    def lower_is_better(self) -> bool:
        return self.at[2] < self.at[0]

    def value_for_quality(self, quality: float) -> int:
        """Piecewise-linear map from the common quality scale to this knob, rounded and clamped."""
        q = max(0.0, min(100.0, float(quality)))
        i = max(1, min(len(QUALITY_ANCHORS) - 1, bisect.bisect_left(QUALITY_ANCHORS, q)))
        q0, q1 = QUALITY_ANCHORS[i - 1], QUALITY_ANCHORS[i]
        v0, v1 = self.at[i - 1], self.at[i]
        value = v0 + (v1 - v0) * (q - q0) / (q1 - q0)
        return int(round(max(self.lo, min(self.hi, value))))

    def quality_for_value(self, value: float) -> float:
        """Inverse of value_for_quality (for reports: which common quality a native value means)."""
        pts = sorted(zip(self.at, QUALITY_ANCHORS))
        xs = [p[0] for p in pts]
        v = max(xs[0], min(xs[-1], float(value)))
        i = max(1, min(len(xs) - 1, bisect.bisect_left(xs, v)))
        (x0, y0), (x1, y1) = pts[i - 1], pts[i]
        return y0 + (y1 - y0) * (v - x0) / (x1 - x0) if x1 != x0 else y0

    def args(self, value: float) -> list[str]:
        return [self.option, self.format(value)] + list(self.companion)

    def format(self, value: float) -> str:
        """The value as the encoder takes it: a whole number, or a multiple of `step` for float knobs."""
        if self.step >= 1:
            return str(int(round(value)))
        snapped = round(round(value / self.step) * self.step, 6)
        return str(int(snapped)) if snapped == int(snapped) else f"{snapped:g}"


@dataclass(frozen=True)
class HwPath:
    """What a hardware implementation needs around the encoder."""
    api: str                                  # nvenc, qsv, vaapi, amf, vulkan, videotoolbox
    global_args: tuple[str, ...] = ()         # before the inputs: device creation
    upload: tuple[str, ...] = ()              # filters after the software format filter


@dataclass(frozen=True)
class Implementation:
    name: str                                   # FFmpeg encoder name
    codec: str
    kind: str                                   # "software" | "hardware"
    knob: Knob | None                           # None: no quality knob (lossless, fixed profile)
    speed_args: tuple[tuple[str, ...], ...]     # one entry per SPEEDS level; () where it has no speed knob
    pix_fmts: dict[int, str]                    # bit depth -> pixel format fed to the encoder
    hw: HwPath | None = None
    extra_args: tuple[str, ...] = ()            # always emitted (e.g. row-mt)
    rank: int = 50                              # within kind, lower is preferred
    note: str = ""

    @property
    def hardware(self) -> bool:
        return self.kind == "hardware"

    @property
    def bit_depths(self) -> tuple[int, ...]:
        return tuple(sorted(self.pix_fmts))

    def args_for_speed(self, speed: str | int) -> list[str]:
        if not any(self.speed_args):
            return []
        return list(self.speed_args[speed_index(speed)])


def speed_index(speed: str | int) -> int:
    """The position on SPEEDS of a speed given by name (any case) or number (0-6, or its digits as text).

    The one speed parser: encoder arguments and profiles (`video.speed`) both read speeds through it.
    """
    if isinstance(speed, int) and not isinstance(speed, bool):
        if 0 <= speed < len(SPEEDS):
            return speed
    elif isinstance(speed, str):
        name = speed.strip().lower()
        if name in SPEEDS:
            return SPEEDS.index(name)
        if name.isdigit() and int(name) < len(SPEEDS):
            return int(name)
    from ..errors import ConfigError
    raise ConfigError(f"unknown speed {speed!r}", hint="use one of " + SPEED_CHOICES)


def _each(option: str, *values) -> tuple[tuple[str, ...], ...]:
    assert len(values) == len(SPEEDS)
    return tuple((option, str(v)) for v in values)


_X26X_PRESETS = _each("-preset", "veryslow", "slower", "slow", "medium", "fast", "veryfast", "ultrafast")
_NVENC_PRESETS = _each("-preset", "p7", "p6", "p5", "p4", "p3", "p2", "p1")
_QSV_PRESETS = _each("-preset", "veryslow", "slower", "slow", "medium", "fast", "faster", "veryfast")
_NO_SPEED: tuple[tuple[str, ...], ...] = ((),) * len(SPEEDS)

_SW8_10 = {8: "yuv420p", 10: "yuv420p10le"}
_HW8_10 = {8: "nv12", 10: "p010le"}
_HW8 = {8: "nv12"}

_VAAPI = HwPath("vaapi", ("-init_hw_device", "vaapi=ck", "-filter_hw_device", "ck"), ("hwupload",))
_VULKAN = HwPath("vulkan", ("-init_hw_device", "vulkan=ck", "-filter_hw_device", "ck"), ("hwupload",))
_NVENC = HwPath("nvenc")
_QSV = HwPath("qsv")
_AMF = HwPath("amf")
_VT = HwPath("videotoolbox")


def _nvenc_knob(hi: float, default: float, best: float) -> Knob:
    # VBR with a CQ target and no bitrate cap is NVENC's constant-quality mode.
    return Knob("-cq", (hi, default, best), 1, hi, ("-rc", "vbr", "-b:v", "0"), step=0.25)


def _amf_knob(hi: float, default: float, best: float) -> Knob:
    # AMF has no single QP option: constant-QP mode with the same I and P quantizer.
    return Knob("-qp_i", (hi, default, best), 0, hi, ())


IMPLEMENTATIONS: tuple[Implementation, ...] = (
    # ---- H.264
    Implementation("libx264", "h264", "software", Knob("-crf", (51, 23, 12), 0, 51, step=0.25), _X26X_PRESETS,
                   {8: "yuv420p", 10: "yuv420p10le"}, rank=10),
    Implementation("h264_nvenc", "h264", "hardware", _nvenc_knob(51, 25, 12), _NVENC_PRESETS, _HW8, _NVENC,
                   ("-tune", "hq"), rank=10),
    Implementation("h264_qsv", "h264", "hardware", Knob("-global_quality", (51, 23, 12), 1, 51),
                   _QSV_PRESETS, _HW8, _QSV, rank=20),
    Implementation("h264_vaapi", "h264", "hardware", Knob("-qp", (51, 25, 12), 0, 52, ("-rc_mode", "CQP")),
                   _NO_SPEED, _HW8, _VAAPI, rank=30),
    Implementation("h264_amf", "h264", "hardware", _amf_knob(51, 25, 12),
                   _each("-quality", "quality", "quality", "quality", "balanced", "balanced", "speed", "speed"),
                   _HW8, _AMF, ("-rc", "cqp"), rank=40),
    Implementation("h264_videotoolbox", "h264", "hardware", Knob("-q:v", (1, 60, 90), 1, 100), _NO_SPEED,
                   _HW8, _VT, rank=50, note="macOS only"),
    Implementation("h264_vulkan", "h264", "hardware", Knob("-qp", (51, 25, 12), 0, 51, ("-rc_mode", "cqp")),
                   _NO_SPEED, _HW8, _VULKAN, rank=60),
    # ---- HEVC
    Implementation("libx265", "hevc", "software", Knob("-crf", (51, 28, 14), 0, 51, step=0.25), _X26X_PRESETS,
                   _SW8_10, extra_args=("-x265-params", "log-level=error"), rank=10),
    Implementation("hevc_nvenc", "hevc", "hardware", _nvenc_knob(51, 27, 14), _NVENC_PRESETS, _HW8_10, _NVENC,
                   ("-tune", "hq"), rank=10),
    Implementation("hevc_qsv", "hevc", "hardware", Knob("-global_quality", (51, 25, 14), 1, 51),
                   _QSV_PRESETS, _HW8_10, _QSV, rank=20),
    Implementation("hevc_vaapi", "hevc", "hardware",
                   Knob("-global_quality", (51, 27, 14), 0, 52, ("-rc_mode", "CQP")),
                   _NO_SPEED, _HW8_10, _VAAPI, rank=30),
    Implementation("hevc_amf", "hevc", "hardware", _amf_knob(51, 27, 14),
                   _each("-quality", "quality", "quality", "quality", "balanced", "balanced", "speed", "speed"),
                   _HW8_10, _AMF, ("-rc", "cqp"), rank=40),
    Implementation("hevc_videotoolbox", "hevc", "hardware", Knob("-q:v", (1, 60, 90), 1, 100), _NO_SPEED,
                   _HW8_10, _VT, rank=50, note="macOS only"),
    Implementation("hevc_vulkan", "hevc", "hardware", Knob("-qp", (51, 27, 14), 0, 51, ("-rc_mode", "cqp")),
                   _NO_SPEED, _HW8_10, _VULKAN, rank=60),
    # ---- AV1
    Implementation("libsvtav1", "av1", "software", Knob("-crf", (63, 35, 15), 1, 63),
                   _each("-preset", 2, 4, 6, 8, 10, 12, 13), _SW8_10, rank=10),
    Implementation("libaom-av1", "av1", "software",
                   # -crf with -b:v 0 is libaom's end-usage=q with cq-level=CRF.
                   Knob("-crf", (63, 32, 15), 0, 63, ("-b:v", "0")),
                   _each("-cpu-used", 1, 2, 3, 4, 5, 6, 8), _SW8_10, extra_args=("-row-mt", "1"), rank=20),
    Implementation("librav1e", "av1", "software", Knob("-qp", (255, 100, 40), 0, 255),
                   _each("-speed", 2, 4, 5, 6, 8, 9, 10), _SW8_10, rank=30),
    Implementation("av1_nvenc", "av1", "hardware", _nvenc_knob(63, 33, 15), _NVENC_PRESETS, _HW8_10, _NVENC,
                   ("-tune", "hq"), rank=10),
    Implementation("av1_qsv", "av1", "hardware", Knob("-global_quality", (255, 110, 40), 1, 255),
                   _QSV_PRESETS, _HW8_10, _QSV, rank=20),
    Implementation("av1_vaapi", "av1", "hardware",
                   Knob("-global_quality", (255, 120, 40), 0, 255, ("-rc_mode", "CQP")),
                   _NO_SPEED, _HW8_10, _VAAPI, rank=30),
    Implementation("av1_amf", "av1", "hardware", _amf_knob(255, 120, 40),
                   _each("-quality", "high_quality", "quality", "quality", "balanced", "balanced", "speed",
                         "speed"), _HW8_10, _AMF, ("-rc", "cqp"), rank=40),
    Implementation("av1_vulkan", "av1", "hardware", Knob("-qp", (255, 120, 40), 0, 255, ("-rc_mode", "cqp")),
                   _NO_SPEED, _HW8_10, _VULKAN, rank=60),
    # ---- VP9
    Implementation("libvpx-vp9", "vp9", "software",
                   # CRF with a zero bitrate is libvpx's constant-quality mode.
                   Knob("-crf", (63, 33, 15), 0, 63, ("-b:v", "0")),
                   (("-deadline", "good", "-cpu-used", "0"), ("-deadline", "good", "-cpu-used", "1"),
                    ("-deadline", "good", "-cpu-used", "2"), ("-deadline", "good", "-cpu-used", "3"),
                    ("-deadline", "good", "-cpu-used", "4"), ("-deadline", "good", "-cpu-used", "5"),
                    ("-deadline", "realtime", "-cpu-used", "8")),
                   _SW8_10, extra_args=("-row-mt", "1"), rank=10),
    Implementation("vp9_qsv", "vp9", "hardware", Knob("-global_quality", (255, 110, 40), 1, 255),
                   _QSV_PRESETS, _HW8_10, _QSV, rank=20),
    Implementation("vp9_vaapi", "vp9", "hardware",
                   Knob("-global_quality", (255, 120, 40), 0, 255, ("-rc_mode", "CQP")),
                   _NO_SPEED, _HW8_10, _VAAPI, rank=30),
    # ---- mezzanine
    Implementation("ffv1", "ffv1", "software", None, _NO_SPEED,
                   {8: "yuv420p", 10: "yuv420p10le"},
                   extra_args=("-level", "3", "-g", "1", "-slices", "4", "-slicecrc", "1"), rank=10,
                   note="lossless"),
    Implementation("prores_ks", "prores", "software", None, _NO_SPEED, {10: "yuv422p10le"},
                   extra_args=("-profile:v", "hq"), rank=10, note="ProRes 422 HQ"),
    Implementation("prores_videotoolbox", "prores", "hardware", None, _NO_SPEED, {10: "p210le"}, _VT,
                   rank=50, note="macOS only"),
)

BY_NAME: dict[str, Implementation] = {i.name: i for i in IMPLEMENTATIONS}


def resolve_codec(name: str) -> Codec:
    key = name.strip().lower()
    if key in CODECS:
        return CODECS[key]
    for codec in CODECS.values():
        if key in codec.aliases:
            return codec
    from ..errors import ConfigError
    raise ConfigError(f"unknown codec {name!r}", hint="known codecs: " + ", ".join(CODECS))


def implementations_of(codec: str) -> list[Implementation]:
    codec = resolve_codec(codec).name
    return sorted((i for i in IMPLEMENTATIONS if i.codec == codec),
                  key=lambda i: (i.kind != "software", i.rank, i.name))


@dataclass
class EncoderArgs:
    """What one implementation adds to an FFmpeg command line."""
    implementation: str
    global_args: list[str] = field(default_factory=list)   # before the inputs (hardware device)
    filters: list[str] = field(default_factory=list)       # appended to the video filter chain
    output_args: list[str] = field(default_factory=list)   # after the inputs, for the video stream
    pix_fmt: str | None = None
    knob_value: float | None = None

    def all_args(self) -> list[str]:
        return self.global_args + self.output_args


def encoder_args(impl: Implementation, *, quality: float | None = None, knob_value: float | None = None,
                 speed: str | int = "medium", bit_depth: int = 8) -> EncoderArgs:
    """The arguments that make `impl` encode at a common quality (or a native knob value) and speed."""
    if bit_depth not in impl.pix_fmts:
        from ..errors import ConfigError
        raise ConfigError(f"{impl.name} cannot encode {bit_depth}-bit video",
                          hint="it takes " + ", ".join(f"{d}-bit" for d in impl.bit_depths))
    pix_fmt = impl.pix_fmts[bit_depth]
    out = ["-c:v", impl.name]
    value = None
    if impl.knob is not None:
        if knob_value is not None:
            value = max(impl.knob.lo, min(impl.knob.hi, float(knob_value)))
        else:
            value = impl.knob.value_for_quality(DEFAULT_QUALITY if quality is None else quality)
        out += impl.knob.args(value)
        if impl.knob.option == "-qp_i":  # AMF: the P-frame quantizer follows the I-frame one
            out += ["-qp_p", str(int(round(value)))]
    out += impl.args_for_speed(speed)
    out += list(impl.extra_args)
    filters: list[str] = []
    if impl.hw and impl.hw.upload:
        filters = [f"format={pix_fmt}", *impl.hw.upload]
    else:
        out += ["-pix_fmt", pix_fmt]
    return EncoderArgs(implementation=impl.name, global_args=list(impl.hw.global_args) if impl.hw else [],
                       filters=filters, output_args=out, pix_fmt=pix_fmt, knob_value=value)


def capped_args(impl: Implementation, output_args: list[str], maxrate: int, bufsize: int) -> tuple[list[str], str]:
    """`output_args` (from encoder_args) made capped quality: the quality knob as it is, and the bitrate held
    under `maxrate` over a `bufsize` window (the VBV of x264/x265, NVENC's VBR-with-CQ, SVT-AV1's capped CRF).
    libaom and libvpx take a cap only in their constrained-quality mode (-b:v the cap, not 0). Constant-QP
    modes (VAAPI, AMF, Vulkan) have no cap: the args come back as they were, and the note says so."""
    args = list(output_args)
    if impl.knob is not None and "CQP" in {a.upper() for a in impl.knob.companion}:
        return args, f"{impl.name} encodes at a constant QP here: no bitrate cap"
    if impl.name in ("libaom-av1", "libvpx-vp9") and "-b:v" in args:
        args[args.index("-b:v") + 1] = str(int(maxrate))
        return args, f"constrained quality, -b:v {int(maxrate)}"
    args += ["-maxrate", str(int(maxrate)), "-bufsize", str(int(bufsize))]
    return args, f"capped quality, maxrate {int(maxrate)} bufsize {int(bufsize)}"
