"""`codeckit package --check DIR`: the delivery rules a package must keep, checked from its manifests and segments.

Rules (each failure names its rule): keyframe (every video segment starts with a sync sample), aligned (segment
boundaries agree across renditions), segment_length (inner segments the configured length +- one frame),
bandwidth (declared HLS BANDWIDTH / AVERAGE-BANDWIDTH and DASH bandwidth within 10 % of the measured peak and
average), peak (peak <= 2 x average), codecs (CODECS / codecs exactly what the init segments hold),
attributes (RESOLUTION and FRAME-RATE present and right), above_source (no rung bigger than the source),
same_segments (HLS and DASH over the same files), manifest (the manifests parse).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import PackageCheckFailed
from .manifests import Track, read_dash, read_hls
from .packager import MASTER, MPD

#: Declared bandwidths may differ from the measured ones by this share (Apple's HLS authoring rule).
BANDWIDTH_TOLERANCE = 0.10
#: A rendition's peak segment bitrate may be at most this many times its average.
PEAK_OVER_AVERAGE = 2.0
#: What a package records about itself (segment length, source size): written by `package`.
PACKAGE_JSON = "package.json"


@dataclass
class Finding:
    rule: str
    where: str
    detail: str


@dataclass
class CheckReport:
    folder: str
    formats: list[str]
    renditions: list[dict] = field(default_factory=list)   # each video/audio track: size, codec, measured rates
    failures: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and bool(self.formats)

    def to_dict(self) -> dict:
        return {"folder": self.folder, "ok": self.ok, "formats": self.formats, "renditions": self.renditions,
                "failures": [asdict(f) for f in self.failures]}


def _within(declared: float | None, measured: float) -> bool:
    return declared is not None and abs(declared - measured) <= BANDWIDTH_TOLERANCE * measured


def check_package(folder: str | os.PathLike, *, segment_s: float | None = None) -> CheckReport:
    """Check one package folder (HLS and/or DASH). `segment_s` defaults to the one package.json records."""
    folder = Path(folder)
    meta = _meta(folder)
    segment_s = segment_s or meta.get("segment_s")
    report = CheckReport(str(folder), [f for f, name in (("hls", MASTER), ("dash", MPD)) if (folder / name).exists()])
    if not report.formats:
        report.failures.append(Finding("manifest", str(folder), f"no {MASTER} or {MPD}"))
        return report
    tracks: dict[str, Track] = {}
    hls_files, dash_files = set(), set()
    try:
        if "hls" in report.formats:
            hls_files, listed = _check_hls(folder, report, tracks)
            _check_listed(MASTER, listed, meta, report)
        if "dash" in report.formats:
            dash_files, listed = _check_dash(folder, report, tracks)
            _check_listed(MPD, listed, meta, report)
    except PackageCheckFailed as exc:
        report.failures.append(Finding("manifest", exc.path or str(folder), exc.message))
        return report
    except Exception as exc:  # a manifest the parsers refuse is a finding, not a crash
        report.failures.append(Finding("manifest", str(folder), f"{type(exc).__name__}: {exc}"))
        return report
    if hls_files and dash_files and hls_files != dash_files:
        report.failures.append(Finding("same_segments", str(folder),
                                       f"{len(hls_files ^ dash_files)} segment files only in one of HLS / DASH"))
    _check_tracks(list(tracks.values()), report, segment_s, meta.get("source"))
    return report


def _meta(folder: Path) -> dict:
    try:
        return json.loads((folder / PACKAGE_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _files(t: Track) -> set[str]:
    return {Path(s.path).resolve().as_posix() for s in t.segments}


def _check_listed(manifest: str, listed: set[str], meta: dict, report: CheckReport) -> None:
    """Every video rung package.json records is in `manifest`, and it lists at least one: a playlist that
    parses to nothing (or lost a rung) passed every other rule."""
    rungs = {r["folder"] for r in meta.get("rungs") or [] if r.get("folder")}
    missing = sorted(rungs - listed)
    if not listed:
        report.failures.append(Finding("renditions", manifest, "lists no video rendition"))
    elif missing:
        report.failures.append(Finding("renditions", manifest, f"does not list the rung(s) {', '.join(missing)} "
                                                               f"that {PACKAGE_JSON} records"))


def _check_hls(folder: Path, report: CheckReport, tracks: dict[str, Track]) -> tuple[set[str], set[str]]:
    """(the segment files, the video tracks' keys) of the HLS package, its rules checked on the way."""
    files: set[str] = set()
    listed: set[str] = set()
    for v in read_hls(folder):
        d, where = v.declared, f"{MASTER} {v.uri}"
        listed.add(v.video.key)
        for t in [v.video, *v.audio]:
            tracks.setdefault(t.key, t)
            files |= _files(t)
        if not _within(d["BANDWIDTH"], v.peak):
            report.failures.append(Finding("bandwidth", where, f"BANDWIDTH {d['BANDWIDTH']} vs measured peak "
                                                              f"{v.peak:.0f}"))
        if not _within(d["AVERAGE-BANDWIDTH"], v.average):
            report.failures.append(Finding("bandwidth", where, f"AVERAGE-BANDWIDTH {d['AVERAGE-BANDWIDTH']} vs "
                                                              f"measured average {v.average:.0f}"))
        want = {v.video.init.codec, *(a.init.codec for a in v.audio)}
        got = set((d["CODECS"] or "").split(",")) - {""}
        if got != want:
            report.failures.append(Finding("codecs", where, f"CODECS {d['CODECS']!r}, the segments hold "
                                                           f"{','.join(sorted(want))!r}"))
        size = (v.video.init.width, v.video.init.height)
        if not d["RESOLUTION"] or tuple(d["RESOLUTION"]) != size:
            report.failures.append(Finding("attributes", where, f"RESOLUTION {d['RESOLUTION']} vs {size}"))
        if not d["FRAME-RATE"]:
            report.failures.append(Finding("attributes", where, "no FRAME-RATE"))
    return files, listed


def _check_dash(folder: Path, report: CheckReport, tracks: dict[str, Track]) -> tuple[set[str], set[str]]:
    """(the segment files, the video tracks' keys) of the DASH package, its rules checked on the way."""
    files: set[str] = set()
    listed: set[str] = set()
    for r in read_dash(folder):
        where, t = f"{MPD} Representation {r.id}", r.track
        tracks.setdefault(t.key, t)
        files |= _files(t)
        if t.kind == "video":
            listed.add(t.key)
        if t.kind == "text":
            continue
        if not _within(r.bandwidth, t.peak):
            report.failures.append(Finding("bandwidth", where, f"bandwidth {r.bandwidth} vs measured peak "
                                                              f"{t.peak:.0f}"))
        if r.codecs != t.init.codec:
            report.failures.append(Finding("codecs", where, f"codecs {r.codecs!r}, the segments hold "
                                                           f"{t.init.codec!r}"))
        if t.kind == "video" and (r.width, r.height) != (t.init.width, t.init.height):
            report.failures.append(Finding("attributes", where, f"{r.width}x{r.height} vs the init segment's "
                                                               f"{t.init.width}x{t.init.height}"))
    return files, listed


def _check_tracks(tracks: list[Track], report: CheckReport, segment_s: float | None, source: dict | None) -> None:
    video = [t for t in tracks if t.kind == "video"]
    for t in tracks:
        report.renditions.append({"key": t.key, "kind": t.kind, "codec": t.init.codec, "width": t.init.width,
                                  "height": t.init.height, "segments": len(t.segments),
                                  "average": round(t.average), "peak": round(t.peak)})
    for t in video:
        for s in t.segments:
            if not s.starts_with_sync:
                report.failures.append(Finding("keyframe", s.path, "the segment does not start with a keyframe"))
        if t.average and t.peak > PEAK_OVER_AVERAGE * t.average:
            report.failures.append(Finding("peak", t.key, f"peak {t.peak:.0f} > {PEAK_OVER_AVERAGE:g} x average "
                                                         f"{t.average:.0f}"))
        if segment_s:
            for s in t.segments[:-1]:
                if abs(t.seconds(s) - segment_s) > t.frame_s * 1.01:
                    report.failures.append(Finding("segment_length", s.path, f"{t.seconds(s):.3f} s, configured "
                                                                            f"{segment_s:.3f} s"))
        if source and (t.init.width > source["width"] or t.init.height > source["height"]):
            report.failures.append(Finding("above_source", t.key, f"{t.init.width}x{t.init.height} is bigger than "
                                                                 f"the source's {source['width']}x{source['height']}"))
    if len(video) > 1:
        ref = video[0]
        starts = [s.start / ref.init.timescale for s in ref.segments]
        for t in video[1:]:
            other = [s.start / t.init.timescale for s in t.segments]
            if len(other) != len(starts) or any(abs(a - b) > ref.frame_s / 2 for a, b in zip(starts, other)):
                report.failures.append(Finding("aligned", t.key, f"segment starts differ from {ref.key}'s"))


__all__ = ["BANDWIDTH_TOLERANCE", "CheckReport", "Finding", "PACKAGE_JSON", "PEAK_OVER_AVERAGE", "check_package"]
