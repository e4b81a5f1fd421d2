"""Reading an upload's body in chunks, so a large file is never held in memory.

Where the bytes go from there (sealed, into the object store) is :mod:`candor.hub.blobs`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

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
