from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

from candor.accounts.models import User
from tests.conftest import PASSWORD, Mailbox

NEW_PASSWORD = "plum-orchard-sunrise-44"


def read_link(site: Any, address: str) -> str:
    mailbox = Mailbox(folder=site.mail_dir)
    return mailbox.link_to(address, pattern=re.escape(site.url) + r"/\S+")


def test_sign_up_verify_log_in_change_email_log_out(page: Page, site: Any) -> None:
    page.goto(site.url + "/")
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Username").fill("erin-m")
    page.get_by_label("Email").fill("erin@example.org")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()

    # The verification email, read from the email folder.
    page.goto(read_link(site, "erin@example.org"))
    page.get_by_role("button", name="Confirm this address").click()
    expect(page.get_by_text("Your email address is confirmed.")).to_be_visible()
    assert User.objects.named("erin-m").get().email_verified

    page.get_by_label("Username or email").fill("erin@example.org")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Account settings")).to_be_visible()
    expect(page.get_by_text("confirmed", exact=True)).to_be_visible()

    page.get_by_role("link", name="Change email address").click()
    page.get_by_label("New email address").fill("erin.new@example.org")
    page.get_by_label("Your current password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Send confirmation link").click()
    expect(page.get_by_text("waiting for confirmation")).to_be_visible()
    notice = Mailbox(folder=site.mail_dir).last_to("erin@example.org")
    assert "new email address" in Mailbox.body(notice)

    page.goto(read_link(site, "erin.new@example.org"))
    page.get_by_role("button", name="Confirm this address").click()
    expect(page.get_by_role("cell", name=re.compile("erin.new@example.org"))).to_be_visible()

    page.get_by_role("link", name="Log out").click()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You are logged out.")).to_be_visible()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    page.goto(site.url + "/settings/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_failed_login_shows_a_clear_error(page: Page, site: Any, owner: User) -> None:
    page.goto(site.url + "/login/")
    page.get_by_label("Username or email").fill("alice")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("do not match an account")
    expect(page.get_by_label("Username or email")).to_have_value("alice")
    expect(page.get_by_label("Password")).to_have_value("")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Account settings")).to_be_visible()


def test_pages_load_nothing_from_elsewhere_and_run_no_inline_script(
    page: Page, site: Any, owner: User
) -> None:
    requested: list[str] = []
    violations: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on(
        "console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None
    )
    for path in ("/", "/signup/", "/login/", "/no-such-page/"):
        page.goto(site.url + path)
    page.get_by_role("link", name="Log in").click()
    page.get_by_label("Username or email").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Account settings")).to_be_visible()  # before navigating away
    page.goto(site.url + "/settings/sessions/")
    expect(page.get_by_text("This session")).to_be_visible()
    assert requested and all(url.startswith(site.url) for url in requested), requested
    assert not violations, violations


def test_keyboard_alone_can_log_in(page: Page, site: Any, owner: User) -> None:
    page.goto(site.url + "/")
    page.keyboard.press("Tab")
    assert "Skip to content" in page.evaluate("document.activeElement.textContent")
    page.goto(site.url + "/login/")
    # The first field has focus on arrival; Tab moves to the password; Enter submits.
    expect(page.get_by_label("Username or email")).to_be_focused()
    page.keyboard.type("alice")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Account settings")).to_be_visible()


def test_layout_fits_a_phone(page: Page, site: Any) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(site.url + "/signup/")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360
