"""The Xet formats, read by hand (``candor.hub.xet.format``): no database, no file but the captured objects.

``xet_data/`` holds a xorb and a shard the real ``hf_xet`` 1.8 sent to Candor when uploading two files
made by :func:`_files` (text, which it compressed with LZ4, and 32-bit floats, which it compressed with the
byte-grouping variant); the tests read them back and check every hash against those files' bytes.
"""

from __future__ import annotations

import hashlib
import random
import struct
from collections.abc import Iterator
from pathlib import Path

import blake3
import lz4.frame
import pytest

from candor.hub.xet import format

DATA = Path(__file__).parent / "xet_data"
XORB_HEX = "f6ffe51b25b47a73cc4e01096ed358c5060cb7a2ef2fc671e9939eae9d09f84c"


def _files() -> tuple[bytes, bytes]:
    """The two files of the capture, made again from the same seed."""
    rnd = random.Random(7)
    words = [b"alpha", b"beta", b"gamma"]
    text = b"".join(
        b"line %d of a model card, with words: %s\n" % (i, rnd.choice(words)) for i in range(2500)
    )
    floats = b"".join(struct.pack("<f", rnd.gauss(0, 1)) for _ in range(30000))
    return text, floats


def _xorb() -> bytes:
    return (DATA / f"{XORB_HEX}.xorb").read_bytes()


def _pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _read(data: bytes, expected: str = XORB_HEX, piece: int = 1000) -> tuple[bytes, list[tuple[bytes, int]]]:
    reader = format.XorbReader(_pieces(data, piece), expected=format.from_hex(expected))
    clear = b"".join(reader.chunks())
    return clear, reader.hashes


def _chunk(clear: bytes, scheme: int = format.NONE) -> bytes:
    packed = clear if scheme == format.NONE else lz4.frame.compress(clear)
    return (
        bytes([0])
        + len(packed).to_bytes(3, "little")
        + bytes([scheme])
        + len(clear).to_bytes(3, "little")
        + packed
    )


# --- hashes ---


def test_hex_form_swaps_each_word() -> None:
    digest = bytes(range(32))
    text = format.to_hex(digest)
    assert text[:16] == "0706050403020100"
    assert format.from_hex(text) == digest


@pytest.mark.parametrize("text", ["", "ab" * 31, "g" * 64, "a" * 65])
def test_hex_refused(text: str) -> None:
    with pytest.raises(format.FormatError):
        format.from_hex(text)


def test_chunk_hash_is_keyed_blake3() -> None:
    assert format.chunk_hash(b"x") == blake3.blake3(b"x", key=format.DATA_KEY).digest()
    assert format.chunk_hash(b"x") != blake3.blake3(b"x").digest()


def test_merkle_of_one_chunk_is_the_chunk() -> None:
    digest = format.chunk_hash(b"abc")
    assert format.merkle_root([(digest, 3)]) == digest
    assert format.merkle_root([]) == format.ZERO_HASH
    assert format.file_hash([]) == format.ZERO_HASH


def test_merkle_of_two_is_their_node() -> None:
    a, b = format.chunk_hash(b"a"), format.chunk_hash(b"b")
    text = f"{format.to_hex(a)} : 1\n{format.to_hex(b)} : 2\n".encode()
    assert format.merkle_root([(a, 1), (b, 2)]) == blake3.blake3(text, key=format.INTERNAL_NODE_KEY).digest()


def test_merkle_depends_on_order_and_sizes() -> None:
    nodes = [(format.chunk_hash(bytes([i])), i + 1) for i in range(50)]
    root = format.merkle_root(nodes)
    assert format.merkle_root(nodes[::-1]) != root
    assert format.merkle_root([(h, s + 1) for h, s in nodes]) != root


def test_groups_are_cut_between_two_and_nine() -> None:
    nodes = [(format.chunk_hash(i.to_bytes(4, "little")), 1) for i in range(200)]
    start = 0
    while start < len(nodes):
        end = format._cut(nodes, start)
        assert 2 <= end - start <= 9 or end == len(nodes)
        start = end


# --- the captured xorb ---


def test_captured_xorb_reads_back_to_the_files() -> None:
    text, floats = _files()
    clear, hashes = _read(_xorb())
    assert clear == floats + text
    assert [size for _, size in hashes] == [29464, 38946, 51590, 69482, 41079]
    assert format.xorb_hash(hashes) == format.from_hex(XORB_HEX)


def test_captured_xorb_uses_both_compressions() -> None:
    data, seen, at = _xorb(), set(), 0
    while at < len(data):
        seen.add(data[at + 4])
        at += 8 + int.from_bytes(data[at + 1 : at + 4], "little")
    assert seen == {format.LZ4, format.BG4_LZ4}


@pytest.mark.parametrize("piece", [1, 7, 65536, 10**7])
def test_xorb_read_in_any_pieces(piece: int) -> None:
    assert _read(_xorb(), piece=piece)[0] == b"".join(reversed(_files()))


def test_xorb_with_wrong_hash_refused_at_the_end() -> None:
    reader = format.XorbReader([_xorb()], expected=format.ZERO_HASH)
    got: list[bytes] = []
    with pytest.raises(format.FormatError, match="do not match"):
        got.extend(reader.chunks())
    assert len(got) == 5  # the consumer saw the chunks, and then the refusal instead of the end


def test_xorb_with_a_flipped_byte_refused() -> None:
    data = bytearray(_xorb())
    data[20000] ^= 0x40
    with pytest.raises(format.FormatError):
        _read(bytes(data))


def test_xorb_cut_short_refused() -> None:
    with pytest.raises(format.FormatError, match="ends"):
        _read(_xorb()[:-10])


def test_xorb_with_footer() -> None:
    data = _xorb()
    footer_body = format.XORB_IDENT + bytes([1]) + format.from_hex(XORB_HEX) + b"\x00" * 40
    footer = footer_body + struct.pack("<I", len(footer_body))
    assert _read(data + footer)[0] == b"".join(reversed(_files()))
    wrong = format.XORB_IDENT + bytes([1]) + format.ZERO_HASH + b"\x00" * 40
    with pytest.raises(format.FormatError, match="footer"):
        _read(data + wrong + struct.pack("<I", len(wrong)))


def test_uncompressed_and_lz4_chunks_built_here() -> None:
    a, b = b"a" * 5000, bytes(range(256)) * 10
    digest = format.xorb_hash([(format.chunk_hash(a), len(a)), (format.chunk_hash(b), len(b))])
    clear, _ = _read(_chunk(a, format.LZ4) + _chunk(b), expected=format.to_hex(digest))
    assert clear == a + b


@pytest.mark.parametrize(
    "header",
    [
        bytes([1, 1, 0, 0, 0, 1, 0, 0]),  # version 1
        bytes([0, 1, 0, 0, 7, 1, 0, 0]),  # unknown scheme
        bytes([0, 1, 0, 0, 0, 0, 0, 0]),  # an empty chunk
        bytes([0, 1, 0, 0, 0, 1, 0, 8]),  # more than 128 KiB
    ],
)
def test_bad_chunk_headers_refused(header: bytes) -> None:
    with pytest.raises(format.FormatError):
        _read(header + b"x", expected=format.to_hex(format.chunk_hash(b"x")))


def test_size_other_than_the_header_refused() -> None:
    chunk = bytearray(_chunk(b"abc"))
    chunk[5] = 4  # says 4 bytes, holds 3
    with pytest.raises(format.FormatError):
        _read(bytes(chunk), expected=format.to_hex(format.chunk_hash(b"abc")))


def test_damaged_lz4_refused() -> None:
    chunk = bytearray(_chunk(b"hello " * 100, format.LZ4))
    chunk[12:20] = b"\xff" * 8
    with pytest.raises(format.FormatError):
        _read(bytes(chunk), expected=format.to_hex(format.chunk_hash(b"hello " * 100)))


def test_empty_xorb_refused() -> None:
    with pytest.raises(format.FormatError, match="no chunk"):
        _read(b"", expected=format.to_hex(format.ZERO_HASH))


def test_regroup_undoes_the_grouping() -> None:
    for size in range(0, 13):
        data = bytes(range(1, size + 1))
        grouped = b"".join(data[k::4] for k in range(4))
        assert format._regroup(grouped, size) == data


# --- the captured shard ---


def test_captured_shard_describes_the_files() -> None:
    text, floats = _files()
    files = format.read_shard(_pieces((DATA / "two-files.shard").read_bytes(), 100), limit=10**6)
    by_sha = {entry.sha256: entry for entry in files}
    assert set(by_sha) == {hashlib.sha256(text).hexdigest(), hashlib.sha256(floats).hexdigest()}
    _, hashes = _read(_xorb())
    for data, chunks in ((floats, hashes[:3]), (text, hashes[3:])):
        entry = by_sha[hashlib.sha256(data).hexdigest()]
        assert entry.size == len(data)
        assert [s.xorb for s in entry.segments] == [format.from_hex(XORB_HEX)]
        assert entry.file_hash == format.file_hash(chunks)
        assert entry.verification == (format.verification_hash(h for h, _ in chunks),)


def test_shard_with_wrong_magic_refused() -> None:
    data = bytearray((DATA / "two-files.shard").read_bytes())
    data[0] ^= 1
    with pytest.raises(format.FormatError, match="magic"):
        format.read_shard([bytes(data)], limit=10**6)


def test_shard_cut_short_refused() -> None:
    data = (DATA / "two-files.shard").read_bytes()
    with pytest.raises(format.FormatError):
        format.read_shard([data[:200]], limit=10**6)


def test_shard_past_the_limit_refused() -> None:
    data = (DATA / "two-files.shard").read_bytes()
    with pytest.raises(format.FormatError, match="larger"):
        format.read_shard([data], limit=100)


def test_shard_segment_without_chunks_refused() -> None:
    data = bytearray((DATA / "two-files.shard").read_bytes())
    # The first file's first segment: chunk_index_end (its last 4 bytes) set to its start.
    entry = format.SHARD_HEADER_BYTES + format.ENTRY_BYTES
    data[entry + 44 : entry + 48] = data[entry + 40 : entry + 44]
    with pytest.raises(format.FormatError, match="no chunk"):
        format.read_shard([bytes(data)], limit=10**6)


def test_shard_sections_after_the_files_count_towards_the_limit() -> None:
    data = (DATA / "two-files.shard").read_bytes()
    assert len(format.read_shard([data], limit=len(data))) == 2
    with pytest.raises(format.FormatError, match="longer"):
        format.read_shard([data, b"\0" * 100], limit=len(data) + 50)
