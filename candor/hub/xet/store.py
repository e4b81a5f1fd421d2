"""What the Xet store does with what arrives: xorbs kept as sealed blobs of their owner, and the files a
shard describes rebuilt from them into blobs the commit finds by SHA-256.

A xorb's chunks are decompressed as its body streams in, each hashed, and the merkle hash of them all
checked against the hash the upload names before the blob is kept (:class:`format.XorbReader` raises at
the end of the stream, and :func:`blobs.store` keeps nothing of a stream that raised). The clear bytes
are one blob of the owner, sealed as they are written; a :class:`XetXorb` row notes the chunk boundaries.

A shard names files as runs of chunks of xorbs. Each file is rebuilt by reading those ranges of the
owner's xorb blobs (decrypting only the segments needed), re-hashing every chunk on the way (the stored
bytes are checked again, and so is each segment's verification hash), and sealing the result into a new
blob; the file's hash, and the SHA-256 the client announces, must both match. Only the owner's own
xorbs are looked up (through a keyed index of owner and hash): dedupe never crosses accounts, and a
shard naming a xorb its sender never uploaded is refused.

The rebuild runs inside the shard's request. The client (``hf_xet``) sends shards with a client that has
no read timeout for exactly this (its server validates shards before answering), and the work is a
streaming copy: about the speed of a download plus an upload of the file on the server's disk.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.conf import settings
from django.utils import timezone

from candor.accounts.models import User
from candor.hub import blobs
from candor.hub.models import Blob, XetXorb
from candor.hub.xet import format
from candor.kernel.actions import durable
from candor.kernel.refusal import Code, Refusal
from candor.privacy import crypto

# A serialized xorb is at most 64 MiB of chunks (each stored uncompressed when compression would not
# shrink it), their 8-byte headers and a footer listing hashes and offsets.
MAX_XORB_BODY = format.MAX_XORB_BYTES + format.MAX_XORB_CHUNKS * 8 + format.MAX_XORB_FOOTER_BYTES
MAX_SHARD_BODY = 64 * 1024 * 1024
_IN_QUERY = 500  # hashes looked up per query (SQLite's limit on parameters is far above)


def xorb_index(owner_id: Any, digest: bytes) -> str:
    """The keyed index a xorb of this owner is found by: the hash is never stored in clear."""
    return crypto.blind_index("hub.xet.xorb", f"{owner_id}\x00{format.to_hex(digest)}", exact=True)


def _ends(row: XetXorb) -> list[int]:
    raw = bytes(row.boundaries)
    return list(struct.unpack(f"<{len(raw) // 4}I", raw))


def _refused(what: str, error: Exception) -> Refusal:
    return Refusal(Code.INVALID, f"The {what} was refused: {error}")


def receive_xorb(owner: User, hash_hex: str, body: Iterable[bytes], *, acting_user: User) -> bool:
    """Check and keep a xorb of ``owner`` sent as ``body``. True if it is new to the owner, False if
    they already held it (its bytes are checked and its use noted all the same)."""
    try:
        digest = format.from_hex(hash_hex)
    except format.FormatError as error:
        raise _refused("xorb", error) from None
    reader = format.XorbReader(body, expected=digest)
    try:
        # Sealed and stored as it streams: the reader raises before the end if anything is wrong, and
        # nothing is then kept.
        blob = blobs.store(owner.pk, reader.chunks(), limit=format.MAX_XORB_BYTES)
    except format.FormatError as error:
        raise _refused("xorb", error) from None
    except blobs.TooLarge:
        raise Refusal(Code.TOO_LARGE, "The xorb is larger than the format allows.") from None
    ends = reader.boundaries
    return record_xorb(
        owner,
        xorb_index(owner.pk, digest),
        blob,
        struct.pack(f"<{len(ends)}I", *ends),
        acting_user=acting_user,
    )


@durable
def record_xorb(owner: User, index: str, blob: Blob, boundaries: bytes, *, acting_user: User) -> bool:
    """Note the owner's xorb (its blob already stored). Receiving objects is not audited: the commit
    that names the files is."""
    _, created = XetXorb.objects.update_or_create(
        owner=owner,
        index=index,
        defaults={"blob": blob, "boundaries": boundaries, "last_used_at": timezone.now()},
    )
    return created


def _held(owner: User, digests: Iterable[bytes]) -> dict[bytes, XetXorb]:
    by_index = {xorb_index(owner.pk, digest): digest for digest in set(digests)}
    found: dict[bytes, XetXorb] = {}
    indexes = list(by_index)
    for start in range(0, len(indexes), _IN_QUERY):
        rows = XetXorb.objects.filter(owner=owner, index__in=indexes[start : start + _IN_QUERY])
        for row in rows.select_related("blob"):
            found[by_index[row.index]] = row
    return found


def _check_segments(entry: format.FileEntry, held: dict[bytes, XetXorb]) -> None:
    for segment in entry.segments:
        row = held.get(segment.xorb)
        if row is None:
            raise Refusal(
                Code.INVALID,
                f"The shard names the xorb {format.to_hex(segment.xorb)}, which this account has not "
                "uploaded: upload its xorbs first.",
            )
        ends = _ends(row)
        if segment.end > len(ends):
            raise Refusal(Code.INVALID, "The shard names chunks past the end of one of its xorbs.")
        first = ends[segment.start - 1] if segment.start else 0
        if ends[segment.end - 1] - first != segment.size:
            raise Refusal(Code.INVALID, "The shard gives a segment a size that is not its chunks' size.")


def _rebuild(entry: format.FileEntry, held: dict[bytes, XetXorb]) -> Iterator[bytes]:
    """The file's bytes, read from the xorbs' blobs, every chunk hashed again; FormatError before the
    end if a segment's verification hash or the file's hash does not match."""
    chunks: list[tuple[bytes, int]] = []
    for number, segment in enumerate(entry.segments):
        row = held[segment.xorb]
        ends = _ends(row)
        first = ends[segment.start - 1] if segment.start else 0
        sizes = [ends[k] - (ends[k - 1] if k else 0) for k in range(segment.start, segment.end)]
        hashes: list[bytes] = []
        pending = bytearray()
        for piece in blobs.read(row.blob, first, segment.size):
            yield piece
            pending += piece
            while len(hashes) < len(sizes) and len(pending) >= sizes[len(hashes)]:
                size = sizes[len(hashes)]
                hashes.append(format.chunk_hash(bytes(pending[:size])))
                del pending[:size]
        if len(hashes) != len(sizes) or pending:
            raise blobs.Damaged("A stored xorb is shorter than its chunk list.")
        if entry.verification is not None and format.verification_hash(hashes) != entry.verification[number]:
            raise format.FormatError("a segment's verification hash does not match its chunks.")
        chunks.extend(zip(hashes, sizes, strict=True))
    if format.file_hash(chunks) != entry.file_hash:
        raise format.FormatError("a file's hash does not match its chunks.")


def receive_shard(owner: User, body: Iterable[bytes], *, acting_user: User) -> int:
    """Check a shard of ``owner`` and rebuild the files it describes as blobs of theirs; how many files
    it describes. Every xorb it names must be the owner's, and every file's hash (and SHA-256, when
    given) must match, or nothing of the refused file is kept."""
    try:
        files = format.read_shard(body, limit=MAX_SHARD_BODY)
    except format.FormatError as error:
        raise _refused("shard", error) from None
    held = _held(owner, (segment.xorb for entry in files for segment in entry.segments))
    limit = settings.MAX_UPLOAD_BYTES
    for entry in files:
        _check_segments(entry, held)
        if entry.size > limit:
            raise Refusal(Code.TOO_LARGE, f"A file of the shard is larger than the limit of {limit} bytes.")
    for entry in files:
        if entry.sha256 is not None and blobs.find(owner.pk, entry.sha256) is not None:
            continue  # the owner holds these bytes already: the commit will find them
        try:
            blob = blobs.store(owner.pk, _rebuild(entry, held), limit=limit)
        except format.FormatError as error:
            raise _refused("shard", error) from None
        except blobs.Damaged:
            raise Refusal(
                Code.DAMAGED, "A stored xorb this shard names is damaged: upload it again."
            ) from None
        if entry.sha256 is not None and blob.sha256 != entry.sha256:
            # The blob stays for the unused-blob sweep: the same bytes may be another upload's.
            raise Refusal(Code.INVALID, "The shard was refused: a file's SHA-256 is not the one announced.")
    note_used(owner, [row.pk for row in held.values()], acting_user=acting_user)
    return len(files)


@durable
def note_used(owner: User, xorb_ids: Sequence[int], *, acting_user: User) -> None:
    """Move the xorbs' last use on: a later upload may name them again (the client remembers what it
    uploaded), and the sweep keeps them while it might."""
    XetXorb.objects.filter(owner=owner, pk__in=list(xorb_ids)).update(last_used_at=timezone.now())
