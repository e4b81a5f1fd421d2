"""Settings → "Emails we sent you" in Chromium, at a desktop's width and a phone's: reached from the
settings page, the emails listed with what became of each, the refused address told with its link,
product updates turned off with a message, and nothing runs off the side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from candor.accounts.models import User
from candor.comms import outbox
from candor.comms.choices import Reason, Status
from candor.comms.models import Email, Preferences
from tests.browser.test_hub_flow import log_in

SHOTS = Path("/tmp/person_shots")


@pytest.mark.parametrize("width", [1280, 390])
def test_the_person_reads_the_emails_we_sent_and_turns_product_updates_off(
    page: Page, site: Any, owner: User, tmp_path: Path, width: int
) -> None:
    outbox.queue("password-changed", owner.pk)  # committed at once, and sent to the mail folder
    Email.objects.create(
        user=owner, category="product", kind="product-update", status=Status.SKIPPED, reason=Reason.CAPPED
    )
    refused = Email.objects.create(user=owner, category="account", kind="export-ready")
    outbox.mark_undeliverable(refused, owner, 550)
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, site)
    page.get_by_role("link", name="Emails we sent you").click()
    expect(page.get_by_role("heading", name="Emails we sent you", level=1)).to_be_visible()
    expect(page.locator("#address-refused")).to_contain_text("refused our email to your address")
    table = page.get_by_role("table")
    expect(table.get_by_role("row")).to_have_count(4)  # the heading's row and three emails
    expect(table).to_contain_text("Your password was changed")
    expect(table).to_contain_text("Why: you had already had a product update in the last days.")
    expect(table).to_contain_text("Refused by the receiving mail server")
    SHOTS.mkdir(exist_ok=True)
    for folder in (tmp_path, SHOTS):
        page.screenshot(path=str(folder / f"emails-{width}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.get_by_label("No product updates").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("you will get no more product updates")
    expect(page.get_by_label("No product updates")).to_be_checked()
    assert Preferences.objects.get(user=owner).product_updates is False
    for folder in (tmp_path, SHOTS):
        page.screenshot(path=str(folder / f"emails-saved-{width}.png"), full_page=True)
