"""A model's history in a browser: from the model page to its History, a commit's page and a file as it
was; the owner removes a file from history through its confirmation page. At a desktop's width and a
phone's, nothing runs off the side of the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from candor.accounts.models import User
from candor.hub import actions, revisions
from tests.browser.test_hub_flow import log_in


def make_history(owner: User) -> Any:
    model = actions.create_model(acting_user=owner, name="tiny-net", title="Tiny net", visibility="public")
    actions.add_file(model, "config.json", [b'{"layers": 2}'], acting_user=owner, message="Add the config")
    actions.add_file(
        model,
        "weights/a-rather-long-folder-name/model.safetensors",
        [b"w1"],
        acting_user=owner,
        message="Add weights",
    )
    actions.add_file(model, "config.json", [b'{"layers": 3}'], acting_user=owner, message="Three layers")
    actions.delete_file(model, "config.json", acting_user=owner, message="No config after all")
    return model


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page is {width} px wide"  # type: ignore[index]


@pytest.mark.parametrize("width", [1280, 390])
def test_history_commit_and_an_old_file(
    page: Page, site: Any, owner: User, settings: Any, tmp_path: Path, width: int
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    page.set_viewport_size({"width": width, "height": 900})
    model = make_history(owner)
    page.goto(f"{site.url}/alice/tiny-net/")
    page.get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", name="History", level=1)).to_be_visible()
    titles = page.locator(".commit-title").all_inner_texts()
    assert [t.split(" ", 1)[1] for t in titles] == [
        "No config after all",
        "Three layers",
        "Add weights",
        "Add the config",
    ]
    expect(page.locator(".commit-row").first.get_by_text("deleted")).to_be_visible()
    page.screenshot(path=str(tmp_path / f"history-{width}.png"), full_page=True)
    no_sideways_scroll(page)

    three = next(c for c in revisions.history(model) if c.message == "Three layers")
    page.get_by_role("link", name=three.oid[:12]).click()
    expect(page.get_by_role("heading", name="Three layers", level=1)).to_be_visible()
    expect(page.get_by_text(three.oid)).to_be_visible()
    page.screenshot(path=str(tmp_path / f"commit-{width}.png"), full_page=True)
    no_sideways_scroll(page)
    with page.expect_download() as download:
        page.get_by_role("link", name="config.json").click()
    assert Path(download.value.path()).read_bytes() == b'{"layers": 3}'

    page.goto(f"{site.url}/alice/tiny-net/resolve/v9/config.json")
    expect(page.get_by_text("This model has no such revision.")).to_be_visible()
    page.goto(f"{site.url}/alice/tiny-net/resolve/main/config.json")
    expect(page.get_by_text("other revisions have it (see its history)")).to_be_visible()


def test_the_owner_removes_a_file_from_history(
    page: Page, site: Any, owner: User, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    page.set_viewport_size({"width": 390, "height": 900})
    model = make_history(owner)
    log_in(page, site)
    page.goto(f"{site.url}/alice/tiny-net/")
    expect(
        page.get_by_role(
            "button", name="Remove weights/a-rather-long-folder-name/model.safetensors from history"
        )
    ).to_be_visible()
    files = page.locator("section[aria-labelledby=files-heading]")
    files.screenshot(path=str(tmp_path / "owner-files-390.png"))
    no_sideways_scroll(page)
    page.goto(f"{site.url}/alice/tiny-net/commits/")
    first = revisions.history(model).last()
    assert first is not None
    page.get_by_role("link", name=first.oid[:12]).click()
    page.get_by_role("button", name="Remove config.json from history").click()
    expect(page.get_by_text("3 revisions hold it now")).to_be_visible()
    page.screenshot(path=str(tmp_path / "remove-390.png"), full_page=True)
    no_sideways_scroll(page)
    page.get_by_role("button", name="Remove from every revision").click()
    expect(page.get_by_text("config.json is removed from 3 revisions, for good.")).to_be_visible()
    assert revisions.revisions_holding(model, "config.json") == 0
