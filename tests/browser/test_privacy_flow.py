"""A whole session in Chromium, from sign-up to permanent deletion, with every log line captured: the
logs hold none of the person's address, client address, password or link secrets (clause C18)."""

from __future__ import annotations

import io
import json
import logging
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from candor.accounts.models import User
from candor.privacy.models import DeletionRecord
from tests.conftest import Mailbox, models_named

PASSWORD = "lantern-quarry-violet-83"
EMAIL = "frida.kahlo.test@example.org"


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """What the configured handlers write, redirected into memory for the test."""
    buffer = io.StringIO()
    root = logging.getLogger()
    streams = [(h, h.setStream(buffer)) for h in root.handlers if isinstance(h, logging.StreamHandler)]
    assert streams, "the root logger has no stream handler to capture"
    yield buffer
    for handler, stream in streams:
        handler.setStream(stream)


def test_sign_up_publish_export_delete_leaves_nothing_personal_in_the_logs(
    page: Page, site: Any, settings: Any, tmp_path: Path, captured_logs: io.StringIO
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    mailbox = Mailbox(folder=site.mail_dir)

    page.goto(site.url + "/signup/")
    page.get_by_label("Username").fill("frida-k")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    link = mailbox.link_to(EMAIL, pattern=re.escape(site.url) + r"/\S+")
    page.goto(link)
    page.get_by_role("button", name="Confirm this address").click()
    expect(page.get_by_text("Your email address is confirmed.")).to_be_visible()

    page.get_by_label("Username or email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Account settings")).to_be_visible()
    expect(page.get_by_role("cell", name="signed in")).to_be_visible()  # the security history

    page.goto(site.url + "/models/new/")
    page.get_by_label("Name").fill("frida-net")
    page.get_by_label("Title").fill("Frida net")
    page.get_by_label("Summary").fill("A network of Frida's.")
    page.get_by_role("button", name="Create model").click()
    weights = tmp_path / "frida-weights.bin"
    weights.write_bytes(b"frida weights " * 1000)
    page.get_by_label("Upload a file").set_input_files(str(weights))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.get_by_role("link", name="frida-weights.bin")).to_be_visible()
    page.get_by_label("Public").check()
    page.get_by_role("button", name="Save visibility").click()
    expect(page.get_by_text("The model is now public.")).to_be_visible()

    page.goto(site.url + "/settings/")
    page.get_by_role("link", name="Download your data").click()
    page.get_by_role("button", name="Prepare an export").click()
    # The POST's redirect must have finished before reloading, or the reload races the navigation.
    expect(page.get_by_text("Your export is being prepared.")).to_be_visible()
    page.reload()
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("^Download")).first.click()
    with zipfile.ZipFile(download.value.path()) as archive:
        emails = json.loads(archive.read("data/contact.email.json"))
        assert EMAIL in [r.get("email") for r in emails["records"]]
        assert archive.read("files/frida-net/frida-weights.bin") == weights.read_bytes()
    assert any(str(m["Subject"]).endswith("Your data export is ready") for m in mailbox.to(EMAIL))

    page.goto(site.url + "/settings/")
    page.get_by_role("link", name=re.compile("Delete your account and everything")).click()
    page.get_by_label("Your current password").fill(PASSWORD)
    page.get_by_label("Type your username to confirm").fill("frida-k")
    page.get_by_role("button", name="Delete my account permanently").click()
    expect(page.get_by_text("Your account and everything in it are deleted.")).to_be_visible()
    assert not User.objects.named("frida-k").exists()
    assert not models_named("frida-net").exists()
    assert DeletionRecord.objects.count() == 1
    page.goto(site.url + "/frida-k/frida-net/")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()

    logs = captured_logs.getvalue()
    # The capture did capture: the background work of the session is logged (the test server itself
    # logs no request lines).
    assert "candor.lifecycle.export.builder.build_export state=SUCCESSFUL" in logs
    assert "candor.lifecycle.erasure.finish_deletion state=SUCCESSFUL" in logs
    secret = link.rstrip("/").rsplit("/", 1)[-1]
    for value in (EMAIL, PASSWORD, "127.0.0.1", secret):
        assert value not in logs, value
