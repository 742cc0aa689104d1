"""Files that appear whole or not at all: written under a temporary name in their folder, then renamed.

A reader (a rerun, another process, a cache lookup) never sees half a file: `os.replace` within one folder
is atomic, and the data is fsync'ed first so that a crash cannot leave the new name with missing bytes.
A failure removes the temporary file and leaves whatever was at the final path before untouched.
(Encoded media has its own temp-verify-rename in encode.py: there the check between write and rename is
a probe of the output, not just a finished write.)
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
from pathlib import Path
from typing import IO, Iterator


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` for a writer that wants a file name (tarfile, pyarrow, ...).

    On a clean exit the file is fsync'ed and renamed to `path`; on an exception it is removed.
    The parent folder is created if needed. The temporary name starts with a dot and ends in `.tmp`
    so that folder walks and globs for the real files skip it.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temp(final)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, final)
    except BaseException:
        _remove(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """`open()` for writing, atomically: the file object writes a temporary file that becomes `path`
    only when the block ends without an exception. `mode` is "w" (text) or "wb" (bytes)."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb', not {mode!r}")
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Write `text` to `path` so that readers see the old file or the new one, never a part."""
    with atomic_open(path, "w", encoding=encoding) as fh:
        fh.write(text)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a part."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)


# The marks of codeckit's other temporary names (all hidden: they start with a dot), one per scheme, declared
# here only: the modules that make the names import their mark, so is_temp_name cannot drift from them.
#: encode.temp_path_for `.STEM.codeckit-tmp.EXT`: FFmpeg writing an output.
ENCODE_TEMP_MARK = ".codeckit-tmp"
#: package.pipeline.temp_dir_for `.NAME.codeckit-pkg-tmp` and `.NAME.old.codeckit-pkg-tmp`: a package folder
#: being filled, an old one being removed.
PACKAGE_TEMP_MARK = ".codeckit-pkg-tmp"
#: storage.temp_key `.NAME.codeckit-upload-HEX`: an object being uploaded, in a bucket.
UPLOAD_TEMP_MARK = ".codeckit-upload-"
TEMP_MARKS = (ENCODE_TEMP_MARK, PACKAGE_TEMP_MARK, UPLOAD_TEMP_MARK)
# _create_temp's names below: `.NAME.PID-HEX.tmp`. Matched exactly, not "hidden and ends in .tmp": the
# stale-temp cleanup removes what this says, and a user's own `.notes.tmp` is not ours to remove.
_ATOMIC_TEMP = re.compile(r"\..+\.[0-9]+-[0-9a-f]{8}\.tmp")


def is_temp_name(name: str) -> bool:
    """True for a file or folder name that codeckit writes while it is unfinished, in any of its schemes
    (`TEMP_MARKS`, and atomic_path's own): such a thing is never uploaded, listed as a result, or read back,
    and one left by a killed run may be removed. The one rule for every caller (encode, sources, storage,
    staged runs): a new scheme adds its mark here (tests/unit/test_temp_names.py holds each scheme's real
    names to it)."""
    return name.startswith(".") and (any(m in name for m in TEMP_MARKS) or bool(_ATOMIC_TEMP.fullmatch(name)))


def is_temp_path(relative: str) -> bool:
    """True when any part of a /-separated relative path is a temporary name: a file inside a folder being
    filled (a package's) is unfinished too."""
    return any(is_temp_name(part) for part in relative.split("/"))


def _create_temp(final: Path) -> Path:
    # Not tempfile.mkstemp: its files are mode 0600, and a cache or manifest must get the same
    # permissions (0666 less the umask) as a plain open() would give it. The random part keeps two
    # threads or processes writing the same path apart; O_EXCL makes a clash fail rather than share.
    while True:
        tmp = final.with_name(f".{final.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
