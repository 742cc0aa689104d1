"""Worker-local scratch: FFmpeg and PyAV only ever open local files, so an object is staged (downloaded) into a
worker-local scratch folder before it is read, the next ones in the background while work runs, and an output
is written there before it is uploaded. A killed worker's scratch is removed by the next process on its
machine. Import it through `codeckit.storage`.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Iterable, Iterator

from .errors import StorageError
from .object_store import Storage, is_url, name_of

#: Scratch space one worker process may fill with staged objects (bytes); CODECKIT_SCRATCH_BYTES overrides.
DEFAULT_SCRATCH_BYTES = 20 * 1000**3


def scratch_root() -> Path:
    """This process's scratch folder (CODECKIT_SCRATCH or the temp folder): staged objects, local outputs."""
    base = Path(os.environ.get("CODECKIT_SCRATCH") or tempfile.gettempdir()) / "codeckit-scratch"
    root = base / f"{os.uname().nodename}-{os.getpid()}"
    root.mkdir(parents=True, exist_ok=True)
    return root


def scratch_limit() -> int:
    return int(os.environ.get("CODECKIT_SCRATCH_BYTES") or DEFAULT_SCRATCH_BYTES)


def remove_dead_scratch() -> None:
    """Scratch folders of processes on this machine that are gone (a killed worker's staged files)."""
    base = Path(os.environ.get("CODECKIT_SCRATCH") or tempfile.gettempdir()) / "codeckit-scratch"
    host = os.uname().nodename
    for d in base.glob(f"{host}-*"):
        pid = d.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


@contextlib.contextmanager
def scratch_dir(label: str = "item") -> Iterator[Path]:
    """A fresh folder under this process's scratch, removed with everything in it when the block ends."""
    d = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=scratch_root()))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)



def named_as_given(value, names: dict[str, str]):
    """`value` (a string, or lists, tuples and dicts of them) with each scratch path in `names` replaced by the
    name it stands for (an object's URL, the output as given), the longest first: a report must not name a
    scratch copy, gone by the time it is read."""
    if isinstance(value, dict):
        return {k: named_as_given(v, names) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(named_as_given(v, names) for v in value)
    if isinstance(value, str):
        for local in sorted(names, key=len, reverse=True):
            if local in value:
                value = value.replace(local, names[local])
    return value

def _used(root: Path) -> int:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())


class Stager:
    """Downloads objects into this process's scratch, the next ones in the background while work runs.

    One per worker process (`stager()`). `prefetch(urls)` starts downloads that `stage(url, folder)` then
    takes over (waiting for one still running); a prefetched object no task claims is dropped when the
    scratch would pass its limit, and with the process's scratch folder in any case.
    """

    def __init__(self):
        from concurrent.futures import ThreadPoolExecutor
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="codeckit-stage")
        self.pending: dict[str, tuple[object, Path]] = {}
        self.lock = threading.Lock()

    def _download(self, storage: Storage, url: str, dest: Path) -> Path:
        fs, p = storage.fs(url)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        size = None
        with storage.calling(url, "read"):
            size = fs.info(p).get("size")
            if size and _used(scratch_root()) + size > scratch_limit():
                raise StorageError(f"{url} ({size} bytes) does not fit the scratch space left",
                                   path=url, code="scratch_full",
                                   hint="raise CODECKIT_SCRATCH_BYTES or point CODECKIT_SCRATCH at a bigger disk")
            fs.get_file(p, os.fspath(part))
        os.replace(part, dest)
        return dest

    def prefetch(self, storage: Storage, urls: Iterable[str]) -> None:
        for url in urls:
            if not is_url(url):
                continue
            with self.lock:
                if url in self.pending:
                    continue
                dest = scratch_root() / "prefetch" / hashlib.sha1(url.encode()).hexdigest()[:16] / name_of(url)
                self.pending[url] = (self.pool.submit(self._download, storage, url, dest), dest)

    def stage(self, storage: Storage, url: str, folder: Path) -> Path:
        """A local copy of `url` in `folder` (its name kept: the extension picks FFmpeg's demuxer)."""
        dest = folder / name_of(url)
        with self.lock:
            ahead = self.pending.pop(url, None)
        if ahead is not None:
            future, path = ahead
            try:
                future.result()
                os.replace(path, dest)
                shutil.rmtree(path.parent, ignore_errors=True)
                return dest
            except Exception:
                shutil.rmtree(path.parent, ignore_errors=True)   # staged again below, with its own error
        return self._download(storage, url, dest)


_STAGER: Stager | None = None


_STAGER_LOCK = threading.Lock()


def stager() -> Stager:
    """This process's Stager (one for all the items it runs: a local run's items are threads of one process)."""
    global _STAGER
    with _STAGER_LOCK:
        if _STAGER is None:
            remove_dead_scratch()
            _STAGER = Stager()
    return _STAGER


__all__ = ["DEFAULT_SCRATCH_BYTES", "Stager", "remove_dead_scratch", "scratch_dir", "scratch_limit",
           "scratch_root", "stager"]
