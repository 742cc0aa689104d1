"""Just enough ISO BMFF reading to check fMP4 segments: timescale and codec string from an init segment, and each
media segment's start, duration, size and whether its first sample is a sync sample (keyframe).

Read straight from the boxes rather than through the packager's own claims, so the check is independent of
what wrote the package.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"moof", b"traf", b"mvex", b"edts", b"dinf"}
_NON_SYNC = 0x00010000          # sample_is_non_sync_sample in the sample flags


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) for each box in data[start:end]."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            return
        if pos + size > end:    # a cut file: its last box says it is longer than what is left
            raise ValueError(f"truncated: the {kind.decode('latin-1')!r} box needs {size} bytes, "
                             f"{end - pos} are left")
        yield kind, pos + header, pos + size
        pos += size


def _find(data: bytes, path: list[bytes], start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Payload spans of every box at `path` (e.g. [moov, trak, mdia, mdhd])."""
    out = []
    for kind, s, e in _boxes(data, start, end):
        if kind == path[0]:
            if len(path) == 1:
                out.append((s, e))
            elif kind in _CONTAINERS:
                out += _find(data, path[1:], s, e)
            elif kind == b"stsd":   # full box + entry count, then sample entries
                out += _find(data, path[1:], s + 8, e)
    return out


@dataclass
class InitInfo:
    timescale: int
    codec: str              # the RFC 6381 string players are given (avc1.64001f, hvc1.1.6.L93.B0, av01..., mp4a.40.2)
    handler: str            # vide | soun | text
    width: int = 0
    height: int = 0
    skip: int = 0           # media time the edit list cuts off the start (AAC priming), in the timescale


def _first(data: bytes, path: list[bytes]) -> tuple[int, int]:
    found = _find(data, path)
    if not found:
        raise ValueError(f"no {'/'.join(p.decode() for p in path)} box" + (" (an empty file)" if not data else ""))
    return found[0]


def read_init(path: str | Path) -> InitInfo:
    """An init segment's track; ValueError (or struct.error) when it is not one or is cut short."""
    data = Path(path).read_bytes()
    s, _ = _first(data, [b"moov", b"trak", b"mdia", b"mdhd"])
    version = data[s]
    timescale = struct.unpack_from(">I", data, s + (20 if version == 1 else 12))[0]
    hs, _ = _first(data, [b"moov", b"trak", b"mdia", b"hdlr"])
    handler = data[hs + 8:hs + 12].decode("ascii", "replace")
    info = InitInfo(timescale=timescale, codec="", handler=handler, skip=_edit_skip(data))
    stsd = _find(data, [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"])
    if not stsd:
        return info
    entry_kind, es, ee = next(_boxes(data, stsd[0][0] + 8, stsd[0][1]))
    if handler == "vide":
        info.width, info.height = struct.unpack_from(">HH", data, es + 24)
        info.codec = _video_codec(entry_kind.decode("ascii"), data, es + 78, ee)
    elif handler == "soun":
        info.codec = _audio_codec(entry_kind.decode("ascii"), data, es + 28, ee)
    else:
        info.codec = entry_kind.decode("ascii", "replace")
    return info


def _edit_skip(data: bytes) -> int:
    """The media time the first non-empty edit starts at (elst media_time; an empty edit's is -1)."""
    for s, _ in _find(data, [b"moov", b"trak", b"edts", b"elst"]):
        wide = data[s] == 1
        count = struct.unpack_from(">I", data, s + 4)[0]
        for i in range(count):
            p = s + 8 + i * (20 if wide else 12)
            media_time = struct.unpack_from(">q" if wide else ">i", data, p + (8 if wide else 4))[0]
            if media_time >= 0:
                return media_time
    return 0


def _video_codec(fourcc: str, data: bytes, start: int, end: int) -> str:
    boxes = {k: (s, e) for k, s, e in _boxes(data, start, end)}
    if b"avcC" in boxes:
        s, _ = boxes[b"avcC"]
        return f"{fourcc}.{data[s + 1]:02x}{data[s + 2]:02x}{data[s + 3]:02x}"
    if b"hvcC" in boxes:
        s, _ = boxes[b"hvcC"]
        b1 = data[s + 1]
        space = "ABC"[((b1 >> 6) & 3) - 1] if (b1 >> 6) & 3 else ""
        tier = "H" if b1 & 0x20 else "L"
        compat = int.from_bytes(data[s + 2:s + 6], "big")
        compat_rev = int(f"{compat:032b}"[::-1], 2)
        constraints = list(data[s + 6:s + 12])
        while constraints and constraints[-1] == 0:
            constraints.pop()
        tail = "".join(f".{c:X}" for c in constraints)
        return f"{fourcc}.{space}{b1 & 0x1f}.{compat_rev:X}.{tier}{data[s + 12]}{tail}"
    if b"av1C" in boxes:
        s, _ = boxes[b"av1C"]
        b1, b2 = data[s + 1], data[s + 2]
        profile, level, tier = b1 >> 5, b1 & 0x1f, "H" if b2 & 0x80 else "M"
        depth = 12 if (b2 & 0x40 and profile == 2 and b2 & 0x20) else 10 if b2 & 0x40 else 8
        return f"av01.{profile}.{level:02d}{tier}.{depth:02d}"
    return fourcc


def _descriptor(body: bytes, p: int) -> tuple[int, int, int]:
    """(tag, payload start, payload end) of the MPEG-4 descriptor at p (its size in 7-bit groups)."""
    tag, p, size = body[p], p + 1, 0
    while True:
        b = body[p]
        p += 1
        size = (size << 7) | (b & 0x7F)
        if not b & 0x80:
            return tag, p, p + size


def _audio_codec(fourcc: str, data: bytes, start: int, end: int) -> str:
    boxes = {k: (s, e) for k, s, e in _boxes(data, start, end)}
    if fourcc != "mp4a" or b"esds" not in boxes:
        return fourcc
    s, e = boxes[b"esds"]
    body = data[s + 4:e]                      # after the full-box header
    tag, p, _ = _descriptor(body, 0)          # ES_Descriptor
    if tag != 3:
        return fourcc
    flags = body[p + 2]
    p += 3 + (2 if flags & 0x80 else 0) + (1 + body[p + 3] if flags & 0x40 else 0) + (2 if flags & 0x20 else 0)
    tag, p, q = _descriptor(body, p)          # DecoderConfigDescriptor
    if tag != 4:
        return fourcc
    object_type = body[p]
    if p + 13 < q:
        tag, r, _ = _descriptor(body, p + 13)  # DecoderSpecificInfo: the AudioSpecificConfig
        if tag == 5:
            return f"mp4a.{object_type:x}.{body[r] >> 3}"
    return f"mp4a.{object_type:x}"


@dataclass
class SegmentInfo:
    path: str
    bytes: int
    start: int              # baseMediaDecodeTime, in the track's timescale
    duration: int           # sum of the sample durations, in the timescale
    samples: int
    starts_with_sync: bool  # the first sample is a sync sample (a keyframe that playback can start from)


def read_segment(path: str | Path) -> SegmentInfo:
    """The first track's fragments in one media segment (moof + mdat, one or more); ValueError (or struct.error)
    when it has none or is cut short."""
    data = Path(path).read_bytes()
    if not _find(data, [b"mdat"]):
        raise ValueError("no mdat box" + (" (an empty file)" if not data else ""))
    start, duration, samples, first_sync = None, 0, 0, None
    for ms, me in _find(data, [b"moof"]):
        for ts, te in _find(data, [b"traf"], ms, me):
            tfhd = _find(data, [b"tfhd"], ts, te)[0][0]
            flags = int.from_bytes(data[tfhd + 1:tfhd + 4], "big")
            p = tfhd + 8 + (8 if flags & 0x1 else 0) + (4 if flags & 0x2 else 0)
            default_duration = struct.unpack_from(">I", data, p)[0] if flags & 0x8 else 0
            p += 4 if flags & 0x8 else 0
            p += 4 if flags & 0x10 else 0
            default_flags = struct.unpack_from(">I", data, p)[0] if flags & 0x20 else 0
            tfdt = _find(data, [b"tfdt"], ts, te)
            if tfdt and start is None:
                s = tfdt[0][0]
                start = struct.unpack_from(">Q" if data[s] == 1 else ">I", data, s + 4)[0]
            for rs, _ in _find(data, [b"trun"], ts, te):
                d, n, sync = _trun(data, rs, default_duration, default_flags)
                duration, samples = duration + d, samples + n
                first_sync = sync if first_sync is None else first_sync
    return SegmentInfo(path=str(path), bytes=len(data), start=start or 0, duration=duration, samples=samples,
                       starts_with_sync=bool(first_sync))


def _trun(data: bytes, s: int, default_duration: int, default_flags: int) -> tuple[int, int, bool]:
    """(total duration, samples, first sample is sync) of one trun box."""
    flags = int.from_bytes(data[s + 1:s + 4], "big")
    count = struct.unpack_from(">I", data, s + 4)[0]
    p = s + 8 + (4 if flags & 0x1 else 0)
    first_flags = None
    if flags & 0x4:
        first_flags = struct.unpack_from(">I", data, p)[0]
        p += 4
    total, first_sample_flags = 0, None
    for i in range(count):
        d = default_duration
        if flags & 0x100:
            d = struct.unpack_from(">I", data, p)[0]
            p += 4
        p += 4 if flags & 0x200 else 0
        f = default_flags
        if flags & 0x400:
            f = struct.unpack_from(">I", data, p)[0]
            p += 4
        p += 4 if flags & 0x800 else 0
        total += d
        if i == 0:
            first_sample_flags = first_flags if first_flags is not None else f
    return total, count, count > 0 and not (first_sample_flags or 0) & _NON_SYNC


__all__ = ["InitInfo", "SegmentInfo", "read_init", "read_segment"]
