"""The notices banner in Chromium, at a desktop's width and a phone's: on two different pages, dismissed
from one with its button, gone from the next; named for screen readers; nothing runs off the side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from candor.accounts.models import User
from candor.comms import actions
from tests.browser.test_hub_flow import log_in

SHOTS = Path("/tmp/notices_shots")


def _fits(page: Page, width: int) -> None:
    used = page.evaluate("document.documentElement.scrollWidth")
    assert used <= width, f"the page is {used} px wide"


def _shot(page: Page, folder: Path, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    for where in (folder, SHOTS):
        page.screenshot(path=str(where / name), full_page=True)


@pytest.mark.parametrize("width", [1280, 390])
def test_the_banner_is_dismissed_from_one_page_and_gone_from_the_next(
    page: Page, site: Any, owner: User, tmp_path: Path, width: int
) -> None:
    security = actions.notify(
        owner,
        "security",
        "Your password was changed",
        "If you did not change it, reset it now from the log-in page, then end the sessions you do not "
        "recognise in your settings.",
        link="/settings/sessions/",
        key="security:password",
    )
    actions.notify(
        owner, "policy", "Our privacy policy changes on 1 January", key="policy:2", link="/privacy/"
    )
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, site)

    banner = page.get_by_role("region", name="2 notices for you")
    expect(banner).to_be_visible()
    expect(banner.get_by_role("heading", name="Your password was changed", level=3)).to_be_visible()
    expect(
        banner.get_by_role("link", name="See the details of the notice: Your password was changed")
    ).to_have_attribute("href", "/settings/sessions/")
    _fits(page, width)
    _shot(page, tmp_path, f"notices-settings-{width}.png")

    # Another page: the same banner, at the top of the main content.
    page.get_by_role("link", name="Models", exact=True).click()
    banner = page.get_by_role("region", name="2 notices for you")
    expect(banner).to_be_visible()
    first_in_main = page.locator("main > *").first
    expect(first_in_main).to_have_attribute("aria-labelledby", "notices-heading")
    _fits(page, width)
    _shot(page, tmp_path, f"notices-models-{width}.png")

    page.get_by_role("button", name="Dismiss the notice: Your password was changed").click()
    expect(page).to_have_url(site.url + "/models/")
    expect(page.get_by_role("status")).to_contain_text("Notice dismissed.")
    banner = page.get_by_role("region", name="A notice for you")
    expect(banner).to_be_visible()
    expect(banner.get_by_role("heading", name="Your password was changed")).to_have_count(0)
    _shot(page, tmp_path, f"notices-dismissed-{width}.png")

    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Account settings")).to_be_visible()
    expect(page.get_by_text("Your password was changed")).to_have_count(0)
    expect(page.get_by_role("region", name="A notice for you")).to_be_visible()
    security.refresh_from_db()
    assert security.dismissed_at is not None

    # The last one by keyboard: the banner is gone altogether.
    page.get_by_role("button", name="Dismiss the notice: Our privacy policy changes on 1 January").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Account settings")).to_be_visible()
    expect(page.locator(".notices")).to_have_count(0)
    _fits(page, width)
