"""The core of revisions (candor.hub.revisions): commits, their trees, rebasing, names, history removal."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from candor.accounts.models import User
from candor.hub import actions, blobs, revisions
from candor.hub.models import Blob, Commit, MLModel, ModelFile
from candor.kernel.refusal import Code, Refusal
from candor.privacy import audit
from candor.privacy.models import AuditEvent

pytestmark = pytest.mark.django_db


def blob(owner: User, data: bytes) -> Blob:
    return blobs.store(owner.pk, [data], limit=1 << 20)


def files(model: MLModel, revision: str | None = None) -> dict[str, bytes]:
    commit = revisions.resolve(model, revision)
    return {f.path: b"".join(blobs.read(f.blob)) for f in revisions.tree(commit)}


@pytest.fixture
def model(owner: User) -> MLModel:
    return actions.create_model(acting_user=owner, name="m", title="M")


def refused(code: Code, call: Any, *args: Any, **kwargs: Any) -> Refusal:
    with pytest.raises(Refusal) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value.message
    return caught.value


def test_each_change_is_a_commit_and_old_revisions_stay_readable(owner: User, model: MLModel) -> None:
    first = revisions.commit(
        model,
        [revisions.Put("a.txt", blob(owner, b"one")), revisions.Put("w/b.bin", blob(owner, b"bee"))],
        acting_user=owner,
        message="First",
    )
    assert first is not None and len(first.oid) == 40 and first.parent is None
    second = revisions.commit(
        model,
        [revisions.Put("a.txt", blob(owner, b"two")), revisions.Delete("w/b.bin")],
        acting_user=owner,
    )
    third = revisions.commit(model, [revisions.Rename("a.txt", "c.txt")], acting_user=owner)
    assert second is not None and third is not None
    assert second.parent == first and third.parent == second
    model.refresh_from_db()
    assert model.head == third
    assert files(model) == {"c.txt": b"two"}
    assert files(model, first.oid) == {"a.txt": b"one", "w/b.bin": b"bee"}
    assert files(model, second.oid) == {"a.txt": b"two"}
    assert [c.oid for c in revisions.history(model)] == [third.oid, second.oid, first.oid]
    assert Commit.objects.get(pk=first.pk).message == "First"
    assert second.message == "Upload a.txt" or "2 files" in second.message
    assert [(c.path, c.kind) for c in revisions.changes_of(second)] == [
        ("a.txt", "modified"),
        ("w/b.bin", "deleted"),
    ]
    assert [(c.path, c.kind) for c in revisions.changes_of(third)] == [
        ("a.txt", "deleted"),
        ("c.txt", "added"),
    ]
    assert [(c.path, c.kind) for c in revisions.changes_of(first)] == [
        ("a.txt", "added"),
        ("w/b.bin", "added"),
    ]


def test_changing_nothing_makes_no_commit(owner: User, model: MLModel) -> None:
    data = blob(owner, b"same")
    first = revisions.commit(model, [revisions.Put("a", data)], acting_user=owner)
    again = revisions.commit(model, [revisions.Put("a", blob(owner, b"same"))], acting_user=owner)
    assert again == first and Commit.objects.count() == 1


def test_the_same_bytes_are_one_blob_per_owner_and_never_shared(owner: User, member: User) -> None:
    assert blob(owner, b"shared?") == blob(owner, b"shared?")
    theirs = blob(member, b"shared?")
    assert Blob.objects.count() == 2 and theirs.address != blob(owner, b"shared?").address
    assert theirs.stored.name != Blob.objects.get(owner=owner).stored.name


def test_paths_messages_and_names_are_encrypted_at_rest(owner: User, model: MLModel) -> None:
    made = revisions.commit(
        model, [revisions.Put("secret/path.bin", blob(owner, b"x"))], acting_user=owner, message="note-xyz"
    )
    assert made is not None
    revisions.tag(model, "release-abc", acting_user=owner)
    with connection.cursor() as cursor:
        cursor.execute("SELECT path FROM hub_modelfile")
        (path,) = cursor.fetchone()
        cursor.execute("SELECT message FROM hub_commit")
        (message,) = cursor.fetchone()
        cursor.execute("SELECT name FROM hub_ref")
        (name,) = cursor.fetchone()
        cursor.execute("SELECT sha256 FROM hub_blob")
        (digest,) = cursor.fetchone()
    for stored, clear in ((path, "secret"), (message, "xyz"), (name, "abc")):
        assert clear not in stored and stored.startswith("enc:v1:")
    assert digest.startswith("enc:v1:")


def test_a_stale_parent_is_rebased_when_it_touches_other_files_and_refused_when_it_touches_the_same(
    owner: User, model: MLModel
) -> None:
    base = revisions.commit(model, [revisions.Put("a", blob(owner, b"1"))], acting_user=owner)
    assert base is not None
    moved = revisions.commit(
        model, [revisions.Put("b", blob(owner, b"2"))], acting_user=owner, parent=base.oid
    )
    assert moved is not None
    # Made on `base` too, while `moved` landed: a different file, so it is rebased onto `moved`.
    rebased = revisions.commit(
        model, [revisions.Put("c", blob(owner, b"3"))], acting_user=owner, parent=base.oid
    )
    assert rebased is not None and rebased.parent == moved
    assert files(model) == {"a": b"1", "b": b"2", "c": b"3"}
    # Made on `base`, changing b, which `moved` changed since: refused, nothing lost.
    error = refused(
        Code.CONFLICT,
        revisions.commit,
        model,
        [revisions.Put("b", blob(owner, b"other"))],
        acting_user=owner,
        parent=base.oid,
    )
    assert "changed since" in error.message
    assert files(model) == {"a": b"1", "b": b"2", "c": b"3"}
    refused(
        Code.NOT_FOUND, revisions.commit, model, [revisions.Delete("a")], acting_user=owner, parent="f" * 40
    )


def test_revisions_that_do_not_exist_and_paths_only_elsewhere(owner: User, model: MLModel) -> None:
    assert revisions.resolve(model) is None  # no commit yet
    first = revisions.commit(model, [revisions.Put("old.bin", blob(owner, b"o"))], acting_user=owner)
    revisions.commit(model, [revisions.Delete("old.bin")], acting_user=owner)
    assert first is not None
    refused(Code.NOT_FOUND, revisions.resolve, model, "0" * 40)
    refused(Code.NOT_FOUND, revisions.resolve, model, "no-such-tag")
    elsewhere = refused(Code.NOT_FOUND, revisions.file_at, model, "old.bin")
    assert "other revisions" in elsewhere.message
    nowhere = refused(Code.NOT_FOUND, revisions.file_at, model, "never.bin")
    assert "other revisions" not in nowhere.message
    assert (
        revisions.file_at(model, "old.bin", first.oid).sha256
        == blobs.find(owner.pk, first_digest(b"o")).sha256
    )
    refused(Code.NOT_FOUND, revisions.commit, model, [revisions.Delete("never.bin")], acting_user=owner)


def first_digest(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_tags_name_revisions(owner: User, model: MLModel) -> None:
    first = revisions.commit(model, [revisions.Put("a", blob(owner, b"1"))], acting_user=owner)
    revisions.commit(model, [revisions.Put("a", blob(owner, b"2"))], acting_user=owner)
    assert first is not None
    revisions.tag(model, "v1", first.oid, acting_user=owner)
    assert files(model, "v1") == {"a": b"1"} and files(model, "main") == {"a": b"2"}
    refused(Code.CONFLICT, revisions.tag, model, "v1", acting_user=owner)
    for bad in ("", "main", "a b", "x/y", "a" * 101, "c" * 40):
        refused(Code.INVALID_NAME, revisions.tag, model, bad, acting_user=owner)
    revisions.delete_tag(model, "v1", acting_user=owner)
    refused(Code.NOT_FOUND, revisions.delete_tag, model, "v1", acting_user=owner)


def test_only_the_owner_commits(owner: User, member: User, model: MLModel) -> None:
    refused(
        Code.FORBIDDEN, revisions.commit, model, [revisions.Put("a", blob(owner, b"1"))], acting_user=member
    )
    refused(
        Code.FORBIDDEN, revisions.commit, model, [revisions.Put("a", blob(member, b"1"))], acting_user=owner
    )
    assert not Commit.objects.exists()


def test_remove_from_history_purges_every_revision_and_the_unused_blob(
    owner: User, model: MLModel, django_capture_on_commit_callbacks: Any
) -> None:
    secret = blob(owner, b"leaked key")
    kept = blob(owner, b"kept")
    revisions.commit(model, [revisions.Put("key.txt", secret), revisions.Put("w", kept)], acting_user=owner)
    revisions.commit(model, [revisions.Put("key.txt", blob(owner, b"still leaked"))], acting_user=owner)
    revisions.commit(model, [revisions.Delete("key.txt")], acting_user=owner)
    AuditEvent.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        assert revisions.purge_path(model, "key.txt", acting_user=owner) == 2
    assert not ModelFile.objects.filter(blob=secret).exists()
    assert not Blob.objects.filter(pk=secret.pk).exists(), "the worker removed the blob no revision holds"
    assert Blob.objects.filter(pk=kept.pk).exists()
    assert all("key.txt" not in files(model, c.oid) for c in revisions.history(model))
    row = AuditEvent.objects.get()
    assert row.event_type == audit.EventType.MODEL_HISTORY_PURGED and row.extra == {"revisions": 2}
    refused(Code.NOT_FOUND, revisions.purge_path, model, "key.txt", acting_user=owner)


def test_a_commit_writes_one_audit_row_without_paths(owner: User, model: MLModel) -> None:
    AuditEvent.objects.all().delete()
    revisions.commit(
        model, [revisions.Put("private-path.bin", blob(owner, b"1"))], acting_user=owner, message="m"
    )
    row = AuditEvent.objects.get()
    assert row.event_type == audit.EventType.MODEL_FILES_CHANGED
    assert row.extra == {"changes": 1, "rebased": False} and row.model_id == model.pk
