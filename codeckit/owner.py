"""Whether the process that runs a batch is still alive, as seen from one of its workers (a loky or Dask process).

A worker whose run was killed with -9 must stop: its outputs would land in a folder with no journal entry for
them, while the next run works there (it found them as orphans renaming clips into place after the rerun had
started). Linux: by pid and the process's start time (/proc), so a reused pid is not taken for the run.
"""
from __future__ import annotations

import os
import socket


class OwnerGone:
    """An Event-like stop request (`is_set()`) that is set once the process that holds the run (and its
    journal's lock) has died: checked by pid and start time on the same host, so a reused pid is not taken for
    it; on another host (a remote Dask or Ray worker) it never sets itself. `set()` sets it for good."""

    def __init__(self, host: str, pid: int, started: str | None):
        self.host, self.pid, self.started = host, pid, started
        self._set = False

    @classmethod
    def here(cls) -> "OwnerGone":
        return cls(socket.gethostname(), os.getpid(), _start_time(os.getpid()))

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        if not self._set and self._owner_died():
            self._set = True
        return self._set

    def _owner_died(self) -> bool:
        if self.pid == os.getpid() or self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:     # alive, someone else's: a reused pid
            return True
        now = _start_time(self.pid)
        return now is not None and (now != self.started or _zombie(self.pid))


def _proc_stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].decode().split()
    except (OSError, IndexError):
        return None


def _start_time(pid: int) -> str | None:
    fields = _proc_stat(pid)
    return fields[19] if fields and len(fields) > 19 else None   # field 22 of proc(5): starttime


def _zombie(pid: int) -> bool:
    """Killed and not yet reaped: dead for our purpose (a zombie keeps its pid and start time)."""
    fields = _proc_stat(pid)
    return bool(fields) and fields[0] in ("Z", "X")
