"""The public blog: the list in pages, a post at its address, the Atom feed, the sitemap, the footer
link; drafts are 404 to everyone on the public addresses; hostile Markdown in a post (the card corpus)
is neutralised on the page and in the feed; a product update links its post only once it is published."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from candor.comms import actions, posts
from candor.comms.models import Post
from candor.kernel.refusal import Code, Refusal
from candor.lifecycle import erasure
from tests.conftest import deliver_on_commit, make_user
from tests.hub.test_web import ALLOWED_URL, HOSTILE
from tests.staff.console_client import staff_client

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def writer() -> Any:
    return make_user("writer", staff=True)


def _post(writer: Any, title: str, *, body: str = "Some **text**.", publish: bool = True, **kw: Any) -> Post:
    post = actions.save_post(None, title=title, summary=kw.get("summary", ""), body=body, acting_user=writer)
    if publish:
        post = actions.publish_post(post, acting_user=writer)
    if "published_at" in kw:
        Post.objects.filter(pk=post.pk).update(published_at=kw["published_at"])
        post.refresh_from_db()
    return post


def test_the_list_shows_published_posts_newest_first_in_pages(writer: Any, settings: Any) -> None:
    settings.BLOG_POSTS_PER_PAGE = 2
    now = timezone.now()
    for age, title in enumerate(["Fourth", "Third", "Second", "First"]):
        _post(writer, title, published_at=now - timedelta(days=age))
    _post(writer, "Unfinished draft", publish=False)
    first = Client().get("/blog/")
    assert first.status_code == 200
    titles = re.findall(r'<h2><a href="/blog/[\w-]+/">([^<]+)</a></h2>', first.content.decode())
    assert titles == ["Fourth", "Third"]
    assert b'rel="next"' in first.content and b"Unfinished draft" not in first.content
    second = Client().get("/blog/?page=2").content.decode()
    assert re.findall(r'<h2><a href="/blog/[\w-]+/">([^<]+)</a></h2>', second) == ["Second", "First"]
    assert "Unfinished draft" not in second


@pytest.mark.parametrize("page", ["3", "0", "-1", "two", "9" * 40])
def test_a_page_that_does_not_exist_is_a_clear_404(writer: Any, settings: Any, page: str) -> None:
    settings.BLOG_POSTS_PER_PAGE = 2
    for title in ("One", "Two", "Three"):
        _post(writer, title)
    answer = Client().get("/blog/", {"page": page})
    assert answer.status_code == 404
    text = answer.content.decode()
    assert "of the blog: it has 2 pages." in text and 'href="/blog/"' in text


def test_an_empty_blog_says_so() -> None:
    answer = Client().get("/blog/")
    assert answer.status_code == 200 and b"Nothing has been posted yet." in answer.content


def test_a_post_is_at_its_address_with_its_body_rendered_under_its_title(writer: Any) -> None:
    post = _post(writer, "Hello world", summary="A first post.", body="# Heading\n\nSome *words*.")
    assert post.slug == "hello-world"
    page = Client().get("/blog/hello-world/").content.decode()
    assert '<h1 id="post-title">Hello world</h1>' in page
    assert "<h2>Heading</h2>" in page and "<em>words</em>" in page  # headings shifted under the h1
    assert "A first post." in page
    assert f'datetime="{post.published_at.isoformat()}"' in page  # type: ignore[union-attr]


def test_a_draft_is_404_to_everyone_on_its_public_address(writer: Any) -> None:
    draft = _post(writer, "Secret plans", publish=False)
    absent = Client().get("/blog/never-written/")
    people = [Client(), Client(HTTP_USER_AGENT="Googlebot/2.1")]
    signed_in = Client()
    signed_in.force_login(make_user("reader"))
    people.append(signed_in)
    people.append(staff_client(writer))  # the author too: staff read drafts in the console
    for client in people:
        answer = client.get(f"/blog/{draft.slug}/")
        assert answer.status_code == 404
        assert b"Secret plans" not in answer.content
    assert Client().get(f"/blog/{draft.slug}/").content == absent.content  # a draft looks absent
    feed = Client().get("/blog/feed.atom").content
    sitemap = Client().get("/sitemap.xml").content
    assert draft.slug.encode() not in feed and draft.slug.encode() not in sitemap


def test_an_unpublished_post_leaves_every_public_place(writer: Any) -> None:
    post = _post(writer, "Short lived")
    assert Client().get("/blog/short-lived/").status_code == 200
    actions.unpublish_post(post, acting_user=writer)
    assert Client().get("/blog/short-lived/").status_code == 404
    assert b"Short lived" not in Client().get("/blog/").content
    assert b"short-lived" not in Client().get("/blog/feed.atom").content


def test_the_feed_is_atom_with_each_post_and_advertised_on_blog_pages(writer: Any) -> None:
    _post(writer, "Older", body="old", published_at=timezone.now() - timedelta(days=3))
    _post(writer, "Newer", body="A **bold** claim.")
    answer = Client().get("/blog/feed.atom")
    assert answer["Content-Type"].startswith("application/atom+xml")
    feed = ET.fromstring(answer.content)  # noqa: S314 - our own output
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == ["Newer", "Older"]
    newer = entries[0]
    assert newer.find(f"{ATOM}link").get("href").endswith("/blog/newer/")  # type: ignore[union-attr]
    assert "<strong>bold</strong>" in (newer.findtext(f"{ATOM}summary") or "")
    assert newer.findtext(f"{ATOM}author/{ATOM}name") == "Candor"  # the platform, never the writer
    assert b"writer" not in answer.content
    link = '<link rel="alternate" type="application/atom+xml" title="Candor blog" href="/blog/feed.atom">'
    for path in ("/blog/", "/blog/newer/", "/blog/?page=9"):
        assert link in Client().get(path).content.decode(), path


def test_the_feed_resolves_a_posts_relative_links_against_the_site(writer: Any, settings: Any) -> None:
    settings.WEBSITE_URL = "https://candor.example"
    _post(writer, "Linked", body="See [the models](/models/).")
    feed = ET.fromstring(Client().get("/blog/feed.atom").content)  # noqa: S314 - our own output
    assert feed.get("{http://www.w3.org/XML/1998/namespace}base") == "https://candor.example/"
    assert 'href="/models/"' in (feed.findtext(f"{ATOM}entry/{ATOM}summary") or "")


def test_a_writer_who_is_erased_leaves_the_post_unsigned(writer: Any) -> None:
    post = _post(writer, "Stays")
    erasure.erase_account(writer.pk)
    post.refresh_from_db()
    assert post.author is None and Client().get("/blog/stays/").status_code == 200


def test_the_feed_and_the_pages_refuse_writes() -> None:
    for path in ("/blog/", "/blog/feed.atom", "/blog/anything/"):
        assert Client().post(path).status_code == 405, path


def test_published_posts_are_in_the_sitemap(writer: Any) -> None:
    _post(writer, "Mapped")
    sitemap = Client().get("/sitemap.xml").content.decode()
    assert re.search(r"<loc>[^<]*/blog/mapped/</loc>", sitemap)


def test_the_footer_links_the_blog() -> None:
    for path in ("/", "/models/", "/privacy/"):
        assert '<a href="/blog/">Blog</a>' in Client().get(path).content.decode(), path


def test_blog_pages_may_be_kept_by_caches_for_anonymous_visitors(writer: Any) -> None:
    _post(writer, "Cached")
    for path in ("/blog/", "/blog/cached/", "/blog/feed.atom"):
        answer = Client().get(path)
        assert answer["Cache-Control"] == "no-cache", path  # kept, revalidated: not private
        assert "Set-Cookie" not in answer.headers, path
    reader = Client()
    reader.force_login(make_user("reader"))
    assert "private" in reader.get("/blog/cached/")["Cache-Control"]  # a signed-in page: theirs


# --- Hostile Markdown: the model cards' corpus, through a post --------------------------------------

FORBIDDEN_TAGS = {"script", "iframe", "object", "embed", "svg", "math", "form", "input", "meta", "base",
                  "style", "link", "frame", "frameset", "video", "audio", "source"}  # fmt: skip


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))


def _assert_harmless(html: str, where: str) -> None:
    parser = _Elements()
    parser.feed(html)
    for tag, attrs in parser.elements:
        assert tag not in FORBIDDEN_TAGS, (where, tag, html)
        for name, value in attrs:
            assert not name.startswith("on") and name != "style", (where, name, html)
            if name in ("href", "src"):
                assert value is not None and ALLOWED_URL.match(value.strip()), (where, value)
                assert not value.strip().lower().startswith(("javascript:", "data:", "vbscript:"))
            if tag == "img" and name == "src":  # only this site's own images
                assert value and value.startswith("/") and not value.startswith("//"), (where, value)


def _article(page: str) -> str:
    start = page.index('<article class="post"')
    return page[start : page.index("</article>", start)]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_markdown_in_a_post_is_neutralised_on_its_page_and_in_the_feed(
    writer: Any, hostile: str
) -> None:
    _post(writer, "Hostile", summary="<script>alert(1)</script>", body=f"Before.\n\n{hostile}\n\nAfter.")
    page = Client().get("/blog/hostile/").content.decode()
    article = _article(page)
    _assert_harmless(article, "page")
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in article  # the summary is text, escaped
    entry = ET.fromstring(Client().get("/blog/feed.atom").content).find(f"{ATOM}entry")  # noqa: S314
    assert entry is not None
    summary = entry.findtext(f"{ATOM}summary") or ""  # the post's HTML, as a feed reader gets it
    _assert_harmless(summary, "feed")
    assert "<script" not in summary.lower() and "After." in summary


def test_the_whole_corpus_in_one_post_keeps_nothing_external(writer: Any) -> None:
    _post(writer, "All at once", body="\n\n".join(HOSTILE))
    article = _article(Client().get("/blog/all-at-once/").content.decode())
    _assert_harmless(article, "page")
    assert "tracker.example" not in re.sub(r'href="[^"]*"', "", article)  # no external image or embed
    assert "evil.example" not in re.sub(r'href="[^"]*"', "", article)


def test_the_sanitiser_keeps_own_images_and_ordinary_links(writer: Any) -> None:
    _post(writer, "Fine", body="![chart](/static/candor/chart.png) [docs](https://example.org/docs)")
    article = _article(Client().get("/blog/fine/").content.decode())
    assert '<img src="/static/candor/chart.png" alt="chart">' in article
    assert 'href="https://example.org/docs"' in article and 'rel="nofollow noopener noreferrer"' in article


# --- The actions' refusals ---------------------------------------------------------------------------


def test_save_post_refuses_what_it_cannot_use_and_keeps_the_stored_post(writer: Any) -> None:
    post = _post(writer, "Kept", body="kept body")
    other = _post(writer, "Other")
    cases = [
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"summary": "s" * 401}, "summary"),
        ({"slug": "!!!"}, "slug"),
        ({"slug": other.slug}, "slug"),
    ]
    for change, field in cases:
        data = {"title": "Changed", "summary": "", "body": "changed", "slug": "", **change}
        with pytest.raises(Refusal) as refused:
            actions.save_post(post, acting_user=writer, **data)
        assert field in refused.value.fields, change
    assert refused.value.code == Code.CONFLICT
    post.refresh_from_db()
    assert (post.title, post.body, post.slug) == ("Kept", "kept body", "kept")


def test_a_new_post_takes_a_unique_address_from_its_title_and_keeps_it(writer: Any) -> None:
    one, two = _post(writer, "Same title"), _post(writer, "Same title")
    assert (one.slug, two.slug) == ("same-title", "same-title-2")
    renamed = actions.save_post(one, title="Another title", summary="", body="", acting_user=writer)
    assert renamed.slug == "same-title"  # a saved post keeps its address unless told
    moved = actions.save_post(one, title="x", summary="", body="", slug="New Home", acting_user=writer)
    assert moved.slug == "new-home" and Client().get("/blog/new-home/").status_code == 200


def test_republishing_keeps_the_first_date(writer: Any) -> None:
    post = _post(writer, "Dated", published_at=timezone.now() - timedelta(days=30))
    first = post.published_at
    actions.unpublish_post(post, acting_user=writer)
    assert actions.publish_post(post, acting_user=writer).published_at == first
    assert posts.published_post("dated") is not None


# --- A product update that points at a post ----------------------------------------------------------


def _test_copy_text(writer: Any, post: Post) -> str:
    update = actions.save_update(None, subject="News", body="See the post.", post=post, acting_user=writer)
    actions.send_test(update, acting_user=writer)
    deliver_on_commit()
    message = mail.outbox[-1]
    html = message.alternatives[0][0]  # type: ignore[attr-defined]
    return f"{message.body}\n{html}"


def test_an_update_links_its_post_once_published_and_never_a_draft(writer: Any, settings: Any) -> None:
    settings.WEBSITE_URL = "https://candor.example"
    post = _post(writer, "The details", publish=False)
    draft_mail = _test_copy_text(writer, post)
    assert "/blog/the-details/" not in draft_mail and "Read more on our blog" not in draft_mail
    actions.publish_post(post, acting_user=writer)
    published_mail = _test_copy_text(writer, post)
    assert "Read more on our blog: https://candor.example/blog/the-details/" in published_mail
    assert '<a href="https://candor.example/blog/the-details/">Read more on our blog</a>' in published_mail
    actions.unpublish_post(post, acting_user=writer)
    assert "/blog/the-details/" not in _test_copy_text(writer, post)
