"""Sidecar annotations: `NAME.json` or `NAME.srt` beside `NAME.mp4`, carried into the manifest and re-timed per clip.

JSON sidecars may hold anything; every top-level list of objects with numeric `start` and `end` (seconds)
is a timed list: each clip keeps the entries that overlap it, cut to the clip and shifted to start at 0.
Everything else is copied as it is. An SRT file becomes `{"cues": [{"start", "end", "text"}]}`.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from .steps import Item, Step

SIDECAR_SUFFIXES = (".json", ".srt")

_SRT_TIME = re.compile(r"(\d+):(\d{2}):(\d{2})[,.](\d{1,3})")


def find_sidecar(video: Path) -> Path | None:
    for suffix in SIDECAR_SUFFIXES:
        p = video.with_suffix(suffix)
        if p.is_file() and p != video:
            return p
    return None


def _srt_seconds(text: str) -> float:
    m = _SRT_TIME.search(text)
    if not m:
        raise ValueError(f"not an SRT time: {text!r}")
    h, mi, s, ms = m.groups()
    return int(h) * 3600 + int(mi) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def parse_srt(text: str) -> dict:
    cues = []
    for block in re.split(r"\r?\n\s*\r?\n", text.strip().lstrip("\ufeff")):
        lines = [ln for ln in block.splitlines() if ln.strip()]
        idx = next((i for i, ln in enumerate(lines) if "-->" in ln), None)
        if idx is None:
            continue
        start, end = (part.strip() for part in lines[idx].split("-->", 1))
        cues.append({"start": _srt_seconds(start), "end": _srt_seconds(end), "text": "\n".join(lines[idx + 1:])})
    return {"cues": cues}


def load_sidecar(path: Path) -> dict:
    """{"path", "format", "data"}; an unreadable sidecar gives {"path", "format", "error"} (never fatal)."""
    fmt = path.suffix.lstrip(".").lower()
    try:
        text = path.read_text(encoding="utf-8-sig")
        data = parse_srt(text) if fmt == "srt" else json.loads(text)
        if isinstance(data, list):
            data = {"segments": data}
        if not isinstance(data, dict):
            data = {"value": data}
    except (OSError, ValueError) as exc:
        return {"path": str(path), "format": fmt, "error": str(exc)}
    return {"path": str(path), "format": fmt, "data": data}


def _is_timed_list(value) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(e, dict) and isinstance(e.get("start"), (int, float)) and isinstance(e.get("end"), (int, float))
        and not isinstance(e.get("start"), bool) for e in value)


def retime(data: dict, start_s: float, end_s: float) -> dict:
    """The annotations as seen from a clip [start_s, end_s): timed entries overlapping it, shifted to 0."""
    out = {}
    for key, value in data.items():
        if _is_timed_list(value):
            kept = []
            for e in value:
                # an instant (start == end) belongs to the clip [start_s, end_s) it falls in: the overlap test
                # alone dropped one on a clip boundary from both clips
                instant = e["start"] == e["end"] and start_s <= e["start"] < end_s
                if instant or e["end"] > start_s and e["start"] < end_s:
                    e = dict(e)
                    e["start"] = round(max(e["start"], start_s) - start_s, 3)
                    e["end"] = round(min(e["end"], end_s) - start_s, 3)
                    kept.append(e)
            out[key] = kept
        else:
            out[key] = value
    return out


class Annotate(Step):
    """Attaches the sidecar, if any, to the item (re-timed per clip when records are made)."""
    name = "annotations"

    def __call__(self, item: Item) -> Item:
        side = find_sidecar(item.source)
        item.annotations = load_sidecar(side) if side else None
        return item


def clip_annotations(annotations: dict | None, start_s: float, end_s: float) -> dict | None:
    if not annotations:
        return None
    if "data" not in annotations:
        return dict(annotations)
    return {"path": annotations["path"], "format": annotations["format"],
            "data": retime(annotations["data"], start_s, end_s)}
