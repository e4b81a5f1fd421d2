"""The website's revisions: the History page, a commit's page, downloads at a revision, and the owner's
"Remove from history" with its confirmation page; each refusal with its message."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from candor.accounts.models import User
from candor.hub import actions, revisions
from candor.hub.models import Commit, ModelFile
from candor.kernel.refusal import Code, Refusal
from tests.api.conftest import publish

pytestmark = pytest.mark.django_db

BASE = "/alice/tiny"


def content(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else bytes(response.content)


@pytest.fixture
def history(owner: User) -> dict[str, Any]:
    """Three commits: two files added, one changed, one deleted."""
    model = publish(owner, "tiny")
    actions.add_file(model, "config.json", [b'{"v": 1}'], acting_user=owner, message="Add the config")
    actions.add_file(model, "weights.bin", [b"weights-1"], acting_user=owner, message="Add weights")
    actions.add_file(model, "weights.bin", [b"weights-2"], acting_user=owner, message="Better weights")
    actions.delete_file(model, "config.json", acting_user=owner, message="Drop the config")
    commits = list(revisions.history(model))
    return {"model": model, "commits": commits}


def test_the_model_page_links_its_history(client: Client, history: dict[str, Any]) -> None:
    page = client.get(f"{BASE}/").content.decode()
    head = history["commits"][0]
    assert f'href="{BASE}/commits/"' in page and ">History</a>" in page
    assert f'href="{BASE}/commit/{head.oid}/"' in page and "Drop the config" in page


def test_history_lists_commits_newest_first_with_their_changes(
    client: Client, history: dict[str, Any]
) -> None:
    response = client.get(f"{BASE}/commits/")
    assert response.status_code == 200 and "X-Robots-Tag" not in response
    page = response.content.decode()
    messages = ["Drop the config", "Better weights", "Add weights", "Add the config"]
    positions = [page.index(m) for m in messages]
    assert positions == sorted(positions), "newest first"
    for commit in history["commits"]:
        assert f'href="{BASE}/commit/{commit.oid}/"' in page and commit.oid[:12] in page
    assert '<span class="change change-deleted">deleted</span> <span class="path">config.json</span>' in page
    assert (
        '<span class="change change-modified">modified</span> <span class="path">weights.bin</span>' in page
    )
    assert page.count('<span class="change change-added">added</span>') == 2
    assert page.count('<span class="author">alice</span>') == 4, "each commit names its author"


def test_history_is_paged(client: Client, owner: User) -> None:
    model = publish(owner, "tiny")
    for number in range(23):
        actions.add_file(
            model, "n.txt", [str(number).encode()], acting_user=owner, message=f"Step {number:02}"
        )
    first = client.get(f"{BASE}/commits/").content.decode()
    assert "Step 22" in first and "Step 03" in first and "Step 02" not in first
    assert 'href="?page=2"' in first
    second = client.get(f"{BASE}/commits/", {"page": 2}).content.decode()
    assert "Step 02" in second and "Step 00" in second and "Step 03" not in second


def test_a_commit_page_shows_its_changes_and_its_tree_at_that_revision(
    client: Client, history: dict[str, Any]
) -> None:
    middle = next(c for c in history["commits"] if c.message == "Better weights")
    page = client.get(f"{BASE}/commit/{middle.oid}/").content.decode()
    assert "<h1>Better weights</h1>" in page and middle.oid in page
    assert (
        '<span class="change change-modified">modified</span> <span class="path">weights.bin</span>' in page
    )
    # Its tree: both files as they were then, each downloadable at this revision.
    assert f'href="{BASE}/resolve/{middle.oid}/config.json"' in page
    assert f'href="{BASE}/resolve/{middle.oid}/weights.bin"' in page
    assert "Remove from history" not in page, "the owner's action is for the owner only"
    assert content(client.get(f"{BASE}/resolve/{middle.oid}/config.json")) == b'{"v": 1}'
    older = next(c for c in history["commits"] if c.message == "Add weights")
    assert content(client.get(f"{BASE}/resolve/{older.oid}/weights.bin")) == b"weights-1"
    assert content(client.get(f"{BASE}/resolve/main/weights.bin")) == b"weights-2"


def test_unknown_revisions_and_files_of_other_revisions_answer_404_with_a_reason(
    client: Client, history: dict[str, Any]
) -> None:
    # A browser asks for HTML: the site's page answers (other clients get the Hugging Face protocol's).
    client.defaults["HTTP_ACCEPT"] = "text/html"
    unknown = client.get(f"{BASE}/resolve/v7/weights.bin")
    assert unknown.status_code == 404 and "This model has no such revision." in unknown.content.decode()
    elsewhere = client.get(f"{BASE}/resolve/main/config.json")
    assert elsewhere.status_code == 404
    assert "other revisions have it (see its history)" in elsewhere.content.decode()
    assert f'href="{BASE}/commits/"' in elsewhere.content.decode()
    never = client.get(f"{BASE}/resolve/main/never.bin")
    assert never.status_code == 404 and "There is no file at this path." in never.content.decode()
    commit = client.get(f"{BASE}/commit/{'f' * 40}/")
    assert commit.status_code == 404 and "This model has no such commit." in commit.content.decode()
    assert client.get(f"{BASE}/commit/not-an-id/").status_code == 404


def test_hidden_models_history_is_not_found_and_unlisted_is_noindex(
    client: Client, owner: User, owner_client: Client
) -> None:
    private = publish(owner, "hidden", visibility="private")
    actions.add_file(private, "f", [b"x"], acting_user=owner)
    oid = private.head.oid
    for path in ("commits/", f"commit/{oid}/", f"resolve/{oid}/f"):
        assert client.get(f"/alice/hidden/{path}").status_code == 404
        assert owner_client.get(f"/alice/hidden/{path}").status_code == 200
    unlisted = publish(owner, "quiet", visibility="unlisted")
    actions.add_file(unlisted, "f", [b"x"], acting_user=owner)
    for path in ("commits/", f"commit/{unlisted.head.oid}/", "resolve/main/f"):
        answer = client.get(f"/alice/quiet/{path}")
        assert answer.status_code == 200 and answer["X-Robots-Tag"] == "noindex"
    missing = client.get("/alice/quiet/resolve/v9/f")
    assert missing.status_code == 404 and missing["X-Robots-Tag"] == "noindex"


def test_remove_from_history_asks_then_removes_from_every_revision(
    owner_client: Client, history: dict[str, Any]
) -> None:
    model = history["model"]
    page = owner_client.get(f"{BASE}/").content.decode()
    assert f'action="{BASE}/remove-from-history/"' in page
    old = history["commits"][-1]
    assert "Remove from history" in owner_client.get(f"{BASE}/commit/{old.oid}/").content.decode()

    asked = owner_client.post(f"{BASE}/remove-from-history/", {"path": "config.json"})
    assert asked.status_code == 200 and asked["X-Robots-Tag"] == "noindex"
    text = asked.content.decode()
    assert '<strong class="path">config.json</strong>' in text and "3 revisions hold it" in text
    assert ModelFile.objects.filter(model=model).count() == 6, "asking removes nothing"

    done = owner_client.post(
        f"{BASE}/remove-from-history/", {"path": "config.json", "confirm": "yes"}, follow=True
    )
    assert "config.json is removed from 3 revisions, for good." in done.content.decode()
    assert sorted(f.path for f in ModelFile.objects.filter(model=model)) == ["weights.bin"] * 3
    assert Commit.objects.filter(model=model).count() == 4, "the commits stay, without the file"
    gone = owner_client.get(f"{BASE}/resolve/{old.oid}/config.json")
    assert gone.status_code == 404 and "There is no file at this path." in gone.content.decode()

    again = owner_client.post(f"{BASE}/remove-from-history/", {"path": "config.json"}, follow=True)
    assert "No revision of this model has a file at this path." in again.content.decode()


def test_only_the_owner_removes_from_history(member: User, history: dict[str, Any]) -> None:
    other = Client()
    other.force_login(member)
    refused = other.post(f"{BASE}/remove-from-history/", {"path": "weights.bin", "confirm": "yes"})
    assert refused.status_code == 403
    assert revisions.revisions_holding(history["model"], "weights.bin") == 3
    assert Client().post(f"{BASE}/remove-from-history/", {"path": "weights.bin"}).status_code == 302
    assert other.get(f"{BASE}/remove-from-history/").status_code == 405


def test_a_batch_names_its_bad_path(owner: User) -> None:
    """Callers other than the API (which checks paths in its schema) are told which path is wrong."""
    model = publish(owner, "tiny")
    blob = actions.store_blob(model, [b"x"])
    with pytest.raises(Refusal) as refused:
        actions.commit_changes(
            model,
            [
                {"op": "put", "path": "ok", "sha256": blob.sha256},
                {"op": "put", "path": "a//b", "sha256": blob.sha256},
            ],
            acting_user=owner,
        )
    assert refused.value.code == Code.INVALID_FIELDS and "'a//b'" in refused.value.message
    assert refused.value.fields["path"]
    assert not Commit.objects.filter(model=model).exists(), "nothing of the batch is stored"
