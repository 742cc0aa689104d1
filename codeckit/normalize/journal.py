"""The normalize journal: one JSON line per finished source, appended as results arrive, so a rerun skips them.

A line is only ever appended whole (one write of one line, flushed and fsynced), so a kill at any moment
leaves at worst a torn last line, which is ignored. The last line for a key wins.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

JOURNAL_NAME = "journal.jsonl"


class Journal:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.entries: dict[str, dict] = {}
        if self.path.is_file():
            for line in self.path.read_text(errors="replace").splitlines():
                try:
                    e = json.loads(line)
                    self.entries[e["key"]] = e
                except (ValueError, KeyError, TypeError):
                    continue  # a line torn by a kill

    def finished(self, key: str, out_dir: Path) -> dict | None:
        """The entry of a source whose work is complete: accepted with every clip still on disk, or rejected."""
        e = self.entries.get(key)
        if not e or e.get("status") not in ("done", "rejected"):
            return None
        for rec in e.get("records", []):
            if not (out_dir / rec["output_path"]).is_file():
                return None
        return e

    def append(self, entry: dict) -> None:
        self.entries[entry["key"]] = entry
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
