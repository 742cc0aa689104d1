"""Source content hashes and exact duplicates.

The hash is SHA-256 of every byte of the file: sound (two files share it only when they are the same
bytes) and fast (about 1.5 GB/s here with the CPU's SHA extensions, faster than most disks; BLAKE2b
measured 0.84 GB/s, MD5 0.70). Sampling a few chunks would be cheaper but could call two different
files duplicates. A cache keyed on path, size, modification time and inode lets a rerun skip the reading.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

HASH_ALGORITHM = "sha256"

log = logging.getLogger(__name__)


def content_hash(path: str | Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, HASH_ALGORITHM).hexdigest()


def file_identity(path: str | Path) -> str:
    """The file as the hash cache knows it (path, size, modification time, inode): a file written or replaced
    since has another identity."""
    st = os.stat(path)
    return f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"


class HashCache:
    """JSON Lines of {key, sha256}; unreadable lines are ignored, a cache that cannot be written is
    reported and ignored (hashing again is only slower)."""

    def __init__(self, path: Path | None):
        self.path = path
        self.known: dict[str, str] = {}
        if path and path.is_file():
            for line in path.read_text(errors="replace").splitlines():
                try:
                    d = json.loads(line)
                    self.known[d["key"]] = d[HASH_ALGORITHM]
                except (ValueError, KeyError, TypeError):
                    continue

    def lookup(self, path: Path) -> str | None:
        try:
            return self.known.get(file_identity(path))
        except OSError:
            return None

    def add(self, entries: dict[Path, str]) -> None:
        new = {}
        for p, h in entries.items():
            try:
                new[file_identity(p)] = h
            except OSError:
                continue
        self.add_keys(new)

    def add_keys(self, new: dict[str, str]) -> None:
        """Hashes under keys made elsewhere (an object's URL, size and ETag: codeckit.storage.identity)."""
        self.known.update(new)
        if not (self.path and new):
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as fh:
                for k, h in new.items():
                    fh.write(json.dumps({"key": k, HASH_ALGORITHM: h}) + "\n")
        except OSError as exc:
            log.warning("could not write hash cache %s: %s", self.path, exc)


def group_duplicates(hashes: dict[Path, str], prefer=None) -> tuple[dict[str, Path], dict[Path, Path]]:
    """(hash -> the source processed for it, duplicate -> that source). Among copies, those for which
    `prefer(path)` is true come first (normalize prefers a copy with a sidecar), then sorted paths, so the
    choice does not depend on the order the inputs were listed or hashed in."""
    first: dict[str, Path] = {}
    dup_of: dict[Path, Path] = {}
    for p in sorted(hashes, key=lambda q: (not (prefer and prefer(q)), str(q))):
        h = hashes[p]
        if h in first:
            dup_of[p] = first[h]
        else:
            first[h] = p
    return first, dup_of
