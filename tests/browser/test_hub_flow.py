from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Dialog, Page, expect

from candor.accounts.models import User
from candor.hub import actions, revisions
from candor.hub.models import MLModel
from tests.conftest import PASSWORD
from tests.hub.test_web import HOSTILE


def log_in(page: Page, site: Any, username: str = "alice") -> None:
    page.goto(site.url + "/login/")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Account settings")).to_be_visible()


def test_create_upload_publish_hide_delete(
    page: Page, site: Any, owner: User, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    log_in(page, site)
    page.get_by_role("link", name="Your models").click()
    page.get_by_role("link", name="New model").click()
    page.get_by_label("Name").fill("tiny-net")
    page.get_by_label("Title").fill("Tiny net")
    page.get_by_label("Summary").fill("A very small network.")
    page.get_by_label("Model card").fill("# Tiny net\n\nIt is **small**.")
    page.get_by_role("button", name="Create model").click()
    expect(page.get_by_role("heading", name="Tiny net", level=1)).to_be_visible()
    expect(page.get_by_text("It is private until you publish it.")).to_be_visible()

    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"\x01\x02" * 40_000)
    page.get_by_label("Upload a file").set_input_files(str(weights))
    page.get_by_label("Path in the model (optional)").fill("ckpt/weights.bin")
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.get_by_role("link", name="ckpt/weights.bin")).to_be_visible()
    # The card given on creation is the model's README.md, its first commit; the upload is the second.
    expect(page.get_by_role("link", name="README.md")).to_be_visible()
    assert revisions.file_at(MLModel.objects.get(), "ckpt/weights.bin").size == 80_000

    page.get_by_label("Public").check()
    page.get_by_role("button", name="Save visibility").click()
    expect(page.get_by_text("The model is now public.")).to_be_visible()
    stranger = page.context.browser.new_context()  # type: ignore[union-attr]
    other = stranger.new_page()
    other.goto(site.url + "/models/")
    expect(other.get_by_role("link", name="alice/tiny-net")).to_be_visible()
    with other.expect_download() as download:
        other.goto(site.url + "/models/")
        other.get_by_role("link", name="alice/tiny-net").click()
        other.get_by_role("link", name="ckpt/weights.bin").click()
    assert Path(download.value.path()).read_bytes() == weights.read_bytes()

    page.get_by_label("Private").check()
    page.get_by_role("button", name="Save visibility").click()
    expect(page.get_by_text("The model is now private.")).to_be_visible()
    other.goto(site.url + "/alice/tiny-net/")
    expect(other.get_by_role("heading", name="Not found")).to_be_visible()

    page.get_by_role("link", name="Delete this model").click()
    page.get_by_label("Type tiny-net to confirm").fill("tiny-net")
    page.get_by_role("button", name="Delete this model").click()
    expect(page.get_by_text("tiny-net is deleted")).to_be_visible()
    assert not MLModel.objects.exists()
    stranger.close()


def test_hostile_model_cards_never_run_script(page: Page, site: Any, owner: User) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    model = actions.create_model(
        acting_user=owner, name="hostile", title="Hostile", card="\n\n".join(HOSTILE), visibility="public"
    )
    page.goto(site.url + model.get_absolute_url())
    expect(page.get_by_role("heading", name="Model card")).to_be_visible()
    for link in page.locator("article.card a").all():
        href = link.get_attribute("href") or ""
        assert not href.lower().startswith(("javascript:", "data:", "vbscript:")), href
    page.locator("article.card").hover()
    page.wait_for_timeout(300)
    assert dialogs == []
    assert all(url.startswith(site.url) for url in requested), requested
