"""Sealed, content-addressed blobs: range decryption, damage, deduplication and the removal of unused ones.

Everything runs against the real object store (the local media folder) and the real database: damage is
made by changing the stored object's bytes on disk, and the reads are counted at the object store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from candor.accounts.models import User
from candor.core import objectstore
from candor.hub import actions, blobs, revisions
from candor.hub.models import Blob, MLModel
from candor.lifecycle import retention
from candor.privacy import crypto, sealed
from tests.api.conftest import Api, assert_error, token_for
from tests.conftest import use_task_backend

pytestmark = pytest.mark.django_db

SEGMENT = sealed.SEGMENT
SEALED = sealed.SEGMENT + sealed.TAG_BYTES
SIZES = (0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT + 5)
LIMIT = 2**40


def payload(size: int, seed: int = 0) -> bytes:
    """Bytes that differ at every position (so a misplaced slice cannot pass for the right one)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def on_disk(blob: Blob) -> Path:
    return Path(blob.stored.path)


def stored_names() -> list[str]:
    return sorted(objectstore.names(blobs.FOLDER))


class Reads:
    """Counts what is asked of the object store, and what it gives."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[int, int | None]] = []
        self.given = 0
        original = objectstore.read

        def counted(name: str, start: int = 0, length: int | None = None, **kwargs: Any) -> Iterator[bytes]:
            self.calls.append((start, length))
            for piece in original(name, start, length, **kwargs):
                self.given += len(piece)
                yield piece

        monkeypatch.setattr(objectstore, "read", counted)

    def reset(self) -> None:
        self.calls.clear()
        self.given = 0


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    return Reads(monkeypatch)


@pytest.fixture
def stored(owner: User) -> dict[int, tuple[Blob, bytes]]:
    found = {}
    for size in SIZES:
        data = payload(size, seed=size)
        found[size] = (blobs.store(owner.pk, [data], limit=LIMIT), data)
    return found


# --- Range decryption ------------------------------------------------------------------------------------


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_range_of_any_size_is_the_clear_slice_and_reads_only_its_segments(
    stored: dict[int, tuple[Blob, bytes]], reads: Reads, data: st.DataObject
) -> None:
    size = data.draw(st.sampled_from(SIZES), label="size")
    blob, clear = stored[size]
    start = data.draw(st.integers(0, max(0, size - 1)), label="start")
    length = data.draw(st.integers(0, size - start), label="length")
    reads.reset()
    got = b"".join(blobs.read(blob, start, length))
    assert got == clear[start : start + length]
    header = sealed.header_size(on_disk(blob).read_bytes()[8])
    first = start // SEGMENT
    last = max(first, (start + length - 1) // SEGMENT) if size else 0
    segments = (last - first + 1) * SEALED
    if first == 0:
        # From the first segment: one read from the start, header and segments together (and at most
        # the few bytes by which the header's reserve exceeds this header).
        assert reads.calls == [(0, blobs._HEAD + segments)]
        assert reads.given <= blobs._HEAD + segments
    else:
        # Further on: the header, then exactly the segments the range lies in.
        assert reads.calls == [(0, blobs._HEAD), (header + first * SEALED, segments)]
        assert reads.given <= blobs._HEAD + segments
    # Never the whole object for a small range of a large one.
    if size > 2 * SEGMENT and length <= SEGMENT // 2:
        assert reads.given < on_disk(blob).stat().st_size


@pytest.mark.parametrize("size", SIZES)
def test_the_whole_blob_reads_back_and_its_name_says_nothing_of_the_bytes(
    stored: dict[int, tuple[Blob, bytes]], size: int
) -> None:
    blob, clear = stored[size]
    assert b"".join(blobs.read(blob)) == clear
    assert blob.size == size and blob.sha256 == hashlib.sha256(clear).hexdigest()
    name = str(blob.stored.name)
    assert name.startswith("blobs/") and blob.sha256 not in name and blob.seal in name
    raw = on_disk(blob).read_bytes()
    assert raw.startswith(sealed.MAGIC)
    assert len(raw) == sealed.header_size(len(raw[9 : 9 + raw[8]])) + size + sealed.segment_count(size) * 16
    if size >= 32:
        assert clear[:32] not in raw


# --- Damage ---------------------------------------------------------------------------------------------


def flip(path: Path, position: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[position] ^= 0x01
    path.write_bytes(bytes(raw))


def partial_read(blob: Blob, start: int = 0, length: int | None = None) -> tuple[bytes, bool]:
    """What a reader gets before the read stops: (bytes, whether it was refused as damaged)."""
    got = bytearray()
    try:
        for piece in blobs.read(blob, start, length):
            got += piece
    except blobs.Damaged:
        return bytes(got), True
    return bytes(got), False


@pytest.fixture
def big(owner: User) -> tuple[Blob, bytes, int]:
    """A blob of four segments (the last one of 5 bytes), and where its first segment begins."""
    clear = payload(3 * SEGMENT + 5, seed=7)
    blob = blobs.store(owner.pk, [clear], limit=LIMIT)
    raw = on_disk(blob).read_bytes()
    header = sealed.header_size(raw[8])
    return blob, clear, header


@pytest.mark.parametrize("where", ["magic", "key id", "seal", "length byte"])
def test_a_damaged_header_is_refused_before_any_byte(big: tuple[Blob, bytes, int], where: str) -> None:
    blob, _, header = big
    position = {"magic": 0, "key id": 9, "seal": header - 1, "length byte": 8}[where]
    flip(on_disk(blob), position)
    with pytest.raises(blobs.Damaged):
        blobs.read(blob)
    with pytest.raises(blobs.Damaged):
        blobs.read(blob, SEGMENT + 3, 10)


@pytest.mark.parametrize("segment", [0, 1, 3])
def test_a_damaged_segment_is_never_given_and_those_before_it_are_right(
    big: tuple[Blob, bytes, int], segment: int
) -> None:
    blob, clear, header = big
    flip(on_disk(blob), header + segment * SEALED + 2)
    if segment == 0:
        with pytest.raises(blobs.Damaged):
            blobs.read(blob)  # refused before a response could start
    else:
        got, refused = partial_read(blob)
        assert refused and got == clear[: segment * SEGMENT]
    # A range inside the damaged segment is refused at once; one in a sound segment is served.
    with pytest.raises(blobs.Damaged):
        blobs.read(blob, segment * SEGMENT, 3)
    sound = 2
    assert (
        b"".join(blobs.read(blob, sound * SEGMENT + 1, 100))
        == clear[sound * SEGMENT + 1 : sound * SEGMENT + 101]
    )


@pytest.mark.parametrize("cut", [1, 5 + 16, SEALED, SEALED + 21, 3 * SEALED + 21])
def test_a_truncated_object_is_refused(big: tuple[Blob, bytes, int], cut: int) -> None:
    blob, clear, _ = big
    path = on_disk(blob)
    raw = path.read_bytes()
    path.write_bytes(raw[:-cut])
    got, refused = partial_read(blob)
    assert refused and clear.startswith(got) and len(got) < len(clear)
    with pytest.raises(blobs.Damaged):
        b"".join(blobs.read(blob, len(clear) - 3, 3))  # the last bytes: in the cut segment


def test_an_object_swapped_for_another_blob_of_the_same_owner_is_refused(
    owner: User, big: tuple[Blob, bytes, int]
) -> None:
    blob, _, _ = big
    other = blobs.store(owner.pk, [payload(3 * SEGMENT + 5, seed=8)], limit=LIMIT)
    on_disk(blob).write_bytes(on_disk(other).read_bytes())  # same owner, same key, same size
    with pytest.raises(blobs.Damaged):
        blobs.read(blob)
    with pytest.raises(blobs.Damaged):
        blobs.read(blob, 2 * SEGMENT, 10)


def test_an_object_swapped_for_another_owners_blob_is_refused(
    member: User, big: tuple[Blob, bytes, int]
) -> None:
    blob, _, _ = big
    theirs = blobs.store(member.pk, [payload(3 * SEGMENT + 5, seed=7)], limit=LIMIT)  # the same bytes
    on_disk(blob).write_bytes(on_disk(theirs).read_bytes())
    with pytest.raises(blobs.Damaged):
        blobs.read(blob)


def test_a_destroyed_key_or_a_missing_object_is_refused(owner: User, big: tuple[Blob, bytes, int]) -> None:
    blob, _, _ = big
    kept = blobs.store(owner.pk, [b"kept"], limit=LIMIT)
    on_disk(kept).unlink()
    with pytest.raises(blobs.Damaged):
        blobs.read(kept)
    crypto.destroy_data_key(owner.pk)
    with pytest.raises(blobs.Damaged):
        blobs.read(blob)
    with pytest.raises(blobs.Damaged):
        blobs.read(blob, SEGMENT, 1)


# --- Damage through the API and the website --------------------------------------------------------------


@pytest.fixture
def published(owner: User) -> tuple[MLModel, Blob, bytes, int]:
    model = actions.create_model(acting_user=owner, name="m", title="M", visibility="public")
    clear = payload(3 * SEGMENT + 5, seed=9)
    entry = actions.add_file(model, "w.bin", [clear], acting_user=owner)
    raw = on_disk(entry.blob).read_bytes()
    return model, entry.blob, clear, sealed.header_size(raw[8])


def streamed(response: Any) -> tuple[bytes, bool]:
    got = bytearray()
    try:
        for piece in response.streaming_content:
            got += piece
    except blobs.Damaged:
        return bytes(got), True
    return bytes(got), False


def test_a_sound_file_is_served_whole_and_by_range(
    published: tuple[MLModel, Blob, bytes, int], owner: User
) -> None:
    _, blob, clear, _ = published
    api = Api(token_for(owner))
    whole = api.get("/models/alice/m/files/w.bin")
    assert whole.status_code == 200 and streamed(whole) == (clear, False)
    assert whole["ETag"] == f'"{hashlib.sha256(clear).hexdigest()}"' == f'"{blob.sha256}"'
    part = api.get("/models/alice/m/files/w.bin", headers={"Range": f"bytes={SEGMENT - 2}-{SEGMENT + 1}"})
    assert part.status_code == 206 and streamed(part) == (clear[SEGMENT - 2 : SEGMENT + 2], False)


def test_damage_at_the_start_is_refused_with_an_error_before_any_byte(
    published: tuple[MLModel, Blob, bytes, int], owner: User
) -> None:
    _, blob, _, header = published
    flip(on_disk(blob), header + 5)
    assert_error(Api(token_for(owner)).get("/models/alice/m/files/w.bin"), 500, "damaged")
    page = Client().get("/alice/m/files/w.bin")
    assert page.status_code == 500 and b"This file cannot be sent" in page.content
    assert b"damaged" in page.content
    # A range in a sound segment is still served.
    part = Client().get("/alice/m/files/w.bin", HTTP_RANGE=f"bytes={2 * SEGMENT}-{2 * SEGMENT + 9}")
    assert part.status_code == 206


def test_damage_further_on_ends_the_response_short(
    published: tuple[MLModel, Blob, bytes, int], owner: User
) -> None:
    _, blob, clear, header = published
    flip(on_disk(blob), header + 2 * SEALED + 5)
    for response in (
        Api(token_for(owner)).get("/models/alice/m/files/w.bin"),
        Client().get("/alice/m/files/w.bin"),
    ):
        assert response.status_code == 200 and response["Content-Length"] == str(len(clear))
        got, refused = streamed(response)
        assert refused and got == clear[: 2 * SEGMENT]  # the sound segments, and nothing of the bad one


# --- Deduplication --------------------------------------------------------------------------------------


def test_the_same_bytes_twice_by_one_owner_are_one_blob_by_two_owners_two(owner: User, member: User) -> None:
    data = payload(SEGMENT + 10, seed=11)
    first = blobs.store(owner.pk, [data], limit=LIMIT)
    again = blobs.store(owner.pk, [data[:100], data[100:]], limit=LIMIT)
    assert again.pk == first.pk and Blob.objects.filter(owner=owner).count() == 1
    assert stored_names() == [first.stored.name]
    assert blobs.find(owner.pk, hashlib.sha256(data).hexdigest()) == first
    theirs = blobs.store(member.pk, [data], limit=LIMIT)
    assert (
        theirs.pk != first.pk and theirs.address != first.address and theirs.stored.name != first.stored.name
    )
    assert stored_names() == sorted([first.stored.name, theirs.stored.name])
    assert blobs.find(member.pk, first.sha256) == theirs
    # Each reads back under its owner's key; the staging area holds nothing afterwards.
    assert b"".join(blobs.read(first)) == b"".join(blobs.read(theirs)) == data


def test_two_identical_uploads_at_once_make_one_row_and_the_losers_object_goes(
    owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second upload finds no blob, then the first commits its row before the second's insert: the
    second meets the unique constraint, removes its own object and returns the first's blob."""
    data = b"the same weights, pushed twice at once"
    original = objectstore.save_path
    winner: list[Blob] = []

    def racing(path: Path, name: str) -> str:
        if not winner:
            monkeypatch.setattr(objectstore, "save_path", original)
            winner.append(blobs.store(owner.pk, [data], limit=LIMIT))  # the other upload, all the way
            monkeypatch.setattr(objectstore, "save_path", racing)
        return original(path, name)

    monkeypatch.setattr(objectstore, "save_path", racing)
    loser = blobs.store(owner.pk, [data], limit=LIMIT)
    assert winner and loser.pk == winner[0].pk
    assert Blob.objects.filter(owner=owner).count() == 1
    assert stored_names() == [winner[0].stored.name]
    assert b"".join(blobs.read(loser)) == data


def test_a_large_form_upload_is_spooled_sealed_and_stored_whole(owner: User, settings: Any) -> None:
    """Past FILE_UPLOAD_MAX_MEMORY_SIZE the form's file goes to the staging area, sealed; the stored blob
    is the upload, byte for byte."""
    model = actions.create_model(acting_user=owner, name="form", title="Form")
    data = payload(settings.FILE_UPLOAD_MAX_MEMORY_SIZE + SEGMENT + 3, seed=12)
    client = Client()
    client.force_login(owner)
    response = client.post(
        "/alice/form/upload/", {"file": SimpleUploadedFile("w.bin", data), "path": "w.bin"}
    )
    assert response.status_code == 302
    model.refresh_from_db()
    entry = revisions.file_at(model, "w.bin")
    assert entry.size == len(data) and entry.sha256 == hashlib.sha256(data).hexdigest()
    assert b"".join(blobs.read(entry.blob)) == data
    staging = Path(settings.MEDIA_ROOT) / ".staging"
    assert not staging.exists() or not list(staging.iterdir())


# --- Unused blobs ---------------------------------------------------------------------------------------


def test_a_deleted_files_blob_stays_for_the_older_revision(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    model = actions.create_model(acting_user=owner, name="m", title="M")
    with django_capture_on_commit_callbacks(execute=True):
        entry = actions.add_file(model, "w.bin", [b"weights v1"], acting_user=owner)
        actions.delete_file(model, "w.bin", acting_user=owner)
        blobs.collect([entry.blob.pk])  # as the task would, were it queued
    assert Blob.objects.filter(pk=entry.blob.pk).exists() and objectstore.exists(entry.blob.stored.name)
    first = revisions.history(model).last()
    assert (
        first is not None
        and b"".join(blobs.read(revisions.file_at(model, "w.bin", first.oid).blob)) == b"weights v1"
    )


@pytest.mark.parametrize("how", ["purge_path", "delete_model"])
def test_the_worker_task_removes_a_blob_nothing_holds_any_more(
    owner: User, django_capture_on_commit_callbacks: Any, how: str
) -> None:
    model = actions.create_model(acting_user=owner, name="m", title="M")
    other = actions.create_model(acting_user=owner, name="other", title="Other")
    gone = actions.add_file(model, "w.bin", [b"only here"], acting_user=owner).blob
    actions.add_file(model, "w.bin", [b"only here, v2"], acting_user=owner)
    shared = actions.add_file(model, "s.bin", [b"also in the other model"], acting_user=owner).blob
    actions.add_file(other, "s.bin", [b"also in the other model"], acting_user=owner)
    with django_capture_on_commit_callbacks(execute=True):  # the commit, then the (immediate) task
        if how == "purge_path":
            assert revisions.purge_path(model, "w.bin", acting_user=owner) == 3  # all three commits
        else:
            actions.delete_model(model, acting_user=owner)
    assert not Blob.objects.filter(pk=gone.pk).exists() and not objectstore.exists(gone.stored.name)
    v2 = Blob.objects.filter(
        owner=owner, address=blobs.address(owner.pk, hashlib.sha256(b"only here, v2").hexdigest())
    )
    assert not v2.exists()
    # Held by the other model: kept.
    assert Blob.objects.filter(pk=shared.pk).exists() and objectstore.exists(shared.stored.name)
    assert stored_names() == [shared.stored.name]


def test_the_sweep_removes_unused_blobs_whose_task_was_lost_after_the_grace(
    owner: User, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # A queue that keeps the task and never runs it: the task is lost.
    use_task_backend(settings, "django.tasks.backends.dummy.DummyBackend")
    model = actions.create_model(acting_user=owner, name="m", title="M")
    lost = actions.add_file(model, "w.bin", [b"removed from history"], acting_user=owner).blob
    held = actions.add_file(model, "k.bin", [b"kept"], acting_user=owner).blob
    with django_capture_on_commit_callbacks(execute=True):
        revisions.purge_path(model, "w.bin", acting_user=owner)
    assert Blob.objects.filter(pk=lost.pk).exists()  # the task did not run

    def swept(after: dt.timedelta, *, dry_run: bool = False) -> int:
        with django_capture_on_commit_callbacks(execute=True):
            outcome = retention.sweep(now=lost.created_at + after, dry_run=dry_run)
        return next(o.count for o in outcome if o.rule == "unused blobs")

    assert swept(blobs.GRACE / 2) == 0 and Blob.objects.filter(pk=lost.pk).exists()  # within the grace
    assert swept(blobs.GRACE * 2, dry_run=True) == 1
    assert Blob.objects.filter(pk=lost.pk).exists()  # a dry run removes nothing
    assert swept(blobs.GRACE * 2) == 1
    assert not Blob.objects.filter(pk=lost.pk).exists() and not objectstore.exists(lost.stored.name)
    assert Blob.objects.filter(pk=held.pk).exists() and objectstore.exists(held.stored.name)


def test_the_sweep_removes_stored_objects_no_row_names_after_the_grace(owner: User, settings: Any) -> None:
    held = blobs.store(owner.pk, [b"a blob with its row"], limit=LIMIT)
    folder = Path(settings.MEDIA_ROOT) / blobs.FOLDER
    old, fresh = folder / ("a" * 64 + "-00112233445566"), folder / ("b" * 64 + "-00112233445566")
    for path in (old, fresh):
        path.write_bytes(b"CNDSEAL1 left by a process killed before its row was committed")
    an_hour_and_more = time.time() - blobs.GRACE.total_seconds() - 60
    os.utime(old, (an_hour_and_more, an_hour_and_more))
    os.utime(on_disk(held), (an_hour_and_more, an_hour_and_more))

    def removed(dry_run: bool) -> int:
        outcome = retention.sweep(dry_run=dry_run)
        return next(o.count for o in outcome if o.rule == "unused blobs")

    assert removed(dry_run=True) == 1 and old.exists()
    assert removed(dry_run=False) == 1
    assert not old.exists() and fresh.exists()  # the fresh one may be an upload about to commit its row
    assert on_disk(held).exists() and b"".join(blobs.read(held)) == b"a blob with its row"
    assert sorted(blobs.orphans()) == []
