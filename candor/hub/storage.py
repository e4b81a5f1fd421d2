"""Reading an upload's body in chunks, so a large file is never held in memory.

Where the bytes go from there (sealed, into the object store) is :mod:`candor.hub.blobs`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import IO

from candor.core import objectstore

logger = logging.getLogger("candor.hub")

CHUNK = 1024 * 1024


def read_chunks(stream: IO[bytes], length: int | None = None) -> Iterator[bytes]:
    remaining = length
    while remaining is None or remaining > 0:
        chunk = stream.read(CHUNK if remaining is None else min(CHUNK, remaining))
        if not chunk:
            break
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


def delete(name: str) -> None:
    """Remove a stored object whose row is gone. Called once the change is committed, so a store that is
    down is logged rather than raised: the change stands, and the sweep removes the object later."""
    if not name:
        return
    try:
        objectstore.delete(name)
    except objectstore.StoreUnavailable:
        logger.warning("a stored file could not be removed: the store is unreachable")
