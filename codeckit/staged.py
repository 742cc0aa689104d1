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
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator

from .fileio import is_temp_path
from .object_journal import ObjectLock
from .storage import (Storage, is_temp_key, is_url, name_of, named_as_given, remove_stale_temp_keys, scratch_dir,
                      stager)

# What the staged runs of this process have put where. A staged copy lives in a fresh scratch folder and has
# the mtime of its download, so a journal key made of its path, size and mtime changed on every run and a
# rerun redid every finished item; keys and reports use the object's URL and identity instead (`file_stamp`,
# `portable`). Process-wide, not per thread: compare and package run their items in threads of this process.
_MUTEX = threading.Lock()
_STAGED: dict[str, tuple[str, str]] = {}      # real path of a staged copy -> (its URL, its size|ETag)
_ALIASES: dict[str, str] = {}                 # a local folder of a staged run -> the URL it stands for
# A source URL with nothing under it (its SourceError, from sources.list_source): passed to the command as the
# URL itself, which its walk names with this error, as transcode's does (a stand-in scratch path was walked
# as a missing local file: "no such file", and its URL lost the trailing '/').
_MISSING: dict[str, Any] = {}


def _register(staged: dict[str, tuple[str, str]], aliases: dict[str, str], missing: dict | None = None) -> None:
    with _MUTEX:
        _STAGED.update({os.path.realpath(k): v for k, v in staged.items()})
        for local, url in aliases.items():
            _ALIASES[local.rstrip("/")] = url.rstrip("/")
            _ALIASES[os.path.realpath(local)] = url.rstrip("/")
        _MISSING.update(missing or {})


def _unregister(staged: Iterable[str], aliases: Iterable[str], missing: Iterable[str] = ()) -> None:
    with _MUTEX:
        for k in staged:
            _STAGED.pop(os.path.realpath(k), None)
        for local in aliases:
            _ALIASES.pop(local.rstrip("/"), None)
            _ALIASES.pop(os.path.realpath(local), None)
        for url in missing:
            _MISSING.pop(url, None)


def listed_missing(url: str):
    """The SourceError a staged run of this process found for `url` (nothing there), or None."""
    with _MUTEX:
        return _MISSING.get(url)


def file_stamp(path: str | os.PathLike) -> list:
    """What identifies a source file in a journal key: for a staged copy of an object, its URL and the
    object's size and ETag (a replaced object changes them); for a local file, its absolute path, size and
    mtime (cheaper than hashing it; a rewritten file changes its mtime); [path, None, None] when unreadable."""
    with _MUTEX:
        staged = _STAGED.get(os.path.realpath(path))
    if staged is not None:
        return [staged[0], *staged[1].split("|", 1)]
    try:
        st = os.stat(path)
        return [os.path.abspath(path), st.st_size, st.st_mtime_ns]
    except OSError:
        return [os.path.abspath(path), None, None]


def portable(value: Any) -> Any:
    """`value` (a string, or lists and dicts of them) with the local folders of staged runs replaced by the
    URLs they stand for: what goes into journal keys, reports and manifests, so that they neither change
    from one run to the next nor name scratch folders that are gone."""
    with _MUTEX:
        names = {**_ALIASES, **{"file:" + local: url for local, url in _ALIASES.items()}}
    return named_as_given(value, names)


def stage_sources(storage: Storage, sources: Iterable[str], folder: Path, staged: dict | None = None,
                  aliases: dict | None = None, missing: dict | None = None, exclude: Iterable[str] = ()) -> list[str]:
    """Sources as local paths: URLs of objects staged under `folder` (a prefix: the objects the walk of a
    prefix takes, `sources.walk_sources`, their key path kept), local paths unchanged. Fills `staged` (local
    copy -> (URL, identity)) and `aliases` (local folder -> URL) when given. A URL with nothing under it stays
    a URL, its error in `missing`; one with no video under it (warned by the walk) is left out."""
    from .sources import walk_sources
    out = []
    staged = {} if staged is None else staged
    aliases = {} if aliases is None else aliases
    missing = {} if missing is None else missing
    for src in sources:
        src = os.fspath(src)
        if not is_url(src):
            out.append(src)
            continue
        walk = walk_sources([src], exclude=exclude, storage=storage)
        if walk.errors:
            # a failed item of the batch, named by its URL (exit 1), as a missing local file is; the others go on
            missing[src] = walk.errors[0]
            out.append(src)
            continue
        if not walk.sources:
            continue
        top = folder / hashlib.sha1(src.encode()).hexdigest()[:10]
        single = len(walk.sources) == 1 and walk.sources[0].url == src.rstrip("/")
        aliases[str(top)] = src.rstrip("/").rsplit("/", 1)[0] if single else src
        for found in walk.sources:
            dest = top / found.relative
            dest.parent.mkdir(parents=True, exist_ok=True)
            staged[str(stager().stage(storage, found.url, dest.parent))] = (found.url, found.identity)
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


class _Mirror:
    """Uploads what a staged run writes into its local output folder while it runs (every SYNC_S seconds and
    at the end), so that a run killed (kill -9) keeps what it finished: the journal goes up last, as it was
    before that round's files, so a "done" record in the bucket is never ahead of the outputs it names."""

    def __init__(self, storage: Storage, local: Path, prefix: str):
        self.storage, self.local, self.prefix = storage, local, prefix
        self.sent: dict[str, tuple[int, int]] = {}
        self.journal_sent: bytes | None = None
        self.mutex = threading.Lock()
        self.seed()

    def _files(self) -> dict[str, tuple[int, int]]:
        from .journal import JOURNAL_NAME
        found = {}
        for f in self.local.rglob("*"):
            rel = f.relative_to(self.local).as_posix()
            # a temporary file (an encode's, an atomic write's) or a folder being filled (a package's): not yet
            if rel in (JOURNAL_NAME, ".codeckit/lock.json") or is_temp_path(rel):
                continue
            with contextlib.suppress(OSError):
                st = f.stat()
                if f.is_file():
                    found[rel] = (st.st_size, st.st_mtime_ns)
        return found

    def seed(self) -> None:
        """What is there now came from the prefix (download_tree): nothing to send back."""
        from .journal import JOURNAL_NAME
        self.sent = self._files()
        with contextlib.suppress(OSError):
            self.journal_sent = self._journal_snapshot(self.local / JOURNAL_NAME)

    @staticmethod
    def _journal_snapshot(path: Path) -> bytes:
        data = path.read_bytes()
        return data[:data.rfind(b"\n") + 1]        # whole lines only (a record may be being appended)

    def sync(self) -> None:
        from concurrent.futures import ThreadPoolExecutor
        from .journal import JOURNAL_NAME
        from .storage import join, put_final
        with self.mutex:
            journal = None
            with contextlib.suppress(OSError):
                journal = self._journal_snapshot(self.local / JOURNAL_NAME)
            changed = {rel: st for rel, st in self._files().items() if self.sent.get(rel) != st}
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(lambda rel: put_final(self.storage, self.local / rel, join(self.prefix, rel)),
                              changed))
            self.sent.update(changed)
            if journal is not None and journal != self.journal_sent:
                self.storage.write_bytes(join(self.prefix, JOURNAL_NAME), journal)
                self.journal_sent = journal

    @contextlib.contextmanager
    def running(self, every_s: float) -> Iterator[None]:
        stop = threading.Event()

        def loop():
            while not stop.wait(every_s):
                try:
                    self.sync()
                except Exception as exc:   # the final sync reports it; a round that fails is retried
                    import logging
                    logging.getLogger("codeckit.staged").debug("mirror round failed: %s", exc)
        t = threading.Thread(target=loop, name="codeckit-mirror", daemon=True)
        t.start()
        try:
            yield
        finally:
            stop.set()
            t.join()


#: Seconds between two uploads of a staged run's new outputs and journal (what a kill -9 may lose).
SYNC_S = float(os.environ.get("CODECKIT_STAGED_SYNC_S") or 5)


@contextlib.contextmanager
def staged_run(sources, out_dir, storage: Storage | None = None) -> Iterator[tuple[list[str], str]]:
    """Yields (local sources, local output folder); with no URL among them, the arguments unchanged. While it
    runs, `file_stamp` and `portable` know the staged copies' URLs, and new outputs are uploaded as they come."""
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
    staged: dict[str, tuple[str, str]] = {}
    aliases: dict[str, str] = {}
    missing: dict[str, Any] = {}
    try:
        with scratch_dir("staged") as d:
            local_sources = stage_sources(storage, sources, d / "in", staged, aliases, missing,
                                          exclude=[out] if lock is not None else ())
            local_out = d / "out"
            local_out.mkdir()
            if lock is not None:
                aliases[str(local_out)] = out
                remove_stale_temp_keys(storage, out)
                download_tree(storage, out, local_out)
            _register(staged, aliases, missing)
            if lock is None:
                yield local_sources, out
                return
            mirror = _Mirror(storage, local_out, out)
            try:
                with mirror.running(SYNC_S):
                    yield local_sources, str(local_out)
            except BaseException:
                with contextlib.suppress(Exception):   # keep what the run finished before it failed
                    mirror.sync()
                raise
            mirror.sync()
    finally:
        _unregister(staged, aliases, missing)
        if lock is not None:
            lock.release()


__all__ = ["file_stamp", "portable", "staged_run"]
