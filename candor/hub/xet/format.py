"""The Xet objects, read as they stream in: chunk and merkle hashes, xorbs and shards.

Pure: no database, no file. Written by hand because no Python library reads these formats (the reference
implementation is Rust, compiled into the ``hf_xet`` client); the hashing itself is the ``blake3``
package's keyed mode and the decompression the ``lz4`` package's frame format.

Hashes are 32 bytes. The protocol writes one as text by reading each of its four 8-byte words as a
little-endian integer and printing it as 16 hex digits, so the text is not the bytes' plain hex:
:func:`to_hex` and :func:`from_hex` convert.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import blake3
import lz4.frame

HASH_BYTES = 32

# The protocol's fixed keys (of its keyed BLAKE3 hashes): chunks, inner merkle nodes, verification ranges.
DATA_KEY = bytes.fromhex("6697f5775b9550de3135cbaca597181c9de421109beb2b58b4d0b04b93adf229")
INTERNAL_NODE_KEY = bytes.fromhex("017ec5c7a5472996fd946666b48a02e65ddd536f37c76dd2f86352e64a53713f")
VERIFICATION_KEY = bytes.fromhex("7f1857d6ce56ed66127ff913e7a5c3f3a4cd26d5b5db49e64124987f28fb94c3")
ZERO_HASH = bytes(HASH_BYTES)

# Limits of the format (a chunk is at most 128 KiB; a xorb at most 64 MiB of chunks).
MAX_CHUNK_BYTES = 128 * 1024
MAX_XORB_BYTES = 64 * 1024 * 1024
MAX_XORB_CHUNKS = 16 * 1024
CHUNK_HEADER_BYTES = 8
XORB_IDENT = b"XETBLOB"
MAX_XORB_FOOTER_BYTES = 4 * 1024 * 1024

NONE, LZ4, BG4_LZ4 = 0, 1, 2

SHARD_TAG = b"HFRepoMetaData\x00" + bytes(
    [85, 105, 103, 69, 106, 123, 129, 87, 131, 165, 189, 217, 92, 205, 209, 74, 169]
)
SHARD_HEADER_BYTES = 48
ENTRY_BYTES = 48
FLAG_VERIFICATION = 1 << 31
FLAG_METADATA_EXT = 1 << 30
BOOKEND = b"\xff" * HASH_BYTES
# A file of at most 5 TiB in 64 KiB chunks is far fewer segments than this; it only bounds a bad count.
MAX_SEGMENTS = 1 << 22


class FormatError(ValueError):
    """Bytes that are not a well-formed Xet object, or whose hashes do not match their contents."""


# --- hashes ---------------------------------------------------------------------------------------


def to_hex(digest: bytes) -> str:
    """The protocol's text form of a hash."""
    if len(digest) != HASH_BYTES:
        raise FormatError("A hash is 32 bytes.")
    return "".join(digest[i : i + 8][::-1].hex() for i in range(0, HASH_BYTES, 8))


def from_hex(text: str) -> bytes:
    """The hash a protocol's hex text names; FormatError unless it is 64 hex digits."""
    if len(text) != 2 * HASH_BYTES or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise FormatError("A hash is 64 hexadecimal digits.")
    raw = bytes.fromhex(text)
    return b"".join(raw[i : i + 8][::-1] for i in range(0, HASH_BYTES, 8))


def chunk_hash(data: bytes) -> bytes:
    return blake3.blake3(data, key=DATA_KEY).digest()


def _merge(nodes: Sequence[tuple[bytes, int]]) -> tuple[bytes, int]:
    text = "".join(f"{to_hex(digest)} : {size}\n" for digest, size in nodes)
    return blake3.blake3(text.encode(), key=INTERNAL_NODE_KEY).digest(), sum(size for _, size in nodes)


def _cut(nodes: Sequence[tuple[bytes, int]], start: int) -> int:
    """Where the group starting at ``start`` ends: after the first node (from the third on) whose hash
    is 0 modulo 4, or after 9 nodes; groups have at least 2 nodes (except a lone last one)."""
    left = len(nodes) - start
    if left <= 2:
        return len(nodes)
    end = start + min(9, left)
    for i in range(start + 2, end):
        if int.from_bytes(nodes[i][0][24:32], "little") % 4 == 0:
            return i + 1
    return end


def merkle_root(chunks: Sequence[tuple[bytes, int]]) -> bytes:
    """The root of the protocol's merkle tree over (chunk hash, size) pairs: a xorb's hash."""
    if not chunks:
        return ZERO_HASH
    level = list(chunks)
    while len(level) > 1:
        merged, start = [], 0
        while start < len(level):
            end = _cut(level, start)
            merged.append(_merge(level[start:end]))
            start = end
        level = merged
    return level[0][0]


xorb_hash = merkle_root


def file_hash(chunks: Sequence[tuple[bytes, int]]) -> bytes:
    """A file's hash: its chunks' merkle root, hashed once more under an all-zero key."""
    if not chunks:
        return ZERO_HASH
    return blake3.blake3(merkle_root(chunks), key=ZERO_HASH).digest()


def verification_hash(chunk_hashes: Iterable[bytes]) -> bytes:
    """The hash a shard gives for a segment of a file: over the chunk hashes of that segment."""
    return blake3.blake3(b"".join(chunk_hashes), key=VERIFICATION_KEY).digest()


# --- a stream of request bytes ---------------------------------------------------------------------


class Stream:
    """Exact reads over an iterator of byte strings (a request body read in pieces)."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._pieces = iter(pieces)
        self._buffer = bytearray()
        self.consumed = 0

    def _fill(self, n: int) -> bool:
        while len(self._buffer) < n:
            piece = next(self._pieces, None)
            if piece is None:
                return False
            self._buffer += piece
        return True

    def peek(self, n: int) -> bytes:
        """Up to ``n`` next bytes, left in place (fewer only at the end)."""
        self._fill(n)
        return bytes(self._buffer[:n])

    def read(self, n: int) -> bytes:
        """Exactly ``n`` bytes; FormatError if the stream ends first."""
        if not self._fill(n):
            raise FormatError("The object ends before its last part.")
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        self.consumed += n
        return data

    def at_end(self) -> bool:
        return not self._fill(1)

    def skip_rest(self, limit: int) -> None:
        """Read and drop everything left, at most ``limit`` bytes (FormatError past it)."""
        self.consumed += len(self._buffer)
        self._buffer.clear()
        for piece in self._pieces:
            self.consumed += len(piece)
            if self.consumed > limit:
                raise FormatError("The object is longer than its format allows.")

    def rest(self, limit: int) -> bytes:
        """Everything left, at most ``limit`` bytes (FormatError past it)."""
        while self._fill(len(self._buffer) + 1):
            if len(self._buffer) > limit:
                raise FormatError("The object is longer than its format allows.")
        data = bytes(self._buffer)
        self.consumed += len(data)
        self._buffer.clear()
        return data


# --- xorbs -----------------------------------------------------------------------------------------


def _regroup(data: bytes, size: int) -> bytes:
    """Undo the byte grouping: byte i of the chunk was put in group i mod 4, the groups one after
    another (the first ``size % 4`` groups one byte longer)."""
    out = bytearray(size)
    start = 0
    for k in range(4):
        length = size // 4 + (1 if k < size % 4 else 0)
        out[k::4] = data[start : start + length]
        start += length
    return bytes(out)


def decompress(scheme: int, data: bytes, size: int) -> bytes:
    """A chunk's clear bytes, checked to be ``size`` long."""
    try:
        if scheme == NONE:
            clear = data
        elif scheme == LZ4:
            clear = lz4.frame.decompress(data)
        elif scheme == BG4_LZ4:
            grouped = lz4.frame.decompress(data)
            if len(grouped) != size:
                raise FormatError("A chunk's size is not the one its header gives.")
            clear = _regroup(grouped, size)
        else:
            raise FormatError(f"Unknown compression scheme {scheme} in a chunk header.")
    except RuntimeError as error:  # lz4's error for a damaged frame
        raise FormatError(f"A chunk does not decompress: {error}") from None
    if len(clear) != size:
        raise FormatError("A chunk's size is not the one its header gives.")
    return clear


@dataclass
class XorbReader:
    """Reads a serialized xorb as it streams in: :meth:`chunks` yields each chunk's clear bytes, checked
    against the header's sizes; once they are all read, the chunks' merkle hash must be ``expected``
    (and the footer, if sent, must name the same hash), or FormatError is raised before the iteration
    ends, so a consumer never finishes with a xorb that is not the one announced.

    Memory holds one chunk (at most 128 KiB) and the list of chunk hashes, never the xorb.
    """

    pieces: Iterable[bytes]
    expected: bytes
    hashes: list[tuple[bytes, int]] = field(default_factory=list)

    @property
    def boundaries(self) -> list[int]:
        """Where each chunk ends in the clear concatenation."""
        ends, total = [], 0
        for _, size in self.hashes:
            total += size
            ends.append(total)
        return ends

    def chunks(self) -> Iterator[bytes]:
        stream = Stream(self.pieces)
        total = 0
        while not stream.at_end():
            head = stream.peek(CHUNK_HEADER_BYTES)
            if head.startswith(XORB_IDENT):
                self._check_footer(stream.rest(MAX_XORB_FOOTER_BYTES))
                break
            head = stream.read(CHUNK_HEADER_BYTES)
            version, scheme = head[0], head[4]
            packed = int.from_bytes(head[1:4], "little")
            size = int.from_bytes(head[5:8], "little")
            if version != 0:
                raise FormatError(f"Unknown chunk version {version}.")
            if size == 0 or size > MAX_CHUNK_BYTES or packed > 2 * MAX_CHUNK_BYTES:
                raise FormatError("A chunk's header gives a size the format does not allow.")
            if len(self.hashes) >= MAX_XORB_CHUNKS:
                raise FormatError("The xorb has more chunks than the format allows.")
            total += size
            if total > MAX_XORB_BYTES:
                raise FormatError("The xorb is larger than the format allows.")
            clear = decompress(scheme, stream.read(packed), size)
            self.hashes.append((chunk_hash(clear), size))
            yield clear
        if not self.hashes:
            raise FormatError("The xorb holds no chunk.")
        if xorb_hash(self.hashes) != self.expected:
            raise FormatError("The xorb's contents do not match its hash.")

    def _check_footer(self, footer: bytes) -> None:
        """The footer repeats the xorb's hash after its ident and version; its last 4 bytes give its
        own length. Its hash lists are not needed: the chunks were hashed as they came."""
        if len(footer) < len(XORB_IDENT) + 1 + HASH_BYTES + 4:
            raise FormatError("The xorb's footer is cut short.")
        (length,) = struct.unpack("<I", footer[-4:])
        if length != len(footer) - 4:
            raise FormatError("The xorb's footer does not give its own length.")
        start = len(XORB_IDENT) + 1
        if footer[start : start + HASH_BYTES] != self.expected:
            raise FormatError("The xorb's footer names another xorb.")


# --- shards ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A run of chunks [start, end) of a xorb, ``size`` bytes once decompressed."""

    xorb: bytes
    start: int
    end: int
    size: int


@dataclass(frozen=True)
class FileEntry:
    """A file a shard describes: its hash, the segments it is made of, each segment's verification
    hash (when the shard gives them) and the SHA-256 of its bytes (when the shard gives it)."""

    file_hash: bytes
    segments: tuple[Segment, ...]
    verification: tuple[bytes, ...] | None
    sha256: str | None

    @property
    def size(self) -> int:
        return sum(segment.size for segment in self.segments)


def _entries(stream: Stream) -> Iterator[bytes]:
    while True:
        yield stream.read(ENTRY_BYTES)


def read_shard(pieces: Iterable[bytes], *, limit: int) -> list[FileEntry]:
    """The files of a serialized shard (its file-information section). The sections after it (the new
    xorbs' chunk lists, the lookup tables, the footer) are read and left: the server holds the xorbs
    themselves and checks each file against them. FormatError for a malformed shard or past ``limit``
    bytes."""
    stream = Stream(pieces)
    header = stream.read(SHARD_HEADER_BYTES)
    if header[:32] != SHARD_TAG:
        raise FormatError("The body is not a shard (wrong magic number).")
    (version,) = struct.unpack("<Q", header[32:40])
    if version != 2:
        raise FormatError(f"Unknown shard version {version}.")
    files: list[FileEntry] = []
    while True:
        head = stream.read(ENTRY_BYTES)
        if stream.consumed > limit:
            raise FormatError("The shard is larger than allowed.")
        digest = head[:HASH_BYTES]
        if digest == BOOKEND:
            break
        flags, count = struct.unpack("<II", head[32:40])
        if count > MAX_SEGMENTS:
            raise FormatError("A file of the shard has more segments than allowed.")
        if stream.consumed + count * ENTRY_BYTES * 3 > limit + ENTRY_BYTES * 3:
            raise FormatError("The shard is larger than allowed.")
        segments = []
        for _ in range(count):
            entry = stream.read(ENTRY_BYTES)
            _, size, start, end = struct.unpack("<IIII", entry[32:48])
            if end <= start:
                raise FormatError("A segment of the shard names no chunk.")
            segments.append(Segment(entry[:HASH_BYTES], start, end, size))
        verification = None
        if flags & FLAG_VERIFICATION:
            verification = tuple(stream.read(ENTRY_BYTES)[:HASH_BYTES] for _ in range(count))
        sha256 = None
        if flags & FLAG_METADATA_EXT:
            # Stored as the client stores its hashes (four little-endian words): its text form is the
            # SHA-256's usual hex.
            given = stream.read(ENTRY_BYTES)[:HASH_BYTES]
            # hf_xet writes zeros for an empty file (whose SHA-256 is not zero): nothing announced.
            sha256 = to_hex(given) if given != ZERO_HASH else None
        files.append(FileEntry(digest, tuple(segments), verification, sha256))
    stream.skip_rest(limit)
    return files
