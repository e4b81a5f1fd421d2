"""Files sealed under an account's data key: the stored form of a personal-data export.

An export is the person's data in clear, and it waits in storage for days until it is downloaded. It is
therefore written encrypted, as it is produced, under the same per-account data key as the personal
fields (:mod:`candor.privacy.crypto`): deleting the account's key makes the stored archive unreadable
too, in storage and in any copy of the storage, and no clear copy ever reaches the disk.

AES-GCM seals one message at a time, and an archive can be larger than memory, so the file is cut into
segments sealed one by one (the "STREAM" construction of Hoang, Reyhanitabar, Rogaway and Vizár, written
here because the ``cryptography`` package offers no streaming AEAD):

- a header: ``CNDSEAL1``, the length and text of the data key's id, and a random 7-byte nonce prefix;
- then segments of ``SEGMENT`` bytes of clear text (the last one shorter, possibly empty), each sealed
  with the nonce ``prefix + segment number (4 bytes) + 1 if it is the last segment else 0``, and with the
  header and the file's context (which archive of which account) as associated data.

So a segment cannot be changed, moved, dropped or repeated, the file cannot be cut short after a
segment's end (the last one says it is last), and a file cannot be passed off as another archive's.

The same format seals scratch files (:func:`scratch_writer`): pieces of an export written to disk while it is
built, under a random key that only the building process holds in memory (its key id says ``scratch``).
A process killed half-way leaves such a file behind, but nothing can ever open it.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from candor.privacy import crypto

MAGIC = b"CNDSEAL1"
SEGMENT = 256 * 1024
TAG_BYTES = 16
PREFIX_BYTES = 7
MAX_SEGMENTS = 2**32


class SealError(Exception):
    """A sealed file that cannot be opened: its key is gone, or it was damaged or tampered with."""


class KeyDestroyed(SealError):
    pass


def is_sealed(head: bytes) -> bool:
    return head.startswith(MAGIC)


def _nonce(prefix: bytes, number: int, last: bool) -> bytes:
    if number >= MAX_SEGMENTS:
        raise SealError("The file has more segments than its nonces can number.")
    return prefix + struct.pack(">IB", number, 1 if last else 0)


class SealingWriter:
    """A write-only stream that seals what is written to it into ``target``; ``finish()`` ends it.

    It only goes forward, and says where it is in the clear text (``tell``), which is what zipfile needs
    of an output it cannot seek.
    """

    def __init__(
        self, target: IO[bytes], *, user_id: Any, context: str, key: tuple[str, AESGCM] | None = None
    ) -> None:
        key_id, self._cipher = key if key is not None else crypto.data_key_for(user_id)
        encoded_id = key_id.encode("ascii")
        prefix = os.urandom(PREFIX_BYTES)
        self._header = MAGIC + bytes([len(encoded_id)]) + encoded_id + prefix
        self._associated = self._header + context.encode()
        self._prefix = prefix
        self.prefix = prefix.hex()  # what binds the sealed file to the row that names it
        self._target = target
        self._buffer = bytearray()
        self._number = 0
        self.size = 0  # bytes of clear text written so far
        self.finished = False
        target.write(self._header)

    def write(self, data: Any) -> int:
        if self.finished:
            raise ValueError("The sealed file is finished.")
        view = memoryview(data).cast("B")
        self._buffer += view
        self.size += len(view)
        # A full segment is sealed only once more follows: the last one must be known to be last.
        while len(self._buffer) > SEGMENT:
            self._seal(bytes(self._buffer[:SEGMENT]), last=False)
            del self._buffer[:SEGMENT]
        return len(view)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._target.flush()

    def finish(self) -> None:
        """Seal the last segment (possibly empty). Without it, the file cannot be opened."""
        if not self.finished:
            self._seal(bytes(self._buffer), last=True)
            self._buffer.clear()
            self.finished = True
            self._target.flush()

    def _seal(self, segment: bytes, *, last: bool) -> None:
        nonce = _nonce(self._prefix, self._number, last)
        self._target.write(self._cipher.encrypt(nonce, segment, self._associated))
        self._number += 1


def _read_header(source: IO[bytes], key: AESGCM | None = None) -> tuple[bytes, AESGCM, bytes]:
    head = source.read(len(MAGIC) + 1)
    if len(head) < len(MAGIC) + 1 or not is_sealed(head):
        raise SealError("Not a sealed file.")
    encoded_id = source.read(head[-1])
    prefix = source.read(PREFIX_BYTES)
    if len(encoded_id) != head[-1] or len(prefix) != PREFIX_BYTES:
        raise SealError("The sealed file's header is cut short.")
    cipher = key if key is not None else crypto.cipher_for_key_id(encoded_id.decode("ascii", "replace"))
    if cipher is None:
        raise KeyDestroyed("The key of this sealed file was destroyed: it can no longer be read.")
    return head + encoded_id + prefix, cipher, prefix


def opened(source: IO[bytes], *, context: str, key: AESGCM | None = None) -> Iterator[bytes]:
    """The clear text of a sealed file, a segment at a time, each checked before it is given.

    The header and the first segment are checked before this returns, so that a caller can refuse a
    file whose key is gone (KeyDestroyed), or that is not this context's or was damaged at its start
    (SealError), before a download is under way; damage further on raises SealError while reading.
    """
    header, cipher, prefix = _read_header(source, key)
    associated = header + context.encode()
    sealed_size = SEGMENT + TAG_BYTES

    def unseal(segment: bytes, number: int, last: bool) -> bytes:
        try:
            return cipher.decrypt(_nonce(prefix, number, last), segment, associated)
        except InvalidTag:
            raise SealError("The sealed file was damaged, cut short or tampered with.") from None

    current = source.read(sealed_size)
    following = source.read(sealed_size)
    first = unseal(current, 0, not following)

    def segments() -> Iterator[bytes]:
        yield first
        number, current, upcoming = 1, following, b""
        while current:
            upcoming = source.read(sealed_size)
            yield unseal(current, number, not upcoming)
            number, current = number + 1, upcoming

    return segments()


def header_size(key_id_length: int) -> int:
    return len(MAGIC) + 1 + key_id_length + PREFIX_BYTES


def segment_count(size: int) -> int:
    """How many segments seal ``size`` bytes of clear text (an empty file still has its last segment)."""
    return max(1, -(-size // SEGMENT))


def parse_header(head: bytes) -> tuple[str, bytes, int]:
    """The key id, nonce prefix and length of the header at the start of ``head`` (at least its bytes)."""
    if len(head) < len(MAGIC) + 1 or not is_sealed(head):
        raise SealError("Not a sealed file.")
    length = head[len(MAGIC)]
    end = header_size(length)
    if len(head) < end:
        raise SealError("The sealed file's header is cut short.")
    key_id = head[len(MAGIC) + 1 : len(MAGIC) + 1 + length].decode("ascii", "replace")
    return key_id, head[end - PREFIX_BYTES : end], end


def span(header_length: int, size: int, start: int, length: int) -> tuple[int, int, int]:
    """Where the segments holding clear bytes [start, start + length) lie in the sealed file: the offset
    of the first, how many sealed bytes to read, and the number of the first segment."""
    first = start // SEGMENT
    last = min(segment_count(size) - 1, max(start, start + length - 1) // SEGMENT)
    sealed_size = SEGMENT + TAG_BYTES
    offset = header_length + first * sealed_size
    return offset, (last - first + 1) * sealed_size, first


def unseal_span(
    data: Iterator[bytes],
    *,
    cipher: AESGCM,
    header: bytes,
    context: str,
    size: int,
    first: int,
    start: int,
    length: int,
) -> Iterator[bytes]:
    """The clear bytes [start, start + length) from sealed segments read from segment ``first`` on.

    Each segment is checked before any of its bytes are given: a damaged one raises SealError, so damaged
    data is never passed on as good. Whether a segment is the last is known from the clear size, so a
    file cut short or with a segment moved fails too.
    """
    prefix = header[-PREFIX_BYTES:]
    associated = header + context.encode()
    total = segment_count(size)
    sealed_size = SEGMENT + TAG_BYTES
    buffer = bytearray()
    number = first
    position = first * SEGMENT  # clear offset of the segment being read
    end = start + length

    def unseal(segment: bytes) -> bytes:
        try:
            return cipher.decrypt(_nonce(prefix, number, number == total - 1), segment, associated)
        except InvalidTag:
            raise SealError("The sealed file was damaged, cut short or tampered with.") from None

    def emit(clear: bytes) -> bytes:
        return clear[max(0, start - position) : max(0, end - position)]

    for chunk in data:
        buffer += chunk
        while len(buffer) >= sealed_size and position < end:
            clear = unseal(bytes(buffer[:sealed_size]))
            del buffer[:sealed_size]
            piece = emit(clear)
            if piece:
                yield piece
            number, position = number + 1, position + SEGMENT
    if position < end and (buffer or number == total - 1):
        clear = unseal(bytes(buffer))  # the last segment, shorter than the others
        if len(clear) < min(end, size) - position:
            raise SealError("The sealed file was cut short.")
        piece = emit(clear)
        if piece:
            yield piece
    elif position < min(end, size):
        raise SealError("The sealed file was cut short.")


SCRATCH_KEY_ID = "scratch"


def scratch_key() -> AESGCM:
    """A new random key for one scratch file, held in this process's memory only and never written."""
    return AESGCM(AESGCM.generate_key(bit_length=256))


def scratch_writer(target: IO[bytes], key: AESGCM, *, context: str) -> SealingWriter:
    """A sealing stream into ``target`` under a scratch key; read it back with ``opened(..., key=key)``."""
    return SealingWriter(target, user_id=None, context=context, key=(SCRATCH_KEY_ID, key))
