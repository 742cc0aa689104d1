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
    notes: list[str] = field(default_factory=list)         # rules that could not be checked, and why

    @property
    def ok(self) -> bool:
        return not self.failures and bool(self.formats)

    def to_dict(self) -> dict:
        return {"folder": self.folder, "ok": self.ok, "formats": self.formats, "renditions": self.renditions,
                "failures": [asdict(f) for f in self.failures], "notes": self.notes}


_MANIFESTS = (("hls", MASTER), ("dash", MPD))


def _within(declared: float | None, measured: float) -> bool:
    return declared is not None and abs(declared - measured) <= BANDWIDTH_TOLERANCE * measured


def check_package(folder: str | os.PathLike, *, segment_s: float | None = None) -> CheckReport:
    """Check one package folder (HLS and/or DASH). `segment_s` defaults to the one package.json records."""
    folder = Path(folder)
    report = CheckReport(str(folder), [f for f, name in _MANIFESTS if (folder / name).exists()])
    if not report.formats:
        report.failures.append(Finding("manifest", str(folder), f"no {MASTER} or {MPD}"))
        return report
    meta = _meta(folder, report)
    segment_s = segment_s or meta.get("segment_s")
    for fmt, name in _MANIFESTS:
        if fmt in meta.get("formats", ()) and fmt not in report.formats:
            report.failures.append(Finding("manifest", name, f"missing, and {PACKAGE_JSON} records {fmt.upper()}"))
    tracks: dict[str, Track] = {}
    files: dict[str, set[str]] = {}
    for fmt, name in _MANIFESTS:
        if fmt not in report.formats:
            continue
        try:
            files[fmt], listed = (_check_hls if fmt == "hls" else _check_dash)(folder, report, tracks)
        except PackageCheckFailed as exc:
            rule = "segments" if exc.code == "unreadable_segments" else "manifest"
            report.failures.append(Finding(rule, exc.path or name, exc.message))
            return report
        except Exception as exc:  # a manifest the parsers refuse is a finding, not a crash
            report.failures.append(Finding("manifest", name, f"{type(exc).__name__}: {exc}"))
            return report
        _check_listed(name, listed, meta, report)
    if files.get("hls") and files.get("dash") and files["hls"] != files["dash"]:
        report.failures.append(Finding("same_segments", str(folder), f"{len(files['hls'] ^ files['dash'])} segment "
                                                                     "files only in one of HLS / DASH"))
    _check_tracks(list(tracks.values()), report, segment_s, meta.get("source"))
    return report


def find_packages(folder: str | os.PathLike) -> list[Path]:
    """`folder` when it is a package, else every package below it (a folder holding package.json or a
    manifest; hidden folders, a run's temporary ones, left out); `[folder]` when none is found."""
    folder = Path(folder)
    names = (PACKAGE_JSON, MASTER, MPD)
    if any((folder / n).exists() for n in names):
        return [folder]
    found = set()
    for dirpath, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if any(n in files for n in names):
            found.add(Path(dirpath))
            dirs[:] = []        # a package's own folders (v0/, audio/) hold no other package
    return sorted(found) or [folder]


#: What package.json may hold that the check reads, and its JSON type.
_META_TYPES = {"segment_s": (int, float), "rungs": list, "source": dict, "formats": list}


def _meta(folder: Path, report: CheckReport) -> dict:
    """package.json's fields the check reads; what is missing or unusable is a note or a finding."""
    path = folder / PACKAGE_JSON
    if not path.exists():
        report.notes.append(f"no {PACKAGE_JSON}: the segment length, the rungs the manifests must list and the "
                            "source's size were not checked")
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        report.failures.append(Finding("manifest", PACKAGE_JSON, f"cannot read it: {exc}"))
        return {}
    if not isinstance(meta, dict):
        report.failures.append(Finding("manifest", PACKAGE_JSON, f"holds a JSON {type(meta).__name__}, "
                                                                 "not an object"))
        return {}
    bad = [k for k, t in _META_TYPES.items() if k in meta and (not isinstance(meta[k], t) or
                                                                 isinstance(meta[k], bool))]
    source = meta.get("source")
    if isinstance(source, dict) and not all(isinstance(source.get(k), int) for k in ("width", "height")):
        bad.append("source")
    rungs = meta.get("rungs")
    if isinstance(rungs, list) and not all(isinstance(r, dict) for r in rungs):
        bad.append("rungs")
    if bad:
        report.failures.append(Finding("manifest", PACKAGE_JSON, f"{', '.join(bad)}: not what codeckit writes"))
    return {k: v for k, v in meta.items() if k not in bad}


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
            if t.key not in tracks:
                _check_durations(t, t.manifest, report)
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
        _check_durations(t, where, report)
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


def _check_durations(t: Track, where: str, report: CheckReport) -> None:
    """The segment lengths the manifest declares (EXTINF, SegmentTimeline) are the segments' own, to one frame:
    players place and seek segments by the declared ones. An audio track's first one plays without what the
    edit list cuts (AAC's 1024 priming samples: 2.027 s held, 2.005 s declared on a 2 s segment at 48 kHz); a
    video track's edit only moves its composition offsets back to 0 (B-frames), every segment as long as held."""
    slack = max(t.frame_s * 1.01, 0.001)
    cut = t.init.skip / t.init.timescale if t.kind == "audio" else 0.0
    held = [t.seconds(s) - (cut if i == 0 else 0.0) for i, s in enumerate(t.segments)]
    wrong = [(s, d, h) for s, d, h in zip(t.segments, t.declared_s, held) if abs(d - h) > slack]
    if wrong:
        s, d, h = wrong[0]
        report.failures.append(Finding("durations", where, f"{len(wrong)} segment(s) declared with another length "
                                                           f"than they hold ({Path(s.path).name}: {d:.3f} s "
                                                           f"declared, {h:.3f} s held)"))


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


__all__ = ["BANDWIDTH_TOLERANCE", "CheckReport", "Finding", "PACKAGE_JSON", "PEAK_OVER_AVERAGE", "check_package",
           "find_packages"]
