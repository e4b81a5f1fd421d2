"""Model files' bytes: stored once per owner, content-addressed, sealed under the owner's data key.

An upload is sealed as it arrives (:class:`candor.privacy.sealed.SealingWriter`, the segmented AEAD the
exports use) into a file of the staging area, and hashed on the way; the finished file is then handed to
the object store (:mod:`candor.core.objectstore`) under ``blobs/<address>-<seal>``, where the address is a
keyed hash of the owner and the SHA-256 of the clear bytes. The same bytes uploaded again by the same owner
reuse the stored blob (and the new upload is thrown away); the bytes are never on disk in clear.

Reads decrypt only the segments a byte range needs, each checked before any of its bytes are given.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Iterator
from datetime import timedelta
from functools import partial
from typing import Any

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from candor.core import objectstore
from candor.hub import storage
from candor.hub.models import Blob
from candor.kernel import staging
from candor.privacy import crypto, sealed
from candor.privacy.inventory import Purge

FOLDER = "blobs"
# A blob no revision holds is kept this long after it was stored: it may be the upload of a commit that
# is still being made (the sweep must not take it from under that commit).
GRACE = timedelta(hours=1)
_HEAD = 300  # more than any header (the key id is at most 255 bytes)


class TooLarge(Exception):
    pass


class Damaged(Exception):
    """A stored blob that cannot be opened: damaged, cut short, swapped, or its key destroyed."""


def context(owner_id: Any) -> str:
    return f"hub.blob|{owner_id}"


def address(owner_id: Any, sha256: str) -> str:
    return crypto.blind_index("hub.blob", f"{owner_id}\x00{sha256}", exact=True)


def find(owner_id: Any, sha256: str) -> Blob | None:
    """The owner's stored blob of these bytes, if there is one."""
    return Blob.objects.filter(owner_id=owner_id, address=address(owner_id, sha256)).first()


def seal_upload(
    owner_id: Any, chunks: Iterable[bytes], *, limit: int
) -> tuple[staging.StagingFile, str, int, str]:
    """Seal the bytes into a staging file of ``owner_id`` as they arrive, hashing them: the file (still
    held), the clear bytes' SHA-256, their size, and the seal's nonce prefix. TooLarge past ``limit``."""
    digest = hashlib.sha256()
    size = 0
    handle = staging.create("upload", owner_id)
    try:
        writer = sealed.SealingWriter(handle.file, user_id=owner_id, context=context(owner_id))
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise TooLarge
            digest.update(chunk)
            writer.write(chunk)
        writer.finish()
        handle.file.flush()
    except BaseException:
        handle.discard()
        raise
    return handle, digest.hexdigest(), size, writer.prefix


def stored_name(where: str, seal: str) -> str:
    return f"{FOLDER}/{where}-{seal}"


class Mismatch(Exception):
    """The bytes that arrived are not those announced (another SHA-256 or size)."""


def store(
    owner_id: Any, chunks: Iterable[bytes], *, limit: int, expect: tuple[str, int] | None = None
) -> Blob:
    """Seal and store the bytes as a blob of ``owner_id``: a new one, or the one already holding them.

    Raises TooLarge once more than ``limit`` bytes arrive (nothing is kept), and
    :class:`~candor.core.objectstore.StoreUnavailable` when the store cannot take it (nothing is kept).
    With ``expect`` (SHA-256, size), bytes of another hash or size raise Mismatch (nothing is kept).
    """
    handle, sha256, size, seal = seal_upload(owner_id, chunks, limit=limit)
    if expect is not None and (sha256, size) != (expect[0].lower(), expect[1]):
        handle.discard()
        raise Mismatch
    where = address(owner_id, sha256)
    try:
        existing = Blob.objects.filter(owner_id=owner_id, address=where).first()
        if existing is not None:
            return existing
        name = objectstore.save_path(handle.path, stored_name(where, seal))
    finally:
        handle.discard()  # moved already when the storage renamed it
    try:
        with transaction.atomic():
            return Blob.objects.create(
                owner_id=owner_id, address=where, sha256=sha256, size=size, seal=seal, stored=name
            )
    except IntegrityError:
        # The same bytes, stored a moment ago by a concurrent upload of the same owner: use that one.
        objectstore.delete(name)
        return Blob.objects.get(owner_id=owner_id, address=where)


def _check_header(blob: Blob, head: bytes) -> tuple[bytes, Any]:
    """The header at the start of ``head`` and the cipher it names; Damaged unless it is this blob's."""
    try:
        key_id, prefix, length = sealed.parse_header(head)
    except sealed.SealError as error:
        raise Damaged(str(error)) from None
    if prefix.hex() != blob.seal:
        raise Damaged("The stored file is not the one this revision recorded.")
    cipher = crypto.cipher_for_key_id(key_id)
    if cipher is None:
        raise Damaged("The key of this file was destroyed: it can no longer be read.")
    return head[:length], cipher


def _stored(blob: Blob, start: int, length: int) -> Iterator[bytes]:
    """The stored object's bytes [start, start + length), as the store streams them; Damaged if missing."""
    try:
        # The store opens (or asks for) the object when read() is called; the first piece follows.
        pieces = objectstore.read(str(blob.stored.name), start, length)
        head = next(pieces, b"")
    except FileNotFoundError:
        raise Damaged("The stored file is missing.") from None
    return itertools.chain([head], pieces)


def read(blob: Blob, start: int = 0, length: int | None = None) -> Iterator[bytes]:
    """The clear bytes [start, start + length) of the blob, decrypting only the segments they lie in.

    The header is checked, and the first segment opened, before this returns, so a damaged or swapped
    blob is refused (Damaged) before a response starts; damage further on raises Damaged while reading,
    and the bytes of a damaged segment are never given.

    A range that starts in the first segment (a whole download, an export) is one read of the stored
    object, header and segments together; one further on reads the header, then its segments.
    """
    size = int(blob.size)
    length = size - start if length is None else length
    # Where the segments lie does not depend on the header's length, only where they start.
    _, count, first = sealed.span(0, size, start, length)
    if first == 0:
        stream = _stored(blob, 0, _HEAD + count)
        head = b""
        for piece in stream:
            head += piece
            if len(head) >= _HEAD:
                break
        header, cipher = _check_header(blob, head)
        data: Iterator[bytes] = itertools.chain([head[len(header) :]], stream)
        # At most _HEAD - len(header) bytes past the range are read; unseal_span leaves them.
    else:
        header, cipher = _check_header(blob, b"".join(_stored(blob, 0, _HEAD)))
        data = _stored(blob, len(header) + first * (sealed.SEGMENT + sealed.TAG_BYTES), count)
    if length <= 0:
        return iter(())
    clear = sealed.unseal_span(
        data,
        cipher=cipher,
        header=header,
        context=context(blob.owner_id),
        size=size,
        first=first,
        start=start,
        length=length,
    )

    def checked() -> Iterator[bytes]:
        try:
            yield from clear
        except sealed.SealError as error:
            raise Damaged(str(error)) from None

    stream_out = checked()
    try:
        first_piece = next(stream_out)
    except StopIteration:
        return iter(())

    def rest() -> Iterator[bytes]:
        yield first_piece
        yield from stream_out

    return rest()


def unused(*, now: Any = None, owner_id: Any = None) -> Any:
    """Blobs no revision and no Xet xorb holds, stored before the grace period."""
    now = now or timezone.now()
    rows = Blob.objects.filter(entries__isnull=True, xet_xorbs__isnull=True, created_at__lt=now - GRACE)
    return rows if owner_id is None else rows.filter(owner_id=owner_id)


def collect(blob_ids: Iterable[int] | None = None, *, now: Any = None) -> int:
    """Remove blobs no revision holds: those of ``blob_ids`` at once, or (None) every one older than the
    grace period. Rows go in a transaction; their stored objects after it commits. Returns how many."""
    rows = Blob.objects.filter(entries__isnull=True, xet_xorbs__isnull=True)
    rows = rows.filter(pk__in=list(blob_ids)) if blob_ids is not None else unused(now=now)
    removed = 0
    for blob in rows.only("pk", "stored").iterator(chunk_size=500):
        try:
            with transaction.atomic():
                # RESTRICT stops this if a commit (or a Xet upload) took the blob meanwhile.
                Blob.objects.filter(pk=blob.pk, entries__isnull=True, xet_xorbs__isnull=True).delete()
        except (models.ProtectedError, models.RestrictedError):
            continue
        transaction.on_commit(partial(storage.delete, str(blob.stored.name)))
        removed += 1
    return removed


def orphans(*, now: Any = None, batch: int = 1000) -> Iterator[str]:
    """Stored objects under blobs/ that no row names, written before the grace period: what a process
    that died between storing an object and committing its row left (an upload, the migration of the
    clear files). A younger one may be an upload whose row is about to be committed, and is left."""
    cutoff = (now or timezone.now()) - GRACE
    names = objectstore.names(FOLDER)
    while chunk := list(itertools.islice(names, batch)):
        named = set(Blob.objects.filter(stored__in=chunk).values_list("stored", flat=True))
        for name in chunk:
            if name in named:
                continue
            try:
                written = objectstore.modified(name)
            except FileNotFoundError:
                continue  # removed meanwhile
            if written < cutoff:
                yield name


def purge_for_retention(purge: Purge) -> None:
    """The receiver of the blobs' retention rule: the daily sweep removes what a lost task left (rows
    no revision holds) and what a crash left (stored objects no row names), both past the grace period."""
    if purge.dry_run:
        purge.removed += unused(now=purge.now).count()
        purge.removed += sum(1 for _ in orphans(now=purge.now))
        return
    # The orphans first: the objects of the rows collected next leave once their deletion commits, and
    # must not be counted again meanwhile.
    for name in list(orphans(now=purge.now)):
        objectstore.delete(name)
        purge.removed += 1
    purge.removed += collect(now=purge.now)
