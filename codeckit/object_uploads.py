"""Uploads that appear whole: an upload goes to a temporary key beside the final one and is copied to the final
key only when whole (S3's copy is atomic per object), so a reader (or a rerun) never finds half an object under
a final key; temporary keys a killed worker left are removed by the next run while it holds the output's lock
(`codeckit.object_journal`). Import it through `codeckit.storage`.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path
from typing import Iterable

from .errors import StorageError
from .fileio import UPLOAD_TEMP_MARK as TEMP_KEY_MARK
from .fileio import atomic_path, is_temp_name
from .object_store import Storage, is_url, join, name_of


def temp_key(final: str) -> str:
    """The key an upload goes to first: beside the final one, hidden, marked, unique per attempt."""
    base, _, name = final.rpartition("/")
    return f"{base}/.{name}{TEMP_KEY_MARK}{secrets.token_hex(4)}"


def is_temp_key(url: str) -> bool:
    """An unfinished upload (temp_key), or a temporary file of a run that reached the bucket: the same rule
    as for local names (fileio.is_temp_name, which knows TEMP_KEY_MARK)."""
    return is_temp_name(name_of(url))


def put_final(storage: Storage, local: str | os.PathLike, final: str) -> int:
    """Upload a local file so that `final` holds all of it or nothing: to a temporary key, size checked,
    copied to the final key (atomic), temporary key removed. Returns the bytes uploaded."""
    size = os.path.getsize(local)
    if not is_url(final):                      # a local output: the same guarantee through a rename
        with atomic_path(final) as tmp:
            shutil.copyfile(local, tmp)
        return size
    fs, p = storage.fs(final)
    tmp_url = temp_key(final)
    _, tmp = storage.fs(tmp_url)
    try:
        with storage.calling(final, "write"):
            fs.put_file(os.fspath(local), tmp)
            got = fs.info(tmp).get("size")
            if got != size:
                raise StorageError(f"upload of {final} came out {got} bytes, not {size}", path=final,
                                   code="upload_incomplete")
            fs.cp_file(tmp, p)     # not copy(): it reads "[1]" in a key as a glob
    finally:
        with contextlib.suppress(Exception):
            fs.rm_file(tmp)
    return size


def remove_stale_temp_keys(storage: Storage, prefix: str) -> list[str]:
    """Remove the temporary keys killed uploads left under `prefix`; only while holding its lock."""
    removed = []
    for url in storage.listing(prefix):
        if is_temp_key(url):
            storage.remove(url)
            removed.append(url)
    return removed


def upload_tree(storage: Storage, folder: Path, prefix: str, *, skip: Iterable[str] = ()) -> list[str]:
    """Upload each file under `folder` (but hidden temporary ones and `skip`) to `prefix`, each whole or
    not at all, in parallel; returns the URLs written."""
    from concurrent.futures import ThreadPoolExecutor
    skipped = set(skip)
    files = [f for f in sorted(folder.rglob("*")) if f.is_file() and not is_temp_name(f.name)
             and f.relative_to(folder).as_posix() not in skipped]
    urls = [join(prefix, f.relative_to(folder).as_posix()) for f in files]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda fu: put_final(storage, *fu), zip(files, urls)))
    return urls


__all__ = ["TEMP_KEY_MARK", "is_temp_key", "put_final", "remove_stale_temp_keys", "temp_key",
           "upload_tree"]
