"""Check a written output before it is renamed into place: streams, packets, duration, and sampled GOPs decode.

A full decode costs about 15 % of an x264-medium encode at 1080p, so the default check is cheaper and still
catches what goes wrong in practice (a muxer cut short, a missing stream, a broken bitstream, lost frames):
demux every packet without decoding (stream presence, packet count, duration against the source), then decode
a few GOPs from their keyframes: the first, one in the middle and the last (`frames_per_gop` of each; the
encode decides how many by where the bits come from: `codeckit.encode._verify_depth`). `mode="full"` decodes
everything.
"""
from __future__ import annotations

import struct
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

from .errors import VerifyError
from .plan import Expectation
from .probe import codec_name, primary_video_stream
from .sources import decode_now, open_media, packets

VERIFY_MODES = ("sample", "full", "off")
#: GOPs decoded by the sampled check, and the most frames decoded from each.
SAMPLE_GOPS = 3
FRAMES_PER_GOP = 16


@dataclass
class VerifyReport:
    path: str
    mode: str
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None
    sar: str | None = None                # "1:1"; "0:1" when the file does not say
    fps: str | None = None                # "24/1": the stream's average rate (else its base rate)
    pix_fmt: str | None = None
    video_packets: int = 0
    keyframes: int = 0
    keyframe_indices: list[int] = field(default_factory=list)   # in presentation order; read for `exact` only
    streams: int = 0                      # all of them, the video included
    audio_streams: int = 0
    subtitle_streams: int = 0
    duration_s: float | None = None
    decoded_frames: int = 0
    sampled_gops: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def duration_tolerance(duration_s: float, frame_s: float | None = None) -> float:
    """How far an output's duration may be from the source's: audio priming, the last frame's duration, and
    rounding of VFR timestamps move it a little; a lost second does not pass."""
    return max(0.25 + 2 * (frame_s or 0.04), 0.02 * duration_s)


def frames_tolerance(frames: int, exact: bool, conform: bool = False) -> int:
    """How many video frames an output may have more or fewer than `frames`: exact counts (frames_exact) from a
    duration are off by a frame or two; `conform` (Expectation.exact) allows none, or 5 % for a stream copy."""
    if conform:
        return 0 if exact else max(2, int(frames * 0.05))
    return max(2, round(frames * 0.01)) if exact else max(3, round(frames * 0.05))


def verify_output(path: str | Path, expect: Expectation, *, mode: str = "sample", gops: int = SAMPLE_GOPS,
                  frames_per_gop: int = FRAMES_PER_GOP, subject: str | Path | None = None) -> VerifyReport:
    """Check `path` against `expect`; raise VerifyError naming `subject` (default: the file) and every problem."""
    if mode not in VERIFY_MODES:
        raise ValueError(f"verify mode {mode!r} is not one of {VERIFY_MODES}")
    report = _check(Path(path), expect, mode, gops, frames_per_gop)
    if report.problems:
        raise VerifyError("output check failed: " + "; ".join(report.problems), path=subject or path)
    return report


def describe_output(path: str | Path) -> VerifyReport:
    """What the file holds, read by verify's own demux (streams, sizes, rates, packets, keyframe indices), with
    nothing expected and nothing decoded; `problems` says what could not be read."""
    return _check(Path(path), None, "describe", 0, 0)


def _check(path: Path, expect: Expectation | None, mode: str, gops: int, frames_per_gop: int) -> VerifyReport:
    """Open the file, then each check in turn; one that leaves the next nothing to check ends the run. The exact
    conformance of a normalize clip (`expect.exact`) comes from the same open and demux. Thread time for the
    8 clips normalize writes from the bench's mixed corpus (best of 5 per clip, two interleaved runs): verify,
    then a second open and demux after the rename, 409 and 410 ms (of it the second pass 32); this one pass,
    with integer packet arithmetic, 377 and 383 ms. The sampled decode is the rest (about 40 ms a clip)."""
    import av

    start, cpu0 = time.monotonic(), time.thread_time()
    report = VerifyReport(path=str(path), mode=mode)
    if mode == "off":
        return report
    try:
        container = open_media(path)
    except av.error.FFmpegError as exc:
        report.problems.append(f"cannot be opened: {exc.strerror or exc}")
        return report
    try:
        cut = _truncation(path)
        if cut:
            report.problems.append(cut)
        vs = _read_streams(container, report)
        if vs is not None and expect is not None:
            _check_streams(vs, expect, report)
        spans = None
        if vs is not None:
            spans = _demux_spans(container, vs, report.problems, all_pts=expect is None or expect.exact)
            _read_packets(container, vs, spans, report)
        if expect is None:
            return report
        _check_audio(container, spans, expect, report)
        if spans is None:
            return report
        decodable = _check_packets(spans, expect, report)
        if expect.exact:
            _check_exact(expect, report)
        if decodable:
            vs.codec_context.thread_count = 1  # in this thread: its CPU time is counted (thread_time)
            # the check is that every packet decodes, not how the picture looks: the deblocking filter
            # finds no error (the bitstream is parsed and reconstructed as before) and costs 18 % of a
            # full H.264 decode (8 s 480p24: 0.31 -> 0.25 CPU-s), which a stream copy pays (mode=full)
            vs.codec_context.options = {**vs.codec_context.options, "skip_loop_filter": "all"}
            _decode_gops(container, vs, spans.keyframes, mode, gops, frames_per_gop, report)
    finally:
        container.close()
        report.wall_s = time.monotonic() - start
        report.cpu_s = time.thread_time() - cpu0
    return report


def _read_streams(container, report: VerifyReport):
    """The streams and the video stream's properties, into `report`; the video stream (the primary one, as probe
    picks it), or None (a problem)."""
    report.streams = len(container.streams)
    report.audio_streams = len(container.streams.audio)
    report.subtitle_streams = len(container.streams.subtitles)
    vs = primary_video_stream(container)
    if vs is None:
        report.problems.append("no video stream")
        return None
    cc = vs.codec_context
    report.video_codec = codec_name(cc)
    report.width, report.height, report.pix_fmt = cc.width, cc.height, cc.pix_fmt
    sar = vs.sample_aspect_ratio
    report.sar = f"{sar.numerator}:{sar.denominator}" if sar else "0:1"
    rate = vs.average_rate or vs.base_rate
    report.fps = f"{rate.numerator}/{rate.denominator}" if rate else None
    return vs


def _check_streams(vs, expect: Expectation, report: VerifyReport) -> None:
    """The video's codec and size and the subtitle streams, against `expect`."""
    problems = report.problems
    if report.video_codec != expect.video_codec:
        problems.append(f"video is {report.video_codec}, expected {expect.video_codec}")
    if report.subtitle_streams != expect.subtitle_streams:
        problems.append(f"{report.subtitle_streams} subtitle stream(s), expected {expect.subtitle_streams}")
    if expect.width and (report.width, report.height) != (expect.width, expect.height):
        problems.append(f"size {report.width}x{report.height}, expected {expect.width}x{expect.height}")


@dataclass
class _Spans:
    """Per stream index: packets demuxed, the first start and the last end (in the stream's time base); the
    video's keyframes, and with `all_pts` every video packet's pts."""
    counts: dict[int, int] = field(default_factory=dict)
    first: dict[int, int] = field(default_factory=dict)
    end: dict[int, int] = field(default_factory=dict)
    keyframes: list[int] = field(default_factory=list)        # pts of the video stream's keyframes
    video_pts: list[int] = field(default_factory=list)

    def seconds(self, container, index: int) -> tuple[float, float]:
        """(first start, last end) of stream `index`, in seconds: one conversion per stream."""
        tb = container.streams[index].time_base
        return float(self.first[index] * tb), float(self.end[index] * tb)


def _demux_spans(container, vs, problems: list[str], all_pts: bool = False) -> _Spans:
    """Every packet of every stream, demuxed, none decoded. Integer pts per stream, in its time base (a demuxed
    packet's is its stream's): a Fraction per packet cost 0.78 ms for a 120-packet clip, this 0.34 (the bare
    demux 0.30)."""
    import av

    spans = _Spans()
    counts, first, end, keys, vpts = spans.counts, spans.first, spans.end, spans.keyframes, spans.video_pts
    vi = vs.index
    try:
        for pkt in packets(container, timed=True):
            si, pts = pkt.stream_index, pkt.pts
            t1 = pts + (pkt.duration or 0)
            if si in counts:
                counts[si] += 1
                if pts < first[si]:
                    first[si] = pts
                if t1 > end[si]:
                    end[si] = t1
            else:
                counts[si], first[si], end[si] = 1, pts, t1
            if si == vi:
                if pkt.is_keyframe:
                    keys.append(pts)
                if all_pts:
                    vpts.append(pts)
    except av.error.FFmpegError as exc:
        problems.append(f"cannot be read to the end: {exc.strerror or exc}")
    return spans


def _read_packets(container, vs, spans: _Spans, report: VerifyReport) -> None:
    """The video's packet and keyframe counts and its duration (and keyframe indices, when read), into `report`."""
    report.video_packets, report.keyframes = spans.counts.get(vs.index, 0), len(spans.keyframes)
    if report.video_packets:
        t0, t1 = spans.seconds(container, vs.index)
        report.duration_s = round(t1 - t0, 6)
    if spans.video_pts:
        keys = set(spans.keyframes)
        report.keyframe_indices = [i for i, pts in enumerate(sorted(spans.video_pts)) if pts in keys]


def _check_packets(spans: _Spans, expect: Expectation, report: VerifyReport) -> bool:
    """Packet counts and the video's duration against `expect`; False when the video has nothing to decode."""
    problems = report.problems
    n = report.video_packets
    if n == 0 or not spans.keyframes:
        problems.append("the video stream has no packets" if n == 0 else "the video stream has no keyframe")
        return False
    frame_s = report.duration_s / n
    if expect.duration_s:
        tol = duration_tolerance(expect.duration_s, frame_s)
        if abs(report.duration_s - expect.duration_s) > tol:
            problems.append(f"video lasts {report.duration_s:.3f} s, the source {expect.duration_s:.3f} s")
    if expect.frames:
        tol_n = frames_tolerance(expect.frames, expect.frames_exact, expect.exact)
        if abs(n - expect.frames) > tol_n:
            problems.append(f"{n} video frames, expected {expect.frames}"
                            + ("" if expect.frames_exact else " (estimated)"))
    return True


def _check_exact(expect: Expectation, report: VerifyReport) -> None:
    """What `expect.exact` adds: square pixels, the exact frame rate, the pixel format, a keyframe on every
    keyint-th frame and nowhere else, no stream beyond the expected ones."""
    problems = report.problems
    if report.sar not in ("1:1", "0:1"):
        problems.append(f"SAR {report.sar}")
    if expect.fps and Fraction(report.fps or "0") != Fraction(expect.fps):
        problems.append(f"frame rate {report.fps}, not {expect.fps}")
    if expect.pix_fmt and report.pix_fmt != expect.pix_fmt:
        problems.append(f"pixel format {report.pix_fmt}, not {expect.pix_fmt}")
    keys = report.keyframe_indices
    if expect.keyint and keys != list(range(0, report.video_packets, expect.keyint)):
        problems.append(f"keyframes at {keys[:6]}{'...' if len(keys) > 6 else ''}, not every {expect.keyint} "
                        "frames")
    extra = report.streams - 1 - expect.audio_streams - expect.subtitle_streams
    if extra > 0:
        problems.append(f"{extra} stream(s) besides the video"
                        + (" and the expected audio and subtitles" if expect.audio_streams or expect.subtitle_streams
                           else ""))


def _check_audio(container, spans: _Spans | None, expect: Expectation, report: VerifyReport) -> None:
    """Audio streams present and not empty, unless the source's own audio had nothing to carry: MP4 muxers
    drop a stream that got no sample and MKV keeps it empty (a camera that recorded no sound). The source is
    demuxed only on that path, so a good output costs nothing more."""
    empty = [s.index for s in container.streams.audio if spans is not None and not spans.counts.get(s.index)]
    missing = expect.audio_streams - report.audio_streams
    if (missing > 0 or empty) and missing >= 0 and missing + len(empty) <= _silent_source_audio(expect.source):
        return
    if missing:
        report.problems.append(f"{report.audio_streams} audio stream(s), expected {expect.audio_streams}")
    report.problems += [f"audio stream #{i} has no packets" for i in empty]


def _truncation(path: Path) -> str | None:
    """The container's own size fields against the file's size: 'truncated: ...' when the file ends before
    them, else None. A file cut by 1 % lost its last frame or two, which the frame count's tolerance (2) lets
    pass and FFmpeg's demuxers only log ("File ended prematurely"); reading the headers costs a few seeks."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if head[:4] == b"\x1a\x45\xdf\xa3":
                return _matroska_truncation(f, size)
            if len(head) == 8 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide"):
                return _bmff_truncation(f, size)
    except (OSError, ValueError, struct.error):
        pass            # unreadable headers: the demux checks say what is wrong
    return None


def _bmff_truncation(f, size: int) -> str | None:
    """MP4/MOV: the top-level boxes, each one's size against what is left of the file."""
    pos = 0
    while pos + 8 <= size:
        f.seek(pos)
        head = f.read(16)
        box, kind = struct.unpack_from(">I4s", head)
        if box == 1:
            box = struct.unpack_from(">Q", head, 8)[0]
        elif box == 0:          # to the end of the file
            return None
        if box < 8:             # not a box: leave it to the demuxer
            return None
        if pos + box > size:
            return f"truncated: the {kind.decode('latin-1')!r} box needs {box} bytes, {size - pos} are left"
        pos += box
    return None


def _matroska_truncation(f, size: int) -> str | None:
    """Matroska/WebM: the EBML header, then the Segment's size (FFmpeg writes it back on a seekable file)."""
    f.seek(0)
    _ebml_vint(f, marker=True)
    header_size, _ = _ebml_vint(f)
    f.seek(header_size, 1)
    segment_id, _ = _ebml_vint(f, marker=True)
    segment_size, unknown = _ebml_vint(f)
    if segment_id != 0x18538067 or unknown:
        return None
    need = f.tell() + segment_size
    return f"truncated: the Matroska segment needs {need} bytes, the file has {size}" if need > size else None


def _ebml_vint(f, marker: bool = False) -> tuple[int, bool]:
    """An EBML variable-length integer (an element ID with `marker`, else a size) and whether it is the
    reserved 'unknown size' (all value bits set)."""
    first = f.read(1)
    if not first or first[0] == 0:
        raise ValueError("not an EBML number")
    length = 9 - first[0].bit_length()
    raw = first + f.read(length - 1)
    value = int.from_bytes(raw, "big")
    if not marker:
        value &= (1 << (7 * length)) - 1
    return value, value == (1 << (7 * length)) - 1


def _silent_source_audio(source: str | None) -> int:
    """How many of the source's audio streams hold no packet (0 when it is unknown or cannot be read)."""
    import av

    if not source:
        return 0
    try:
        with open_media(source) as src:      # (a closed container's streams have no index to read)
            audio = {s.index for s in src.streams.audio}
            seen = {p.stream.index for p in packets(src, *src.streams.audio)} if audio else set()
    except (av.error.FFmpegError, OSError):
        return 0
    return len(audio - seen)


def _decode_gops(container, vs, keyframes: list[int], mode: str, gops: int, frames_per_gop: int,
                 report: VerifyReport) -> None:
    """Decode everything (`full`), or up to `gops` GOPs: the first, one in the middle and the last."""
    if mode == "full":
        report.decoded_frames = _decode_from(container, vs, None, None, None, report.problems)
        report.sampled_gops = len(keyframes)
        return
    keyframes = sorted(keyframes)
    picks = sorted({0, len(keyframes) // 2, len(keyframes) - 1})[:max(1, gops)]
    for i in picks:
        stop = keyframes[i + 1] if i + 1 < len(keyframes) else None
        report.decoded_frames += _decode_from(container, vs, keyframes[i], stop, frames_per_gop, report.problems)
        report.sampled_gops += 1
        if report.problems:
            break


def _decode_from(container, vs, pts: int | None, stop_pts: int | None, budget: int | None,
                 problems: list[str]) -> int:
    """Decode from the keyframe at `pts` until `stop_pts` (next keyframe), `budget` frames or the end.

    A budget of one frame decodes the keyframe alone (`decode_now`), not with the P and B frames a B-frame delay
    waits for (x264's 480p output: 4.6 -> 3.2 ms a sampled keyframe)."""
    import av

    decoded = 0
    try:
        container.seek(pts if pts is not None else 0, stream=vs, backward=True, any_frame=False)
        for pkt in container.demux(vs):
            if stop_pts is not None and pkt.pts is not None and pkt.pts >= stop_pts and decoded:
                break
            if budget == 1 and pkt.size:
                decoded = len(decode_now(pkt, vs.codec_context))
                break
            for _frame in pkt.decode():
                decoded += 1
            if budget is not None and decoded >= budget:
                break
    except av.error.FFmpegError as exc:
        where = "from the start" if pts is None else f"from the keyframe at pts {pts}"
        problems.append(f"does not decode {where}: {exc.strerror or exc}")
        return decoded
    if decoded == 0:
        problems.append("a sampled GOP decodes to no frame" if pts is not None else "decodes to no frame")
    return decoded
