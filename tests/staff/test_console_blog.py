"""The console's blog pages: who may reach them, writing with a preview that saves nothing, publishing,
unpublishing and deleting after a confirmation, each action audited; bad input shown in the form with
nothing stored changed."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from candor.comms import actions
from candor.comms.choices import PostStatus
from candor.comms.models import Post
from candor.privacy.audit import EventType
from candor.privacy.models import AuditEvent
from tests.conftest import make_user
from tests.staff.console_client import staff_client
from tests.staff.factory import make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def writer() -> Any:
    return make_staff("wren", ["communications"])


def _private(answer: Any) -> None:
    assert "no-store" in answer["Cache-Control"] and "private" in answer["Cache-Control"]
    assert "noindex" in answer["X-Robots-Tag"]


def _pages(slug: str) -> list[str]:
    base = f"/staff/blog/posts/{slug}/"
    return ["/staff/blog/", "/staff/blog/new/", base, base + "preview/", base + "delete/"]


def test_writers_reach_every_page_privately_and_the_nav_links_the_blog(writer: Any) -> None:
    post = actions.save_post(None, title="Draft", summary="", body="x", acting_user=writer)
    admin = make_staff("ada", ["administrator"])
    for user in (writer, admin):
        client = staff_client(user)
        for path in _pages(post.slug):
            answer = client.get(path)
            assert answer.status_code == 200, (user, path)
            _private(answer)
        assert b'href="/staff/blog/">Blog</a>' in client.get("/staff/").content


def test_other_staff_roles_are_refused_and_not_shown_the_link() -> None:
    support = make_staff("sue", ["support"])
    post = actions.save_post(None, title="Draft", summary="", body="x", acting_user=support)
    client = staff_client(support)
    for path in _pages(post.slug):
        answer = client.get(path)
        assert answer.status_code == 403, path
        assert b"communications or administrator role" in answer.content
    for path in (f"/staff/blog/posts/{post.slug}/publish/", f"/staff/blog/posts/{post.slug}/delete/"):
        assert client.post(path).status_code == 403
    assert Post.objects.get().status == PostStatus.DRAFT
    assert b'href="/staff/blog/"' not in client.get("/staff/").content


def test_outsiders_find_nothing_and_visitors_are_sent_to_log_in(writer: Any) -> None:
    post = actions.save_post(None, title="Draft", summary="", body="x", acting_user=writer)
    person = Client()
    person.force_login(make_user("pat", staff=True))  # is_staff but no staff record
    for path in _pages(post.slug):
        assert person.get(path).status_code == 404
        assert Client().get(path).status_code == 302
    unverified = staff_client(writer, verified=False)
    assert unverified.get("/staff/blog/")["Location"].startswith("/staff/verify/")


def test_write_preview_save_publish_unpublish_delete(writer: Any) -> None:
    client = staff_client(writer)
    typed = {
        "title": "Launch day",
        "slug": "",
        "summary": "It is here.",
        "body": "# Big\n\n<script>x</script>ok",
    }
    preview = client.post("/staff/blog/new/", {**typed, "action": "preview"})
    assert preview.status_code == 200 and not Post.objects.exists()  # a preview saves nothing
    page = preview.content.decode()
    assert "Preview (not saved)" in page and "<h2>Big</h2>" in page and "<script>x" not in page
    assert 'value="Launch day"' in page  # the typed text is still in the form

    saved = client.post("/staff/blog/new/", {**typed, "action": "save"})
    post = Post.objects.get()
    assert saved["Location"] == f"/staff/blog/posts/{post.slug}/" and post.slug == "launch-day"
    assert post.status == PostStatus.DRAFT and post.author == writer
    assert Client().get("/blog/launch-day/").status_code == 404
    stored = client.get("/staff/blog/posts/launch-day/preview/").content.decode()
    assert "<h2>Big</h2>" in stored and "only staff see this preview" in stored

    published = client.post("/staff/blog/posts/launch-day/publish/", follow=True)
    assert b"The post is published" in published.content
    assert Client().get("/blog/launch-day/").status_code == 200

    changed = client.post(
        "/staff/blog/posts/launch-day/", {**typed, "title": "Launch day!", "slug": "launch", "action": "save"}
    )
    assert changed["Location"] == "/staff/blog/posts/launch/"
    assert b"Launch day!" in Client().get("/blog/launch/").content

    client.post("/staff/blog/posts/launch/unpublish/")
    assert Client().get("/blog/launch/").status_code == 404

    confirm = client.get("/staff/blog/posts/launch/delete/")
    assert b"Delete this post" in confirm.content and Post.objects.exists()  # a GET deletes nothing
    gone = client.post("/staff/blog/posts/launch/delete/")
    assert gone["Location"] == "/staff/blog/" and not Post.objects.exists()
    assert client.get("/staff/blog/posts/launch/").status_code == 404

    kinds = list(
        AuditEvent.objects.filter(event_type__gte=641, event_type__lte=659).values_list(
            "event_type", flat=True
        )
    )
    assert sorted(kinds) == sorted(
        [
            EventType.POST_SAVED,
            EventType.POST_PUBLISHED,
            EventType.POST_SAVED,
            EventType.POST_UNPUBLISHED,
            EventType.POST_DELETED,
        ]
    )


def test_the_list_shows_drafts_and_published_posts(writer: Any) -> None:
    draft = actions.save_post(None, title="Half written", summary="", body="", acting_user=writer)
    live = actions.publish_post(
        actions.save_post(None, title="Out there", summary="", body="", acting_user=writer),
        acting_user=writer,
    )
    page = staff_client(writer).get("/staff/blog/").content.decode()
    assert "Half written" in page and "Out there" in page
    assert page.index("Half written") < page.index("Out there")  # drafts first
    assert f"/staff/blog/posts/{draft.slug}/" in page and f"/staff/blog/posts/{live.slug}/" in page


def test_bad_input_is_shown_in_the_form_and_changes_nothing(writer: Any) -> None:
    client = staff_client(writer)
    kept = actions.save_post(None, title="Kept", summary="", body="kept", acting_user=writer)
    actions.save_post(None, title="Taken", summary="", body="", acting_user=writer)
    for data, words in (
        ({"title": "", "body": "x"}, "This field is required."),
        ({"title": "New", "slug": "taken", "body": "x"}, "Another post already has this address."),
        ({"title": "New", "slug": "???", "body": "x"}, "An address is made of letters, digits and hyphens."),
        ({"title": "t" * 201, "body": "x"}, "at most 200 characters"),
    ):
        answer = client.post("/staff/blog/posts/kept/", {"summary": "", "action": "save", **data})
        assert answer.status_code == 400, data
        assert words in answer.content.decode(), data
    kept.refresh_from_db()
    assert (kept.title, kept.body, kept.slug) == ("Kept", "kept", "kept")
    assert Post.objects.count() == 2


def test_unknown_posts_are_404_in_the_console(writer: Any) -> None:
    client = staff_client(writer)
    assert client.get("/staff/blog/posts/nothing-here/").status_code == 404
    assert client.post("/staff/blog/posts/nothing-here/publish/").status_code == 404
    assert client.get("/staff/blog/posts/nothing-here/publish/").status_code == 405
