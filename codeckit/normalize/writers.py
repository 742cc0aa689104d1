"""Where a normalize run's results go, behind one interface: `write(record, clip)` then `close()`.

Writers: the clip files themselves, a JSON Lines manifest, a Parquet manifest (pyarrow, optional), and
webdataset tar shards of a target size holding each clip with its JSON record. Records reach the writers
in id order once the batch is done, so two runs over the same sources write the same bytes.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import tarfile
from pathlib import Path

from ..errors import CodeckitError, ConfigError, FeatureMissing
from ..fileio import atomic_path, atomic_write_text

#: Nested fields stored as JSON text in Parquet: their shape differs from record to record.
PARQUET_JSON_FIELDS = ("measurements", "annotations", "encoder_args", "duplicates", "source_info")
#: Fixed modification time of shard members, so shards are byte-for-byte reproducible.
SHARD_MTIME = 0


class OutputWriter:
    """Receives every output record (and its clip file) once, in order; `close()` returns the files written."""
    name = "writer"

    def write(self, record: dict, clip: Path | None) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> list[Path]:  # pragma: no cover - interface
        raise NotImplementedError


class FilesWriter(OutputWriter):
    """The clips as files under OUT/clips: the encode step already put them there; this checks and counts."""
    name = "files"

    def __init__(self):
        self.paths: list[Path] = []

    def write(self, record, clip):
        if clip is None or not clip.is_file():
            raise CodeckitError(f"clip {record.get('id')} is missing at {clip}",
                                hint="rerun the command: the journal redoes missing items")
        self.paths.append(clip)

    def close(self):
        return list(self.paths)


class JsonlWriter(OutputWriter):
    """One JSON object per line, written to a temporary name and renamed on close."""
    name = "jsonl"

    def __init__(self, path: Path):
        self.path = Path(path)
        self.lines: list[str] = []

    def write(self, record, clip=None):
        self.lines.append(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n")

    def close(self):
        atomic_write_text(self.path, "".join(self.lines))
        return [self.path]


def require_pyarrow():
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401  (the import is the check)
    except ImportError as exc:
        raise FeatureMissing("a Parquet manifest needs pyarrow, which is not installed",
                             hint="pip install 'codeckit[parquet]' (or pyarrow), or use the JSON Lines manifest") \
            from exc


class ParquetWriter(OutputWriter):
    name = "parquet"

    def __init__(self, path: Path):
        require_pyarrow()
        self.path = Path(path)
        self.rows: list[dict] = []

    def write(self, record, clip=None):
        row = dict(record)
        for key in PARQUET_JSON_FIELDS:
            if key in row:
                row[key] = json.dumps(row[key], sort_keys=True, ensure_ascii=False)
        self.rows.append(row)

    def close(self):
        import pyarrow as pa
        import pyarrow.parquet as pq
        with atomic_path(self.path) as tmp:
            pq.write_table(pa.Table.from_pylist(self.rows), tmp)
        return [self.path]


class WebDatasetWriter(OutputWriter):
    """Tar shards `shard-000000.tar`, ... of at most `shard_size` bytes (a clip bigger than that gets a
    shard of its own). Each sample is `<id>.mp4` and `<id>.json`: webdataset groups members by the name
    before the first dot, so ids hold no dots."""
    name = "webdataset"

    def __init__(self, folder: Path, shard_size: int, pattern: str = "shard-{:06d}.tar"):
        if shard_size <= 0:
            raise CodeckitError(f"shard size must be positive, not {shard_size}")
        self.folder, self.shard_size, self.pattern = Path(folder), shard_size, pattern
        self.index, self.size, self.count = -1, 0, 0
        self.tar: tarfile.TarFile | None = None
        self._shard_file = contextlib.ExitStack()  # the open shard's atomic_path: closing it renames the shard
        self.paths: list[Path] = []
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("shard-*.tar"):  # shards of an earlier run are rewritten whole
            old.unlink()

    @staticmethod
    def _member_bytes(n: int) -> int:
        return 512 + (n + 511) // 512 * 512

    @staticmethod
    def _on_disk(size: int) -> int:
        # tarfile pads a closed archive to a whole record (20 blocks of 512 bytes)
        return (size + tarfile.RECORDSIZE - 1) // tarfile.RECORDSIZE * tarfile.RECORDSIZE

    def _roll(self):
        self._finish()
        self.index += 1
        self.size, self.count = 1024, 0  # the two zero blocks that end a tar
        tmp = self._shard_file.enter_context(atomic_path(self.folder / self.pattern.format(self.index)))
        self.tar = tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT)

    def _finish(self):
        if self.tar is not None:
            self.tar.close()
            self._shard_file.close()
            self.paths.append(self.folder / self.pattern.format(self.index))
            self.tar = None

    def _add(self, name: str, data: bytes):
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), SHARD_MTIME, 0o644
        info.uname = info.gname = ""
        self.tar.addfile(info, io.BytesIO(data))

    def write(self, record, clip):
        key = record["id"]
        if "." in key:
            raise CodeckitError(f"sample id {key!r} has a dot; webdataset would split it")
        video = clip.read_bytes()
        meta = json.dumps(record, sort_keys=True, ensure_ascii=False).encode()
        need = self._member_bytes(len(video)) + self._member_bytes(len(meta))
        if self.tar is None or (self.count and self._on_disk(self.size + need) > self.shard_size):
            self._roll()
        ext = Path(record.get("output_path") or clip.name).suffix or ".mp4"
        self._add(key + ext, video)
        self._add(key + ".json", meta)
        self.size += need
        self.count += 1

    def close(self):
        self._finish()
        return list(self.paths)


def parse_size(text: str | int) -> int:
    """`500MB`, `1GiB`, `200k`, `1000000` -> bytes; at least one byte, or CodeckitError (before any work: a size
    that parsed to 0 was refused only by the shard writer, after every source had been encoded)."""
    s = str(text).strip().lower().replace(" ", "")
    units = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
             "g": 1000**3, "gb": 1000**3, "gib": 1024**3, "t": 1000**4, "tb": 1000**4, "tib": 1024**4}
    num = s.rstrip("kmgtib")
    unit = s[len(num):]
    try:
        value = float(num)
    except ValueError:
        value = -1
    if unit not in units or not math.isfinite(value) or value * units[unit] < 1:
        raise ConfigError(f"not a size: {text!r}", hint="write it like 500MB, 1GiB or 200000 (at least 1 byte)",
                          code="bad_option")
    return int(value * units[unit])
