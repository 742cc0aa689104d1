"""The error hierarchy: every failure a user can cause or meet, with a message for people."""
from __future__ import annotations

from pathlib import Path


class CodeckitError(Exception):
    """Base of every error codeckit raises on purpose.

    `str(err)` is a one-line message for people: what failed, on which file, and what to do.
    `stderr_tail` keeps the last lines FFmpeg printed, shown with --verbose.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = None,
                 stderr_tail: str | None = None):
        self.message = message
        self.path = str(path) if path is not None else None
        self.hint = hint
        self.stderr_tail = stderr_tail
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class FFmpegNotFound(CodeckitError):
    """No usable FFmpeg binary."""


class FeatureMissing(CodeckitError):
    """The FFmpeg build lacks an encoder, filter or library the user asked for."""


class ProbeError(CodeckitError):
    """A file could not be read as media (empty, truncated, not media, unreadable)."""


class UnsafeInput(ProbeError):
    """An input that would make FFmpeg open other files or URLs (playlists, concat lists)."""


class FFmpegError(CodeckitError):
    """An FFmpeg run failed."""


class FFmpegTimeout(FFmpegError):
    """An FFmpeg run was stopped after its timeout."""


class EncoderUnavailable(CodeckitError):
    """No implementation of the requested codec works on this machine."""


class ConfigError(CodeckitError):
    """A profile or option has a mistake."""


class SourceError(CodeckitError):
    """An input entry that cannot be read as a media file: one item of a batch fails, never the batch.

    `reason` names the case for code: symlink_loop, dangling_symlink, permission_denied, not_found,
    not_a_file, unreadable (any other OS error).
    """

    def __init__(self, message: str, *, path: str | Path | None = None, reason: str = "unreadable",
                 hint: str | None = None):
        self.reason = reason
        super().__init__(message, path=path, hint=hint)
