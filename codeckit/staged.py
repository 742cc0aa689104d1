"""Object-storage sources and output for commands that run on one machine (compare, package): the whole run is
staged. Sources that are URLs are downloaded into this process's scratch; an output prefix is mirrored into a
local folder (its earlier results and journal included, so a rerun skips what is finished), the command runs on
local paths as always, and every file it left is uploaded whole (codeckit.storage.put_final). The prefix's lock
object is held throughout, so two runs into one prefix are refused as two runs into one folder are.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Iterable, Iterator

from .object_journal import ObjectLock
from .storage import (Storage, is_temp_key, is_url, name_of, remove_stale_temp_keys, scratch_dir, stager,
                      upload_tree)


def stage_sources(storage: Storage, sources: Iterable[str], folder: Path) -> list[str]:
    """Sources as local paths: URLs of objects staged under `folder` (a prefix: every object under it,
    its key path kept), local paths unchanged."""
    out = []
    for src in sources:
        src = os.fspath(src)
        if not is_url(src):
            out.append(src)
            continue
        objects = storage.listing(src)
        if not objects:
            with storage.calling(src, "read"):
                raise FileNotFoundError(src)
        single = len(objects) == 1 and next(iter(objects)).rstrip("/") == src.rstrip("/")
        top = folder / hashlib.sha1(src.encode()).hexdigest()[:10]
        for url in objects:
            if is_temp_key(url):
                continue
            rel = name_of(url) if single else url[len(src.rstrip("/")) + 1:]
            dest = top / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            stager().stage(storage, url, dest.parent)
        out.append(str(top / name_of(src)) if single else str(top))
    return out


def download_tree(storage: Storage, prefix: str, folder: Path) -> int:
    """Every finished object under `prefix` into `folder` (keys as paths); returns how many."""
    n = 0
    for url in storage.listing(prefix):
        if is_temp_key(url):
            continue
        dest = folder / url[len(prefix.rstrip("/")) + 1:]
        dest.parent.mkdir(parents=True, exist_ok=True)
        stager().stage(storage, url, dest.parent)
        n += 1
    return n


@contextlib.contextmanager
def staged_run(sources, out_dir, storage: Storage | None = None) -> Iterator[tuple[list[str], str]]:
    """Yields (local sources, local output folder); with no URL among them, the arguments unchanged."""
    sources = [os.fspath(s) for s in sources]
    out = os.fspath(out_dir)
    if not is_url(out) and not any(is_url(s) for s in sources):
        yield sources, out
        return
    storage = storage or Storage()
    lock = None
    if is_url(out):
        storage.check_output(out)
        lock = ObjectLock(storage, out).acquire()
    try:
        with scratch_dir("staged") as d:
            local_sources = stage_sources(storage, sources, d / "in")
            local_out = d / "out"
            local_out.mkdir()
            if lock is not None:
                remove_stale_temp_keys(storage, out)
                download_tree(storage, out, local_out)
            yield local_sources, str(local_out) if lock is not None else out
            if lock is not None:
                upload_tree(storage, local_out, out, skip=(".codeckit/lock.json",))
    finally:
        if lock is not None:
            lock.release()


__all__ = ["staged_run"]
