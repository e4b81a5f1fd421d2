"""A product update in Chromium: written, previewed, tried, confirmed and sent from the console, then
one person unsubscribes through the email's link (the GET page's one button)."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path
from typing import Any

import pyotp
from playwright.sync_api import Page, expect

from candor.accounts.models import User
from candor.comms import actions, tasks
from candor.staff.models import StaffMember
from tests.browser.test_staff_console import _shoot
from tests.conftest import PASSWORD, make_user
from tests.staff.factory import make_staff


def _sent(site: Any) -> list[email.message.EmailMessage]:
    found = []
    for path in sorted(Path(site.mail_dir).glob("*.log")):
        for raw in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
            if raw.strip():
                found.append(email.message_from_bytes(raw.strip(), policy=email.policy.default))
    return found  # type: ignore[return-value]


def test_an_update_from_the_console_to_an_unsubscribe(page: Page, site: Any, tmp_path: Path) -> None:
    page.context.shots = tmp_path  # type: ignore[attr-defined]
    cora = make_staff("cora", ["communications"])
    make_user("pia")
    actions.publish_post(
        actions.save_post(None, title="Tagging, explained", summary="", body="x", acting_user=cora),
        acting_user=cora,
    )
    page.goto(site.url + "/staff/")
    page.get_by_label("Username or email").fill("cora")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Code").fill(pyotp.TOTP(str(StaffMember.objects.get(user=cora).totp_secret)).now())
    page.get_by_role("button", name="Continue").click()

    page.get_by_role("navigation", name="Staff console").get_by_role("link", name="Product updates").click()
    expect(page.get_by_role("heading", name="Product updates")).to_be_visible()
    _shoot(page, "updates-empty")
    page.get_by_role("link", name="Write an update").click()
    page.get_by_label("Subject").fill("Models can be tagged")
    page.get_by_label("Body (Markdown)").fill(
        "## Tags\n\nTag your models, and find others by tag. See [the API](/developers/api/).\n\n"
        "- up to 20 tags\n- searchable"
    )
    page.get_by_label("Point at a blog post").select_option(label="Tagging, explained")
    _shoot(page, "update-write")
    page.get_by_role("button", name="Save and preview").click()
    expect(page.get_by_role("heading", name="Preview")).to_be_visible()
    frame = page.frame_locator("iframe.email-preview")
    expect(frame.get_by_role("heading", name="Models can be tagged")).to_be_visible()
    expect(frame.get_by_role("link", name="Read more on our blog")).to_be_visible()
    expect(page.locator("pre.email-text")).to_contain_text("See the API (http")
    _shoot(page, "update-preview")

    page.get_by_role("button", name="Send a test to me").click()
    expect(page.get_by_text("A test copy is on its way")).to_be_visible()
    page.get_by_role("link", name="Send to everyone…").click()
    expect(page.locator("#audience")).to_have_text("2")
    _shoot(page, "update-confirm")
    page.get_by_role("button", name="Yes, send it to 2 accounts").click()
    expect(page.locator("#update-status")).to_have_text("being sent")
    tasks.pump(seconds=30, rate_per_minute=600_000)
    page.reload()
    expect(page.locator("#update-status")).to_have_text("sent")
    expect(page.get_by_text("2 of 2 emails dealt with")).to_be_visible()
    _shoot(page, "update-progress")
    page.get_by_role("link", name="Product updates").first.click()
    _shoot(page, "updates-list")

    to_pia = next(m for m in _sent(site) if m["To"] == "pia@example.org")
    link = re.search(r"<(https?://[^>]+/-/unsubscribe/[^>]+)>", to_pia["List-Unsubscribe"])
    assert link is not None
    visitor = page.context.browser.new_page()  # type: ignore[union-attr]
    visitor.context.shots = tmp_path  # type: ignore[attr-defined]
    visitor.goto(link.group(1))
    expect(visitor.get_by_role("heading", name="Unsubscribe from product updates")).to_be_visible()
    _shoot(visitor, "unsubscribe-ask")
    assert actions.preferences_of(User.objects.named("pia").get()).product_updates
    visitor.get_by_role("button", name="Unsubscribe").click()
    expect(visitor.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    _shoot(visitor, "unsubscribe-done")
    assert not actions.preferences_of(User.objects.named("pia").get()).product_updates
    visitor.goto(link.group(1)[:-6] + "AAAAA/")
    expect(visitor.get_by_role("heading", name="This unsubscribe link does not work")).to_be_visible()
    _shoot(visitor, "unsubscribe-invalid")
    visitor.close()
