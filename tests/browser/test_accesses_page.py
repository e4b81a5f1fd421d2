"""Settings → "Who accessed your data" in Chromium, at a desktop's width and a phone's: reached from the
settings page, the accesses listed with a held-back one's delay, and nothing runs off the side."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time
from playwright.sync_api import Page, expect

from candor.accounts.models import User
from tests.browser.test_hub_flow import log_in
from tests.staff.factory import make_staff
from tests.staff.test_accesses import held_back, reveal

SHOTS = Path("/tmp/person_shots")


@pytest.mark.parametrize("width", [1280, 390])
def test_the_person_reads_who_accessed_their_data(
    page: Page, site: Any, owner: User, tmp_path: Path, width: int
) -> None:
    with freeze_time(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)):
        held_back(owner)  # told from 20 March 2026, long past
    tess = make_staff("tess", ["trust_and_safety"], office="IE", work="FR")
    reveal(owner, tess, role="trust_and_safety", purpose="abuse_report", categories=("contact.email",))
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, site)
    page.get_by_role("link", name="Who accessed your data").click()
    expect(page.get_by_role("heading", name="Who accessed your data", level=1)).to_be_visible()
    listed = page.get_by_role("list", name="2 accesses to your data, newest first.")
    expect(listed).to_be_visible()
    rows = listed.get_by_role("listitem")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).get_by_role("heading")).to_contain_text("an abuse report")
    expect(rows.nth(0)).to_contain_text("Ireland, France")
    expect(rows.nth(0)).to_contain_text("contact (email)")
    expect(rows.nth(1)).to_contain_text("Held back by a legal order, shown from 20 Mar 2026.")
    SHOTS.mkdir(exist_ok=True)
    for folder in (tmp_path, SHOTS):
        page.screenshot(path=str(folder / f"accesses-{width}.png"), full_page=True)
    width_used = page.evaluate("document.documentElement.scrollWidth")
    assert width_used <= width, f"the page is {width_used} px wide"
