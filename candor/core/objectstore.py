"""The one place Candor touches stored objects by name: model blobs and export archives.

Everything goes through Django's storage API (``default_storage``): the local data folder by default.
Reads are streamed in chunks from a byte offset, so neither a whole file nor a temporary copy is ever
needed to answer a request.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage

CHUNK = 1024 * 1024


class StoreUnavailable(Exception):
    """The object store cannot be reached, or answered with a server error (the message is safe to show)."""


class _LocalFile(File[bytes]):
    """A finished local file that a file-system storage may move rather than copy (it renames it)."""

    def __init__(self, path: Path) -> None:
        super().__init__(open(path, "rb"), name=path.name)  # noqa: SIM115 - closed by save_path()
        self.path = path

    def temporary_file_path(self) -> str:
        return str(self.path)


def save_path(path: Path, name: str) -> str:
    """Move or upload a finished local file under exactly ``name`` (replacing one there); the stored name."""
    if default_storage.exists(name):
        default_storage.delete(name)
    content = _LocalFile(path)
    try:
        stored = default_storage.save(name, content)
    finally:
        content.close()
    return str(stored)


def exists(name: str) -> bool:
    return bool(default_storage.exists(name))


def size(name: str) -> int:
    return int(default_storage.size(name))


def read(name: str, start: int = 0, length: int | None = None, *, chunk: int = CHUNK) -> Iterator[bytes]:
    """The bytes [start, start + length) of a stored object (to its end when ``length`` is None)."""
    with default_storage.open(name, "rb") as handle:
        if start:  # a read from the start needs no seek (nor a seekable file: a pipe will do)
            handle.seek(start)
        remaining = length
        while remaining is None or remaining > 0:
            piece = handle.read(chunk if remaining is None else min(chunk, remaining))
            if not piece:
                return
            if remaining is not None:
                remaining -= len(piece)
            yield piece


def modified(name: str) -> datetime:
    """When the stored object was last written (aware, UTC); FileNotFoundError if it is not there."""
    return default_storage.get_modified_time(name)


def delete(name: str) -> None:
    if name:
        default_storage.delete(name)


def names(prefix: str) -> Iterator[str]:
    """Every stored name under ``prefix`` (a folder, without its trailing slash)."""
    try:
        folders, files = default_storage.listdir(prefix)
    except FileNotFoundError:
        return
    for file in files:
        yield f"{prefix}/{file}"
    for folder in folders:
        yield from names(f"{prefix}/{folder}")
