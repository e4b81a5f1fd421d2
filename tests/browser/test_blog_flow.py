"""The blog in Chromium: a member of staff writes a post in the console, previews it, saves and
publishes it; a visitor finds it on /blog/ and at its address at 1280 and 390 px, with the feed
advertised; a post of hostile Markdown runs nothing and makes the browser contact no other site."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyotp
from playwright.sync_api import Browser, Dialog, Page, expect

from candor.comms import actions
from candor.staff.models import StaffMember
from tests.conftest import PASSWORD
from tests.hub.test_web import HOSTILE
from tests.staff.factory import make_staff

SHOTS_DIR = "CANDOR_SCREENSHOT_DIR"  # set it to keep the screenshots and look at them


def _shoot(page: Page, folder: Path, name: str) -> None:
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)
        # Nothing is wider than the window: no sideways scrolling on a phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
    page.set_viewport_size({"width": 1280, "height": 900})


def _feed_advertised(page: Page) -> None:
    feed = page.locator('head link[rel="alternate"][type="application/atom+xml"]')
    expect(feed).to_have_attribute("href", "/blog/feed.atom")


def test_write_publish_and_read_a_post(page: Page, browser: Browser, site: Any, tmp_path: Path) -> None:
    shots = Path(os.environ.get(SHOTS_DIR) or tmp_path)
    writer = make_staff("wren", ["communications"])
    page.goto(site.url + "/staff/")
    page.get_by_label("Username or email").fill("wren")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Code").fill(pyotp.TOTP(str(StaffMember.objects.get(user=writer).totp_secret)).now())
    page.get_by_role("button", name="Continue").click()

    page.get_by_role("navigation", name="Staff console").get_by_role("link", name="Blog").click()
    expect(page.get_by_role("heading", name="Blog posts")).to_be_visible()
    page.get_by_role("link", name="Write a post").click()
    page.get_by_label("Title").fill("Faster downloads for everyone")
    page.get_by_label("Summary (optional)").fill("Files now come in ranges, so a broken download resumes.")
    body = (
        "Large model files used to start again from the beginning when a connection dropped.\n\n"
        "## What changed\n\nEvery file answers **byte ranges**, so `huggingface_hub` and browsers resume "
        "where they stopped.\n\n| Client | Resumes |\n|---|---|\n| browser | yes |\n| CLI | yes |\n\n"
        "```sh\ncandor pull alice/tiny-resnet\n```\n"
    )
    page.get_by_label("Text (Markdown)").fill(body)
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name="Preview (not saved)")).to_be_visible()
    expect(page.locator(".preview-frame h3", has_text="What changed")).to_be_visible()
    _shoot(page, shots, "blog-console-preview")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("The draft is saved.")).to_be_visible()
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_text("The post is published")).to_be_visible()
    _shoot(page, shots, "blog-console-edit")
    page.get_by_role("link", name="Preview the saved post").click()
    expect(page.get_by_text("this is what everyone sees")).to_be_visible()
    _shoot(page, shots, "blog-console-saved-preview")
    page.get_by_role("link", name="Back to editing").click()
    page.get_by_role("link", name="Delete…").click()
    expect(page.get_by_role("button", name="Delete this post")).to_be_visible()
    _shoot(page, shots, "blog-console-delete")
    page.get_by_role("link", name="Cancel").click()
    page.get_by_role("navigation", name="Staff console").get_by_role("link", name="Blog").click()
    _shoot(page, shots, "blog-console-list")

    visitor = browser.new_page()
    visitor.goto(site.url + "/")
    visitor.get_by_role("contentinfo").get_by_role("link", name="Blog").click()
    expect(visitor.get_by_role("heading", name="Blog", level=1)).to_be_visible()
    _feed_advertised(visitor)
    _shoot(visitor, shots, "blog-list")
    visitor.get_by_role("link", name="Faster downloads for everyone").click()
    expect(visitor.get_by_role("heading", name="Faster downloads for everyone", level=1)).to_be_visible()
    expect(visitor.get_by_role("heading", name="What changed", level=3)).to_be_visible()
    expect(visitor.locator("article.post time")).to_have_count(1)
    _feed_advertised(visitor)
    assert visitor.locator("h1").count() == 1
    _shoot(visitor, shots, "blog-post")
    visitor.goto(site.url + "/blog/?page=4")
    expect(visitor.get_by_text("There is no page '4' of the blog: it has 1 page.")).to_be_visible()
    _shoot(visitor, shots, "blog-missing-page")
    visitor.goto(site.url + "/blog/feed.atom")
    assert "Faster downloads for everyone" in (visitor.content())
    visitor.close()


def test_a_hostile_post_runs_nothing_and_loads_nothing_from_elsewhere(page: Page, site: Any) -> None:
    writer = make_staff("wren", ["communications"])
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    post = actions.save_post(
        None,
        title="Hostile",
        summary="<img src=x onerror=alert(1)>",
        body="\n\n".join(HOSTILE),
        acting_user=writer,
    )
    actions.publish_post(post, acting_user=writer)
    page.goto(site.url + "/blog/hostile/")
    expect(page.get_by_role("heading", name="Hostile", level=1)).to_be_visible()
    for link in page.locator("article.post a").all():
        href = link.get_attribute("href") or ""
        assert not href.lower().startswith(("javascript:", "data:", "vbscript:")), href
    assert (
        page.locator(
            "article.post iframe, article.post embed, article.post object, article.post script"
        ).count()
        == 0
    )
    page.locator("article.post").hover()
    page.locator("article.post details").first.click() if page.locator(
        "article.post details"
    ).count() else None
    page.wait_for_timeout(300)
    assert dialogs == []
    assert all(url.startswith(site.url) for url in requested), requested
