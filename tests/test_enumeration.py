"""Sign-up and password reset do not tell whether an address has an account: what the person can see
afterwards is the same, and the work done to answer is the same (counted, not timed)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from candor.accounts import actions
from candor.accounts.models import EmailConfirmation, User
from candor.kernel.refusal import Refusal
from tests.conftest import PASSWORD, Mailbox, deliver_on_commit, use_task_backend

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-long-passphrase-for-erin-42"


def sign_up(client: Client, username: str, email: str) -> Any:
    return client.post(
        reverse("accounts:signup"), {"username": username, "email": email, "password": NEW_PASSWORD}
    )


def log_in(client: Client, identifier: str, password: str = NEW_PASSWORD) -> Any:
    return client.post(reverse("accounts:login"), {"username": identifier, "password": password})


def _text(response: Any, *words: str) -> str:
    """The page without what legitimately differs: the names and addresses typed, and per-request
    tokens."""
    text = response.content.decode()
    for word in words:
        text = text.replace(word, "WORD")
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", text)
    return re.sub(r'nonce="[^"]+"', "", text)


def what_a_sign_up_shows(username: str, email: str) -> dict[str, Any]:
    """Everything the person who signed up can observe afterwards, with their own choices blanked."""
    seen: dict[str, Any] = {}
    client = Client()
    first = sign_up(client, username, email)
    seen["sign-up"] = (first.status_code, _text(first, username, email))
    again = sign_up(Client(), username, f"other-{username}@example.net")
    seen["same name again"] = (again.status_code, _text(again, username, f"other-{username}@example.net"))
    by_email = log_in(Client(), email)
    seen["log in by address"] = (by_email.status_code, _text(by_email, username, email))
    by_name = log_in(client, username)
    seen["log in by name"] = by_name.status_code
    me = client.get("/api/v1/me").json()
    assert me.pop("username") == username and me.pop("email") == email
    me.pop("date_joined")
    seen["api me"] = me
    settings_page = client.get(reverse("accounts:settings"))
    seen["settings"] = (settings_page.status_code, _text(settings_page, username, email))
    profile = Client().get(f"/{username}/")
    seen["profile"] = (profile.status_code, _text(profile, username, email))
    resend = client.post(reverse("accounts:resend_verification"), follow=True)
    seen["resend"] = (resend.status_code, _text(resend, username, email))
    return seen


def test_a_sign_up_with_a_registered_address_looks_the_same_as_with_a_new_one(owner: User) -> None:
    registered = what_a_sign_up_shows("taker", "alice@example.org")
    new = what_a_sign_up_shows("fresher", "fresh@example.org")
    assert registered == new
    # In both cases the name is now taken, and the account signs in by its name.
    assert (
        registered["same name again"][0] == 400
        and "This username is taken" in registered["same name again"][1]
    )
    assert registered["log in by name"] == 302
    assert registered["api me"]["email_verified"] is False
    # The address's holder is untouched: still theirs, still signs in by it.
    assert log_in(Client(), "alice@example.org", PASSWORD).status_code == 302


def test_an_account_whose_address_was_taken_can_never_confirm_it(owner: User, mailbox: Mailbox) -> None:
    client = Client()
    sign_up(client, "taker", "alice@example.org")
    messages = mailbox.to("alice@example.org")
    assert len(messages) == 1 and "tried to use your email address" in str(messages[0]["Subject"])
    assert "/accounts/verify/" not in mailbox.body(messages[0])
    taker = User.objects.named("taker").get()
    assert taker.email == "alice@example.org" and taker.address_unclaimed
    # Its confirmation row exists (the same work as for a new address), but no link works for it.
    confirmation = EmailConfirmation.objects.get(user=taker)
    with pytest.raises(Refusal):
        actions.confirm_email(confirmation.public_id, confirmation.token(), acting_user=None)
    log_in(client, "taker")
    client.post(reverse("accounts:resend_verification"))
    assert all("/accounts/verify/" not in mailbox.body(m) for m in mailbox.to("alice@example.org"))
    owner.refresh_from_db()
    taker.refresh_from_db()
    assert owner.email_verified and not taker.email_verified
    assert User.objects.get(email_index=owner.email_index) == owner
    # Saving the account again keeps the stand-in: it never claims the address by accident.
    taker.save()
    taker.refresh_from_db()
    assert taker.address_unclaimed


@contextmanager
def counted_work() -> Iterator[dict[str, Any]]:
    """Counts the password hashes, the SQL statements (by kind and table) and the queued tasks of the
    block; the dict is filled in when the block ends."""
    hashes: list[str] = []
    original_encode = Argon2PasswordHasher.encode
    original_verify = Argon2PasswordHasher.verify

    def encode(self: Argon2PasswordHasher, password: str, salt: str) -> str:
        hashes.append("encode")
        return original_encode(self, password, salt)

    def verify(self: Argon2PasswordHasher, password: str, encoded: str) -> bool:
        hashes.append("verify")
        return original_verify(self, password, encoded)

    work: dict[str, Any] = {}
    before = DBTaskResult.objects.count()
    with (
        mock.patch.object(Argon2PasswordHasher, "encode", encode),
        mock.patch.object(Argon2PasswordHasher, "verify", verify),
        CaptureQueriesContext(connection) as queries,
    ):
        yield work
    work["hashes"] = sorted(hashes)
    work["statements"] = Counter(
        q["sql"].split()[0] + " " + ",".join(re.findall(r'(?:FROM|INTO|UPDATE|JOIN)\s+"?(\w+)', q["sql"]))
        for q in queries.captured_queries
    )
    work["tasks"] = DBTaskResult.objects.count() - before


def test_sign_up_does_the_same_work_for_a_registered_and_a_new_address(owner: User, settings: Any) -> None:
    use_task_backend(settings, "django_tasks_db.DatabaseBackend")  # queued, not run: the request's work
    with counted_work() as registered:
        assert sign_up(Client(), "taker", "alice@example.org").status_code == 200
        deliver_on_commit()  # the email is queued once the sign-up commits
    with counted_work() as new:
        assert sign_up(Client(), "fresher", "fresh@example.org").status_code == 200
        deliver_on_commit()
    assert registered == new
    assert new["hashes"] == ["encode"] and new["tasks"] == 1
    assert new["statements"]["INSERT accounts_user"] == 1


def test_password_reset_does_the_same_work_for_a_known_and_an_unknown_address(
    owner: User, settings: Any
) -> None:
    use_task_backend(settings, "django_tasks_db.DatabaseBackend")
    url = reverse("accounts:password_reset")
    with counted_work() as known:
        assert Client().post(url, {"email": "alice@example.org"}).status_code == 302
        deliver_on_commit()  # the outbox hands its email to the queue once the request commits
    with counted_work() as unknown:
        assert Client().post(url, {"email": "nobody@example.org"}).status_code == 302
        deliver_on_commit()
    assert known == unknown
    assert known["tasks"] == 1


def test_the_queued_reset_for_an_unknown_address_sends_nothing(owner: User, mailbox: Mailbox) -> None:
    Client().post(reverse("accounts:password_reset"), {"email": "nobody@example.org"})
    Client().post(reverse("accounts:password_reset"), {"email": "alice@example.org"})
    assert [str(m["To"]) for m in mailbox.messages()] == ["alice@example.org"]
