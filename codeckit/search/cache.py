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
# 5: a whole-source score reads the reference only as long as it says it lasts (quality_graph._reference_t).
# 6: a sample's score trim ends half a frame off any frame (quality_graph.frame_exact_trim); the same frames
#    wherever they were checked (8 rates, NUT windows and MKV encodes), but at 24/30/50/60 fps the old trim's
#    end sat on a frame and its count rested on FFmpeg's timestamp rounding.
CACHE_VERSION = 6
# The source's content enters the key through 16 blocks of 64 KiB spread evenly over it (1 MiB read; the
# whole file when smaller).
DIGEST_BLOCKS = 16
DIGEST_BLOCK_BYTES = 64 * 1024


def source_identity(path: str | Path, duration_s: float | None) -> dict:
    """What identifies a source for the cache: its name, duration, extension and size, as in ab-av1's
    sample cache, and a digest of blocks spread over it.

    Name, duration and size alone took a file rewritten in place for the one before it: raw video (y4m,
    uncompressed MOV) of one size and duration has the same byte size whatever it shows, and a search of
    the new take returned the old take's scores. The blocks tell them apart without reading the whole file
    (a change that falls between the blocks of a raw file keeps the old entries); the mtime is left out so
    that a copy of the same file (a staged object, a moved folder) still finds its samples.
    """
    p = Path(path)
    size = p.stat().st_size
    return {"name": p.name, "duration": None if duration_s is None else round(float(duration_s), 3),
            "ext": p.suffix.lower(), "size": size, "blocks": _blocks_digest(p, size)}


def _blocks_digest(p: Path, size: int) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(p, "rb") as f:
        if size <= DIGEST_BLOCKS * DIGEST_BLOCK_BYTES:
            h.update(f.read())
        else:
            for i in range(DIGEST_BLOCKS):
                f.seek((size - DIGEST_BLOCK_BYTES) * i // (DIGEST_BLOCKS - 1))
                h.update(f.read(DIGEST_BLOCK_BYTES))
    return h.hexdigest()


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
