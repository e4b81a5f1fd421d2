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
from huggingface_hub import HfApi
from pytest_django.live_server_helper import LiveServer

from candor.accounts.models import User
from tests.test_client import new_token

e2e = pytest.mark.django_db(transaction=True)


@pytest.fixture
def site(live_server: LiveServer, settings: Any, tmp_path: Path) -> LiveServer:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.WEBSITE_URL = live_server.url
    return live_server


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
