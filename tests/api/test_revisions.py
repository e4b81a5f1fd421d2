"""Revisions through the API: blobs, one commit of many changes, history, files at a revision, tags,
remove from history, and every refusal on the way (a stale parent, an unknown revision or blob…)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from candor.accounts.models import User
from candor.hub.models import Blob, Commit, ModelFile
from tests.api.conftest import Api, assert_error, body, publish

pytestmark = pytest.mark.django_db

M = "/models/alice/tiny"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def store(api: Api, data: bytes, model: str = M) -> dict[str, Any]:
    response = api.client.post(
        f"/api/v1{model}/blobs", data, content_type="application/octet-stream", headers=api.headers
    )
    assert response.status_code == 201, response.content
    result: dict[str, Any] = response.json()
    return result


def commit(api: Api, changes: list[dict[str, str]], **extra: Any) -> Any:
    return api.post(f"{M}/commits", {"changes": changes, **extra})


def put(path: str, data: bytes) -> dict[str, str]:
    return {"op": "put", "path": path, "sha256": sha(data)}


@pytest.fixture
def model(owner: User) -> Any:
    return publish(owner, "tiny")


def test_one_commit_of_many_changes_and_its_history(alice: Api, anonymous: Api, model: Any) -> None:
    for data in (b"weights-1", b"config-1", b"readme"):
        assert store(alice, data) == {"sha256": sha(data), "size": len(data)}
    first = commit(
        alice,
        [put("w.bin", b"weights-1"), put("config.json", b"config-1"), put("README.md", b"readme")],
        message="First version",
    )
    assert first.status_code == 201, first.content
    one = first.json()
    assert one["message"] == "First version" and one["parent"] is None and one["author"] == "alice"
    assert {(c["path"], c["kind"]) for c in one["changes"]} == {
        ("w.bin", "added"),
        ("config.json", "added"),
        ("README.md", "added"),
    }
    assert Commit.objects.filter(model=model).count() == 1

    store(alice, b"weights-2")
    second = commit(
        alice,
        [
            put("w.bin", b"weights-2"),
            {"op": "delete", "path": "README.md"},
            {"op": "rename", "path": "config.json", "to": "conf/config.json"},
        ],
        parent=one["oid"],
    )
    assert second.status_code == 201, second.content
    two = second.json()
    assert two["parent"] == one["oid"] and two["message"] == "Change 3 files"
    assert {(c["path"], c["kind"]) for c in two["changes"]} == {
        ("w.bin", "modified"),
        ("README.md", "deleted"),
        ("config.json", "deleted"),
        ("conf/config.json", "added"),
    }

    # The list is newest first, paged by the last commit's id; anyone who may read the model reads it.
    page = anonymous.get(f"{M}/commits", limit=1).json()
    assert [c["oid"] for c in page["items"]] == [two["oid"]] and page["next_cursor"] == two["oid"]
    rest = anonymous.get(f"{M}/commits", limit=1, after=page["next_cursor"]).json()
    assert [c["oid"] for c in rest["items"]] == [one["oid"]] and rest["next_cursor"] is None
    assert anonymous.get(f"{M}/commits/{one['oid']}").json() == one

    # main's listing names its commit, for the next commit's parent.
    listing = anonymous.get(f"{M}/files").json()
    assert listing["commit"] == two["oid"]
    assert [f["path"] for f in listing["items"]] == ["conf/config.json", "w.bin"]

    # Files at a revision: the first revision still has its three files and their bytes.
    old = anonymous.get(f"{M}/revisions/{one['oid']}/files").json()
    assert old["commit"] == one["oid"]
    assert sorted(f["path"] for f in old["items"]) == ["README.md", "config.json", "w.bin"]
    readme = next(f for f in old["items"] if f["path"] == "README.md")
    assert f"/revisions/{one['oid']}/files/README.md" in readme["download_url"]
    got = anonymous.get(f"{M}/revisions/{one['oid']}/files/w.bin")
    assert got.status_code == 200 and body(got) == b"weights-1"
    assert body(anonymous.get(f"{M}/revisions/main/files/w.bin")) == b"weights-2"
    head = anonymous.request("HEAD", f"{M}/revisions/{one['oid']}/files/w.bin")
    assert head.status_code == 200 and head["ETag"] == f'"{sha(b"weights-1")}"'
    ranged = anonymous.get(f"{M}/revisions/{one['oid']}/files/w.bin", headers={"Range": "bytes=0-6"})
    assert ranged.status_code == 206 and body(ranged) == b"weights"


def test_the_same_bytes_are_stored_once_and_skipped_by_sha(alice: Api, model: Any) -> None:
    store(alice, b"same")
    store(alice, b"same")
    assert Blob.objects.filter(owner=model.owner).count() == 1
    made = commit(alice, [put("a.bin", b"same"), put("b.bin", b"same")])
    assert made.status_code == 201
    # Committing what main already holds changes nothing: no new commit, main's head answered.
    again = commit(alice, [put("a.bin", b"same")], parent=made.json()["oid"])
    assert again.status_code == 200 and again.json()["oid"] == made.json()["oid"]
    assert Commit.objects.filter(model=model).count() == 1


def test_a_stale_parent_is_rebased_on_other_files_and_refused_on_the_same(alice: Api, model: Any) -> None:
    for data in (b"a1", b"b1", b"a2", b"b2", b"a3"):
        store(alice, data)
    base = commit(alice, [put("a", b"a1"), put("b", b"b1")]).json()["oid"]
    moved = commit(alice, [put("a", b"a2")], parent=base).json()["oid"]
    # Made on the base, touching only b: rebased onto the new head, a's change kept.
    rebased = commit(alice, [put("b", b"b2")], parent=base)
    assert rebased.status_code == 201 and rebased.json()["parent"] == moved
    files = {f["path"]: f["sha256"] for f in alice.get(f"{M}/files").json()["items"]}
    assert files == {"a": sha(b"a2"), "b": sha(b"b2")}
    # Made on the base, touching a again: refused, and nothing stored.
    before = Commit.objects.filter(model=model).count()
    refused = commit(alice, [put("a", b"a3")], parent=base)
    error = assert_error(refused, 409, "conflict")
    assert "changed since the revision you started from" in error["message"]
    assert Commit.objects.filter(model=model).count() == before
    assert {f["path"]: f["sha256"] for f in alice.get(f"{M}/files").json()["items"]} == files


def test_commit_refusals(alice: Api, bob: Api, model: Any, member: User) -> None:
    store(alice, b"x")
    unknown = assert_error(commit(alice, [put("x", b"never stored")]), 404, "not_found")
    assert "upload its bytes first" in unknown["message"]
    # A blob of someone else's is not the owner's: unknown to this model.
    publish(member, "theirs")
    store(bob, b"bob's bytes", "/models/bob/theirs")
    assert_error(commit(alice, [put("x", b"bob's bytes")]), 404, "not_found")
    assert_error(commit(alice, [{"op": "delete", "path": "nothing-here"}]), 404, "not_found")
    assert_error(commit(alice, []), 422, "invalid_fields")
    assert_error(commit(alice, [{"op": "chmod", "path": "x"}]), 422, "invalid_fields")
    bad = assert_error(commit(alice, [put("x", b"x"), put("../escape", b"x")]), 422, "invalid_fields")
    assert list(bad["fields"]) == ["changes.1.put.path"]
    assert_error(commit(alice, [put("x", b"x"), put("x", b"x")]), 400, "invalid")
    assert_error(commit(alice, [put("x", b"x")], parent="0" * 40), 404, "not_found")
    many = [{"op": "delete", "path": f"f{i}"} for i in range(10_001)]
    assert assert_error(commit(alice, many), 413 if len(json.dumps(many)) > 2 * 1024 * 1024 else 422)
    assert_error(bob.post(f"{M}/commits", {"changes": [put("x", b"x")]}), 403, "forbidden")
    assert not ModelFile.objects.filter(model=model).exists()


def test_unknown_revisions_and_paths_of_other_revisions(alice: Api, anonymous: Api, model: Any) -> None:
    store(alice, b"old")
    first = commit(alice, [put("old.bin", b"old")]).json()["oid"]
    commit(alice, [{"op": "delete", "path": "old.bin"}])
    nothing = assert_error(anonymous.get(f"{M}/revisions/v9/files"), 404, "not_found")
    assert nothing["message"] == "This model has no such revision."
    assert_error(anonymous.get(f"{M}/revisions/{'a' * 40}/files/old.bin"), 404, "not_found")
    elsewhere = assert_error(anonymous.get(f"{M}/revisions/main/files/old.bin"), 404, "not_found")
    assert "other revisions have it" in elsewhere["message"]
    assert body(anonymous.get(f"{M}/revisions/{first}/files/old.bin")) == b"old"
    assert_error(anonymous.get(f"{M}/revisions/main/files/never.bin"), 404, "not_found")
    assert_error(anonymous.get(f"{M}/commits/{'b' * 40}"), 404, "not_found")
    assert_error(anonymous.get(f"{M}/commits", after="c" * 40), 404, "not_found")


def test_tags_name_revisions(alice: Api, anonymous: Api, bob: Api, model: Any) -> None:
    store(alice, b"v1")
    store(alice, b"v2")
    first = commit(alice, [put("w", b"v1")]).json()["oid"]
    tagged = alice.post(f"{M}/tags", {"name": "v1.0"})
    assert tagged.status_code == 201 and tagged.json() == {"name": "v1.0", "kind": "tag", "commit": first}
    second = commit(alice, [put("w", b"v2")]).json()["oid"]
    assert body(anonymous.get(f"{M}/revisions/v1.0/files/w")) == b"v1"
    assert anonymous.get(f"{M}/refs").json()["items"] == [
        {"name": "main", "kind": "branch", "commit": second},
        {"name": "v1.0", "kind": "tag", "commit": first},
    ]
    assert_error(alice.post(f"{M}/tags", {"name": "v1.0"}), 409, "conflict")
    assert_error(alice.post(f"{M}/tags", {"name": "main"}), 422, "invalid_name")
    assert_error(alice.post(f"{M}/tags", {"name": "x", "revision": "nope"}), 404, "not_found")
    assert_error(bob.post(f"{M}/tags", {"name": "bobs"}), 403, "forbidden")
    assert alice.delete(f"{M}/tags/v1.0").status_code == 204
    assert_error(alice.delete(f"{M}/tags/v1.0"), 404, "not_found")
    assert_error(anonymous.get(f"{M}/revisions/v1.0/files"), 404, "not_found")


def test_remove_from_history(alice: Api, anonymous: Api, bob: Api, model: Any) -> None:
    store(alice, b"secret-1")
    store(alice, b"secret-2")
    store(alice, b"kept")
    first = commit(alice, [put("secret.txt", b"secret-1"), put("kept", b"kept")]).json()["oid"]
    commit(alice, [put("secret.txt", b"secret-2")])
    commit(alice, [{"op": "delete", "path": "secret.txt"}])
    assert_error(bob.delete(f"{M}/history/secret.txt"), 403, "forbidden")
    removed = alice.delete(f"{M}/history/secret.txt")
    assert removed.status_code == 200 and removed.json() == {"revisions": 2}
    gone = assert_error(anonymous.get(f"{M}/revisions/{first}/files/secret.txt"), 404, "not_found")
    assert gone["message"] == "There is no file at this path."
    assert body(anonymous.get(f"{M}/revisions/{first}/files/kept")) == b"kept"
    again = assert_error(alice.delete(f"{M}/history/secret.txt"), 404, "not_found")
    assert again["message"] == "No revision of this model has a file at this path."


def test_private_models_revisions_are_hidden(owner: User, alice: Api, anonymous: Api, bob: Api) -> None:
    publish(owner, "tiny", visibility="private")
    store(alice, b"p")
    oid = commit(alice, [put("p", b"p")]).json()["oid"]
    for path in (
        f"{M}/commits",
        f"{M}/commits/{oid}",
        f"{M}/refs",
        f"{M}/revisions/{oid}/files",
        f"{M}/revisions/{oid}/files/p",
    ):
        assert_error(anonymous.get(path), 404)
        assert_error(bob.get(path), 404)
        assert alice.get(path).status_code == 200
    blob = bob.client.post(
        f"/api/v1{M}/blobs", b"x", content_type="application/octet-stream", headers=bob.headers
    )
    assert_error(blob, 404)
