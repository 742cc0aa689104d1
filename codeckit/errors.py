"""The error hierarchy: every failure a user can cause or meet, with a message for people and fields for code."""
from __future__ import annotations

from pathlib import Path


class CodeckitError(Exception):
    """Base of every error codeckit raises on purpose.

    `str(err)` is a one-line message for people: what failed, on which file, and what to do.
    `code` is a short snake_case reason for programs (a class default, overridden per raise where one class
    covers several causes): code that reacts to an error reads `code` and the other fields, never the text.
    `stderr_tail` keeps the last lines FFmpeg printed, shown with --verbose.
    """
    code = "error"

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = None,
                 stderr_tail: str | None = None, code: str | None = None):
        self.message = message
        self.path = str(path) if path is not None else None
        self.hint = hint
        self.stderr_tail = stderr_tail
        # on the instance, so that it survives pickling to and from batch worker processes
        self.code = code or type(self).code
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text

    def to_dict(self) -> dict:
        """The error as JSON-ready data: its class, reason code, message, path and hint (not FFmpeg's lines)."""
        return {"error": type(self).__name__, "code": self.code, "message": self.message, "path": self.path,
                "hint": self.hint}


class FFmpegNotFound(CodeckitError):
    """No usable FFmpeg binary."""
    code = "ffmpeg_not_found"


class FeatureMissing(CodeckitError):
    """The FFmpeg build lacks an encoder, filter or library the user asked for."""
    code = "feature_missing"


class ProbeError(CodeckitError):
    """A file could not be read as media (empty, truncated, not media, unreadable)."""
    code = "not_media"


class UnsafeInput(ProbeError):
    """An input that would make FFmpeg open other files or URLs (playlists, concat lists)."""
    code = "unsafe_input"


class FFmpegError(CodeckitError):
    """An FFmpeg run failed.

    `detail` is FFmpeg's own first error line (its "[libx264] ..." context kept, the run-specific memory
    address dropped), None when it printed nothing; `returncode` is the exit status (negative: the signal
    that ended it). `code` tells a failure FFmpeg reported (`ffmpeg_failed`) from one it died of
    (`ffmpeg_killed`), an interrupt (`interrupted`) and a timeout (`timeout`).
    """
    code = "ffmpeg_failed"

    def __init__(self, message: str, *, detail: str | None = None, returncode: int | None = None, **fields):
        self.detail = detail
        self.returncode = returncode
        super().__init__(message, **fields)

    def to_dict(self) -> dict:
        return {**super().to_dict(), "detail": self.detail, "returncode": self.returncode}


def error_fields(exc: BaseException) -> dict:
    """The error as every `--json` names it: `code`, `message`, `path`, `hint`, `type` (the class; FFmpegError
    adds `detail` and `returncode`). The one builder of these fields: the error document of a command that
    stopped (cli.common.error_document) and each failed item of a batch (transcode, package, compare, quality,
    normalize) hold the same fields. An exception that is not a CodeckitError is a bug: code `unexpected`."""
    if isinstance(exc, CodeckitError):
        fields = exc.to_dict()
        fields["type"] = fields.pop("error")
        return fields
    return {"code": "unexpected", "message": f"unexpected error: {type(exc).__name__}: {exc}", "path": None,
            "hint": None, "type": type(exc).__name__}


def failure_line(exc: CodeckitError) -> str:
    """The failure in one line, for a verdict or a fallback reason: FFmpeg's own error line when FFmpeg
    reported one (not our "FFmpeg failed: " around it), else our message (a timeout, a signal, an
    interrupt, no binary), which says more than FFmpeg's last words."""
    if isinstance(exc, FFmpegError) and exc.code == "ffmpeg_failed" and exc.detail:
        return exc.detail
    return exc.message


class FFmpegTimeout(FFmpegError):
    """An FFmpeg run was stopped after its timeout."""
    code = "timeout"


class FFmpegStalled(FFmpegTimeout):
    """An FFmpeg run made no progress for its stall timeout and was stopped (its process group killed)."""
    code = "stalled"


class EncoderUnavailable(CodeckitError):
    """No implementation of the requested codec works on this machine."""
    code = "encoder_unavailable"


class ConfigError(CodeckitError):
    """A profile or option has a mistake."""
    code = "config_error"


class PlanError(CodeckitError):
    """A source that cannot become the target (HDR refused, no video stream, unsupported pixel format...)."""
    code = "cannot_plan"


class VerifyError(CodeckitError):
    """A written output does not hold what it should."""
    code = "verify_failed"


class QualityError(CodeckitError):
    """Two videos cannot be compared as asked (durations differ, no video, ...)."""
    code = "cannot_compare"


class JournalBusy(CodeckitError):
    """Another run holds the journal (two runs must not write one output folder at once)."""
    code = "journal_busy"


class SourceError(CodeckitError):
    """An input entry that cannot be read as a media file: one item of a batch fails, never the batch.

    `code` names the case: symlink_loop, dangling_symlink, permission_denied, not_found, not_a_file,
    unreadable (any other OS error); for a URL, not_found (no such object or prefix) and bucket_missing.
    """
    code = "unreadable"


class PackagingError(CodeckitError):
    """Shaka Packager could not turn a source's renditions into a package."""
    code = "packaging_failed"


class PackageCheckFailed(CodeckitError):
    """A package breaks the delivery rules (`codeckit package --check`); `failures` lists each broken rule."""
    code = "package_check_failed"

    def __init__(self, message: str, *, failures: list | None = None, **kw):
        self.failures = list(failures or [])
        super().__init__(message, **kw)


class StorageError(CodeckitError):
    """Object storage (s3://, any fsspec URL) refused or failed an operation.

    `code` names the case: bucket_missing, access_denied (credentials wrong or not allowed), object_unreadable
    (listed but cannot be read), not_found, upload_incomplete, scratch_full, bad_url, storage_failed.
    Messages never hold a credential (Storage.redact).
    """
    code = "storage_failed"


class SourceChanged(CodeckitError):
    """A source was written or replaced while a run used it (after its content hash was taken): what the run
    knows of it (hash, probe) describes another file, so that source fails; the next run takes the new content."""
    code = "source_changed"
