"""Object storage (`s3://bucket/prefix`, any fsspec URL) for sources and outputs, beside local paths.

FFmpeg and PyAV only ever open local files: an object is staged into a worker-local scratch folder before it
is read, and an output is written locally, then uploaded. An upload goes to a temporary key beside the final
one and is copied to the final key only when whole (S3's copy is atomic per object), so a reader (or a rerun)
never finds half an object under a final key; temporary keys a killed worker left are removed by the next run
while it holds the output's lock (`codeckit.object_journal`).

Credentials come from where fsspec's implementation looks (for S3: AWS_* environment variables, ~/.aws
files, instance roles) plus `Storage.options` (`--storage-option KEY=VALUE`, `--endpoint-url`). They travel
inside a `Storage` to workers (who may lack the environment), and are never printed: `repr(Storage)` names
the option keys only, and every storage error message goes through `Storage.redact`.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from .errors import FeatureMissing, StorageError

log = logging.getLogger("codeckit.storage")

#: Schemes that are local paths, not object storage.
LOCAL_SCHEMES = ("", "file", "local")
#: Option keys whose values are secrets (never shown); anything else named like one is also hidden.
SECRET_WORDS = ("secret", "token", "password", "key", "credential", "session")
#: Scratch space one worker process may fill with staged objects (bytes); CODECKIT_SCRATCH_BYTES overrides.
DEFAULT_SCRATCH_BYTES = 20 * 1000**3
TEMP_KEY_MARK = ".codeckit-upload-"


def is_url(path: str | os.PathLike) -> bool:
    """True for `scheme://...` with a scheme that is not a local file."""
    if not isinstance(path, str) or "://" not in path:
        return False
    return path.split("://", 1)[0].lower() not in LOCAL_SCHEMES


def join(base: str, *parts: str) -> str:
    """`base/part/...` for a URL (no os.path: object keys use '/' whatever the OS)."""
    out = base.rstrip("/")
    for p in parts:
        out += "/" + str(p).strip("/")
    return out


def name_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _parse_value(text: str):
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(text)
    except ValueError:
        return text


@dataclass(frozen=True)
class Storage:
    """How to reach object storage: fsspec options (endpoint, credentials, ...) on top of the usual places.

    Picklable and hashable (it goes to Dask and Ray workers inside payloads); `repr` hides the values.
    """
    options: tuple[tuple[str, object], ...] = ()

    @classmethod
    def from_cli(cls, pairs: Iterable[str] = (), endpoint_url: str | None = None) -> "Storage":
        """From `KEY=VALUE` strings (a dotted key nests: client_kwargs.region_name=eu-west-1) and an endpoint."""
        opts: dict[str, object] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                from .errors import ConfigError
                raise ConfigError(f"--storage-option takes KEY=VALUE, not {pair.split('=')[0]!r}...",
                                  code="bad_option")
            opts[key.strip()] = _parse_value(value)
        if endpoint_url:
            opts["endpoint_url"] = endpoint_url
        return cls(tuple(sorted(opts.items())))

    def __repr__(self) -> str:
        return f"Storage(options={[k for k, _ in self.options]})"

    __str__ = __repr__

    def kwargs(self) -> dict:
        # no listings cache: workers write under the prefix the parent lists, and a cached listing would
        # miss their objects (a rerun would redo finished items)
        out: dict = {"use_listings_cache": False}
        for key, value in self.options:
            node = out
            *parents, leaf = key.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = value
        return out

    def secrets(self) -> list[str]:
        """Option values and environment values that must never be shown."""
        vals = [str(v) for k, v in self.options if any(w in k.lower() for w in SECRET_WORDS) and str(v)]
        vals += [v for k, v in os.environ.items() if k.startswith("AWS_") and "SECRET" in k or k ==
                 "AWS_SESSION_TOKEN"]
        return [v for v in vals if len(v) >= 4]

    def redact(self, text: str) -> str:
        for s in self.secrets():
            text = text.replace(s, "***")
        return text

    def fs(self, url: str):
        """(fsspec filesystem, path inside it) for `url`; a missing implementation is a FeatureMissing."""
        import fsspec.core
        scheme = url.split("://", 1)[0]
        try:
            return fsspec.core.url_to_fs(url, **self.kwargs())
        except ImportError as exc:
            raise FeatureMissing(f"{scheme}:// URLs need an fsspec implementation that is not installed "
                                 f"({exc.name or exc})", hint="pip install 'codeckit[s3]' (fsspec + s3fs)",
                                 code="storage_missing") from None
        except ValueError as exc:
            raise StorageError(f"cannot use {url}: {self.redact(str(exc))}", path=url, code="bad_url") from None

    def error(self, url: str, exc: BaseException, doing: str) -> StorageError:
        """The named error for an exception an fsspec call raised on `url` while `doing` (read, list, write)."""
        text = self.redact(str(exc) or type(exc).__name__)
        if isinstance(exc, StorageError):
            return exc
        if isinstance(exc, FileNotFoundError) and "bucket" in text.lower():
            return StorageError(f"the bucket of {url} does not exist", path=url, code="bucket_missing",
                                hint="create it first, or check the URL and the endpoint")
        if isinstance(exc, FileNotFoundError):
            return StorageError(f"no such object: {url}", path=url, code="not_found")
        if isinstance(exc, PermissionError):
            if doing == "read":
                return StorageError(f"cannot read {url}: access denied ({text})", path=url,
                                    code="object_unreadable", hint="the credentials may list but not read it")
            return StorageError(f"access to {url} refused while trying to {doing}: {text}", path=url,
                                code="access_denied",
                                hint="check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, "
                                     "~/.aws, --storage-option key=... secret=...) and the endpoint")
        return StorageError(f"object storage failed to {doing} {url}: {text}", path=url, code="storage_failed")

    @contextlib.contextmanager
    def calling(self, url: str, doing: str) -> Iterator[None]:
        """Turn what an fsspec call raises into a StorageError with its code (never a traceback for users)."""
        try:
            yield
        except (OSError, ValueError) as exc:
            raise self.error(url, exc, doing) from None
        except Exception as exc:  # botocore/aiohttp errors that s3fs does not translate (endpoint down, ...)
            if type(exc).__module__.split(".")[0] in ("botocore", "aiobotocore", "aiohttp", "s3fs", "fsspec"):
                raise self.error(url, exc, doing) from None
            raise

    # ------------------------------------------------------------ small operations

    def exists(self, url: str) -> bool:
        fs, p = self.fs(url)
        with self.calling(url, "read"):
            return fs.exists(p)

    def info(self, url: str) -> dict:
        fs, p = self.fs(url)
        with self.calling(url, "read"):
            return fs.info(p)

    def read_bytes(self, url: str) -> bytes:
        fs, p = self.fs(url)
        with self.calling(url, "read"):
            return fs.cat_file(p)

    def write_bytes(self, url: str, data: bytes) -> None:
        """A small object written in one PUT (whole or not at all on S3)."""
        fs, p = self.fs(url)
        with self.calling(url, "write"):
            fs.pipe_file(p, data)

    def write_if(self, url: str, data: bytes, *, etag: str | None = None) -> bool | None:
        """One PUT that only happens if the object is absent (`etag` None) or still has `etag`: True when
        written, False when the condition failed (another writer was first), None when this filesystem has
        no conditional writes (then nothing was written). S3 (If-None-Match / If-Match, AWS since 2024) and
        SeaweedFS honour them; a server that ignores them is found out by `ObjectLock`."""
        fs, p = self.fs(url)
        if not any(proto in ("s3", "s3a") for proto in _protocols(fs)):
            return None
        match = {"IfNoneMatch": "*"} if etag is None else {"IfMatch": etag}
        try:
            with self.calling(url, "write"):
                try:
                    fs.pipe_file(p, data, **match)
                except OSError as exc:
                    if _precondition_failed(exc):
                        return False
                    raise
        finally:
            fs.invalidate_cache(p)
        return True

    def etag(self, url: str) -> tuple[bytes, str] | None:
        """(content, ETag) of a small object, or None when there is none."""
        fs, p = self.fs(url)
        try:
            with self.calling(url, "read"):
                info = fs.info(p, refresh=True)
                return fs.cat_file(p), str(info.get("ETag") or info.get("etag") or "")
        except StorageError as exc:
            if exc.code == "not_found":
                return None
            raise

    def remove(self, url: str) -> None:
        fs, p = self.fs(url)
        with contextlib.suppress(FileNotFoundError), self.calling(url, "delete"):
            fs.rm_file(p)

    def listing(self, url: str) -> dict[str, dict]:
        """Every object under the prefix `url`, by URL (empty when there is none). Folder markers (the empty
        `name/` objects a console's "create folder" makes) are folders, not objects: staged as files they
        stopped compare and package ("no such object: s3://b/folder/")."""
        fs, p = self.fs(url)
        scheme = url.split("://", 1)[0]
        with self.calling(url, "list"):
            found = fs.find(p.rstrip("/"), detail=True)
        return {f"{scheme}://{k}": v for k, v in found.items()
                if v.get("type", "file") == "file" and not k.endswith("/")}

    def check_output(self, url: str) -> None:
        """The output location exists (its bucket) and these credentials can list it; before any work."""
        fs, p = self.fs(url)
        bucket = p.split("/", 1)[0]
        try:
            fs.ls(bucket, refresh=True)   # not exists(): it answers False when the credentials are refused
        except FileNotFoundError:
            raise StorageError(f"the bucket of {url} does not exist", path=url, code="bucket_missing",
                               hint="create it first, or check the URL and the endpoint") from None
        except Exception as exc:
            with self.calling(url, "list"):
                raise exc


def _protocols(fs) -> tuple[str, ...]:
    proto = getattr(fs, "protocol", ())
    return (proto,) if isinstance(proto, str) else tuple(proto)


def _precondition_failed(exc: BaseException) -> bool:
    """Whether an error s3fs translated (to OSError EINVAL) was a failed If-None-Match / If-Match: its
    botocore cause says 412 PreconditionFailed (or 409 ConditionalRequestConflict: a concurrent write)."""
    seen = exc
    for _ in range(4):
        seen = seen.__cause__ or seen.__context__
        if seen is None:
            return False
        resp = getattr(seen, "response", None)
        if isinstance(resp, dict):
            code = resp.get("Error", {}).get("Code")
            status = resp.get("ResponseMetadata", {}).get("HTTPStatusCode")
            return code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412)
    return False


def identity(info: dict) -> str:
    """What changes when an object's content changes (its ETag), with its size: cheaper than reading it."""
    etag = info.get("ETag") or info.get("etag") or info.get("md5") or info.get("LastModified") or info.get("mtime")
    return f"{info.get('size')}|{str(etag).strip(chr(34))}"


def object_hash(storage: Storage, url: str, algorithm: str = "sha256") -> str:
    """A hash of every byte of an object, streamed (never the whole object in memory)."""
    fs, p = storage.fs(url)
    with storage.calling(url, "read"), fs.open(p, "rb", block_size=8 * 1024 * 1024) as fh:
        return hashlib.file_digest(fh, algorithm).hexdigest()


# ---------------------------------------------------------------- uploads that appear whole

def temp_key(final: str) -> str:
    """The key an upload goes to first: beside the final one, hidden, marked, unique per attempt."""
    base, _, name = final.rpartition("/")
    return f"{base}/.{name}{TEMP_KEY_MARK}{secrets.token_hex(4)}"


def is_temp_key(url: str) -> bool:
    """An unfinished upload (temp_key), or a temporary file of a run that reached the bucket: the same rule
    as for local names (fileio.is_temp_name, which knows TEMP_KEY_MARK)."""
    from .fileio import is_temp_name
    return is_temp_name(name_of(url))


def put_final(storage: Storage, local: str | os.PathLike, final: str) -> int:
    """Upload a local file so that `final` holds all of it or nothing: to a temporary key, size checked,
    copied to the final key (atomic), temporary key removed. Returns the bytes uploaded."""
    size = os.path.getsize(local)
    if not is_url(final):                      # a local output: the same guarantee through a rename
        from .fileio import atomic_path
        with atomic_path(final) as tmp:
            shutil.copyfile(local, tmp)
        return size
    fs, p = storage.fs(final)
    tmp_url = temp_key(final)
    _, tmp = storage.fs(tmp_url)
    try:
        with storage.calling(final, "write"):
            fs.put_file(os.fspath(local), tmp)
            got = fs.info(tmp).get("size")
            if got != size:
                raise StorageError(f"upload of {final} came out {got} bytes, not {size}", path=final,
                                   code="upload_incomplete")
            fs.cp_file(tmp, p)     # not copy(): it reads "[1]" in a key as a glob
    finally:
        with contextlib.suppress(Exception):
            fs.rm_file(tmp)
    return size


def remove_stale_temp_keys(storage: Storage, prefix: str) -> list[str]:
    """Remove the temporary keys killed uploads left under `prefix`; only while holding its lock."""
    removed = []
    for url in storage.listing(prefix):
        if is_temp_key(url):
            storage.remove(url)
            removed.append(url)
    return removed


# ---------------------------------------------------------------- worker-local scratch

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
    """`value` (a string, or dicts of them) with each scratch path in `names` replaced by the name it stands for
    (an object's URL, the output as given), the longest first: a report must not name a scratch copy, gone by
    the time it is read."""
    if isinstance(value, dict):
        return {k: named_as_given(v, names) for k, v in value.items()}
    if isinstance(value, str):
        for local in sorted(names, key=len, reverse=True):
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


# ---------------------------------------------------------------- many files at once

def upload_tree(storage: Storage, folder: Path, prefix: str, *, skip: Iterable[str] = ()) -> list[str]:
    """Upload each file under `folder` (but hidden temporary ones and `skip`) to `prefix`, each whole or
    not at all, in parallel; returns the URLs written."""
    from concurrent.futures import ThreadPoolExecutor
    from .encode import is_temp_name
    skipped = set(skip)
    files = [f for f in sorted(folder.rglob("*")) if f.is_file() and not is_temp_name(f.name)
             and f.relative_to(folder).as_posix() not in skipped]
    urls = [join(prefix, f.relative_to(folder).as_posix()) for f in files]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda fu: put_final(storage, *fu), zip(files, urls)))
    return urls


__all__ = ["Stager", "Storage", "identity", "is_temp_key", "is_url", "join", "name_of", "named_as_given",
           "object_hash", "put_final", "remove_stale_temp_keys", "scratch_dir", "scratch_root",
           "stager", "temp_key", "upload_tree"]
