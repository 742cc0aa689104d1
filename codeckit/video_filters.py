"""The encoder-independent video filter chain of a plan, and how a chain is rendered for FFmpeg.

One order: deinterlace -> frame rate -> rotation -> scale (SAR to square pixels, fit/exact size) -> crop/pad
-> setsar=1 -> tone mapping. The encoder's own filters (pixel format, hardware upload) follow, added by the plan.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .probe import VideoStreamInfo
from .profiles import Target


@dataclass(frozen=True)
class Filter:
    """One FFmpeg filter: its name, positional and named options."""
    name: str
    args: tuple = ()
    kwargs: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, name: str, *args, **kwargs) -> "Filter":
        return cls(name, tuple(args), tuple(kwargs.items()))

    def __str__(self) -> str:
        return _filter_chain([self])


def _filter_chain(filters: list[Filter], source: str | None = None) -> str:
    """A filter chain rendered by ffmpeg-python (it escapes option values as FFmpeg's graph parser wants)."""
    import ffmpeg
    stream = ffmpeg.input("in")
    stream = stream[source] if source else stream
    for f in filters:
        stream = stream.filter(f.name, *f.args, **dict(f.kwargs))
    graph = ffmpeg.output(stream, "out").get_args()
    text = graph[graph.index("-filter_complex") + 1]
    if source:
        return text
    # without an input label, drop the [0]...[sN] plumbing: a plain chain such as "scale=w=2:h=2,setsar=1"
    parts = text.split(";")
    return ",".join(p[p.index("]") + 1:p.rindex("[")] if p.startswith("[") else p[:p.rindex("[")]
                    for p in parts)


def filter_graph(filters: list[Filter], video_index: int) -> tuple[str, str]:
    """The -filter_complex text taking input stream 0:INDEX, and the label of its output for -map."""
    text = _filter_chain(filters, source=str(video_index))
    return text, text[text.rindex("["):]


def even(x: float) -> int:
    """The even size nearest to `x` (at least 2), a tie rounded up: 5 -> 6, 9 -> 10.

    Ties go up as FFmpeg's own `scale=-2:H` rounds them (av_rescale, to nearest, ties away from zero), so a
    size codeckit computes is the one FFmpeg would have picked for the same request.
    """
    return max(2, int(x / 2 + 0.5) * 2)


def fps_change(v: VideoStreamInfo, target: Target) -> Fraction | None:
    """The fps filter's rate, when the target changes the source's timing; None to keep it."""
    tv = target.video
    if tv.fps is None:
        return None
    want = Fraction(tv.fps)
    rates = [r for r in (v.avg_fps, v.nominal_fps) if r]
    if tv.fps_mode == "cap":
        return want if any(r > float(want) * 1.001 for r in rates) else None
    if not v.vfr and rates and all(abs(r - float(want)) <= float(want) * 0.0005 for r in rates):
        return None  # already constant at that rate
    return want


def video_filters(v: VideoStreamInfo, target: Target, notes: list[str], tonemap: bool):
    """Input options and the encoder-independent filter chain; and the output's width x height."""
    filters = _deinterlace(v, target, notes) + _frame_rate(v, target, notes)
    input_options, turn = _rotation(v, notes)
    shape, size = _geometry(v, target, notes)
    if v.frame_sizes:
        # one graph for the whole stream: rebuilt at each size change, the fps filter lost a frame at the seam
        # (47 of 48 at 24 fps); the scale filter takes the new size itself
        input_options += ["-reinit_filter", "0"]
    return input_options, filters + turn + shape + _hdr(v, tonemap, notes), size


def _deinterlace(v: VideoStreamInfo, target: Target, notes: list[str]) -> list[Filter]:
    mode = target.video.deinterlace
    if v.interlaced and mode != "off":
        name = "bwdif" if mode == "auto" else mode
        notes.append(f"deinterlace ({name}): the source is interlaced ({v.field_order})")
        # one frame per frame (send_frame) keeps the frame rate and the frame count
        return [Filter.of(name, mode="send_frame", parity="auto", deint="all")]
    if v.interlaced:
        notes.append(f"interlaced source ({v.field_order}) kept interlaced (video.deinterlace = off)")
    return []


def _frame_rate(v: VideoStreamInfo, target: Target, notes: list[str]) -> list[Filter]:
    fps = fps_change(v, target)
    if fps is None:
        return []
    src = f"{v.avg_fps:g} fps" + (" VFR" if v.vfr else "") if v.avg_fps else "unknown rate"
    notes.append(f"frame rate {src} -> constant {fps} fps")
    return [Filter.of("fps", fps=str(fps))]


def _rotation(v: VideoStreamInfo, notes: list[str]) -> tuple[list[str], list[Filter]]:
    """(input options, filters) that turn a rotated picture upright in the graph.

    FFmpeg turns rotated pictures upright itself (autorotate) and then drops the display matrix. We do it
    in the graph instead, so the printed plan is the whole truth: -display_rotation 0 before the input
    makes FFmpeg see no rotation (no autorotate, identity matrix on the output), and transpose does it.
    """
    rot = v.rotation % 360
    if rot not in (90, 180, 270):
        if rot:
            notes.append(f"rotation {rot}° is not a multiple of 90; FFmpeg's autorotate handles it")
        return [], []
    notes.append(f"rotation {rot}° applied to the pixels; the output has no display matrix")
    turn = {90: [Filter.of("transpose", dir="cclock")], 270: [Filter.of("transpose", dir="clock")],
            180: [Filter.of("hflip"), Filter.of("vflip")]}[rot]
    return ["-display_rotation", "0"], turn


def _geometry(v: VideoStreamInfo, target: Target, notes: list[str]) -> tuple[list[Filter], tuple[int, int]]:
    """Scale, crop/pad and setsar in upright display space: SAR applied (square pixels out), then the size
    policy; and the output's width x height."""
    tv = target.video
    sar = Fraction(v.sar.replace(":", "/")) if v.sar not in ("0:1", "1:1") else Fraction(1)
    disp_w, disp_h = v.upright_width, v.upright_height
    coded_w, coded_h = (v.height, v.width) if v.rotation % 360 in (90, 270) else (v.width, v.height)
    out_w, out_h, crop_pad = _output_size(target, sar, (disp_w, disp_h), (coded_w, coded_h), notes)
    filters: list[Filter] = []
    scaled = (out_w, out_h) != (coded_w, coded_h) and not (crop_pad is not None and crop_pad.name == "crop"
                                                             and tv.size == "keep")
    if v.frame_sizes:
        # the size changes mid-stream: a scale to fixed numbers makes every part one size (FFmpeg rebuilds the
        # graph at each change, and the encoder cannot take a new size)
        notes.append("picture size changes mid-stream (" + ", ".join(f"{w}x{h}" for w, h in v.frame_sizes)
                     + f"): every part scaled to {out_w}x{out_h}")
        if not scaled:
            filters.append(Filter.of("scale", w=out_w, h=out_h))
    first = _crop_first(crop_pad, (coded_w, coded_h), (out_w, out_h)) if scaled and not v.frame_sizes else None
    if first is not None:
        # the crop moved before the scale, which then makes only the pixels kept: a portrait phone clip into
        # 854x480 was scaled to 854x1518 and two thirds thrown away (bench_normalize's rotated source: 2.61 ->
        # 2.50 CPU-s for its encode, 3 runs each)
        filters += [first, Filter.of("scale", w=tv.width, h=tv.height)]
    elif scaled:
        filters.append(Filter.of("scale", w=out_w, h=out_h))
    if scaled:
        why = [] if sar == 1 else [f"SAR {v.sar} to square pixels"]
        if tv.size != "keep" and (out_w, out_h) != (even(disp_w), even(disp_h)):
            why.append(f"{tv.size} {tv.width}x{tv.height}")
        notes.append(f"scale {disp_w}x{disp_h} -> {out_w}x{out_h} ({', '.join(why) or 'even size'})")
    if crop_pad is not None:
        if first is None:
            filters.append(crop_pad)
        if tv.size == "exact":
            notes.append(f"{crop_pad.name} to {tv.width}x{tv.height} (aspect = {tv.aspect})"
                         + (" (before the scale)" if first is not None else ""))
    if scaled or sar != 1:
        filters.append(Filter.of("setsar", "1"))
    final = (tv.width, tv.height) if (tv.size == "exact" and crop_pad is not None) else (out_w, out_h)
    return filters, final


def _crop_first(crop: Filter | None, coded: tuple[int, int], scaled: tuple[int, int]) -> Filter | None:
    """The crop that follows a scale, moved before it: the same window in the coded picture's pixels (even
    sizes and offsets, as 4:2:0 needs; within a source pixel of the window), so that the scale makes only the
    pixels kept. None when `crop` is not a crop."""
    if crop is None or crop.name != "crop":
        return None
    k = dict(crop.kwargs)
    fx, fy = coded[0] / scaled[0], coded[1] / scaled[1]
    w, h = min(coded[0], even(k["w"] * fx)), min(coded[1], even(k["h"] * fy))
    x = min(coded[0] - w, max(0, round((k["x"] + k["w"] / 2) * fx - w / 2))) // 2 * 2
    y = min(coded[1] - h, max(0, round((k["y"] + k["h"] / 2) * fy - h / 2))) // 2 * 2
    return Filter.of("crop", w=w, h=h, x=x, y=y)


def _output_size(target: Target, sar: Fraction, disp: tuple[int, int], coded: tuple[int, int],
                 notes: list[str]) -> tuple[int, int, Filter | None]:
    """The scaled width x height the size policy (keep, fit, exact + aspect) asks for, and the crop or pad
    that follows the scale, if any."""
    tv = target.video
    (disp_w, disp_h), (coded_w, coded_h) = disp, coded
    if tv.size == "keep":
        if sar != 1:
            return even(disp_w), even(disp_h), None
        if coded_w % 2 or coded_h % 2:
            # odd size: cut the last column/row rather than resample the whole picture
            out_w, out_h = coded_w - coded_w % 2, coded_h - coded_h % 2
            notes.append(f"odd size {coded_w}x{coded_h} cropped to {out_w}x{out_h}")
            return out_w, out_h, Filter.of("crop", w=out_w, h=out_h, x=0, y=0)
        return disp_w, disp_h, None
    if tv.size == "fit":
        s = min(tv.width / disp_w, tv.height / disp_h)
        if not tv.upscale:
            s = min(1.0, s)
        if s == 1.0 and sar == 1 and not (coded_w % 2 or coded_h % 2):
            return coded_w, coded_h, None
        return even(disp_w * s), even(disp_h * s), None
    W, H = tv.width, tv.height   # exact
    if tv.aspect == "pad":
        s = min(W / disp_w, H / disp_h)
        out_w, out_h = min(W, even(disp_w * s)), min(H, even(disp_h * s))
        pad = Filter.of("pad", w=W, h=H, x=(W - out_w) // 4 * 2, y=(H - out_h) // 4 * 2, color="black")
        return out_w, out_h, pad if (out_w, out_h) != (W, H) else None
    s = max(W / disp_w, H / disp_h)
    out_w, out_h = max(W, even(disp_w * s)), max(H, even(disp_h * s))
    crop = Filter.of("crop", w=W, h=H, x=(out_w - W) // 4 * 2, y=(out_h - H) // 4 * 2)
    return out_w, out_h, crop if (out_w, out_h) != (W, H) else None


def _hdr(v: VideoStreamInfo, tonemap: bool, notes: list[str]) -> list[Filter]:
    if tonemap:
        notes.append(f"HDR ({v.hdr}) tone-mapped to SDR BT.709 (zscale + tonemap=hable)")
        return _tonemap_filters(v)
    if v.hdr:
        notes.append(f"HDR ({v.hdr}) kept: {v.color_primaries}/{v.color_transfer}/{v.color_space} tags")
    return []


def _tonemap_filters(v: VideoStreamInfo) -> list[Filter]:
    """HDR (PQ or HLG) to SDR BT.709: linear light, hable curve, back to BT.709 limited range."""
    first: dict[str, Any] = {"transfer": "linear", "npl": 100}
    # name the input's colors: zscale would otherwise trust tags some files leave out
    if v.color_transfer in ("smpte2084", "arib-std-b67"):
        first["tin"] = v.color_transfer
    if v.color_primaries == "bt2020":
        first["pin"] = "bt2020"
    if v.color_space in ("bt2020nc", "bt2020c"):
        first["min"] = v.color_space
    if v.color_range in ("tv", "pc"):
        first["rin"] = v.color_range
    return [Filter.of("zscale", **first), Filter.of("format", "gbrpf32le"), Filter.of("zscale", primaries="bt709"),
            Filter.of("tonemap", tonemap="hable", desat=0),
            Filter.of("zscale", transfer="bt709", matrix="bt709", range="tv")]


#: Source matrices that mean "the pixels are RGB": no YUV encoder can tag them (libx264: Unable to parse
#: "colorspace" option value "gbr").
RGB_MATRICES = frozenset({"gbr"})


def is_rgb(pix_fmt: str | None) -> bool:
    """An RGB pixel format (rgb24, bgr0, gbrp, gbrp10le, rgba64le, ...), not YUV or grey."""
    if not pix_fmt:
        return False
    import av
    try:
        return bool(av.VideoFormat(pix_fmt).is_rgb)
    except (ValueError, AttributeError):
        return pix_fmt.startswith(("rgb", "bgr", "gbr", "argb", "abgr", "0rgb", "0bgr"))


def _yuv_matrix(height: int | None) -> str:
    """The matrix an RGB source is converted with: BT.709 from 720 lines up, BT.601 (smpte170m) below, as players
    assume for untagged video of that size."""
    return "bt709" if (height or 0) >= 720 else "smpte170m"


def _rgb_to_yuv_needed(v: VideoStreamInfo, out_pix_fmt: str | None) -> bool:
    return (v.color_space in RGB_MATRICES or is_rgb(v.pix_fmt)) and not is_rgb(out_pix_fmt)


def rgb_to_yuv(v: VideoStreamInfo, out_pix_fmt: str | None, height: int | None, notes: list[str]) -> list[Filter]:
    """An RGB source going to a YUV encoder: the conversion made explicit (matrix and range named) rather than
    left to the scaler FFmpeg inserts, which would use BT.601 whatever the tags then say."""
    if not _rgb_to_yuv_needed(v, out_pix_fmt):
        return []
    matrix = _yuv_matrix(height or v.upright_height)
    notes.append(f"RGB source ({v.pix_fmt}) converted to {out_pix_fmt} with the {matrix} matrix, limited range")
    return [Filter.of("scale", out_color_matrix=matrix, out_range="tv")]


def color_args(v: VideoStreamInfo, tonemap: bool, out_pix_fmt: str | None = None,
               height: int | None = None) -> list[str]:
    """Tag the output with the colors it really has, so players do not guess."""
    if tonemap:
        return ["-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv"]
    space, crange = v.color_space, v.color_range
    if _rgb_to_yuv_needed(v, out_pix_fmt):
        space, crange = _yuv_matrix(height or v.upright_height), "tv"   # what rgb_to_yuv converted to
    elif space in RGB_MATRICES:
        # RGB kept: FFmpeg names the matrix "gbr" but its -colorspace option spells it "rgb"
        space = "rgb" if out_pix_fmt else "unknown"
    args = []
    for opt, value in (("-color_primaries", v.color_primaries), ("-color_trc", v.color_transfer),
                       ("-colorspace", space), ("-color_range", crange)):
        if value and value not in ("unknown", "reserved") and not value.isdigit():
            args += [opt, value]
    return args


__all__ = ["Filter", "RGB_MATRICES", "color_args", "even", "filter_graph", "fps_change", "is_rgb", "rgb_to_yuv",
           "video_filters"]
