"""The staff console in Chromium: sign in, second factor, agreement, find, ask, approve, reveal, end."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyotp
from playwright.sync_api import Browser, Page, expect

from candor.staff.models import AccessEntry, Grant, StaffMember
from tests.conftest import PASSWORD, make_user
from tests.staff.factory import agreement, make_staff

# Screenshots at both widths go to the test's own folder, or to CANDOR_SCREENSHOT_DIR to look at them.
SHOTS_DIR = "CANDOR_SCREENSHOT_DIR"


def _log_in(page: Page, site: Any, username: str) -> None:
    page.goto(site.url + "/staff/")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def _shoot(page: Page, name: str) -> None:
    folder = Path(os.environ.get(SHOTS_DIR) or page.context.shots)  # type: ignore[attr-defined]
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)
        # Nothing is wider than the window: no sideways scrolling on a phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_a_grant_from_sign_in_to_its_end(page: Page, browser: Browser, site: Any, tmp_path: Path) -> None:
    page.context.shots = tmp_path  # type: ignore[attr-defined]
    make_user("erin")
    make_staff("sam", ["support"], second_factor=False, signed=False)
    agreement()
    lee = make_staff("lee", ["support"])

    _log_in(page, site, "sam")
    expect(page.get_by_role("heading", name="Set up your second factor")).to_be_visible()
    page.get_by_role("button", name="Start").click()
    secret = page.locator("#totp-secret").inner_text()
    _shoot(page, "setup")
    page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    page.get_by_role("link", name="Continue to the console").click()
    expect(page.get_by_text("Sign the confidentiality agreement")).to_be_visible()

    page.get_by_role("navigation", name="Staff console").get_by_role("link", name="Agreement").click()
    page.get_by_label("Your full name").fill("Sam Example")
    page.get_by_role("button", name="Sign").click()
    expect(page.get_by_text("it holds until")).to_be_visible()
    _shoot(page, "agreement")

    page.get_by_role("link", name="Find a person").click()
    page.get_by_label("Username or exact email address").fill("erin@example.org")
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_text("An account exists: id")).to_be_visible()
    _shoot(page, "find")
    page.get_by_role("link", name="Ask for a grant").click()
    page.get_by_label("Purpose").select_option("support_case")
    page.get_by_label("Case reference").fill("CASE-88")
    page.get_by_label("contact.email").check()
    page.get_by_label("account.username").check()
    _shoot(page, "ask")
    page.get_by_role("button", name="Ask").click()
    expect(page.locator("#grant-state")).to_have_text("pending")
    grant = Grant.objects.get()

    other = browser.new_page()
    other.context.shots = tmp_path  # type: ignore[attr-defined]
    other.goto(site.url + "/staff/")
    other.get_by_label("Username or email").fill("lee")
    other.get_by_label("Password").fill(PASSWORD)
    other.get_by_role("button", name="Log in").click()
    secret_of_lee = str(StaffMember.objects.get(user=lee).totp_secret)
    other.get_by_label("Code").fill(pyotp.TOTP(secret_of_lee).now())
    other.get_by_role("button", name="Continue").click()
    expect(other.get_by_role("heading", name="Staff console")).to_be_visible()
    _shoot(other, "home")
    other.goto(f"{site.url}/staff/grants/{grant.public_id}/")
    other.get_by_role("button", name="Approve").click()
    expect(other.locator("#grant-state")).to_have_text("active")
    other.close()

    page.reload()
    expect(page.locator("#grant-state")).to_have_text("active")
    _shoot(page, "grant")
    page.get_by_role("button", name="Show the data").click()
    expect(page.get_by_role("cell", name="erin@example.org")).to_be_visible()
    _shoot(page, "reveal")
    assert AccessEntry.objects.count() == 1
    page.get_by_role("link", name="Back to the grant").click()
    page.get_by_role("button", name="End this grant now").click()
    expect(page.locator("#grant-state")).to_have_text("ended")
    expect(page.get_by_role("button", name="Show the data")).to_have_count(0)
