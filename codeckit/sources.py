"""Inputs of a batch, and one safe way to read them: walk files and folders into media sources (a named error
for each entry that cannot be read, never an exception that ends the batch), remove the temporary outputs a
killed run left, and open local media with PyAV without letting it reach other files or URLs.
"""
from __future__ import annotations

import errno
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from .errors import ConfigError, SourceError
from .fileio import is_temp_name

log = logging.getLogger("codeckit.sources")

#: Files a folder walk picks up (a file named on the command line is always tried).
VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .wmv .asf .flv .f4v .mpg .mpeg .m2v .vob .ts .m2ts .mts .mxf .dv .3gp .3g2 "
    ".ogv .ogg .y4m .nut .rm .rmvb .divx .qt .hevc .h264 .264 .265 .ivf .obu".split())

# What an OSError met while reading an entry means to the user; anything else is "unreadable".
_ERRNO_CODES = {errno.ELOOP: "symlink_loop", errno.EACCES: "permission_denied", errno.EPERM: "permission_denied",
                  errno.ENOENT: "not_found", errno.ENOTDIR: "not_found"}
_MESSAGES = {"symlink_loop": "symbolic link loop: the link never reaches a file",
             "dangling_symlink": "dangling symbolic link: what it points to does not exist",
             "permission_denied": "permission denied",
             "not_found": "no such file",
             "not_a_file": "not a regular file",
             "unreadable": "cannot be read"}


@dataclass
class Source:
    path: Path                 # as given (absolute, links not resolved)
    relative: Path             # where it goes under an output folder (a folder's tree mirrored)
    real: Path | None = None   # the file itself, links resolved (default: path)
    url: str | None = None     # an object in object storage (codeckit.storage): path is then its bucket/key
    identity: str | None = None  # an object's size and ETag: what changes when its content does
    size: int | None = None      # an object's size in bytes, as listed (a local file's: stat it)

    def __post_init__(self) -> None:
        if self.real is None:
            self.real = self.path

    @property
    def name(self) -> str:
        """How the source is named to people and in journals: its URL, or its local path."""
        return self.url or str(self.path)


@dataclass
class SourceWalk:
    """What a walk of the inputs found: the media files, an error per entry it could not read, and how many
    files it passed over for their extension (not video)."""
    sources: list[Source] = field(default_factory=list)
    errors: list[SourceError] = field(default_factory=list)
    skipped_by_extension: int = 0


def _source_error(path: str | os.PathLike, code: str, detail: str | None = None) -> SourceError:
    """The named error for an entry: `code` is one of the codes in SourceError's docstring."""
    message = _MESSAGES[code] + (f" ({detail})" if detail else "")
    return SourceError(message, path=path, code=code)


def _os_error(path: str | os.PathLike, exc: OSError) -> SourceError:
    code = _ERRNO_CODES.get(exc.errno, "unreadable")
    if code == "not_found" and os.path.islink(path):
        code = "dangling_symlink"
    return _source_error(path, code, None if code != "unreadable" else (exc.strerror or str(exc)))


def _check_regular_file(path: Path) -> SourceError | None:
    """None when `path` (links followed) is a regular file; otherwise why it cannot be read as one.

    A FIFO or device named like a video would make a reader block or read forever: only regular files pass.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        return _os_error(path, exc)
    if not stat.S_ISREG(st.st_mode):
        return _source_error(path, "not_a_file")
    return None


def walk_sources(paths: Iterable[str | os.PathLike], *, exclude: Iterable[str | os.PathLike] = (),
                 extensions: frozenset[str] = VIDEO_EXTENSIONS, storage=None) -> SourceWalk:
    """Media files to process: files as given (always tried, whatever their name), folders walked.

    A walk leaves out hidden entries, temporary outputs of codeckit, the `exclude` folders (an output folder
    inside an input folder) and files whose extension is not in `extensions` (counted). Links to folders are
    not followed, as `find` does not: a link back up the tree would never end. Every file is a regular file
    (links followed); an entry that is not, or that cannot be read, becomes an error of the walk. A file
    named twice, or inside a folder also named, is returned once.
    An `exclude` folder (or URL prefix) that is itself one of `paths` raises ConfigError (code
    output_is_source_folder); one inside a walked prefix is left out, as a folder is.
    A URL (`s3://bucket/prefix`, see codeckit.storage) is an object or every object under a prefix, listed
    with `storage` (a missing bucket or refused credentials raise StorageError: no source could be read).
    """
    from .storage import is_url
    walk = SourceWalk()
    excluded = {os.path.realpath(e) for e in exclude if not is_url(e)}
    excluded_urls = {str(e).rstrip("/") for e in exclude if is_url(e)}
    for raw in paths:
        if is_url(raw):
            if str(raw).rstrip("/") in excluded_urls:
                _refuse_output_as_source(str(raw))
            _walk_objects(str(raw), storage, extensions, walk, excluded_urls)
            continue
        top = Path(os.path.abspath(os.fspath(raw)))
        if top.is_dir():
            if os.path.realpath(top) in excluded:
                _refuse_output_as_source(str(top))
            before = _counts(walk)
            _walk_folder(top, excluded, extensions, walk)
            _say_if_no_video(os.fspath(raw), "folder", walk, before)
        else:
            _add_file(top, Path(top.name), walk)
    walk.sources = _first_of_each(walk.sources, lambda s: s.url or s.path)
    walk.errors = _first_of_each(walk.errors, lambda e: e.path)
    return walk


def local_only(paths: Iterable[str | os.PathLike], command: str) -> None:
    """Refuse an object-storage URL among `paths`, before any work, at the entry of a library function that
    reads local files only (probe.probe, quality.measure*, search.search): a ConfigError naming the URL as
    given, code url_not_supported (the CLI's usage error, exit 2, rests on it). Read as a path, `s3://b/k.mp4`
    was "s3:/b/k.mp4: no such file", also for an object that is there."""
    from .storage import is_url
    for path in paths:
        if is_url(os.fspath(path)):
            raise ConfigError(f"{command} reads local files only, not object-storage URLs", path=os.fspath(path),
                              code="url_not_supported", hint="download it first, e.g. with aws s3 cp")


def _refuse_output_as_source(where: str) -> None:
    # the outputs would be walked as sources on the next run (clips of clips, packages of packages)
    raise ConfigError("is both a source folder and the output folder", path=where, code="output_is_source_folder",
                      hint="choose another output folder; one inside the source folder is left out of the walk")


def _walk_objects(url: str, storage, extensions: frozenset[str], walk: SourceWalk,
                  excluded: set[str] = frozenset()) -> None:
    """The objects under `url` (or the object itself) as sources; their key path below `url` is mirrored.
    Objects under an `excluded` prefix (an output prefix inside the source prefix) are left out."""
    from .staged import listed_missing
    from .storage import Storage, identity, is_temp_key
    error = listed_missing(url)       # a staged run (compare, package) listed it already, with its storage
    if error is None:
        storage = storage or Storage()
        objects, error = list_source(storage, url)
    if error is not None:
        walk.errors.append(error)
        return
    base = url.rstrip("/")
    before = _counts(walk)
    for obj, info in sorted(objects.items()):
        rel = obj[len(base) + 1:] if obj != base else obj.rsplit("/", 1)[-1]
        if obj != base and (is_temp_key(obj) or any(part.startswith(".") for part in rel.split("/"))
                            or any(obj.startswith(e + "/") for e in excluded)):
            continue
        if obj != base and Path(rel).suffix.lower() not in extensions:
            walk.skipped_by_extension += 1
            continue
        key_path = Path(obj.split("://", 1)[1])
        walk.sources.append(Source(key_path, Path(rel), key_path, url=obj, identity=identity(info),
                                   size=info.get("size")))
    _say_if_no_video(url, "prefix", walk, before)


def _counts(walk: SourceWalk) -> tuple[int, int, int]:
    return len(walk.sources), walk.skipped_by_extension, len(walk.errors)


def _say_if_no_video(where: str, kind: str, walk: SourceWalk, before: tuple[int, int, int]) -> None:
    """A folder or prefix given as a source that holds no video: nothing to do (exit 0), said once, by the name
    the user gave; one rule for a local folder and an object-storage prefix. Entries that could not be read
    are failed items already: no warning then."""
    found, skipped, errors = before
    if len(walk.sources) > found or len(walk.errors) > errors:
        return
    other = walk.skipped_by_extension - skipped
    what = "object" if kind == "prefix" else "file"
    log.warning("%s: no video under this %s (%s)", where, kind,
                f"{other} other {what}{'s' if other != 1 else ''} skipped" if other else "it is empty")


def list_source(storage, url: str) -> tuple[dict[str, dict], SourceError | None]:
    """The objects under a source URL, or why there is none: the one place "nothing there" becomes an error,
    for the walk of every command (transcode, normalize) and the staging of compare and package. A missing
    bucket is this source's failure (`bucket_missing`), not the run's: other sources may be elsewhere. A prefix
    that exists with nothing in it (a console's folder marker alone) is no error: ({}, None)."""
    from .errors import StorageError
    try:
        objects = storage.listing(url)
        if objects or storage.exists(url):
            return objects, None
    except StorageError as exc:
        if exc.code != "bucket_missing":
            raise           # refused credentials, endpoint down: no source can be read, the run stops (exit 2)
        bucket = url.split("://", 1)[1].split("/", 1)[0]
        return {}, SourceError(f"the bucket '{bucket}' does not exist", path=url, code="bucket_missing",
                               hint="check the URL and the endpoint")
    what = ("no such prefix" if url.endswith("/") else
            "no such object" if Path(url.rsplit("/", 1)[-1]).suffix else "no such object or prefix")
    return {}, SourceError(what, path=url, code="not_found")


def _first_of_each(items: list, key) -> list:
    first: dict = {}
    for item in items:
        first.setdefault(key(item), item)
    return list(first.values())


def _walk_folder(top: Path, excluded: set[str], extensions: frozenset[str], walk: SourceWalk) -> None:
    def unreadable(exc: OSError) -> None:
        walk.errors.append(_os_error(exc.filename or top, exc))

    for dirpath, dirnames, filenames in os.walk(top, onerror=unreadable):
        d = Path(dirpath)
        dirnames[:] = sorted(n for n in dirnames if not n.startswith(".")
                             and os.path.realpath(d / n) not in excluded)
        for name in sorted(filenames):
            if name.startswith(".") or is_temp_name(name):
                continue
            if Path(name).suffix.lower() not in extensions:
                walk.skipped_by_extension += 1
                continue
            _add_file(d / name, (d / name).relative_to(top), walk)


def _add_file(path: Path, relative: Path, walk: SourceWalk) -> None:
    error = _check_regular_file(path)
    if error is not None:
        walk.errors.append(error)
        return
    walk.sources.append(Source(path, relative, Path(os.path.realpath(path))))


def remove_stale_temps(folder: str | os.PathLike) -> list[str]:
    """Remove the temporary outputs a killed run left under `folder` (its journal line lost, e.g. torn at
    kill -9); returns what was removed. Only call it while holding the folder's journal lock: then no other
    run is writing there. Every temporary name codeckit writes (fileio.is_temp_name): an encode's, and an
    atomic write's (a report or manifest caught by the kill)."""
    removed: list[str] = []
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            if is_temp_name(name):
                p = Path(dirpath) / name
                try:
                    p.unlink()
                    removed.append(str(p))
                except OSError:
                    pass  # gone already, or not ours to remove: the next run tries again
    return removed


# ---------------------------------------------------------------- reading local media with PyAV

def open_media(path: str | os.PathLike, stream_options: list[dict] | None = None):
    """Open a local file with PyAV, for reading; use it as `with open_media(p) as container:`.

    Only the file: protocol is allowed, so a playlist or reference file cannot make FFmpeg open other files or
    URLs; metadata that is not valid UTF-8 is replaced, not fatal. `stream_options`: codec options per stream for
    FFmpeg's stream probe. Raises av.error.FFmpegError subclasses (callers map them to their own errors).
    """
    import av
    return av.open(os.fspath(path), options={"protocol_whitelist": "file"}, metadata_errors="replace",
                   stream_options=stream_options)


def packets(container, *streams, timed: bool = False) -> Iterator:
    """The demuxed packets of `streams` (all when none given) that carry data: the empty packets demux() ends
    each stream with, to flush decoders, are left out, and with `timed` those without a presentation time."""
    for packet in container.demux(*streams):
        if packet.size == 0 or (timed and packet.pts is None):
            continue
        yield packet


def decode_now(packet, codec_context) -> list:
    """`packet`'s frames now: a decoder that holds them back (a B-frame delay waiting for the P and B frames
    after a keyframe) is drained, then flushed for what follows (more packets, a seek). A 1080p25 H.264 IDR
    decoded so costs 24 ms against 29-33 ms fed its next packets."""
    frames = packet.decode()
    if not frames and packet.size:
        frames = codec_context.decode(None)
        codec_context.flush_buffers()
    return frames


__all__ = ["Source", "SourceWalk", "VIDEO_EXTENSIONS", "decode_now", "list_source", "local_only", "open_media", "packets",
           "remove_stale_temps", "walk_sources"]
