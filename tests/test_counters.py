"""Throttling counters that every process shares (candor.core.counters): no hit lost between two real
processes, on the embedded default and on PostgreSQL; a real `candor serve` with two web workers holds
the per-account limit; every password check counts; emails to one address are capped; the deploy
check; the retention rule; the counters hold no address."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core import checks
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from candor.accounts.models import User
from candor.core.counters import DATABASE
from candor.core.throttle import Limit
from candor.lifecycle import retention
from tests.analytics.conftest import candor_env, start_candor
from tests.api.conftest import API, Api, assert_error, token_for
from tests.conftest import PASSWORD, ROOT, Mailbox, run_candor
from tests.test_settings_and_cli import free_port, wait_for

pytestmark = pytest.mark.django_db

_DATABASE_URL = os.environ.get("DATABASE_URL", "")
ON_POSTGRES = _DATABASE_URL.startswith(("postgres://", "postgresql://"))

# Each process waits for the same moment, then counts the same thing as fast as it can.
RACE = """
import os, sys, time
import django
os.environ["DJANGO_SETTINGS_MODULE"] = "candor.settings"
django.setup()
from candor.core.throttle import Limit
limit = Limit("race", 1_000_000, 600)
limit.count("warm-up")  # the connection (and on SQLite the counters' file) is ready before the start
ready, go = sys.argv[1], sys.argv[2]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.002)
counts = []
until = time.monotonic() + 2
while time.monotonic() < until:
    counts.append(limit.hit("the same thing"))
print(" ".join(map(str, counts)))
"""


def _environment(tmp_path: Path, database_url: str | None) -> dict[str, str]:
    return candor_env(tmp_path, {"DATABASE_URL": database_url} if database_url else None)


@pytest.mark.parametrize("backend", ["embedded", *(["postgres"] if ON_POSTGRES else [])])
def test_two_processes_counting_at_once_lose_no_hit(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    database_url = request.getfixturevalue("scratch_database_url") if backend == "postgres" else None
    env = _environment(tmp_path, database_url)
    migrated = run_candor(["migrate", "--verbosity", "0"], tmp_path, {k: env[k] for k in env if k != "PATH"})
    assert migrated.returncode == 0, migrated.stderr
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, str(tmp_path / f"ready-{n}"), str(go)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    deadline = time.monotonic() + 90
    while not all((tmp_path / f"ready-{n}").exists() for n in range(2)):
        assert time.monotonic() < deadline and all(p.poll() is None for p in processes)
        time.sleep(0.05)
    go.touch()
    results = [process.communicate(timeout=120) for process in processes]
    assert all(p.returncode == 0 for p in processes), [err for _, err in results]
    first, second = ([int(n) for n in out.split()] for out, _ in results)
    assert len(first) > 50 and len(second) > 50
    # Each hit got its own number: counted in each process's memory, both would have counted 1, 2, 3...
    assert sorted(first + second) == list(range(1, len(first) + len(second) + 1))
    # And the two really counted at the same time: their numbers interleave.
    assert first != list(range(first[0], first[0] + len(first)))


def _attempt(port: int, username: str, password: str) -> str:
    """One log-in on a new connection (so either web worker may take it): what the page said."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        form = http.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert token, form.text[:300]
        for _ in range(3):
            answer = http.post(
                "/login/",
                data={"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)},
                headers={"Referer": f"http://127.0.0.1:{port}/login/"},
            )
            # The embedded database's write lock waited out on a loaded machine: "busy, nothing was
            # changed, try again" is an answer a client follows, as a browser's user would.
            if answer.status_code != 503:
                break
            time.sleep(float(answer.headers.get("Retry-After", "1")))
    if answer.status_code == 302:
        return "logged-in"
    if "Too many failed attempts" in answer.text:
        return "throttled"
    if "do not match an account" in answer.text:
        return "wrong"
    raise AssertionError(answer.text[:500])


def test_candor_serve_with_two_workers_holds_the_per_account_limit(tmp_path: Path) -> None:
    """The embedded default (SQLite, no Redis), as `candor demo` and `candor serve` run it."""
    assert run_candor(["demo", "--no-serve"], tmp_path).returncode == 0  # alice / violet-harbour-71
    port = free_port()
    server = start_candor(["serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"], tmp_path, log=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/login/", 60)
        answers: list[str] = []
        # Pairs at once, so both workers are busy and each takes one of the pair.
        for _ in range(5):
            pair = [threading.Thread(target=lambda: answers.append(_attempt(port, "alice", "guess-1234")))]
            pair.append(
                threading.Thread(target=lambda: answers.append(_attempt(port, "alice", "guess-5678")))
            )
            for thread in pair:
                thread.start()
            for thread in pair:
                thread.join()
        assert len(answers) == 10
        assert answers.count("wrong") == 5, answers  # the limit, CANDOR_LOGIN_FAILURES_PER_ACCOUNT
        assert set(answers) == {"wrong", "throttled"}
        # The right password is refused while the account is throttled, by either worker.
        assert [_attempt(port, "alice", "violet-harbour-71") for _ in range(4)] == ["throttled"] * 4
        # Another account is not affected.
        assert _attempt(port, "bob", "copper-lantern-52") == "logged-in"

        # Counting an API GET never waits for the main database's write lock (held here by another
        # connection, as a long write would): the counters have a file of their own. (GETs first, in
        # pairs at once so that each worker has read the day's analytics salt, which takes the lock.)
        for _ in range(3):
            warm = [
                threading.Thread(target=httpx.get, args=(f"http://127.0.0.1:{port}/api/v1/models",))
                for _ in range(2)
            ]
            for thread in warm:
                thread.start()
            for thread in warm:
                thread.join()
        holder = sqlite3.connect(tmp_path / "data" / "candor.sqlite3", timeout=1)
        holder.execute("BEGIN IMMEDIATE")
        try:
            began = time.monotonic()
            response = httpx.get(f"http://127.0.0.1:{port}/api/v1/models", timeout=30)
            waited = time.monotonic() - began
        finally:
            holder.rollback()
            holder.close()
        assert response.status_code == 200
        assert waited < 5, waited  # the main database's busy timeout is 20 s
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


class TestCounters:
    def test_a_hit_counts_even_when_the_transaction_around_it_rolls_back(self) -> None:
        limit = Limit("rollback", 10, 60)
        with pytest.raises(RuntimeError), transaction.atomic():
            limit.hit("x")
            raise RuntimeError
        assert limit.count("x") == 1

    def test_a_window_that_has_closed_starts_again(self) -> None:
        limit = Limit("window", 10, 1)
        assert [limit.hit("x") for _ in range(3)] == [1, 2, 3]
        time.sleep(1.1)
        assert limit.count("x") == 0
        assert limit.hit("x") == 1

    def test_undo_takes_back_one_hit_and_never_goes_below_zero(self) -> None:
        limit = Limit("undo", 10, 60)
        limit.hit("x")
        limit.hit("x")
        limit.undo("x")
        assert limit.count("x") == 1
        limit.undo("x")
        limit.undo("x")
        assert limit.count("x") == 0

    def test_keys_are_hmacs_never_the_value(self) -> None:
        Limit("login-address", 5, 60).hit("203.0.113.9")
        Limit("email-address", 5, 60).hit("someone@example.org")
        keys = DATABASE.keys()
        assert len(keys) == 2
        assert not any("203.0.113" in key or "someone" in key or "example" in key for key in keys)

    def test_the_retention_sweep_purges_expired_counters(self) -> None:
        Limit("old", 10, 60).hit("x")
        Limit("new", 10, 3600).hit("x")
        later = timezone.now() + timedelta(minutes=5)
        outcome = {o.rule: o.count for o in retention.sweep(now=later, dry_run=True)}
        assert outcome["expired counters"] == 1
        assert len(DATABASE.keys()) == 2  # a dry run deletes nothing
        outcome = {o.rule: o.count for o in retention.sweep(now=later)}
        assert outcome["expired counters"] == 1
        assert DATABASE.keys() == [Limit("new", 10, 3600).key("x")]


def test_with_redis_the_counters_are_cache_entries(settings: Any) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ.get("CANDOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/14"),
        }
    }
    settings.COUNTERS = "cache"
    limit = Limit("redis-mode", 10, 60)
    limit.reset("x")
    assert [limit.hit("x") for _ in range(3)] == [1, 2, 3]
    limit.undo("x")
    assert limit.count("x") == 2
    assert DATABASE.keys() == []  # nothing went to the database
    limit.reset("x")
    limit.undo("x")  # after a reset there is nothing to take back, and no counter below zero
    assert limit.count("x") == 0


class TestDeployCheck:
    def _errors(self) -> list[str]:
        found = checks.run_checks(include_deployment_checks=True, tags=[checks.Tags.security])
        return [m.id for m in found if m.id]

    def test_counters_in_one_process_memory_are_refused_when_several_processes_serve(
        self, settings: Any
    ) -> None:
        settings.COUNTERS = "cache"  # the local-memory cache of the embedded default
        settings.WEB_WORKERS = 2
        assert "candor.core.E001" in self._errors()
        settings.WEB_WORKERS = 1
        assert "candor.core.E001" not in self._errors()

    def test_the_default_counters_pass(self, settings: Any) -> None:
        settings.WEB_WORKERS = 4
        assert "candor.core.E001" not in self._errors()


def _api_delete(api: Api, data: dict[str, str]) -> Any:
    return api.client.delete(
        API + "/me", json.dumps(data), content_type="application/json", headers=api.headers
    )


class TestPasswordChecksCount:
    """A stolen token or session cannot guess the password faster than the log-in page allows."""

    def test_email_change_through_the_api(self, owner: User, settings: Any) -> None:
        settings.LOGIN_FAILURES_PER_ACCOUNT = 3
        api = Api(token_for(owner))
        for n in range(3):
            assert_error(api.post("/me/email", {"email": "new@example.org", "password": f"guess-{n}"}), 403)
        refused = api.post("/me/email", {"email": "new@example.org", "password": PASSWORD})
        assert_error(refused, 429, "throttled")
        assert int(refused["Retry-After"]) == settings.LOGIN_FAILURE_WINDOW_SECONDS
        # The log-in page refuses the right password too: it is the same counter.
        page = Client().post(reverse("accounts:login"), {"username": "alice", "password": PASSWORD})
        assert b"Too many failed attempts" in page.content

    def test_account_deletion_through_the_api(self, owner: User, settings: Any) -> None:
        settings.LOGIN_FAILURES_PER_ACCOUNT = 2
        api = Api(token_for(owner))
        for n in range(2):
            assert_error(_api_delete(api, {"password": f"guess-{n}", "confirm": "alice"}), 403)
        assert_error(_api_delete(api, {"password": PASSWORD, "confirm": "alice"}), 429, "throttled")
        assert User.objects.filter(pk=owner.pk).exists()

    def test_password_change_and_deletion_pages(
        self, owner_client: Client, owner: User, settings: Any
    ) -> None:
        settings.LOGIN_FAILURES_PER_ACCOUNT = 2
        change = reverse("accounts:password_change")
        new = {"new_password": "a-new-long-passphrase-77", "end_other_sessions": "on"}
        for n in range(2):
            answer = owner_client.post(change, {"old_password": f"guess-{n}", **new})
            assert b"current password is not correct" in answer.content
        answer = owner_client.post(change, {"old_password": PASSWORD, **new})
        assert b"Too many failed attempts" in answer.content
        owner.refresh_from_db()
        assert owner.check_password(PASSWORD)
        deletion = owner_client.post(reverse("accounts:delete"), {"password": PASSWORD, "confirm": "alice"})
        assert b"Too many failed attempts" in deletion.content
        assert User.objects.filter(pk=owner.pk).exists()

    def test_the_right_password_does_not_use_up_the_limit(self, owner: User, settings: Any) -> None:
        settings.LOGIN_FAILURES_PER_ACCOUNT = 2
        api = Api(token_for(owner))
        for n in range(5):
            answer = api.post("/me/email", {"email": f"new{n}@example.org", "password": PASSWORD})
            assert answer.status_code == 202, answer.content


class TestEmailsPerAddress:
    def test_password_resets_to_one_address_are_capped_and_the_page_says_the_same(
        self, owner: User, mailbox: Mailbox, settings: Any
    ) -> None:
        settings.EMAILS_PER_ADDRESS_PER_HOUR = 3
        client = Client()
        pages = [
            client.post(reverse("accounts:password_reset"), {"email": "alice@example.org"}) for _ in range(10)
        ]
        assert {(p.status_code, p["Location"]) for p in pages} == {
            (302, reverse("accounts:password_reset_done"))
        }
        assert len(mailbox.to("alice@example.org")) == 3

    def test_sign_ups_with_someone_elses_address_are_capped(
        self, owner: User, mailbox: Mailbox, settings: Any
    ) -> None:
        settings.EMAILS_PER_ADDRESS_PER_HOUR = 2
        for n in range(6):
            Client().post(
                reverse("accounts:signup"),
                {"username": f"taker{n}", "email": "alice@example.org", "password": "a-long-passphrase-99"},
            )
        assert len(mailbox.to("alice@example.org")) == 2

    def test_the_cap_is_per_address(self, owner: User, member: User, mailbox: Mailbox, settings: Any) -> None:
        settings.EMAILS_PER_ADDRESS_PER_HOUR = 1
        for address in ("alice@example.org", "alice@example.org", "bob@example.org"):
            Client().post(reverse("accounts:password_reset"), {"email": address})
        assert len(mailbox.to("alice@example.org")) == 1
        assert len(mailbox.to("bob@example.org")) == 1
