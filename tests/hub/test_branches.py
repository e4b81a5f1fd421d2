"""Branches, folder deletions and exact parents in candor.hub.revisions (what the Hugging Face protocol's
writes need), below any HTTP."""

from __future__ import annotations

import pytest

from candor.accounts.models import User
from candor.hub import actions, blobs, largefiles, revisions
from candor.hub.models import Blob, LfsUpload, MLModel, Ref
from candor.kernel.refusal import Code, Refusal

pytestmark = pytest.mark.django_db


def blob(owner: User, data: bytes) -> Blob:
    return blobs.store(owner.pk, [data], limit=1 << 20)


def files(model: MLModel, revision: str | None = None) -> dict[str, bytes]:
    return {f.path: b"".join(blobs.read(f.blob)) for f in revisions.tree(revisions.resolve(model, revision))}


@pytest.fixture
def model(owner: User) -> MLModel:
    made = actions.create_model(acting_user=owner, name="m", title="M")
    revisions.commit(made, [revisions.Put("a.txt", blob(owner, b"a"))], acting_user=owner)
    return made


def test_a_commit_on_a_branch_moves_the_branch_only(owner: User, model: MLModel) -> None:
    main = model.head
    revisions.create_branch(model, "dev", acting_user=owner)
    made = revisions.commit(
        model, [revisions.Put("b.txt", blob(owner, b"b"))], acting_user=owner, branch="dev"
    )
    model.refresh_from_db()
    assert model.head == main
    assert made is not None and made.parent == main
    assert revisions.resolve(model, "dev") == made
    assert files(model) == {"a.txt": b"a"}
    assert files(model, "dev") == {"a.txt": b"a", "b.txt": b"b"}
    with pytest.raises(Refusal) as missing:
        revisions.commit(model, [revisions.Delete("a.txt")], acting_user=owner, branch="nope")
    assert missing.value.code == Code.NOT_FOUND
    revisions.tag(model, "v1", "dev", acting_user=owner)
    with pytest.raises(Refusal):  # a tag is not a branch: nothing can be committed on it
        revisions.commit(model, [revisions.Delete("a.txt")], acting_user=owner, branch="v1")
    with pytest.raises(Refusal):  # nor can delete_branch remove it, nor delete_tag a branch
        revisions.delete_branch(model, "v1", acting_user=owner)
    with pytest.raises(Refusal):
        revisions.delete_tag(model, "dev", acting_user=owner)
    revisions.delete_branch(model, "dev", acting_user=owner)
    assert list(Ref.objects.filter(model=model).values_list("kind", flat=True)) == [Ref.Kind.TAG]


@pytest.mark.parametrize("bad", ["", "main", "a b", "../x", "x/", ".hidden", "x.lock", "a..b", "0" * 40])
def test_branch_names(owner: User, model: MLModel, bad: str) -> None:
    with pytest.raises(Refusal) as refused:
        revisions.create_branch(model, bad, acting_user=owner)
    assert refused.value.code == Code.INVALID_NAME
    assert not Ref.objects.filter(model=model).exists()


def test_only_the_owner_makes_branches(owner: User, member: User, model: MLModel) -> None:
    with pytest.raises(Refusal) as refused:
        revisions.create_branch(model, "dev", acting_user=member)
    assert refused.value.code == Code.FORBIDDEN
    revisions.create_branch(model, "dev", acting_user=owner)
    with pytest.raises(Refusal):
        revisions.delete_branch(model, "dev", acting_user=member)
    assert Ref.objects.filter(model=model).count() == 1


def test_folder_deletion_and_exact_parent(owner: User, model: MLModel) -> None:
    base = revisions.commit(
        model,
        [revisions.Put("f/x.txt", blob(owner, b"x")), revisions.Put("f/g/y.txt", blob(owner, b"y"))],
        acting_user=owner,
    )
    assert base is not None
    revisions.commit(model, [revisions.Put("fx.txt", blob(owner, b"z"))], acting_user=owner)
    # Without exact_parent the change is rebased (no file it touches changed); with it, refused.
    with pytest.raises(revisions.StaleParent):
        revisions.commit(
            model, [revisions.DeleteFolder("f")], acting_user=owner, parent=base.oid, exact_parent=True
        )
    assert set(files(model)) == {"a.txt", "f/x.txt", "f/g/y.txt", "fx.txt"}
    revisions.commit(model, [revisions.DeleteFolder("f"), revisions.Delete("f/x.txt")], acting_user=owner)
    assert set(files(model)) == {"a.txt", "fx.txt"}  # "fx.txt" is not in the folder "f"
    with pytest.raises(Refusal) as missing:
        revisions.commit(model, [revisions.DeleteFolder("f")], acting_user=owner)
    assert missing.value.code == Code.NOT_FOUND


def test_lfs_grants_and_wrong_bytes(owner: User, member: User, model: MLModel) -> None:
    data = b"large enough"
    sha = blobs.hashlib.sha256(data).hexdigest()
    with pytest.raises(Refusal):
        largefiles.grant_uploads(model, [(sha, len(data))], acting_user=member)
    (key,) = largefiles.grant_uploads(model, [(sha, len(data))], acting_user=owner)
    assert key is not None and len(key) >= 40
    with pytest.raises(Refusal):
        largefiles.receive(key, [b"large enougH"])
    assert blobs.find(owner.pk, sha) is None
    assert LfsUpload.objects.filter(key=key).exists()  # still usable for the right bytes
    stored = largefiles.receive(key, [b"large ", b"enough"])
    assert stored.sha256 == sha
    assert not LfsUpload.objects.filter(key=key).exists()
    assert largefiles.grant_uploads(model, [(sha, len(data))], acting_user=owner) == [None]
