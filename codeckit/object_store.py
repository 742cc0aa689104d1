"""The object-storage client (`s3://bucket/prefix`, any fsspec URL): `Storage` (options, named errors,
credentials redacted), its small operations and listings, an object's identity and hash; URL helpers.

Credentials come from where fsspec's implementation looks (for S3: AWS_* environment variables, ~/.aws
files, instance roles) plus `Storage.options` (`--storage-option KEY=VALUE`, `--endpoint-url`). They travel
inside a `Storage` to workers (who may lack the environment), and are never printed: `repr(Storage)` names
the option keys only, and every storage error message goes through `Storage.redact`.
Import it through `codeckit.storage` (which re-exports it with the uploads and the staging).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from typing import Iterable, Iterator

from .errors import FeatureMissing, StorageError

#: Schemes that are local paths, not object storage.
LOCAL_SCHEMES = ("", "file", "local")
#: Option keys whose values are secrets (never shown); anything else named like one is also hidden.
SECRET_WORDS = ("secret", "token", "password", "key", "credential", "session")


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


__all__ = ["LOCAL_SCHEMES", "SECRET_WORDS", "Storage", "identity", "is_url", "join", "name_of",
           "object_hash"]
