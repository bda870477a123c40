"""Where the lake's objects live: a local folder or an S3 bucket, behind one small interface.

Objects are named by keys relative to the lake root (``features_daily/date=.../part-0.parquet``).
Every stored object carries a *tag* that changes whenever the object is replaced: on S3 its
ETag and size, on a folder its mtime (ns) and size. A read returns the bytes together
with the tag of exactly the version it read, a write returns the tag of what it wrote, and a
listing returns each object's tag: so what was built from reads can be checked against a later
listing without reading again (core.snapshots relies on this).

Requests per call on S3: ``get`` one GET (no HEAD: the size comes with the body), ``put`` one
PUT (never a multipart upload: lake objects are small), ``list`` one LIST per 1,000 keys,
``exists`` one HEAD. Calls may run on many threads at once (``map`` bounds how many): a boto3
client is thread-safe, and its connection pool keeps S3_CONCURRENCY connections alive.

A conditional put (``if_tag``) replaces an object only if it still has the tag the caller
read (or, with ``ABSENT``, only if it does not exist yet): S3's If-Match / If-None-Match, and
on a folder the same check under an exclusive lock. Writers that merge into a shared object
use it so that two writers never lose each other's update.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, TypeVar
from urllib.parse import urlparse

T = TypeVar("T")
R = TypeVar("R")

#: Concurrent requests per store on S3: enough to hide ~25 ms per round trip behind each other,
#: few enough for one client process (boto3 spends ~3 ms of CPU per request under the GIL).
S3_CONCURRENCY: Final = 16
#: A folder gains little from threads (each call is a syscall or two): a few overlap the I/O.
LOCAL_CONCURRENCY: Final = 4
#: ``if_tag`` value meaning "only if no object exists at that key".
ABSENT: Final = "<absent>"


class PreconditionFailed(RuntimeError):
    """A conditional put found another version than the one the caller expected."""


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object: its key (relative to the lake root), size in bytes and tag."""

    key: str
    size: int
    tag: str


class ObjectStore(ABC):
    """Keys -> bytes, with tags (see the module docstring)."""

    concurrency: int

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self._pool_lock = threading.Lock()

    @abstractmethod
    def list(
        self,
        prefix: str,
        start_after: str | None = None,
        stop_after: str | None = None,
        page_size: int = 1000,
    ) -> list[ObjectInfo]:
        """Objects whose key starts with ``prefix``, sorted by key; only keys after
        ``start_after`` and not after ``stop_after`` (both plain string comparisons). On S3 a
        LIST per ``page_size`` keys (at most 1,000), none past the first key after
        ``stop_after``: size pages to the range, and a short range costs one small LIST."""

    @abstractmethod
    def stat(self, keys: list[str]) -> list[ObjectInfo | None]:
        """The listing entry of each key, None when absent: a stat each on a folder, a HEAD
        each (side by side) on S3; no listing."""

    @abstractmethod
    def list_prefixes(self, prefix: str, delimiter: str) -> list[str]:
        """The distinct key beginnings up to the first ``delimiter`` after ``prefix``, sorted
        (S3's CommonPrefixes): with ``prefix="t/date="`` and ``"-"``, one per year present."""

    @abstractmethod
    def get(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and the tag of that very version; None when absent."""

    @abstractmethod
    def put(self, key: str, data: bytes, if_tag: str | None = None) -> str:
        """Store ``data`` whole and atomically (readers see the old object or the new one) and
        return its tag. ``if_tag``: only if the current object has that tag (``ABSENT``: only
        if none exists), else PreconditionFailed and nothing changes."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``[fn(x) for x in items]`` with up to ``concurrency`` calls at once, in order; the
        first error is raised once every call has finished (nothing keeps running). Called from
        inside another ``map`` call, it runs in the calling thread: a pool thread waiting for
        work queued behind it would wait forever."""
        work = list(items)
        if len(work) <= 1 or getattr(_worker, "active", False):
            return [fn(x) for x in work]
        futures = [self._executor().submit(_as_worker, fn, x) for x in work]
        errors = [f.exception() for f in futures]
        for error in errors:
            if error is not None:
                raise error
        return [f.result() for f in futures]

    def _executor(self) -> ThreadPoolExecutor:
        # A forked child inherits the pool object but not its threads: make a new one there.
        with self._pool_lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="lake-io")
                self._pool_pid = os.getpid()
            return self._pool


_worker = threading.local()


def _as_worker(fn: Callable[[T], R], item: T) -> R:
    _worker.active = True
    try:
        return fn(item)
    finally:
        _worker.active = False


class LocalStore(ObjectStore):
    """A folder. A put writes a hidden temp file in the target's folder and renames it into
    place (atomic on POSIX); hidden files (names starting with ".") are never listed."""

    concurrency = LOCAL_CONCURRENCY

    def __init__(self, root: str):
        super().__init__()
        self.root = root

    def path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def list(
        self,
        prefix: str,
        start_after: str | None = None,
        stop_after: str | None = None,
        page_size: int = 1000,
    ) -> list[ObjectInfo]:
        folder, _, name_prefix = prefix.rpartition("/")
        out = []
        for entry in self._scan(folder):
            if not entry.name.startswith(name_prefix) or entry.name.startswith("."):
                continue
            key = f"{folder}/{entry.name}" if folder else entry.name
            if entry.is_dir(follow_symlinks=False):
                below = f"{key}/"  # every key in this folder starts so: skip it when out of range
                if (stop_after is not None and below > stop_after) or (
                    start_after is not None and f"{below}\U0010ffff" <= start_after
                ):
                    continue
                out.extend(self._walk(key))
            elif entry.is_file():
                out.append(_local_info(key, entry.stat()))
        out.sort(key=lambda i: i.key)
        return [
            i
            for i in out
            if (start_after is None or i.key > start_after)
            and (stop_after is None or i.key <= stop_after)
        ]

    def _walk(self, key: str) -> Iterator[ObjectInfo]:
        for entry in self._scan(key):
            if entry.name.startswith("."):
                continue
            child = f"{key}/{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                yield from self._walk(child)
            elif entry.is_file():
                yield _local_info(child, entry.stat())

    def _scan(self, key: str) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(self.path(key) if key else self.root) as entries:
                return list(entries)
        except (FileNotFoundError, NotADirectoryError):
            return []

    def list_prefixes(self, prefix: str, delimiter: str) -> list[str]:
        folder, _, name_prefix = prefix.rpartition("/")
        found = set()
        for entry in self._scan(folder):
            name = entry.name
            if not name.startswith(name_prefix) or name.startswith("."):
                continue
            cut = name.find(delimiter, len(name_prefix))
            if cut >= 0:
                found.add(f"{folder}/{name[: cut + len(delimiter)]}")
            elif entry.is_dir(follow_symlinks=False) and delimiter == "/":
                found.add(f"{folder}/{name}/")
        return sorted(found)

    def stat(self, keys: list[str]) -> list[ObjectInfo | None]:
        out: list[ObjectInfo | None] = []
        for key in keys:
            try:
                out.append(_local_info(key, os.stat(self.path(key))))
            except (FileNotFoundError, NotADirectoryError):
                out.append(None)
        return out

    def get(self, key: str) -> tuple[bytes, str] | None:
        try:
            with open(self.path(key), "rb") as f:
                data = f.read()
                return data, _local_info(key, os.fstat(f.fileno())).tag
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def put(self, key: str, data: bytes, if_tag: str | None = None) -> str:
        path = self.path(key)
        folder, _, name = path.rpartition("/")
        os.makedirs(folder, exist_ok=True)
        with self._locked(folder, name) if if_tag is not None else contextlib.nullcontext():
            if if_tag is not None:
                current = self.stat([key])[0]
                if (current.tag if current else ABSENT) != if_tag:
                    raise PreconditionFailed(f"{key} changed since it was read")
            tmp = f"{folder}/.{name}.{uuid.uuid4().hex}.tmp"
            try:
                with open(tmp, "wb") as out:
                    out.write(data)
                    out.flush()
                    # The temp file becomes the object: its mtime and size are the tag.
                    tag = _local_info(key, os.fstat(out.fileno())).tag
                self._replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(tmp)
                raise
        return tag

    def _replace(self, src: str, dest: str) -> None:
        """Rename into place: atomic on POSIX, so readers see the old file or the new one."""
        os.replace(src, dest)

    @contextlib.contextmanager
    def _locked(self, folder: str, name: str) -> Iterator[None]:
        with open(f"{folder}/.{name}.lock", "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def exists(self, key: str) -> bool:
        return os.path.isfile(self.path(key))


def _local_info(key: str, st: os.stat_result) -> ObjectInfo:
    """A file's tag: its mtime (ns) and size, the change test of rsync and make. A copy that keeps
    mtimes (``cp -p``, shutil.copytree) keeps its tags; a rewrite gets a new mtime."""
    return ObjectInfo(key, st.st_size, f"{st.st_mtime_ns}-{st.st_size}")


class S3Store(ObjectStore):
    """A bucket and key prefix, through boto3 (region and credentials from the usual chain)."""

    concurrency = S3_CONCURRENCY
    #: Per request: connecting and waiting for a byte. Retries (standard mode, with backoff)
    #: cover throttling, 5xx and dropped connections.
    CONNECT_TIMEOUT_S: Final = 5
    READ_TIMEOUT_S: Final = 30
    MAX_ATTEMPTS: Final = 5

    def __init__(self, bucket: str, prefix: str, endpoint_url: str | None, region: str | None):
        super().__init__()
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.endpoint_url, self.region = endpoint_url, region
        self._client: Any = None
        self._client_lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                from botocore.config import Config

                config = Config(
                    region_name=self.region,
                    max_pool_connections=self.concurrency,
                    connect_timeout=self.CONNECT_TIMEOUT_S,
                    read_timeout=self.READ_TIMEOUT_S,
                    retries={"mode": "standard", "max_attempts": self.MAX_ATTEMPTS},
                    # Integrity comes from TLS; a CRC per request only costs CPU here.
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                )
                with _SESSION_LOCK:  # a botocore session is not thread-safe
                    self._client = _botocore_session().create_client(
                        "s3", endpoint_url=self.endpoint_url, config=config
                    )
            return self._client

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _relative(self, full: str) -> str:
        return full[len(self.prefix) + 1 :] if self.prefix else full

    def list(
        self,
        prefix: str,
        start_after: str | None = None,
        stop_after: str | None = None,
        page_size: int = 1000,
    ) -> list[ObjectInfo]:
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": self._key(prefix),
            "MaxKeys": max(1, min(page_size, 1000)),
        }
        if start_after is not None:
            args["StartAfter"] = self._key(start_after)
        out = []
        while True:
            page = self.client.list_objects_v2(**args)
            for item in page.get("Contents", []):
                key = self._relative(item["Key"])
                if stop_after is not None and key > stop_after:
                    return out
                out.append(ObjectInfo(key, int(item["Size"]), _s3_tag(item["ETag"], item["Size"])))
            if not page.get("IsTruncated"):
                return out
            args["ContinuationToken"] = page["NextContinuationToken"]
            args.pop("StartAfter", None)

    def list_prefixes(self, prefix: str, delimiter: str) -> list[str]:
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": self._key(prefix),
            "Delimiter": delimiter,
        }
        out = []
        while True:
            page = self.client.list_objects_v2(**args)
            out += [self._relative(p["Prefix"]) for p in page.get("CommonPrefixes", [])]
            if not page.get("IsTruncated"):
                return sorted(out)
            args["ContinuationToken"] = page["NextContinuationToken"]

    def get(self, key: str) -> tuple[bytes, str] | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey:
            return None
        data = answer["Body"].read()
        return data, _s3_tag(answer["ETag"], len(data))

    def put(self, key: str, data: bytes, if_tag: str | None = None) -> str:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key), "Body": data}
        if if_tag == ABSENT:
            args["IfNoneMatch"] = "*"
        elif if_tag is not None:
            args["IfMatch"] = if_tag.rsplit(":", 1)[0]
        try:
            answer = self.client.put_object(**args)
        except Exception as exc:
            if if_tag is not None and _is_precondition_failure(exc):
                raise PreconditionFailed(f"{key} changed since it was read") from exc
            raise
        return _s3_tag(answer["ETag"], len(data))

    def stat(self, keys: list[str]) -> list[ObjectInfo | None]:
        return self.map(self._head, keys)

    def _head(self, key: str) -> ObjectInfo | None:
        from botocore.exceptions import ClientError

        try:
            answer = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return None
            raise
        size = int(answer["ContentLength"])
        return ObjectInfo(key, size, _s3_tag(answer["ETag"], size))

    def exists(self, key: str) -> bool:
        return self._head(key) is not None


_SESSION_LOCK = threading.Lock()
_SESSION: tuple[int, Any] | None = None


def _botocore_session() -> Any:
    """This process's botocore session (call under _SESSION_LOCK): one, so the S3 service
    model is loaded once, not per store."""
    global _SESSION
    import botocore.session

    if _SESSION is None or _SESSION[0] != os.getpid():
        session = botocore.session.get_session()
        # Listings' LastModified stay text: never used here, and parsing them into datetimes
        # was ~70% of a 250-key LIST's client CPU (55 -> 15 ms, measured).
        parsers = session.get_component("response_parser_factory")
        parsers.set_parser_defaults(timestamp_parser=str)
        _SESSION = (os.getpid(), session)
    return _SESSION[1]


def _s3_tag(etag: str, size: int) -> str:
    return f"{etag.strip(chr(34))}:{int(size)}"


def _is_precondition_failure(exc: Exception) -> bool:
    """412 (the object changed) or 409 ConditionalRequestConflict (a concurrent conditional
    write to the same key is in flight): either way, re-read and try again."""
    response = getattr(exc, "response", None) or {}
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = response.get("Error", {}).get("Code")
    return status == 412 or code in ("PreconditionFailed", "ConditionalRequestConflict")


def store_for(uri: str, endpoint_url: str | None = None, region: str | None = None) -> ObjectStore:
    """The store of a lake URI: a folder (plain path or file://) or s3://bucket/prefix
    (``region`` None: botocore's own chain)."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        return S3Store(parsed.netloc, parsed.path, endpoint_url, region)
    if parsed.scheme in ("", "file"):
        return LocalStore(os.path.abspath(parsed.path if parsed.scheme == "file" else uri))
    raise ValueError(f"unsupported lake URI {uri!r}: use a folder, file:// or s3://bucket/prefix")
