"""The batch journal: which items finished, so that a rerun skips them.

JSON Lines, one record per state change (started / done / failed / skipped / interrupted), appended and
fsync'ed, so after a crash, kill -9 or Ctrl-C it says which items finished; a torn last line (killed mid-write)
is ignored. Items that were started and never finished have their temporary files removed when the journal is
opened again. `JournalView` is what the executor (`codeckit.batch`) reads of any kind of journal; the
object-storage kind is `codeckit.object_journal`.
"""
from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from .errors import JournalBusy

STATES = ("started", "done", "failed", "skipped", "interrupted")
FINISHED = ("done", "skipped")
JOURNAL_NAME = ".codeckit-journal.jsonl"


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "to_dict"):
        return _jsonable(value.to_dict())
    if is_dataclass(value):
        return _jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    return str(value)


class JournalView:
    """What the batch reads of a journal, wherever it is kept: the last record per key (`entries`).

    Two kinds write one: `Journal` (a local JSON Lines file with a flock) and
    `codeckit.object_journal.ObjectJournal` (one small object per item under an object-storage prefix, with a
    lock object). Both have open/close (a context manager), `record`, `remove_leftovers`.
    """
    entries: dict[str, dict]

    def last(self, key: str) -> dict | None:
        return self.entries.get(key)

    def state(self, key: str) -> str | None:
        rec = self.entries.get(key)
        return rec["state"] if rec else None

    def unfinished(self) -> list[dict]:
        """Records of items started (or interrupted) and never finished."""
        return [r for r in self.entries.values() if r["state"] in ("started", "interrupted")]


def journal_record(key: str, state: str, fields: dict) -> dict:
    """One journal record (the same shape in every kind of journal)."""
    if state not in STATES:
        raise ValueError(f"unknown journal state {state!r}")
    return {"t": round(time.time(), 3), "key": key, "state": state, **_jsonable(fields)}


class Journal(JournalView):
    """Append-only JSON Lines record of each item's states, with the last state per key in memory.

    Holds an exclusive lock on the file while open (a second run on the same folder gets JournalBusy).
    """

    def __init__(self, path: str | os.PathLike, *, lock: bool = True):
        self.path = Path(path)
        self.lock = lock
        self.entries: dict[str, dict] = {}      # key -> last record
        self.ignored_lines = 0                  # unreadable lines (a torn last line after kill -9)
        self._fd: int | None = None
        self._mutex = threading.Lock()

    @classmethod
    def in_folder(cls, folder: str | os.PathLike, **kw) -> "Journal":
        return cls(Path(folder) / JOURNAL_NAME, **kw)

    def open(self) -> "Journal":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        if self.lock:
            try:
                import fcntl
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except ImportError:  # pragma: no cover - not POSIX
                pass
            except BlockingIOError:
                os.close(fd)
                raise JournalBusy("another codeckit run is writing to this folder (its journal is locked)",
                                  path=self.path, hint="wait for it to finish, or use another output folder")
        self._fd = fd
        self._load()
        return self

    @classmethod
    def read(cls, path: str | os.PathLike) -> "Journal":
        """The journal's records without opening it for writing (no lock; for dry runs and reports)."""
        j = cls(path, lock=False)
        if j.path.is_file():
            j._load()
        return j

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None

    def __enter__(self) -> "Journal":
        return self.open() if self._fd is None else self

    def __exit__(self, *exc) -> None:
        self.close()

    def _load(self) -> None:
        with open(self.path, "rb") as fh:
            data = fh.read()
        lines = data.split(b"\n")
        complete = lines[:-1]                 # the part after the last newline is a torn write or empty
        torn = lines[-1]
        for raw in complete:
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
                self.entries[rec["key"]] = rec
            except (ValueError, KeyError, TypeError):
                self.ignored_lines += 1
        if torn.strip():
            self.ignored_lines += 1
        if self._fd is None:                  # read-only (Journal.read)
            return
        if data and not data.endswith(b"\n"):
            os.write(self._fd, b"\n")         # the next record starts on a line of its own
            os.fsync(self._fd)
        if len(complete) > 1000 and len(complete) > 4 * len(self.entries):
            self._compact()

    def _compact(self) -> None:
        """Rewrite the journal with only each key's last record (reruns keep appending)."""
        from .fileio import atomic_open
        with atomic_open(self.path, "wb") as fh:
            for rec in self.entries.values():
                fh.write(json.dumps(rec, ensure_ascii=False).encode() + b"\n")
        # keep the lock: the old descriptor's lock is on the replaced file, so take one on the new file
        old = self._fd
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        if self.lock:
            try:
                import fcntl
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except (ImportError, BlockingIOError):  # pragma: no cover
                pass
        os.close(old)

    def record(self, key: str, state: str, **fields) -> dict:
        """Append one state change and fsync it before returning."""
        rec = journal_record(key, state, fields)
        line = (json.dumps(rec, ensure_ascii=False) + "\n").encode()
        with self._mutex:
            if self._fd is None:
                raise RuntimeError("journal is not open")
            os.write(self._fd, line)
            os.fsync(self._fd)
            self.entries[key] = rec
        return rec

    def remove_leftovers(self) -> list[str]:
        """Delete the temporary files of unfinished items (their `cleanup` paths); returns what was removed."""
        removed = []
        for rec in self.unfinished():
            for p in rec.get("cleanup") or ():
                try:
                    os.unlink(p)
                    removed.append(p)
                except FileNotFoundError:
                    pass
                except OSError:
                    pass
        return removed
