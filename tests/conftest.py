"""Shared fixtures: named personas, a mailbox, and background tasks that run at once."""

from __future__ import annotations

import email
import email.policy
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from asgiref.local import Local
from django.core import mail
from django.db import connections
from django.tasks import task_backends
from django.test import Client

from candor.accounts.models import User

PASSWORD = "correct-horse-battery-staple-9"
ROOT = Path(__file__).resolve().parent.parent
# Never inherited by a `candor` process a test starts: each names its own database, cache and settings.
_NOT_INHERITED = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CANDOR_REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")


def run_candor(
    args: list[str], tmp_path: Path, env: dict[str, str] | None = None, timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    """Run `python -m candor ARGS` with a data folder in tmp_path and only the environment given."""
    full_env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    full_env |= {"CANDOR_DATA_DIR": str(tmp_path / "data"), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "candor", *args],
        env=full_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def use_task_backend(settings: object, backend: str) -> None:
    """Point Django's task framework at another backend (it caches the first one it built)."""
    settings.TASKS = {"default": {"BACKEND": backend, "QUEUES": ["default"]}}  # type: ignore[attr-defined]
    task_backends.__dict__.pop("settings", None)
    task_backends._settings = None
    task_backends._connections = Local(task_backends.thread_critical)


@pytest.fixture(autouse=True)
def _immediate_tasks(settings: object) -> Iterator[None]:
    use_task_backend(settings, "django.tasks.backends.immediate.ImmediateBackend")
    yield
    task_backends.__dict__.pop("settings", None)
    task_backends._settings = None
    task_backends._connections = Local(task_backends.thread_critical)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_counters(request: pytest.FixtureRequest, django_db_blocker: object) -> Iterator[None]:
    """Throttling counters are written through a connection of their own (outside the test's
    transaction, on SQLite in a file of their own): a test that uses the database starts and ends with
    none."""
    from candor.core.counters import DATABASE

    uses_db = request.node.get_closest_marker("django_db") is not None or bool(
        {"db", "transactional_db", "live_server"} & set(request.fixturenames)
    )
    if uses_db:
        request.getfixturevalue("django_db_setup")  # the test database exists before it is cleared
        with django_db_blocker.unblock():  # type: ignore[attr-defined]
            DATABASE.clear()
    yield
    if uses_db:
        with django_db_blocker.unblock():  # type: ignore[attr-defined]
            DATABASE.clear()
            DATABASE.close()


@pytest.fixture(autouse=True)
def _fresh_analytics() -> Iterator[None]:
    """Each test starts with no counts waiting in this process and no remembered salt."""
    from candor.analytics import salt
    from candor.analytics.buffer import BUFFER

    BUFFER.take()
    salt.forget_in_memory()
    yield
    BUFFER.take()
    salt.forget_in_memory()


def make_user(username: str, *, verified: bool = True, staff: bool = False) -> User:
    return User.objects.create_user(
        username, f"{username}@example.org", PASSWORD, email_verified=verified, is_staff=staff
    )


# The personas: alice owns things, bob is another member, carol is an outsider with no relation to
# either, and dana is staff.
@pytest.fixture
def owner(db: None) -> User:
    return make_user("alice")


@pytest.fixture
def member(db: None) -> User:
    return make_user("bob")


@pytest.fixture
def outsider(db: None) -> User:
    return make_user("carol")


@pytest.fixture
def staff_member(db: None) -> User:
    return make_user("dana", staff=True)


@pytest.fixture
def owner_client(owner: User) -> Client:
    client = Client()
    client.force_login(owner)
    return client


def deliver_on_commit() -> None:
    """Run what the test's (never committed) transaction scheduled with on_commit, as a commit would."""
    for alias in connections:
        connection = connections[alias]
        while connection.run_on_commit:
            _, callback, _ = connection.run_on_commit.pop(0)
            callback()


@dataclass
class Mailbox:
    """The messages sent in this test: Django's test outbox, or the files of the email folder."""

    folder: Path | None = None

    def messages(self) -> list[EmailMessage]:
        deliver_on_commit()
        if self.folder is None:
            return [m.message() for m in mail.outbox]  # type: ignore[misc]
        found: list[EmailMessage] = []
        for path in sorted(self.folder.glob("*.log")):
            # The file backend writes each message followed by a line of 79 dashes.
            for chunk in path.read_text().split("\n" + "-" * 79 + "\n"):
                if chunk.strip():
                    parsed = email.message_from_string(chunk, policy=email.policy.default)
                    found.append(parsed)  # type: ignore[arg-type]
        return found

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages() if address.lower() in str(m["To"]).lower()]

    def last_to(self, address: str) -> EmailMessage:
        messages = self.to(address)
        assert messages, f"no email was sent to {address}"
        return messages[-1]

    @staticmethod
    def body(message: EmailMessage) -> str:
        if hasattr(message, "get_content"):
            return str(message.get_content())
        return str(message.get_payload(decode=True).decode())

    def link_to(self, address: str, pattern: str = r"https?://\S+") -> str:
        match = re.search(pattern, self.body(self.last_to(address)))
        assert match, f"no link in the last email to {address}"
        return match.group(0)


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()
