"""Fixtures for the Hugging Face protocol: a live Candor and the real ``huggingface_hub`` client.

The client reads its settings (HF_ENDPOINT, HF_HOME, HF_HUB_OFFLINE…) when it is imported, so the tests
hand it the server and a cache folder explicitly (``HfApi(endpoint=…)``, ``cache_dir=…``), and
:func:`run_client` runs a snippet in a fresh interpreter with only the environment variables a user
would set.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

# Before huggingface_hub is imported anywhere in the test process: no telemetry, and a home of its own
# (never the developer's ~/.cache/huggingface, never a token stored there).
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="candor-hf-home-")
os.environ.pop("HF_TOKEN", None)
os.environ.pop("HF_ENDPOINT", None)

import pytest
from django.db import connection
from huggingface_hub import HfApi
from pytest_django.live_server_helper import LiveServer

from candor.accounts.models import User
from tests.test_client import new_token

e2e = pytest.mark.django_db(transaction=True)


class _OneAtATime:
    """The live server's application, one request at a time, its body included.

    On SQLite the test database lives in memory, and the live server's threads all use the test's one
    connection (pytest-django passes it to them): the client's parallel downloads (snapshot_download
    fetches 8 files at once) would use it from several threads at the same moment, which SQLite refuses
    ("bad parameter or other API misuse"). Real servers give every worker its own connection; here the
    requests take turns, each holding the turn until its response has been sent or abandoned.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app, self.turn = app, threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        self.turn.acquire()
        try:
            body = self.app(environ, start_response)
        except BaseException:
            self.turn.release()
            raise
        return _Sent(body, self.turn)


class _Sent:
    """A response body that gives the turn back when the server closes it (sent whole or not)."""

    def __init__(self, body: Iterable[bytes], turn: threading.Lock) -> None:
        self.body, self.turn, self.done = body, turn, False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            if not self.done:
                self.done = True
                self.turn.release()


@pytest.fixture
def site(live_server: LiveServer, settings: Any, tmp_path: Path) -> Iterator[LiveServer]:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.WEBSITE_URL = live_server.url
    httpd = live_server.thread.httpd
    app = httpd.get_app()
    shared = connection.vendor == "sqlite" and connection.is_in_memory_db()
    if shared:
        httpd.set_app(_OneAtATime(app))
    try:
        yield live_server
    finally:
        if shared:
            httpd.set_app(app)


@pytest.fixture
def write_token(owner: User) -> str:
    return new_token(owner)


@pytest.fixture
def read_token(owner: User) -> str:
    return new_token(owner, scopes=("read",))


def hf(site: LiveServer, token: str | None = None) -> HfApi:
    """The real client, pointed at the live server."""
    return HfApi(endpoint=site.url, token=token if token is not None else False)


def run_client(
    code: str, *, endpoint: str, token: str | None = None, home: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new Python with the environment a user would set: HF_ENDPOINT, HF_TOKEN."""
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "HF_HOME": str(home / "hf"),
        "HF_ENDPOINT": endpoint,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        **env,
    }
    if token is not None:
        environment["HF_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=600
    )
