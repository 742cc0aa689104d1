"""A package as its manifests describe it (HLS master + media playlists through `m3u8`, the DASH MPD through lxml),
each track measured from its real segments, and the declared bandwidths rewritten to the measured ones."""
from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PackageCheckFailed
from ..fileio import atomic_write_text
from .mp4boxes import InitInfo, SegmentInfo, read_init, read_segment
from .packager import MASTER, MPD

_MPD_NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


@dataclass
class Track:
    """One rendition's segments, measured: bits per second over each segment, from the bytes and the boxes."""
    key: str                        # the folder its segments live in (v0, audio): the same in HLS and DASH
    init: InitInfo
    segments: list[SegmentInfo]
    declared_s: list[float] = field(default_factory=list)   # each segment's length as the manifest says
    manifest: str = ""                                      # the manifest that declares them (v0.m3u8, ...)

    @property
    def kind(self) -> str:
        return {"vide": "video", "soun": "audio"}.get(self.init.handler, "text")

    def seconds(self, seg: SegmentInfo) -> float:
        return seg.duration / self.init.timescale

    def rates(self) -> list[float]:
        return [s.bytes * 8 / self.seconds(s) for s in self.segments if s.duration]

    @property
    def average(self) -> float:
        total = sum(self.seconds(s) for s in self.segments)
        return sum(s.bytes for s in self.segments) * 8 / total if total else 0.0

    @property
    def peak(self) -> float:
        return max(self.rates(), default=0.0)

    @property
    def frame_s(self) -> float:
        n = sum(s.samples for s in self.segments)
        return sum(self.seconds(s) for s in self.segments) / n if n else 0.0


@dataclass
class Variant:
    """An HLS EXT-X-STREAM-INF: what it declares, and its video track with the audio tracks of its group."""
    uri: str
    declared: dict
    video: Track
    audio: list[Track] = field(default_factory=list)

    @property
    def average(self) -> float:
        return self.video.average + max((a.average for a in self.audio), default=0.0)

    @property
    def peak(self) -> float:
        return self.video.peak + max((a.peak for a in self.audio), default=0.0)


@dataclass
class DashRepresentation:
    id: str
    bandwidth: int | None
    codecs: str | None
    width: int | None
    height: int | None
    track: Track


def _key(uri: str) -> str:
    return uri.replace("\\", "/").rsplit("/", 1)[0] if "/" in uri else uri


def _track(base: Path, init_uri: str, segment_uris: list[str], declared_s: list[float]) -> Track:
    uri = init_uri
    try:
        init = read_init(base / init_uri)
        segments = []
        for uri in segment_uris:
            segments.append(read_segment(base / uri))
    except (OSError, IndexError, StopIteration, ValueError, struct.error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise PackageCheckFailed(f"cannot read it: {reason}", path=uri, code="unreadable_segments") from exc
    return Track(key=_key(init_uri), init=init, segments=segments, declared_s=declared_s)


def _media_playlist(folder: Path, uri: str) -> Track:
    import m3u8
    media = m3u8.load(str(folder / uri))
    base = (folder / uri).parent
    if not media.segment_map:
        raise PackageCheckFailed(f"{uri} has no EXT-X-MAP (not CMAF fMP4)", path=folder, code="not_fmp4")
    track = _track(base, media.segment_map[0].uri, [s.uri for s in media.segments],
                   [float(s.duration) for s in media.segments])
    track.manifest = uri
    return track


def read_hls(folder: str | Path) -> list[Variant]:
    """Every variant of folder/master.m3u8, its media playlists' segments measured."""
    import m3u8
    folder = Path(folder)
    master = m3u8.load(str(folder / MASTER))
    groups: dict[str, list[Track]] = {}
    for m in master.media:
        if m.type == "AUDIO" and m.uri:
            groups.setdefault(m.group_id, []).append(_media_playlist(folder, m.uri))
    variants = []
    for p in master.playlists:
        si = p.stream_info
        declared = {"BANDWIDTH": si.bandwidth, "AVERAGE-BANDWIDTH": si.average_bandwidth, "CODECS": si.codecs,
                    "RESOLUTION": si.resolution, "FRAME-RATE": si.frame_rate}
        audio_group = next((m.group_id for m in p.media if m.type == "AUDIO"), None) if p.media else None
        variants.append(Variant(p.uri, declared, _media_playlist(folder, p.uri), groups.get(audio_group, [])))
    return variants


def _timeline(template) -> list[float]:
    """Each segment's length in seconds, as the SegmentTimeline declares it."""
    scale = int(template.get("timescale", "1"))
    return [int(s.get("d")) / scale for s in template.findall("d:SegmentTimeline/d:S", _MPD_NS)
            for _ in range(1 + int(s.get("r", "0")))]


def read_dash(folder: str | Path) -> list[DashRepresentation]:
    """Every Representation of folder/manifest.mpd (SegmentTemplate + SegmentTimeline), its segments measured."""
    from lxml import etree
    folder = Path(folder)
    root = etree.parse(str(folder / MPD)).getroot()
    if root.get("type", "static") != "static":
        raise PackageCheckFailed("the MPD is not static (type=\"static\" is what on-demand players expect)",
                                 path=folder / MPD, code="mpd_not_static")
    reps = []
    for rep in root.iterfind(".//d:Representation", _MPD_NS):
        tpl = rep.find("d:SegmentTemplate", _MPD_NS)
        if tpl is None:
            tpl = rep.getparent().find("d:SegmentTemplate", _MPD_NS)
        if tpl is None or not tpl.get("initialization"):
            continue    # WebVTT text: plain .vtt segments, nothing to measure or align
        first = int(tpl.get("startNumber", "1"))
        lengths = _timeline(tpl)
        uris = [tpl.get("media").replace("$Number$", str(n)) for n in range(first, first + len(lengths))]
        # attributes every Representation shares may sit on the AdaptationSet (Shaka does so for one rung)
        parent = rep.getparent()
        codecs = rep.get("codecs") or parent.get("codecs")
        w, h = rep.get("width") or parent.get("width"), rep.get("height") or parent.get("height")
        reps.append(DashRepresentation(rep.get("id"), _int(rep.get("bandwidth")), codecs, _int(w), _int(h),
                                       _track(folder, tpl.get("initialization"), uris, lengths)))
    return reps


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def declare_measured(folder: str | Path) -> None:
    """Rewrite the declared bandwidths with the measured ones: HLS BANDWIDTH (peak segment bitrate of the video
    plus its audio) and AVERAGE-BANDWIDTH (average), DASH `bandwidth` (the representation's peak)."""
    folder = Path(folder)
    if (folder / MASTER).exists():
        by_uri = {v.uri: v for v in read_hls(folder)}
        lines = (folder / MASTER).read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines[:-1]):
            v = by_uri.get(lines[i + 1].strip())
            if line.startswith("#EXT-X-STREAM-INF:") and v is not None:
                line = _set_attr(line, "BANDWIDTH", math.ceil(v.peak))
                lines[i] = _set_attr(line, "AVERAGE-BANDWIDTH", math.ceil(v.average))
        atomic_write_text(folder / MASTER, "\n".join(lines) + "\n")
    if (folder / MPD).exists():
        peaks = {r.id: math.ceil(r.track.peak) for r in read_dash(folder)}
        text = (folder / MPD).read_text(encoding="utf-8")

        def swap(m: re.Match) -> str:
            rep_id = m.group(2)
            return m.group(0) if rep_id not in peaks else re.sub(r'bandwidth="\d+"', f'bandwidth="{peaks[rep_id]}"',
                                                                 m.group(0))
        text = re.sub(r'(<Representation\b[^>]*?\bid="([^"]+)"[^>]*>)', swap, text)
        atomic_write_text(folder / MPD, text)


def _set_attr(line: str, name: str, value: int) -> str:
    pattern = rf"(?<=[:,]){re.escape(name)}=\d+"
    if re.search(pattern, line):
        return re.sub(pattern, f"{name}={value}", line)
    return line.replace("#EXT-X-STREAM-INF:", f"#EXT-X-STREAM-INF:{name}={value},", 1)


__all__ = ["DashRepresentation", "Track", "Variant", "declare_measured", "read_dash", "read_hls"]
