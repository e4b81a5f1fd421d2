"""Large files sent apart from their commit: the Git LFS objects of the Hugging Face protocol.

A client announces the objects it is about to commit (SHA-256 and size). Those the model's owner
already holds need nothing more; for each other one the owner's write token obtains a grant
(:class:`~candor.hub.models.LfsUpload`): a random key, good for one hour and one object, which the
address the bytes are sent to carries (the client sends them without any Authorization header). The
bytes are sealed as they arrive (:func:`candor.hub.blobs.store`) and kept only if their SHA-256 and size
are those the grant names. The commit that follows names each object by its SHA-256
(:func:`committed_object`), and is made by :func:`candor.hub.revisions.commit` like any other.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from candor.accounts.models import User
from candor.hub import blobs, revisions, visibility
from candor.hub.models import Blob, LfsUpload, MLModel, ModelFile
from candor.kernel.actions import durable
from candor.kernel.refusal import Code, Refusal
from candor.privacy import crypto

GRANT_LIFETIME = timedelta(hours=1)
SHA256 = re.compile(r"[0-9a-f]{64}")
# The most objects one batch may announce (the client sends at most 256 at a time).
MAX_OBJECTS = 1000


def checked_object(sha256: object, size: object) -> tuple[str, int]:
    """An announced object's SHA-256 (64 lower-case hex digits) and size (a whole number of bytes
    within the upload limit), or a refusal that says what is wrong."""
    if not isinstance(sha256, str) or not SHA256.fullmatch(sha256):
        raise Refusal(Code.INVALID, "An object's oid must be its SHA-256, as 64 lower-case hex digits.")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise Refusal(Code.INVALID, "An object's size must be a whole number of bytes.")
    limit = settings.MAX_UPLOAD_BYTES
    if size > limit:
        raise Refusal(Code.TOO_LARGE, f"A file is larger than the limit of {limit} bytes.")
    return sha256, size


def held(model: MLModel, sha256: str, size: int) -> Blob | None:
    """The owner's stored blob of these bytes, if it has exactly this size."""
    found = blobs.find(model.owner_id, sha256)
    return found if found is not None and int(found.size) == size else None


@durable
def grant_uploads(
    model: MLModel, objects: Sequence[tuple[str, int]], *, acting_user: User
) -> list[str | None]:
    """For each announced object (SHA-256, size): None if the owner already holds it, else the key of a
    new upload grant for it."""
    if not visibility.can_edit(acting_user, model):
        raise Refusal(Code.FORBIDDEN, "Only the owner may change this model.")
    if len(objects) > MAX_OBJECTS:
        raise Refusal(Code.TOO_LARGE, f"A batch announces at most {MAX_OBJECTS} objects: split it.")
    now = timezone.now()
    # The owner's spent grants go now; the retention sweep takes those of owners who never return.
    LfsUpload.objects.filter(owner_id=model.owner_id, expires_at__lt=now).delete()
    keys: list[str | None] = []
    for sha256, size in objects:
        if held(model, sha256, size) is not None:
            keys.append(None)
            continue
        grant = LfsUpload.objects.create(
            owner_id=model.owner_id, model=model, sha256=sha256, size=size, expires_at=now + GRANT_LIFETIME
        )
        keys.append(grant.key)
    return keys


def receive(key: str, chunks: Iterable[bytes], *, announced_length: int | None = None) -> Blob:
    """Store the bytes sent to a grant's address as a blob of the model's owner.

    Not an action: the bytes are sealed and stored before any transaction (an upload may take minutes),
    then the grant is spent by :func:`_spend`. Bytes of another size or SHA-256 than the grant names
    are refused, and nothing of them is kept; the grant stays usable until it expires.
    """
    grant = LfsUpload.objects.filter(key=key, expires_at__gte=timezone.now()).first()
    if grant is None:
        raise Refusal(Code.NOT_FOUND, "This upload address is unknown or has expired: ask for a new one.")
    # The key was handed to the owner's token for this object only: the request acts for the owner.
    crypto.set_viewer(grant.owner_id)
    size = int(grant.size)
    if announced_length is not None and announced_length != size:
        raise Refusal(Code.INVALID, "The upload's length is not the size announced for this object.")
    try:
        blob = blobs.store(grant.owner_id, chunks, limit=size, expect=(str(grant.sha256), size))
    except blobs.TooLarge:
        raise Refusal(Code.INVALID, "More bytes arrived than the size announced: nothing was kept.") from None
    except blobs.Mismatch:
        raise Refusal(
            Code.INVALID, "The bytes that arrived are not those announced (size or SHA-256): none was kept."
        ) from None
    _spend(grant.pk, acting_user=None)
    return blob


@durable
def _spend(grant_id: int, *, acting_user: User | None) -> None:
    """A grant is used once: the object is stored."""
    LfsUpload.objects.filter(pk=grant_id).delete()


def verify(model: MLModel, sha256: str, size: int) -> Blob:
    """The owner's stored object with this SHA-256 and size; a refusal if there is none."""
    found = held(model, sha256, size)
    if found is None:
        raise Refusal(Code.NOT_FOUND, "No object with this SHA-256 and size is stored.")
    return found


def committed_object(model: MLModel, path: str, sha256: object, size: object | None) -> revisions.Put:
    """The change a commit's ``lfsFile`` line asks for: the file at ``path`` holds the owner's stored
    object of this SHA-256 (and this size, when the line gives one)."""
    if not isinstance(sha256, str) or not SHA256.fullmatch(sha256):
        raise Refusal(Code.INVALID, f"The oid given for {path} is not a SHA-256.")
    found = blobs.find(model.owner_id, sha256)
    if found is None:
        raise Refusal(
            Code.NOT_FOUND, f"No uploaded object has the SHA-256 given for {path}: upload its bytes first."
        )
    if size is not None and size != int(found.size):
        raise Refusal(Code.INVALID, f"The size given for {path} is not the size of the object uploaded.")
    return revisions.Put(path, found)


def download_source(model: MLModel, sha256: str, size: int) -> ModelFile | None:
    """A file of this model holding the object (for Git LFS downloads): only the model's own files, so
    that a model never tells whether its owner holds some bytes elsewhere."""
    found = held(model, sha256, size)
    if found is None:
        return None
    return ModelFile.objects.filter(model=model, blob=found).select_related("commit").first()
