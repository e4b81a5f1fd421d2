"""The client's revisions against a live server: ``push -m`` is one commit, ``pull --revision``,
``log``, ``forget`` and ``tag``. Two clients pushing at once: tests/client/test_revisions_concurrent.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from candor_client.errors import EXIT_CODES
from pytest_django.live_server_helper import LiveServer

from candor.accounts.models import User
from candor.hub import revisions
from candor.hub.models import Commit, MLModel, ModelFile
from tests.test_client import client, new_token

e2e = pytest.mark.django_db(transaction=True)


@pytest.fixture
def site(live_server: LiveServer, settings: object, tmp_path: Path) -> LiveServer:
    settings.MEDIA_ROOT = tmp_path / "media"  # type: ignore[attr-defined]
    return live_server


@pytest.fixture
def token(owner: User) -> str:
    return new_token(owner)


def folder(root: Path, files: dict[str, bytes]) -> Path:
    for path, content in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)
    return root


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@e2e
def test_push_is_one_commit_and_pull_reads_any_revision(
    site: LiveServer, token: str, owner: User, tmp_path: Path
) -> None:
    source = folder(tmp_path / "m", {"a.txt": b"one", "b.txt": b"two", "sub/c.bin": b"three"})
    first = client(
        ["push", str(source), "alice/m", "-m", "First cut"], tmp_path, server=site.url, token=token
    )
    assert first.returncode == 0, first.stderr
    model = MLModel.objects.named(owner, "m").get()
    (made,) = Commit.objects.filter(model=model)
    assert made.message == "First cut"
    assert f"Commit {made.oid[:12]}: First cut" in first.stdout
    assert len(list(revisions.tree(made))) == 3, "three files, one commit"

    (source / "a.txt").write_bytes(b"one, again")
    (source / "b.txt").unlink()
    (source / "copy.bin").write_bytes(b"three")  # bytes the model holds: named, not sent
    second = client(
        ["push", "--delete", str(source), "alice/m", "-m", "Second"], tmp_path, server=site.url, token=token
    )
    assert second.returncode == 0, second.stderr
    assert "Uploaded 2 files (10 B), skipped 1 unchanged, deleted 1 file" in second.stdout
    assert Commit.objects.filter(model=model).count() == 2
    head = revisions.resolve(MLModel.objects.get(pk=model.pk))
    assert head is not None and head.parent_id == made.pk and head.message == "Second"
    assert {(c.path, c.kind) for c in revisions.changes_of(head)} == {
        ("a.txt", "modified"),
        ("b.txt", "deleted"),
        ("copy.bin", "added"),
    }

    nothing = client(["push", str(source), "alice/m"], tmp_path, server=site.url, token=token)
    assert nothing.returncode == 0 and "Commit" not in nothing.stdout, "no change, no commit"
    assert Commit.objects.filter(model=model).count() == 2

    old = tmp_path / "old"
    pulled = client(
        ["pull", "alice/m", str(old), "--revision", made.oid], tmp_path, server=site.url, token=token
    )
    assert pulled.returncode == 0, pulled.stderr
    assert f"to {old} at {made.oid}" in pulled.stdout
    assert tree(old) == {"a.txt": b"one", "b.txt": b"two", "sub/c.bin": b"three"}

    tagged = client(["tag", "alice/m", "v1", "--revision", made.oid], tmp_path, server=site.url, token=token)
    assert tagged.returncode == 0 and f"Tagged {made.oid[:12]} of alice/m as v1." in tagged.stdout
    by_tag = tmp_path / "by-tag"
    assert (
        client(
            ["pull", "alice/m", str(by_tag), "--revision", "v1"], tmp_path, server=site.url, token=token
        ).returncode
        == 0
    )
    assert tree(by_tag) == tree(old)
    taken = client(["tag", "alice/m", "v1"], tmp_path, server=site.url, token=token)
    assert taken.returncode == EXIT_CODES["conflict"] and "already has a tag" in taken.stderr
    dropped = client(["tag", "alice/m", "v1", "--delete"], tmp_path, server=site.url, token=token)
    assert dropped.returncode == 0 and "Deleted the tag v1" in dropped.stdout

    missing = client(
        ["pull", "alice/m", str(tmp_path / "x"), "--revision", "v9"], tmp_path, server=site.url, token=token
    )
    assert missing.returncode == 1 and "This model has no such revision." in missing.stderr
    assert not (tmp_path / "x").exists()


@e2e
def test_log_lists_commits_newest_first(site: LiveServer, token: str, tmp_path: Path) -> None:
    source = folder(tmp_path / "m", {"a": b"1"})
    client(["push", str(source), "alice/m", "-m", "Add a"], tmp_path, server=site.url, token=token)
    (source / "b").write_bytes(b"2")
    (source / "c").write_bytes(b"3")
    client(["push", str(source), "alice/m", "-m", "Add b and c"], tmp_path, server=site.url, token=token)
    oids = list(Commit.objects.order_by("-created_at", "-pk").values_list("oid", flat=True))

    log = client(["log", "alice/m"], tmp_path, server=site.url, token=token)
    assert log.returncode == 0, log.stderr
    lines = log.stdout.splitlines()
    assert lines[0].startswith(oids[0][:12]) and "alice  2 files changed  Add b and c" in lines[0]
    assert lines[1].strip() == f"commit {oids[0]}"
    assert lines[2].startswith(oids[1][:12]) and "1 file changed  Add a" in lines[2]

    limited = client(["log", "alice/m", "--limit", "1", "--json"], tmp_path, server=site.url, token=token)
    page = json.loads(limited.stdout)
    assert [c["oid"] for c in page["items"]] == oids[:1] and page["next_cursor"] == oids[0]

    hidden = client(["log", "alice/nothing"], tmp_path, server=site.url, token=token)
    assert hidden.returncode == 1 and "No such model." in hidden.stderr


@e2e
def test_forget_removes_a_file_from_every_revision(site: LiveServer, token: str, tmp_path: Path) -> None:
    source = folder(tmp_path / "m", {"secret.key": b"oops", "w.bin": b"w"})
    client(["push", str(source), "alice/m"], tmp_path, server=site.url, token=token)
    (source / "secret.key").unlink()
    client(["push", "--delete", str(source), "alice/m"], tmp_path, server=site.url, token=token)

    declined = client(
        ["forget", "alice/m", "secret.key"], tmp_path, server=site.url, token=token, stdin="no\n"
    )
    assert declined.returncode == 1 and "nothing removed" in declined.stderr
    assert "removes secret.key from every revision of alice/m" in declined.stderr
    assert ModelFile.objects.filter(path_index__isnull=False).count() == 3

    confirmed = client(
        ["forget", "alice/m", "secret.key"], tmp_path, server=site.url, token=token, stdin="secret.key\n"
    )
    assert confirmed.returncode == 0 and "Removed secret.key from 1 revision of alice/m." in confirmed.stdout
    assert sorted(f.path for f in ModelFile.objects.all()) == ["w.bin", "w.bin"]

    again = client(["forget", "alice/m", "secret.key", "--yes"], tmp_path, server=site.url, token=token)
    assert again.returncode == 1 and "No revision of this model has a file at this path." in again.stderr
