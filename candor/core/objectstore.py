"""The one place Candor touches stored objects (model files, export archives) by name.

Django's default storage decides where they live: the data folder's ``media/`` (FileSystemStorage), or
an S3-compatible store when ``CANDOR_S3_URL`` is set (django-storages' S3Storage, see settings.py). What
Django's Storage API does not do well for large files is done here, for both:

- a finished local file is stored under exactly the name given (a rename on local disk; a multipart
  upload of the file, parts in parallel, on S3), replacing an object of that name;
- a read streams a byte range in chunks (a seek on local disk; one ranged GetObject on S3, its body read
  piece by piece), so no object is ever held whole in memory or copied to a temporary file.

Every failure to reach the store (connection refused or reset, a timeout, an answer 5xx), once botocore's
own retries are spent, is raised as :class:`StoreUnavailable`, whose message is safe to show: entry points
answer it with 503 and Retry-After, and the task queue counts it as transient, so a task is tried again.
A missing object is FileNotFoundError, as with files.
"""

from __future__ import annotations

import errno
import io
import os
import posixpath
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages

CHUNK = 1024 * 1024
MESSAGE = "File storage is unreachable at the moment. Nothing was changed: try again in a little while."
# How long a client is told to wait before asking again.
RETRY_AFTER_SECONDS = 30


class StoreUnavailable(Exception):
    """The store cannot be reached, or answered with a server error. The message is safe to show."""

    def __init__(self, message: str = MESSAGE) -> None:
        super().__init__(message)


def backend() -> Storage:
    """The default storage, as configured now (tests may swap it with override_settings)."""
    return storages["default"]


def _s3(storage: Storage) -> bool:
    try:
        from storages.backends.s3 import S3Storage
    except ImportError:  # pragma: no cover - django-storages is a dependency
        return False
    return isinstance(storage, S3Storage)


# --- Errors -----------------------------------------------------------------------------------------------


def _status(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if isinstance(status, int) else None


def _code(error: BaseException) -> str:
    response = getattr(error, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` (or what it wraps) says the store cannot be reached or failed on its side."""
    from botocore.exceptions import (
        ConnectionClosedError,
        ConnectionError,
        ConnectTimeoutError,
        EndpointConnectionError,
        HTTPClientError,
        ReadTimeoutError,
        ResponseStreamingError,
    )

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, StoreUnavailable):
            return True
        if isinstance(
            current,
            ConnectionError
            | EndpointConnectionError
            | ConnectTimeoutError
            | ReadTimeoutError
            | ConnectionClosedError
            | HTTPClientError
            | ResponseStreamingError,
        ):
            return True
        status = _status(current)
        if status is not None and status >= 500:
            return True
        current = current.__cause__ or current.__context__
    return False


def _missing(error: BaseException) -> bool:
    return _status(error) == 404 or _code(error) in {"NoSuchKey", "404", "NotFound"}


@contextmanager
def guarded() -> Iterator[None]:
    """Raise the store's unavailability as StoreUnavailable (for code that calls the Storage API itself)."""
    try:
        yield
    except StoreUnavailable:
        raise
    except Exception as error:
        if is_unavailable(error):
            # The class only, never the error's text: it names the endpoint and the object.
            raise StoreUnavailable from None
        raise


# --- Writing ----------------------------------------------------------------------------------------------


def save_path(path: Path, name: str) -> str:
    """Store the finished local file ``path`` under exactly ``name`` (replacing an object of that name),
    and return the stored name. The file is moved: it is gone from ``path`` afterwards, whatever
    happened. StoreUnavailable if the store cannot take it; nothing of it is stored then.
    """
    storage = backend()
    try:
        if isinstance(storage, FileSystemStorage):
            _move_local(storage, path, name)
        elif _s3(storage):
            with guarded():
                _upload(storage, path, name)
        else:
            with guarded(), open(path, "rb") as handle:
                if storage.exists(name):
                    storage.delete(name)
                stored = storage.save(name, File(handle, name=posixpath.basename(name)))
                if stored != name:
                    storage.delete(stored)
                    raise FileExistsError(name)
    finally:
        path.unlink(missing_ok=True)
    return name


def _move_local(storage: FileSystemStorage, path: Path, name: str) -> None:
    target = Path(storage.path(name))  # refuses a name that would leave the folder
    folder = target.parent
    if storage.directory_permissions_mode is not None:
        old = os.umask(0)
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=storage.directory_permissions_mode)
        finally:
            os.umask(old)
    else:
        folder.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(path, target)
    except OSError as error:
        if error.errno != errno.EXDEV:  # the staging area is on another file system
            raise
        # Copied beside the target under a hidden name, then renamed: never a half-written `name`.
        descriptor, spare = tempfile.mkstemp(dir=folder, prefix=".incoming-")
        try:
            with os.fdopen(descriptor, "wb") as out, open(path, "rb") as source:
                shutil.copyfileobj(source, out, CHUNK)
            os.replace(spare, target)
        except BaseException:
            Path(spare).unlink(missing_ok=True)
            raise
    if storage.file_permissions_mode is not None:
        os.chmod(target, storage.file_permissions_mode)


def _key(storage: Any, name: str) -> str:
    from storages.utils import clean_name

    return str(storage._normalize_name(clean_name(name)))


def _upload(storage: Any, path: Path, name: str) -> None:
    storage.connection.meta.client.upload_file(
        str(path),
        storage.bucket_name,
        _key(storage, name),
        ExtraArgs={"ContentType": "application/octet-stream"},
        Config=storage.transfer_config,
    )


# --- Reading ----------------------------------------------------------------------------------------------


def _head(storage: Any, name: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    with guarded():
        try:
            head: dict[str, Any] = storage.connection.meta.client.head_object(
                Bucket=storage.bucket_name, Key=_key(storage, name)
            )
        except ClientError as error:
            if _missing(error):
                return None
            raise
    return head


def exists(name: str) -> bool:
    storage = backend()
    if _s3(storage):
        return _head(storage, name) is not None
    with guarded():
        return bool(storage.exists(name))


def size(name: str) -> int:
    """The object's size in bytes; FileNotFoundError if there is none of that name."""
    storage = backend()
    if _s3(storage):
        head = _head(storage, name)
        if head is None:
            raise FileNotFoundError(name)
        return int(head["ContentLength"])
    with guarded():
        return int(storage.size(name))


def read(name: str, start: int = 0, length: int | None = None, *, chunk: int = CHUNK) -> Iterator[bytes]:
    """The bytes [start, start + length) of the object (to its end when length is None), in chunks of at
    most ``chunk`` bytes; fewer when the object ends sooner, none from a start at or past its end.

    The object is opened (or asked for) before this returns, so a missing one raises FileNotFoundError
    and an unreachable store StoreUnavailable here, before anything is sent; the store failing half-way
    raises StoreUnavailable from the iterator.
    """
    if start < 0 or (length is not None and length < 0) or chunk < 1:
        raise ValueError("start and length must not be negative, chunk must be positive")
    storage = backend()
    if _s3(storage):
        return _read_s3(storage, name, start, length, chunk)
    if isinstance(storage, FileSystemStorage):
        handle: IO[bytes] = open(storage.path(name), "rb")  # noqa: SIM115 - closed by Pieces
    else:
        with guarded():
            handle = storage.open(name, "rb")
    return Pieces(handle, start, length, chunk)


class Pieces(Iterator[bytes]):
    """The chunks of one read, from a file object or an S3 body; ``close()`` (as a response calls, even
    one that sends no body, a HEAD) releases it at once, started or not."""

    def __init__(self, source: Any, start: int, length: int | None, chunk: int) -> None:
        self._source = source
        self._start = start
        self._remaining = length
        self._chunk = chunk

    def __next__(self) -> bytes:
        if self._source is None or (self._remaining is not None and self._remaining <= 0):
            self.close()
            raise StopIteration
        with guarded():
            if self._start:
                self._source.seek(self._start)
                self._start = 0
            wanted = self._chunk if self._remaining is None else min(self._chunk, self._remaining)
            piece = bytes(self._source.read(wanted))
        if not piece:
            self.close()
            raise StopIteration
        if self._remaining is not None:
            self._remaining -= len(piece)
        return piece

    def close(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            source.close()


def _read_s3(storage: Any, name: str, start: int, length: int | None, chunk: int) -> Iterator[bytes]:
    from botocore.exceptions import ClientError

    if length == 0:
        if not exists(name):
            raise FileNotFoundError(name)
        return Pieces(None, 0, 0, chunk)
    asked: dict[str, str] = {}
    if start or length is not None:
        end = "" if length is None else str(start + length - 1)
        asked["Range"] = f"bytes={start}-{end}"
    with guarded():
        try:
            answer = storage.connection.meta.client.get_object(
                Bucket=storage.bucket_name, Key=_key(storage, name), **asked
            )
        except ClientError as error:
            if _missing(error):
                raise FileNotFoundError(name) from None
            if _status(error) == 416 or _code(error) == "InvalidRange":
                if not exists(name):  # pragma: no cover - a store that answers 416 for a missing object
                    raise FileNotFoundError(name) from None
                return Pieces(None, 0, 0, chunk)  # the start is at or past the end
            raise
    return Pieces(answer["Body"], 0, None, chunk)


class _ChunkReader(io.RawIOBase):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            try:
                self._left = next(self._chunks)
            except StopIteration:
                return 0
        count = min(len(buffer), len(self._left))
        buffer[:count] = self._left[:count]
        self._left = self._left[count:]
        return count

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
        super().close()


def as_file(chunks: Iterator[bytes]) -> IO[bytes]:
    """A read-only file object over chunks from :func:`read` (for code that reads a file object);
    closing it closes the read."""
    return io.BufferedReader(_ChunkReader(chunks), buffer_size=CHUNK)


# --- Removing and listing ---------------------------------------------------------------------------------


def modified(name: str) -> datetime:
    """When the stored object was last written (aware, UTC); FileNotFoundError if it is not there."""
    storage = backend()
    if isinstance(storage, FileSystemStorage):
        return datetime.fromtimestamp(os.stat(storage.path(name)).st_mtime, tz=UTC)
    with guarded():
        if not storage.exists(name):
            raise FileNotFoundError(name)
        when = storage.get_modified_time(name)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def delete(name: str) -> None:
    """Remove the object ``name``; one already gone is fine."""
    if not name:
        return
    storage = backend()
    if isinstance(storage, FileSystemStorage):
        with suppress(FileNotFoundError):
            os.remove(storage.path(name))
        return
    with guarded():
        storage.delete(name)


def names(prefix: str) -> Iterator[str]:
    """Every stored name that starts with ``prefix`` (such as ``"exports/"``), in no particular order.

    On local disk, hidden folders (the staging area ``.staging/``) hold no stored objects and are skipped.
    """
    storage = backend()
    if _s3(storage):
        return _names_s3(storage, prefix)
    if isinstance(storage, FileSystemStorage):
        return _names_local(Path(storage.location), prefix)
    return _names_generic(storage, prefix)


def _names_s3(storage: Any, prefix: str) -> Iterator[str]:
    location = storage.location.strip("/")
    base = f"{location}/" if location else ""
    client = storage.connection.meta.client
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=storage.bucket_name, Prefix=base + prefix)
    iterator = iter(pages)
    while True:
        with guarded():
            page = next(iterator, None)
        if page is None:
            return
        for entry in page.get("Contents", ()):
            key = str(entry["Key"])
            if key.startswith(base) and not key.endswith("/"):
                yield key[len(base) :]


def _names_local(root: Path, prefix: str) -> Iterator[str]:
    folder = posixpath.dirname(prefix)
    top = root / folder if folder else root
    if not top.is_dir():
        return
    for directory, subfolders, files in os.walk(top):
        subfolders[:] = [s for s in subfolders if not s.startswith(".")]
        relative = Path(directory).relative_to(root).as_posix()
        for file in files:
            name = file if relative == "." else f"{relative}/{file}"
            if name.startswith(prefix) and not file.startswith("."):
                yield name


def _names_generic(storage: Storage, prefix: str) -> Iterator[str]:
    def walk(folder: str) -> Iterator[str]:
        try:
            with guarded():
                subfolders, files = storage.listdir(folder)
        except FileNotFoundError:
            return
        for file in files:
            yield posixpath.join(folder, file) if folder else file
        for sub in subfolders:
            yield from walk(posixpath.join(folder, sub) if folder else sub)

    start = posixpath.dirname(prefix)
    yield from (name for name in walk(start) if name.startswith(prefix))
