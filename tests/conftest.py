"""Shared fixtures: named personas, a mailbox, background tasks that run at once, and a Redis database
that is the test run's own."""

from __future__ import annotations

import email
import email.policy
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from asgiref.local import Local
from django.core import mail
from django.db import connections
from django.db.models import QuerySet
from django.tasks import task_backends
from django.test import Client

from candor.accounts.models import User
from candor.hub.models import MLModel, name_index

# pytest keeps its rewritten test modules as bytecode in __pycache__. Where the environment forbids writing
# bytecode (PYTHONDONTWRITEBYTECODE), every run would rewrite and compile each test module again, which
# is most of the time collection takes; the cache is only ever read back by pytest itself.
sys.dont_write_bytecode = False

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


def models_named(name: str) -> QuerySet[MLModel]:
    """The models called ``name`` (any case), of any owner: names are stored encrypted, so they are
    found by each owner's blind index of the name, as the hub finds them."""
    owners = User.objects.values_list("pk", flat=True)
    return MLModel.objects.filter(name_index__in=[name_index(owner, name) for owner in owners])


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


# --- Redis: a server the run starts, or a database it can prove is its own ------------------------------

# Written into a database named by CANDOR_TEST_REDIS_URL once the run has found it empty: a later run that
# finds it there knows the keys beside it are a test run's, and may empty the database again.
REDIS_MARKER = "candor-test-suite:this-database-is-the-tests-own"


class RedisNotOurs(Exception):
    """The Redis database named for the tests holds keys no test run wrote: it is someone else's."""


def _shown(url: str) -> str:
    """The URL without its password, for a message."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"


def claim_redis(url: str) -> None:
    """Take the database for this run if it is empty or holds the marker; refuse it otherwise."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        size = client.dbsize()
    except redis.ConnectionError:
        raise RedisNotOurs(f"no Redis server answers at {_shown(url)} (CANDOR_TEST_REDIS_URL)") from None
    if size and not client.exists(REDIS_MARKER):
        raise RedisNotOurs(
            f"the Redis database {_shown(url)} (CANDOR_TEST_REDIS_URL) holds {size} key(s) that no test run "
            "wrote, and the tests empty their database: name an empty one, or leave CANDOR_TEST_REDIS_URL "
            "unset so that the tests start a redis-server of their own. Nothing was deleted."
        )
    client.set(REDIS_MARKER, "1")


def empty_redis(url: str) -> None:
    """Empty the run's database (only if it is provably the run's), keeping the marker in it."""
    import redis

    client = redis.Redis.from_url(url)
    if client.dbsize() and not client.exists(REDIS_MARKER):
        raise RedisNotOurs(f"the Redis database {_shown(url)} is not the test run's: it was not emptied")
    with client.pipeline(transaction=True) as pipe:
        pipe.flushdb()
        pipe.set(REDIS_MARKER, "1")
        pipe.execute()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def scratch_postgres_database(prefix: str, *, always: bool = False) -> Iterator[str | None]:
    """On a PostgreSQL run, a new database for processes a test starts (dropped afterwards, even while
    a killed process's session still holds it); None on a SQLite run, unless ``always``: then on the
    local PostgreSQL server."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        if not always:
            yield None
            return
        url = "postgres://postgres@127.0.0.1:5432/postgres"
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres", query=""))
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def scratch_database_url() -> Iterator[str | None]:
    """On a PostgreSQL run, a fresh database for a server started by the test; None on SQLite."""
    with scratch_postgres_database("candor_scratch") as url:
        yield url


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A redis-server of the run's own on a free loopback port, keeping nothing on disk; stopped after."""
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            "the tests that need Redis start a redis-server of their own: install it (apt-get install "
            "redis-server), or name a Redis database of theirs in CANDOR_TEST_REDIS_URL"
        )
    for _ in range(5):  # another process may take the free port before the server binds it
        port = _free_port()
        log = folder / f"redis-{port}.log"
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        process = subprocess.Popen(
            [*argv, "--dir", str(folder), "--logfile", str(log)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 20
        while process.poll() is None and time.monotonic() < deadline:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        else:
            process.kill()
            process.wait()
            continue
        try:
            yield url
        finally:
            process.terminate()
            process.wait(timeout=20)
        return
    pytest.fail(f"redis-server did not start (its log is in {folder})")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a Redis database this test run may empty: one named by CANDOR_TEST_REDIS_URL that it
    proved is its own, or else the database of a redis-server it starts for itself."""
    given = os.environ.get("CANDOR_TEST_REDIS_URL", "").strip()
    if given:
        try:
            claim_redis(given)
        except RedisNotOurs as error:
            pytest.fail(str(error))
        yield given
        return
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        claim_redis(url)  # new and empty: the marker lets empty_redis() work on it as on a named one
        yield url
