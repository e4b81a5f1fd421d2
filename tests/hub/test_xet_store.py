"""What the Xet store keeps (``candor.hub.xet.store``, ``tokens``): xorbs as sealed blobs of their owner,
files rebuilt from a shard, refusals that keep nothing, the sweep, an erased account, the access tokens.

The objects are those captured from the real ``hf_xet`` (see ``test_xet_format``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import struct
from typing import Any

import pytest
from django.utils import timezone

from candor.accounts.models import User
from candor.api import actions as token_actions
from candor.api.models import ApiToken
from candor.core import objectstore
from candor.hub import actions, blobs
from candor.hub.models import Blob, XetXorb
from candor.hub.xet import format, store, tokens
from candor.kernel.refusal import Code, Refusal
from candor.lifecycle import erasure, retention
from tests.hub.test_xet_format import DATA, XORB_HEX, _files, _xorb
from tests.test_client import new_token

pytestmark = pytest.mark.django_db


def _shard() -> bytes:
    return (DATA / "two-files.shard").read_bytes()


def _receive(user: User, data: bytes | None = None) -> bool:
    return store.receive_xorb(user, XORB_HEX, [data if data is not None else _xorb()], acting_user=user)


def _bytes(blob: Blob) -> bytes:
    return b"".join(blobs.read(blob))


def test_a_xorb_is_one_sealed_blob_of_its_owner_found_by_a_keyed_index(owner: User) -> None:
    text, floats = _files()
    assert _receive(owner) is True
    row = XetXorb.objects.get(owner=owner)
    assert _bytes(row.blob) == floats + text
    assert row.blob.owner_id == owner.pk
    assert XORB_HEX not in row.index and row.index == store.xorb_index(owner.pk, format.from_hex(XORB_HEX))
    assert struct.unpack("<5I", bytes(row.boundaries))[-1] == len(floats + text)
    # The same xorb again: checked again, still one row and one blob.
    assert _receive(owner) is False
    assert XetXorb.objects.filter(owner=owner).count() == 1 and Blob.objects.filter(owner=owner).count() == 1


def test_a_shard_rebuilds_its_files_as_blobs_found_by_sha256(owner: User) -> None:
    _receive(owner)
    assert store.receive_shard(owner, [_shard()], acting_user=owner) == 2
    for data in _files():
        blob = blobs.find(owner.pk, hashlib.sha256(data).hexdigest())
        assert blob is not None and _bytes(blob) == data
    # Sent again: the files are held already, nothing more is stored.
    count = Blob.objects.count()
    assert store.receive_shard(owner, [_shard()], acting_user=owner) == 2
    assert Blob.objects.count() == count


def test_another_owner_cannot_name_a_xorb_they_never_sent(owner: User, member: User) -> None:
    _receive(owner)
    with pytest.raises(Refusal, match="has not uploaded") as refused:
        store.receive_shard(member, [_shard()], acting_user=member)
    assert refused.value.code == Code.INVALID
    assert not Blob.objects.filter(owner=member).exists()
    # Their own copy is stored apart, under their own key.
    _receive(member)
    store.receive_shard(member, [_shard()], acting_user=member)
    text = hashlib.sha256(_files()[0]).hexdigest()
    mine, theirs = blobs.find(owner.pk, text), blobs.find(member.pk, text)
    assert mine is None  # alice's shard was never sent
    assert theirs is not None and theirs.owner_id == member.pk
    assert XetXorb.objects.get(owner=member).blob_id != XetXorb.objects.get(owner=owner).blob_id


@pytest.mark.parametrize("where", [100, 50_000, 130_000])
def test_a_corrupted_xorb_keeps_nothing(owner: User, where: int) -> None:
    data = bytearray(_xorb())
    data[where] ^= 0x01
    with pytest.raises(Refusal, match="xorb was refused") as refused:
        _receive(owner, bytes(data))
    assert refused.value.code == Code.INVALID
    assert not XetXorb.objects.exists() and not Blob.objects.exists()
    assert not list(objectstore.names(blobs.FOLDER))


def test_a_xorb_sent_under_another_hash_is_refused(owner: User) -> None:
    other = format.to_hex(format.chunk_hash(b"other"))
    with pytest.raises(Refusal, match="do not match"):
        store.receive_xorb(owner, other, [_xorb()], acting_user=owner)
    with pytest.raises(Refusal, match="64 hexadecimal"):
        store.receive_xorb(owner, "not-a-hash", [_xorb()], acting_user=owner)
    assert not Blob.objects.exists()


def _entry_offsets() -> list[int]:
    """Where each file entry's header starts in the captured shard."""
    data, at, found = _shard(), format.SHARD_HEADER_BYTES, []
    while data[at : at + 32] != format.BOOKEND:
        found.append(at)
        flags, count = struct.unpack("<II", data[at + 32 : at + 40])
        at += format.ENTRY_BYTES * (1 + count * (2 if flags & format.FLAG_VERIFICATION else 1))
        at += format.ENTRY_BYTES if flags & format.FLAG_METADATA_EXT else 0
    return found


def test_a_file_whose_hash_does_not_match_is_not_kept(owner: User) -> None:
    _receive(owner)
    data = bytearray(_shard())
    data[_entry_offsets()[0]] ^= 0x01  # the first file's hash
    with pytest.raises(Refusal, match="file's hash"):
        store.receive_shard(owner, [bytes(data)], acting_user=owner)
    assert Blob.objects.filter(owner=owner).count() == 1  # the xorb's only


def test_a_file_whose_sha256_is_not_the_one_announced_is_refused(owner: User) -> None:
    _receive(owner)
    data = bytearray(_shard())
    first = _entry_offsets()[0]
    ext = first + format.ENTRY_BYTES * 3  # header, one segment, one verification entry
    data[ext] ^= 0x01
    announced = format.to_hex(bytes(data[ext : ext + 32]))
    with pytest.raises(Refusal, match="SHA-256"):
        store.receive_shard(owner, [bytes(data)], acting_user=owner)
    assert blobs.find(owner.pk, announced) is None


def test_a_segment_of_the_wrong_size_or_past_the_xorb_is_refused(owner: User) -> None:
    _receive(owner)
    segment = _entry_offsets()[0] + format.ENTRY_BYTES
    data = bytearray(_shard())
    data[segment + 36 : segment + 40] = struct.pack("<I", 5)  # its size
    with pytest.raises(Refusal, match="size"):
        store.receive_shard(owner, [bytes(data)], acting_user=owner)
    data = bytearray(_shard())
    data[segment + 44 : segment + 48] = struct.pack("<I", 9)  # chunks up to 9 of a xorb of 5
    with pytest.raises(Refusal, match="past the end"):
        store.receive_shard(owner, [bytes(data)], acting_user=owner)


def test_a_malformed_shard_is_refused(owner: User) -> None:
    with pytest.raises(Refusal, match="shard was refused"):
        store.receive_shard(owner, [b"not a shard" * 10], acting_user=owner)


def test_a_xorbs_blob_is_not_an_unused_blob_until_the_xorb_is_swept(owner: User, settings: Any) -> None:
    _receive(owner)
    row = XetXorb.objects.get(owner=owner)
    later = timezone.now() + blobs.GRACE * 2
    assert not blobs.unused(now=later).filter(pk=row.blob_id).exists()
    assert blobs.collect([row.blob_id]) == 0
    # Unused for longer than the setting: the sweep removes the xorb, then (the same run or the next)
    # its blob with the unused blobs.
    settings.XET_XORB_DAYS = 3
    early = retention.sweep(now=timezone.now() + dt.timedelta(days=2))
    assert next(o.count for o in early if o.rule == "unused xorbs") == 0
    outcomes = retention.sweep(now=timezone.now() + dt.timedelta(days=4))
    assert next(o.count for o in outcomes if o.rule == "unused xorbs") == 1
    assert not XetXorb.objects.exists()
    retention.sweep(now=timezone.now() + dt.timedelta(days=4))
    assert not Blob.objects.filter(pk=row.blob_id).exists()


def test_a_shard_moves_the_xorbs_last_use_on(owner: User) -> None:
    _receive(owner)
    XetXorb.objects.update(last_used_at=timezone.now() - dt.timedelta(days=30))
    store.receive_shard(owner, [_shard()], acting_user=owner)
    assert XetXorb.objects.get().last_used_at > timezone.now() - dt.timedelta(minutes=5)


def test_an_erased_account_takes_its_xorbs_and_their_stored_objects(
    owner: User, member: User, django_capture_on_commit_callbacks: Any
) -> None:
    _receive(owner)
    _receive(member)
    store.receive_shard(owner, [_shard()], acting_user=owner)
    names = list(Blob.objects.filter(owner=owner).values_list("stored", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        erasure.erase_account(owner.pk, acting_user=owner)
    assert not XetXorb.objects.filter(owner_id=owner.pk).exists()
    assert not Blob.objects.filter(owner_id=owner.pk).exists()
    assert not any(objectstore.exists(name) for name in names)
    kept = XetXorb.objects.get(owner=member)
    assert _bytes(kept.blob) == b"".join(reversed(_files()))


# --- access tokens ---


def _grant_for(user: User, model: Any) -> tuple[str, int]:
    api_token = ApiToken.objects.filter(user=user).latest("created_at")
    return tokens.issue(api_token, model)


def test_a_token_grants_its_model_to_its_owner_and_says_nothing_readable(owner: User) -> None:
    new_token(owner)
    model = actions.create_model(acting_user=owner, name="m", title="M")
    access, expires = _grant_for(owner, model)
    grant = tokens.check(access)
    assert grant.owner == owner and grant.model == model
    assert expires - tokens.LIFETIME_SECONDS <= timezone.now().timestamp() + 1
    body = access.removeprefix("cxt1_")
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    # Sealed: none of the claims (ids, names) can be read from it, in any encoding.
    for secret in (f'"u":"{owner.pk}"', f'"m":"{model.pk}"', owner.username, '"t":'):
        assert secret.encode() not in raw and secret not in access
    assert tokens.check(access.replace("cxt1_", "cxt1_", 1)) == grant


def test_a_tampered_expired_or_revoked_token_is_refused(owner: User) -> None:
    new_token(owner)
    model = actions.create_model(acting_user=owner, name="m", title="M")
    access, expires = _grant_for(owner, model)
    flipped = access[:-3] + ("A" if access[-3] != "A" else "B") + access[-2:]
    for bad in (flipped, "cxt1_", "nonsense", access + "x"):
        with pytest.raises(Refusal) as refused:
            tokens.check(bad)
        assert refused.value.code == Code.INVALID_TOKEN
    with pytest.raises(Refusal, match="expired"):
        tokens.check(access, now=expires + 1)
    api_token = ApiToken.objects.get(user=owner)
    token_actions.revoke_token(owner, str(api_token.pk), acting_user=owner)
    with pytest.raises(Refusal):
        tokens.check(access)


def test_a_token_stops_with_its_model_or_its_account(owner: User) -> None:
    new_token(owner)
    model = actions.create_model(acting_user=owner, name="m", title="M")
    access, _ = _grant_for(owner, model)
    owner.is_active = False
    owner.save(update_fields=["is_active"])
    with pytest.raises(Refusal):
        tokens.check(access)
    owner.is_active = True
    owner.save(update_fields=["is_active"])
    tokens.check(access)
    model.delete()
    with pytest.raises(Refusal):
        tokens.check(access)
