"""Object-storage sources and output for commands that run on one machine (compare, package): the whole run is
staged. Sources that are URLs are downloaded into this process's scratch; an output prefix is mirrored into a
local folder (its earlier results and journal included, so a rerun skips what is finished), the command runs on
local paths as always, and every file it left is uploaded whole (codeckit.storage.put_final). The prefix's lock
object is held throughout, so two runs into one prefix are refused as two runs into one folder are.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

from .object_journal import ObjectLock
from .storage import Storage, download_tree, is_url, remove_stale_temp_keys, scratch_dir, stage_sources, upload_tree


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
