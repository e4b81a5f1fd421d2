"""The demo's blog: three published posts on /blog/ and in the feed, one draft seen only in the console,
and a second run that adds nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from candor.accounts.models import User
from candor.comms import posts
from candor.comms.models import Post
from candor.web.demo import DEMO_POSTS, demo_blog, load_demo_data
from tests.staff.console_client import staff_client

pytestmark = pytest.mark.django_db


def test_the_demo_blog_has_published_posts_and_a_draft() -> None:
    load_demo_data()
    published = [slug for slug, *_, is_published in DEMO_POSTS if is_published]
    drafts = [slug for slug, *_, is_published in DEMO_POSTS if not is_published]
    assert len(published) == 3 and len(drafts) == 1
    assert [p.slug for p in posts.published()] == list(reversed(published))  # newest first
    blog = Client().get("/blog/").content.decode()
    feed = Client().get("/blog/feed.atom").content.decode()
    for slug in published:
        assert f'href="/blog/{slug}/"' in blog and f"/blog/{slug}/" in feed
        assert Client().get(f"/blog/{slug}/").status_code == 200
    draft = drafts[0]
    assert draft not in blog and draft not in feed
    assert Client().get(f"/blog/{draft}/").status_code == 404
    dana = User.objects.by_username("dana")
    assert dana is not None
    assert staff_client(dana).get(f"/staff/blog/posts/{draft}/preview/").status_code == 200

    before = sorted(Post.objects.values_list("slug", "status", "updated_at"))
    demo_blog()
    load_demo_data()  # a second run adds nothing and changes nothing
    assert sorted(Post.objects.values_list("slug", "status", "updated_at")) == before
