"""Streaming model files into Django's storage while hashing them, and out of it by byte range.

Uploads are copied chunk by chunk into a file of the staging area (:mod:`candor.kernel.staging`, so a large
file is never held in memory, and one a crash leaves behind is found and removed), hashed on the way, and
then handed to the object store (:mod:`candor.core.objectstore`): on local disk that is a rename, on
S3-compatible storage a multipart upload of the finished file.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from candor.core import objectstore
from candor.kernel import staging

logger = logging.getLogger("candor.hub")

CHUNK = 1024 * 1024


class TooLarge(Exception):
    pass


@dataclass
class Staged:
    """An upload written to a temporary file: its size and SHA-256, ready to be stored."""

    path: Path
    size: int
    sha256: str
    # Held open (and so locked) until the file is stored or discarded: see candor.kernel.staging.
    handle: staging.StagingFile | None = None

    def discard(self) -> None:
        if self.handle is not None:
            self.handle.discard()
        else:
            self.path.unlink(missing_ok=True)


def staging_dir() -> Path:
    return staging.root()


def stage(chunks: Iterable[bytes], *, limit: int, account: Any = None) -> Staged:
    """Write chunks to a staging file of ``account``, hashing them; TooLarge once the limit is passed."""
    digest = hashlib.sha256()
    size = 0
    handle = staging.create("upload", account)
    out = handle.file
    try:
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise TooLarge
            digest.update(chunk)
            out.write(chunk)
        out.flush()
    except BaseException:
        handle.discard()
        raise
    return Staged(path=handle.path, size=size, sha256=digest.hexdigest(), handle=handle)


def read_chunks(stream: IO[bytes], length: int | None = None) -> Iterator[bytes]:
    remaining = length
    while remaining is None or remaining > 0:
        chunk = stream.read(CHUNK if remaining is None else min(CHUNK, remaining))
        if not chunk:
            break
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


def save_path(path: Path, name: str) -> str:
    """Move a finished local file into the object store under ``name``; returns the stored name."""
    return objectstore.save_path(path, name)


def save(staged: Staged, name: str) -> str:
    """Move a staged upload into the default storage under ``name``; returns the stored name."""
    try:
        return save_path(staged.path, name)
    finally:
        staged.discard()  # moved already when the storage renamed it; removed if it copied it


def random_name() -> str:
    return secrets.token_hex(16)


def delete(name: str) -> None:
    """Remove a stored file whose row is gone. Called once the change is committed, so a store that is
    down is logged rather than raised: the change stands, and the object is left behind."""
    if not name:
        return
    try:
        objectstore.delete(name)
    except objectstore.StoreUnavailable:
        # No name: it is random, but says which model the file belonged to.
        logger.warning("a stored file could not be removed: the store is unreachable")
