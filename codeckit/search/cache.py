"""The on-disk cache of sample encodes and their scores, so a repeated or widened search encodes nothing twice."""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from ..codecs.capability import cache_dir
from ..fileio import atomic_write_text

log = logging.getLogger(__name__)

# Bump when what a sample encode or its score means changes, so old entries are not trusted.
CACHE_VERSION = 4


def source_identity(path: str | Path, duration_s: float | None) -> dict:
    """What identifies a source for the cache: its name, duration, extension and size.

    Like ab-av1's sample cache this does not hash the file: cheaper by far, and a different file with
    the same name, duration, extension and byte size is not a case worth a full read of every source.
    """
    p = Path(path)
    return {"name": p.name, "duration": None if duration_s is None else round(float(duration_s), 3),
            "ext": p.suffix.lower(), "size": p.stat().st_size}


def entry_key(parts: dict) -> str:
    """The key of one sample result: every input that changes it (source, span, encode args, scoring)."""
    text = json.dumps({"v": CACHE_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class SampleCache:
    """JSON files under <cache dir>/search/. Every failure is logged as a warning and otherwise ignored:
    a broken cache makes a search slower, never wrong or stopped."""

    def __init__(self, root: str | Path | None = None, enabled: bool = True):
        self.root = Path(root) if root is not None else cache_dir() / "search"
        self.enabled = enabled
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        if not self.enabled:
            return None
        path = self._path(key)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            self.misses += 1
            return None
        except Exception as exc:
            log.warning("ignoring unreadable search cache entry %s: %s", path, exc)
            self.misses += 1
            return None
        self.hits += 1
        return data

    def put(self, key: str, value: dict) -> None:
        if not self.enabled:
            return
        path = self._path(key)
        try:
            atomic_write_text(path, json.dumps(value))
        except Exception as exc:
            log.warning("could not write search cache entry %s: %s", path, exc)
