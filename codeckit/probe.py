"""MediaInfo from a file, read in-process with PyAV: streams, geometry, timing, color, audio."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

from .errors import ProbeError
from .ffmpeg import check_local_input, refuse_referencing_demuxer
from .sources import decode_now, local_only, open_media

#: Bumped when a field of the JSON schema changes meaning or disappears (additions keep it).
SCHEMA_VERSION = 1

# FFmpeg's enum values (libavutil/pixfmt.h), named as ffprobe names them.
COLOR_PRIMARIES = {0: "reserved", 1: "bt709", 2: "unknown", 4: "bt470m", 5: "bt470bg", 6: "smpte170m",
                   7: "smpte240m", 8: "film", 9: "bt2020", 10: "smpte428", 11: "smpte431", 12: "smpte432",
                   22: "ebu3213"}
COLOR_TRANSFERS = {0: "reserved", 1: "bt709", 2: "unknown", 4: "gamma22", 5: "gamma28", 6: "smpte170m",
                   7: "smpte240m", 8: "linear", 9: "log100", 10: "log316", 11: "iec61966-2-4",
                   12: "bt1361e", 13: "iec61966-2-1", 14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084",
                   17: "smpte428", 18: "arib-std-b67"}
COLOR_SPACES = {0: "gbr", 1: "bt709", 2: "unknown", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m",
                8: "ycgco", 9: "bt2020nc", 10: "bt2020c", 11: "smpte2085", 12: "chroma-derived-nc",
                13: "chroma-derived-c", 14: "ictcp"}
COLOR_RANGES = {0: "unknown", 1: "tv", 2: "pc"}
FIELD_ORDERS = {0: "unknown", 1: "progressive", 2: "tt", 3: "bb", 4: "tb", 5: "bt"}
HDR_TRANSFERS = {"smpte2084": "PQ", "arib-std-b67": "HLG"}

# Packets demuxed (not decoded) to judge whether timestamps are regular.
VFR_SAMPLE_PACKETS = 240
# Containers without an index whose streams carry their parameters in band: the picture size may change and the
# timestamps may restart mid-file (concatenated or spliced captures), so their header's duration and size are
# not the truth. Their video is scanned in full: every packet demuxed, the keyframes decoded.
IN_BAND_FORMATS = frozenset({"mpegts", "mpeg", "mpegvideo", "h264", "hevc", "m4v", "mpegtsraw"})


@dataclass
class VideoStreamInfo:
    index: int
    codec: str
    profile: str | None
    width: int                 # coded (stored) size
    height: int
    sar: str                   # sample aspect ratio, "num:den"
    display_width: int         # after the SAR, before rotation
    display_height: int
    rotation: int              # degrees from the display matrix: 0, 90, 180 or 270
    upright_width: int         # what a player shows: SAR and rotation applied
    upright_height: int
    avg_fps: float | None
    nominal_fps: float | None
    avg_fps_fraction: str | None
    nominal_fps_fraction: str | None
    vfr: bool
    frame_count: int | None
    frame_count_exact: bool    # True: from the container's index; False: duration x frame rate
    pix_fmt: str | None
    bit_depth: int | None
    color_primaries: str
    color_transfer: str
    color_space: str
    color_range: str
    hdr: str | None            # "PQ", "HLG" or None
    field_order: str
    interlaced: bool
    bit_rate: int | None
    duration_s: float | None
    language: str | None = None
    default: bool = False      # the container's default video stream (disposition)
    # every picture size met, when the stream was scanned and its size changes mid-stream (MPEG-TS
    # captures, concatenated segments); empty when there is one size
    frame_sizes: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class AudioStreamInfo:
    index: int
    codec: str
    profile: str | None
    sample_rate: int
    channels: int
    channel_layout: str | None
    bit_rate: int | None
    language: str | None = None


@dataclass
class SubtitleStreamInfo:
    index: int
    codec: str
    language: str | None = None


@dataclass
class MediaInfo:
    path: str
    size_bytes: int
    container: str
    container_long_name: str
    duration_s: float | None
    start_time_s: float | None
    bit_rate: int | None
    video: list[VideoStreamInfo] = field(default_factory=list)
    audio: list[AudioStreamInfo] = field(default_factory=list)
    subtitles: list[SubtitleStreamInfo] = field(default_factory=list)
    chapters: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    # streams that are not pictures, sound or subtitles: Matroska attachments (fonts for ASS subtitles, cover
    # images) and data streams (timecode tracks, camera telemetry). Counted so a plan can say it drops them.
    attachments: int = 0
    data_streams: int = 0

    @property
    def primary_video(self) -> VideoStreamInfo | None:
        return self.video[0] if self.video else None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["schema_version"] = SCHEMA_VERSION
        return d


def _frac(value) -> Fraction | None:
    if value is None:
        return None
    try:
        f = Fraction(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return f if f > 0 else None


def _bit_depth(pix_fmt: str | None) -> int | None:
    if not pix_fmt:
        return None
    import av
    try:
        fmt = av.VideoFormat(pix_fmt)
        return max(c.bits for c in fmt.components)
    except Exception:
        return None


def codec_name(cc) -> str:
    """FFmpeg's codec name (av1), not the decoder's (libdav1d)."""
    try:
        return cc.codec.canonical_name or cc.name
    except Exception:
        return cc.name


def _profile_name(cc) -> str | None:
    try:
        return cc.profile
    except Exception:
        return None


def _timestamps_irregular(container, stream) -> bool:
    """Demux the first packets (no decoding) and tell whether frame durations vary."""
    pts = []
    try:
        for packet in container.demux(stream):
            if packet.pts is not None:
                pts.append(packet.pts)
            if len(pts) >= VFR_SAMPLE_PACKETS:
                break
    except Exception:
        return False
    pts.sort()
    deltas = [b - a for a, b in zip(pts, pts[1:]) if b > a]
    if len(deltas) < 3:
        return False
    deltas.sort()
    lo, hi = deltas[len(deltas) // 20], deltas[-1 - len(deltas) // 20]  # ignore the odd outlier
    return hi > lo * 1.1 and (hi - lo) > 1


def probe(path: str | Path) -> MediaInfo:
    """Read a file's MediaInfo. Raises ProbeError (naming the file and the reason) when it is not usable media.

    Decodes the first video frame: it proves the stream decodes and carries the display matrix
    and color tags that some containers only attach to frames. An object-storage URL is refused (ConfigError,
    code url_not_supported), named as written.
    """
    with probed(path) as done:
        return done.info


@dataclass
class Probed:
    """What `probed` read: the MediaInfo, the container (open, rewound to the start) and the first frame decoded
    of each video stream, by stream index."""
    info: MediaInfo
    container: Any
    first_frames: dict = field(default_factory=dict)


@contextmanager
def probed(path: str | Path) -> Iterator[Probed]:
    """`probe(path)`, with the container kept open for a caller that reads on, and the first frame that the probe
    decoded: normalize's scan demuxes and decodes on the same container rather than opening the file again (FFmpeg's
    stream probe decodes a frame on every open: 22 ms for a 1080p H.264 IDR) and takes that frame as its first
    sample rather than decoding it again. The container is closed when the block ends."""
    import av

    local_only([path], "probe")
    p = check_local_input(path)
    try:
        container = open_media(p)
    except av.error.InvalidDataError:
        raise ProbeError("not a media file, or truncated (FFmpeg found no valid container)", path=p)
    except av.error.FFmpegError as exc:
        raise ProbeError(f"cannot open: {exc.strerror or exc}", path=p) from exc
    try:
        refuse_referencing_demuxer(p, container.format.name)
        first: dict[int, Any] = {}
        info = _read(container, p, first)
        if not info.video and not info.audio:
            raise ProbeError("no video or audio stream", path=p)
        _rewind(container)
        yield Probed(info, container, first)
    finally:
        container.close()


def primary_video_stream(container):
    """The container's video stream that `probe` makes `MediaInfo.primary_video` (the picture every consumer works
    on, the one a clip encodes): the first with the default disposition, else the first; cover art is not one.
    None when there is none."""
    import av

    videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    return next((s for s in videos if s.disposition & av.stream.Disposition.default), videos[0] if videos else None)


def _read(container, p: Path, first_frames: dict | None = None) -> MediaInfo:
    """The MediaInfo of an open container; `first_frames` gets each video stream's first decoded frame."""
    import av

    duration = container.duration / 1e6 if container.duration else None
    info = MediaInfo(
        path=str(p), size_bytes=p.stat().st_size, container=container.format.name,
        container_long_name=container.format.long_name, duration_s=duration,
        start_time_s=container.start_time / 1e6 if container.start_time is not None else None,
        bit_rate=container.bit_rate or None, tags={k: str(v) for k, v in container.metadata.items()},
    )
    try:
        info.chapters = len(container.chapters())
    except Exception:
        info.chapters = 0

    _refuse_truncated_index(container, p, info.size_bytes)
    for s in container.streams.audio:
        cc = s.codec_context
        layout = None
        try:
            layout = cc.layout.name
        except Exception:
            pass
        info.audio.append(AudioStreamInfo(
            index=s.index, codec=codec_name(cc), profile=_profile_name(cc), sample_rate=cc.sample_rate or 0,
            channels=cc.channels or 0, channel_layout=layout, bit_rate=cc.bit_rate or None,
            language=s.metadata.get("language")))
    for s in container.streams.subtitles:
        info.subtitles.append(SubtitleStreamInfo(index=s.index, codec=codec_name(s.codec_context),
                                                 language=s.metadata.get("language")))
    info.attachments = len(container.streams.attachments)
    info.data_streams = len(container.streams.data)
    for s in container.streams.video:
        if s.disposition & av.stream.Disposition.attached_pic:
            continue  # cover art is not a video stream
        _rewind(container)  # the previous stream's reads left the demuxer further on
        info.video.append(_video_stream(container, s, p, duration, first_frames))
    # the default stream first: every consumer takes video[0] as the picture to work on
    info.video.sort(key=lambda v: not v.default)
    return info


def _rewind(container) -> None:
    """Back to the start for the next read; a damaged file that cannot seek is read on from where it is (the
    mutation suite met one: av.error.PermissionError from seek)."""
    import av
    try:
        container.seek(0)
    except av.error.FFmpegError:
        pass


def _refuse_truncated_index(container, p: Path, size: int) -> None:
    """An indexed container (MP4/MOV) whose sample table points past the end of the file was cut short.

    Only the last entries are read: samples are stored in order, and a big file has many.
    """
    for s in container.streams:
        try:
            entries = s.index_entries
            n = len(entries)
            end = max((entries[i].pos + entries[i].size for i in range(max(0, n - 64), n)), default=0)
        except Exception:
            continue
        if end > size:
            raise ProbeError(f"truncated: the container's index reaches byte {end} but the file has {size}", path=p)


def _video_stream(container, s, p: Path, container_duration: float | None,
                  first_frames: dict | None = None) -> VideoStreamInfo:
    import av

    cc = s.codec_context
    width, height = cc.width, cc.height
    if not width or not height:
        raise ProbeError(f"video stream #{s.index} has no frame size (damaged header)", path=p)
    sar = _frac(s.sample_aspect_ratio) or Fraction(1)
    if sar.numerator == 0:
        sar = Fraction(1)
    disp_w, disp_h = (round(width * sar), height) if sar >= 1 else (width, round(height / sar))
    avg = _frac(s.average_rate)
    base = _frac(s.base_rate) or _frac(s.guessed_rate)
    duration = float(s.duration * s.time_base) if s.duration and s.time_base else container_duration

    # The first decoded frame: proves the stream decodes, and carries rotation and color tags.
    rotation, frame_colors, frame_interlaced = 0, None, False
    # one frame: frame threads would only start threads and delay it (8 sources of bench_normalize's mixed
    # corpus, best of 3: 0.216 -> 0.206 CPU-s of probing)
    cc.thread_count = 1
    try:
        frame = _first_frame(container, s)
        if frame is None:
            raise ProbeError(f"video stream #{s.index} has no decodable frame (truncated or empty)", path=p)
        rotation = int(round(frame.rotation or 0)) % 360
        frame_colors = (frame.color_primaries, frame.color_trc, frame.colorspace, frame.color_range)
        frame_interlaced = bool(frame.interlaced_frame)
        if first_frames is not None:
            first_frames[s.index] = frame
    except av.error.FFmpegError as exc:
        raise ProbeError(f"video stream #{s.index} does not decode: {exc.strerror or exc}", path=p) from exc
    _rewind(container)
    irregular = _timestamps_irregular(container, s)

    fc = frame_colors or (None, None, None, None)
    primaries = _color_name(COLOR_PRIMARIES, (cc.color_primaries, fc[0]), unknown=(0, 2))
    transfer = _color_name(COLOR_TRANSFERS, (cc.color_trc, fc[1]), unknown=(0, 2))
    space = _color_name(COLOR_SPACES, (cc.colorspace, fc[2]), unknown=(2,))
    crange = _color_name(COLOR_RANGES, (cc.color_range, fc[3]), unknown=(0,))

    field_order = FIELD_ORDERS.get(int(cc.field_order or 0), "unknown")
    interlaced = field_order in ("tt", "bb", "tb", "bt") or (field_order == "unknown" and frame_interlaced)

    rotation = {0: 0, 90: 90, 180: 180, 270: 270}.get(rotation, rotation)
    up_w, up_h = (disp_h, disp_w) if rotation in (90, 270) else (disp_w, disp_h)

    vfr = bool(avg and base and abs(float(avg) - float(base)) / float(base) > 0.01) or irregular
    if s.frames and s.frames > 0:
        frames, exact = int(s.frames), True
    elif duration and (avg or base):
        # the duration usually ends with the last frame's own duration; the slack absorbs audio priming
        frames, exact = int(duration * float(avg or base) + 0.1), False
    else:
        frames, exact = None, False

    sizes: list[tuple[int, int]] = []
    if container.format.name in IN_BAND_FORMATS:
        _rewind(container)
        scanned = _scan_in_band(container, s)
        if scanned is not None:
            frames, exact, duration, sizes = scanned

    pix_fmt = cc.pix_fmt
    return VideoStreamInfo(
        index=s.index, codec=codec_name(cc), profile=_profile_name(cc), width=width, height=height,
        sar=f"{sar.numerator}:{sar.denominator}", display_width=disp_w, display_height=disp_h,
        rotation=rotation, upright_width=up_w, upright_height=up_h,
        avg_fps=round(float(avg), 6) if avg else None, nominal_fps=round(float(base), 6) if base else None,
        avg_fps_fraction=f"{avg.numerator}/{avg.denominator}" if avg else None,
        nominal_fps_fraction=f"{base.numerator}/{base.denominator}" if base else None,
        vfr=vfr, frame_count=frames, frame_count_exact=exact, pix_fmt=pix_fmt, bit_depth=_bit_depth(pix_fmt),
        color_primaries=primaries, color_transfer=transfer, color_space=space, color_range=crange,
        hdr=HDR_TRANSFERS.get(transfer), field_order=field_order, interlaced=interlaced,
        bit_rate=cc.bit_rate or None, duration_s=round(duration, 6) if duration else None,
        language=s.metadata.get("language"), default=bool(s.disposition & av.stream.Disposition.default),
        frame_sizes=sizes if len(sizes) > 1 else [],
    )


def _first_frame(container, s):
    """The stream's first decoded frame (None when none decodes): a keyframe is decoded by itself
    (`decode_now`), not with the P and B frames its B-frame delay waits for."""
    for packet in container.demux(s):
        frames = decode_now(packet, s.codec_context) if packet.is_keyframe else packet.decode()
        if frames:
            return frames[0]
    return None


def _scan_in_band(container, s) -> tuple[int, bool, float, list[tuple[int, int]]] | None:
    """(frames, exact, duration, sizes met) of a stream read to its end: the packets counted and their durations
    summed (timestamps that jump or restart do not count), the keyframes decoded for their picture size.
    None when the stream cannot be read this way."""
    import av

    cc = s.codec_context
    cc.skip_frame = "NONKEY"
    rate = _frac(s.average_rate) or _frac(s.base_rate) or _frac(s.guessed_rate)
    default_tick = (1 / rate) if rate else None
    frames, total, sizes = 0, Fraction(0), []
    lead: tuple[int, Fraction] | None = None    # (frames, time) before the first keyframe
    try:
        for packet in container.demux(s):
            if packet.size == 0:
                continue
            if packet.is_keyframe and lead is None:
                lead = (frames, total)
            frames += 1
            tick = packet.duration * packet.time_base if packet.duration and packet.time_base else default_tick
            total += tick or 0
            if packet.is_keyframe:
                for frame in cc.decode(packet):
                    if (frame.width, frame.height) not in sizes:
                        sizes.append((frame.width, frame.height))
    except av.error.FFmpegError:
        if not frames:
            return None
    finally:
        cc.skip_frame = "DEFAULT"
    if lead is not None:
        # a stream cut mid-GOP (a TS recorded or split at any byte): its frames before the first keyframe lost
        # their references and the decoder drops them (a 2 s 24 fps TS cut at a quarter: 37 packets, 24 frames)
        frames, total = frames - lead[0], total - lead[1]
    if not frames or not total:
        return None
    return frames, True, float(total), sizes


def _color_name(table: dict[int, str], values, unknown) -> str:
    """The first tagged value among (codec parameters, first frame); containers differ in where they keep it."""
    for v in values:
        if v is not None and int(v) not in unknown:
            return table.get(int(v), str(int(v)))
    return "unknown"
