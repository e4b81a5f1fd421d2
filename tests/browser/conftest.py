"""Browser tests: Playwright drives Debian's Chromium against a live Candor server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("CANDOR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session", autouse=True)
def _orm_beside_playwright(django_db_setup: None) -> Iterator[None]:
    """Create the test database first, then let the ORM run beside Playwright's event loop.

    Playwright's sync API runs an event loop in the test thread; the ORM calls that tests and database
    teardown make there are synchronous and safe. Servers that tests start in subprocesses are given
    an environment without this variable.
    """
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(
            f"The browser tests need Chromium at {CHROMIUM} (apt-get install chromium), or CANDOR_CHROMIUM "
            "pointing at one. Playwright's own browser download is not used."
        )
    # Playwright launches each browser with a fresh, empty profile folder of its own.
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_FLAGS, "headless": True}


@pytest.fixture
def site(live_server: Any, settings: Any, tmp_path: Path) -> Any:
    """The live server, with links in emails pointing at it and emails written to a folder."""
    settings.WEBSITE_URL = live_server.url
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": str(tmp_path / "mail")},
        }
    }
    live_server.mail_dir = tmp_path / "mail"
    return live_server
