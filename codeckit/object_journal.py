"""The batch journal and the one-run-per-output lock, kept in object storage beside the outputs.

S3 has no append and no flock, so the local journal's two mechanisms become objects:
- the journal is one small object per item (`.codeckit/journal/<hash of key>.json`, its last record), each
  written in one PUT: it is there whole or not at all, and a rerun from any machine lists the prefix and
  skips what is done;
- the lock is one object (`.codeckit/lock.json`) holding its owner and a heartbeat that a thread renews
  every `lease_s / 3`; another run refuses to start while the heartbeat is fresh (JournalBusy, as locally),
  and takes the lock over when it is stale (the owner died: its lease ran out, or it was a process on this
  machine that is gone).
Taking the lock is one conditional PUT where the server has them (S3's If-None-Match to create it, If-Match on
the stale lock's ETag to take it over: AWS since 2024, SeaweedFS): of two runs starting at once exactly one
wins, at once. Where it has none (another fsspec filesystem, or a server found to ignore the headers: a
second create that succeeds), it is write, wait 0.3 s, read back: two runs starting within the same instant
could both see their own write in theory; the read-back after a pause makes that a window of milliseconds.
Either way a heartbeat that finds another owner stops the run's lock. (The pause was 0.34 s of the 0.86 s an
8-source normalize on S3 took over the same run on local folders: bench/bench_storage.py.)
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import socket
import threading
import time

from .journal import JournalView, journal_record
from .errors import JournalBusy
from .storage import Storage, join, remove_stale_temp_keys

log = logging.getLogger("codeckit.object_journal")

STATE_PREFIX = ".codeckit"
#: Seconds without a heartbeat after which a lock is stale; CODECKIT_LOCK_LEASE_S overrides (tests).
DEFAULT_LEASE_S = 60.0


def lease_s() -> float:
    return float(os.environ.get("CODECKIT_LOCK_LEASE_S") or DEFAULT_LEASE_S)


class ObjectLock:
    """One run per output prefix: an object with an owner and a heartbeat; see the module's docstring."""

    def __init__(self, storage: Storage, prefix: str):
        self.storage = storage
        self.url = join(prefix, STATE_PREFIX, "lock.json")
        self.owner = {"id": secrets.token_hex(8), "host": socket.gethostname(), "pid": os.getpid()}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    def _read(self) -> dict | None:
        try:
            return json.loads(self.storage.read_bytes(self.url))
        except Exception:  # missing, or torn by a foreign writer: no lock
            return None

    def _write(self) -> None:
        self.storage.write_bytes(self.url, self._payload())

    def _stale(self, held: dict) -> bool:
        if time.time() - float(held.get("heartbeat", 0)) > lease_s():
            return True
        if held.get("host") == socket.gethostname():   # the owner was on this machine: is it still running?
            try:
                os.kill(int(held.get("pid", -1)), 0)
            except ProcessLookupError:
                return True
            except (PermissionError, ValueError, OverflowError):
                return False
        return False

    def _busy(self, held: dict) -> JournalBusy:
        return JournalBusy(f"another codeckit run (on {held.get('host')}, pid {held.get('pid')}) holds this output "
                           "location's lock", path=self.url,
                           hint=f"wait for it to finish, or use another output prefix (a lock without heartbeat "
                                f"for {lease_s():.0f} s is taken over)")

    def _payload(self) -> bytes:
        return json.dumps({**self.owner, "heartbeat": time.time()}).encode()

    def _take(self) -> bool | None:
        """The lock taken by a conditional PUT (True), refused (False: another run got it first), or None
        when conditional writes are not there (nothing written)."""
        found = self.storage.etag(self.url)
        if found is not None:
            try:
                held = json.loads(found[0])
            except ValueError:
                held = {}     # torn by a foreign writer: stale (no heartbeat), taken over by its ETag
            self._refuse_if_held(held)
        took = self.storage.write_if(self.url, self._payload(), etag=found[1] if found else None)
        if took is False:
            raise self._busy(self._read() or {})
        if took and self.storage.write_if(self.url, self._payload()) is not False:
            log.info("%s ignores conditional writes: taking the lock by write and read-back", self.url)
            return None   # the server ignored If-None-Match on an object that exists
        return took

    def acquire(self) -> "ObjectLock":
        if self._take() is None:
            self._acquire_by_read_back()
        self._thread = threading.Thread(target=self._beat, name="codeckit-lock", daemon=True)
        self._thread.start()
        return self

    def _refuse_if_held(self, held: dict | None) -> None:
        """JournalBusy when `held` is another run's lock with a fresh heartbeat."""
        if held and held.get("id") != self.owner["id"] and not self._stale(held):
            raise self._busy(held)

    def _acquire_by_read_back(self) -> None:
        self._refuse_if_held(self._read())
        self._write()
        time.sleep(0.3)   # a run that wrote at the same moment: the last write wins, and both read it back
        held = self._read()
        if not held or held.get("id") != self.owner["id"]:
            raise self._busy(held or {})

    def _beat(self) -> None:
        while not self._stop.wait(lease_s() / 3):
            held = self._read()
            if held and held.get("id") != self.owner["id"]:
                self.lost = True
                log.warning("the output lock %s was taken over by another run", self.url)
                return
            try:
                self._write()
            except Exception as exc:  # a missed beat is retried; a lease of three beats covers two misses
                log.warning("could not renew the output lock: %s", type(exc).__name__)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        held = self._read()
        if held and held.get("id") == self.owner["id"]:
            self.storage.remove(self.url)


class ObjectJournal(JournalView):
    """The batch journal under an object-storage prefix: one object per item; see the module's docstring."""

    def __init__(self, storage: Storage, prefix: str, *, lock: bool = True):
        self.storage = storage
        self.prefix = prefix.rstrip("/")
        self.folder = join(self.prefix, STATE_PREFIX, "journal")
        self.entries: dict[str, dict] = {}
        self.ignored_lines = 0
        self._lock = ObjectLock(storage, self.prefix) if lock else None
        self._open = False
        self._mutex = threading.Lock()

    @property
    def path(self) -> str:
        return self.folder

    def _object(self, key: str) -> str:
        return join(self.folder, hashlib.sha1(key.encode()).hexdigest()[:24] + ".json")

    def open(self) -> "ObjectJournal":
        self.storage.check_output(self.prefix)
        if self._lock is not None:
            self._lock.acquire()
        try:
            self._load()
        except BaseException:
            self.close()
            raise
        self._open = True
        return self

    @classmethod
    def read(cls, storage: Storage, prefix: str) -> "ObjectJournal":
        j = cls(storage, prefix, lock=False)
        j._load()
        return j

    def _load(self) -> None:
        urls = list(self.storage.listing(self.folder))
        if not urls:
            return
        fs, _ = self.storage.fs(self.folder)
        paths = [self.storage.fs(u)[1] for u in urls]
        with self.storage.calling(self.folder, "read"):
            blobs = fs.cat(paths, on_error="return")
        for blob in blobs.values():
            try:
                rec = json.loads(blob)
                self.entries[rec["key"]] = rec
            except (ValueError, KeyError, TypeError):
                self.ignored_lines += 1

    def close(self) -> None:
        self._open = False
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> "ObjectJournal":
        return self if self._open else self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def record(self, key: str, state: str, **fields) -> dict:
        """Write the item's last record (one PUT) before returning."""
        rec = journal_record(key, state, fields)
        if not self._open:
            raise RuntimeError("journal is not open")
        self.storage.write_bytes(self._object(key), json.dumps(rec, ensure_ascii=False).encode())
        with self._mutex:
            self.entries[key] = rec
        return rec

    def remove_leftovers(self) -> list[str]:
        """The temporary keys of uploads that never finished (any killed run's): the lock is ours."""
        return remove_stale_temp_keys(self.storage, self.prefix)


def open_journal(out, storage: Storage | None = None):
    """The journal of an output location, opened (locked): local folder or object-storage prefix."""
    from .journal import Journal
    from .storage import is_url
    if is_url(os.fspath(out) if not isinstance(out, str) else out):
        return ObjectJournal(storage or Storage(), str(out)).open()
    return Journal.in_folder(out).open()


__all__ = ["ObjectJournal", "ObjectLock", "open_journal"]
