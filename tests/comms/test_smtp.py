"""The outbox against a real SMTP server (aiosmtpd on a free port): delivery, a temporary refusal tried
again after the backoff, giving up after CANDOR_EMAIL_ATTEMPTS, a permanent refusal of the recipient
(undeliverable, the person told, product mail stopped until the address changes), DKIM signatures that
verify, and a worker killed with SIGKILL in the middle of handing an email over."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email
import email.policy
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import dkim
import pytest
from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.utils import timezone

from candor.accounts.models import User
from candor.comms import actions, outbox
from candor.comms.choices import Category, NoticeKind, Reason, Status
from candor.comms.emails import UPDATE_KIND
from candor.comms.models import Email, Notice, Preferences
from candor.privacy.models import AuditEvent
from tests.conftest import deliver_on_commit, make_user, run_candor
from tests.test_settings_and_cli import free_port

pytestmark = pytest.mark.django_db


@dataclass
class Handler:
    """An SMTP server's answers, set by each test: recipients refused for good, a number of temporary
    refusals still to give, and (for the crash test) a first DATA that waits until it is released."""

    refused: set[str] = field(default_factory=set)
    temporary: int = 0
    hold_first_data: bool = False
    received: list[bytes] = field(default_factory=list)
    data_calls: int = 0
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.lower() in self.refused:
            return "550 5.1.1 no such mailbox"
        if self.temporary > 0:
            self.temporary -= 1
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_calls += 1
        if self.hold_first_data and self.data_calls == 1:
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 not taken"  # the sender died meanwhile: this copy never arrived
        self.received.append(envelope.original_content or envelope.content)
        return "250 OK"


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[Handler, int]]:
    handler = Handler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        handler.release.set()
        controller.stop()


@pytest.fixture
def smtp(settings: Any) -> Iterator[Handler]:
    with smtp_server() as (handler, port):
        settings.MAILERS = {
            "default": {
                "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 10},
            }
        }
        yield handler


def received(handler: Handler) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[misc]
        for raw in handler.received
    ]


def queue_account_email(user: User, kind: str = "password-changed") -> Email:
    row = outbox.queue(kind, user.pk)
    assert row is not None
    return row


def product_row(user: User) -> Email:
    author = make_user(f"writer{Email.objects.count()}")
    update = actions.save_update(None, subject="What is new", body="Hello **all**.", acting_user=author)
    return Email.objects.create(user=user, category=Category.PRODUCT, kind=UPDATE_KIND, update=update)


def test_an_account_email_is_delivered_over_smtp(smtp: Handler) -> None:
    erin = make_user("erin")
    row = queue_account_email(erin)
    deliver_on_commit()  # the action commits: its task runs and sends
    (message,) = received(smtp)
    assert message["To"] == "erin@example.org"
    assert "Your password was changed" in message["Subject"]
    assert message["Message-ID"] == f"<{row.pk}@candor.localhost>"
    assert message["Auto-Submitted"] == "auto-generated" and message["List-Unsubscribe"] is None
    row.refresh_from_db()
    assert row.status == Status.SENT and row.subject == "Your password was changed" and row.attempts == 1


def test_a_temporary_refusal_is_tried_again_after_the_backoff_then_sent(smtp: Handler) -> None:
    erin = make_user("erin")
    row = queue_account_email(erin)
    smtp.temporary = 2
    start = timezone.now()
    assert outbox.deliver(row.pk, now=start) == Status.QUEUED
    row.refresh_from_db()
    assert row.smtp_code == 451 and row.next_attempt_at == start + outbox.retry_wait(1)
    assert outbox.deliver(row.pk, now=start + timedelta(seconds=30)) is None  # not due yet: untouched
    second = start + outbox.retry_wait(1)
    assert row.pk in outbox.due(second)
    assert outbox.deliver(row.pk, now=second) == Status.QUEUED
    row.refresh_from_db()
    assert row.next_attempt_at == second + outbox.retry_wait(2) and outbox.retry_wait(
        2
    ) == 2 * outbox.retry_wait(1)
    assert outbox.deliver(row.pk, now=row.next_attempt_at) == Status.SENT
    row.refresh_from_db()
    assert row.status == Status.SENT and row.attempts == 3
    assert len(smtp.received) == 1


def test_after_the_last_attempt_the_email_is_failed(smtp: Handler, settings: Any) -> None:
    settings.EMAIL_ATTEMPTS = 3
    erin = make_user("erin")
    row = queue_account_email(erin)
    smtp.temporary = 100
    now = timezone.now()
    results = []
    for _ in range(3):
        results.append(outbox.deliver(row.pk, now=now))
        row.refresh_from_db()
        now = row.next_attempt_at or now
    assert results == [Status.QUEUED, Status.QUEUED, Status.FAILED]
    assert row.status == Status.FAILED and row.reason == Reason.GAVE_UP and row.attempts == 3
    assert outbox.deliver(row.pk, now=now + timedelta(days=1)) is None  # never again
    assert smtp.received == []


def test_a_permanent_refusal_marks_the_address_undeliverable_until_it_changes(smtp: Handler) -> None:
    erin = make_user("erin")
    smtp.refused.add("erin@example.org")
    row = queue_account_email(erin)
    assert outbox.deliver(row.pk) == Status.UNDELIVERABLE
    row.refresh_from_db()
    assert row.status == Status.UNDELIVERABLE and row.smtp_code == 550
    (notice,) = Notice.objects.filter(user=erin, dismissed_at__isnull=True)
    assert notice.kind == NoticeKind.UNDELIVERABLE and notice.link == "/settings/emails/"
    assert AuditEvent.objects.filter(event_type=602, subject_id=erin.pk).count() == 1
    # Product mail to that address stops (nothing is even tried)...
    update_row = product_row(erin)
    assert outbox.deliver(update_row.pk) == Status.SKIPPED
    update_row.refresh_from_db()
    assert update_row.reason == Reason.UNDELIVERABLE and smtp.data_calls == 0
    # ...until the account has another address.
    erin.email = "erin.new@example.org"
    erin.save()
    again = product_row(erin)
    assert outbox.deliver(again.pk) == Status.SENT
    assert [m["To"] for m in received(smtp)] == ["erin.new@example.org"]


def test_an_address_already_undeliverable_is_still_tried_for_account_email_and_told_once(
    smtp: Handler,
) -> None:
    erin = make_user("erin")
    smtp.refused.add("erin@example.org")
    for _ in range(2):
        assert outbox.deliver(queue_account_email(erin).pk) == Status.UNDELIVERABLE
    # One open notice per address, however often it is refused; the preference is untouched.
    assert Notice.objects.filter(user=erin, kind=NoticeKind.UNDELIVERABLE).count() == 1
    prefs = Preferences.objects.get(user=erin)
    assert prefs.product_updates is True and prefs.undeliverable_index == erin.email_index
    # Once the person is reachable again (the server now takes the address), account email goes.
    smtp.refused.clear()
    assert outbox.deliver(queue_account_email(erin).pk) == Status.SENT


# --- DKIM -----------------------------------------------------------------------------------------------


def _rsa_key() -> tuple[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def test_a_signed_product_update_verifies_and_the_signature_covers_the_unsubscribe_headers(
    smtp: Handler, settings: Any
) -> None:
    private, public = _rsa_key()
    settings.DKIM_PRIVATE_KEY = private
    settings.DKIM_SELECTOR = "mail2026"
    settings.DKIM_DOMAIN = "candor.example"
    asked: list[bytes] = []

    def dns(name: bytes, timeout: int = 5) -> bytes:
        asked.append(name)
        return b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    erin = make_user("erin")
    assert outbox.deliver(product_row(erin).pk) == Status.SENT
    (raw,) = smtp.received
    assert dkim.verify(raw, dnsfunc=dns)
    assert asked == [b"mail2026._domainkey.candor.example."]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    tags = dict(
        part.strip().split("=", 1)
        for part in "".join(str(message["DKIM-Signature"]).split()).split(";")
        if part
    )
    signed = tags["h"].lower().split(":")
    assert {"list-unsubscribe", "list-unsubscribe-post", "list-id", "from", "subject"} <= set(signed)
    assert tags["d"] == "candor.example" and tags["s"] == "mail2026"
    # Changing the unsubscribe address on the way breaks the signature.
    tampered = raw.replace(b"List-Unsubscribe: <", b"List-Unsubscribe: <https://elsewhere.example/?", 1)
    assert tampered != raw and not dkim.verify(tampered, dnsfunc=dns)


def test_an_account_email_is_signed_too_and_without_a_key_nothing_is(smtp: Handler, settings: Any) -> None:
    private, public = _rsa_key()
    erin = make_user("erin")
    settings.DKIM_PRIVATE_KEY = ""
    assert outbox.deliver(queue_account_email(erin).pk) == Status.SENT
    settings.DKIM_PRIVATE_KEY = private
    assert outbox.deliver(queue_account_email(erin).pk) == Status.SENT
    unsigned, signed = smtp.received
    assert b"DKIM-Signature" not in unsigned
    assert dkim.verify(
        signed, dnsfunc=lambda name, timeout=5: b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    )


def test_the_deletion_receipt_has_the_same_headers_and_signature(smtp: Handler, settings: Any) -> None:
    from candor.accounts import emails

    private, public = _rsa_key()
    settings.DKIM_PRIVATE_KEY = private
    emails.send_deletion_receipt("gone@example.org", "gone", {"rows": 4})
    (raw,) = smtp.received
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Auto-Submitted"] == "auto-generated" and "has been deleted" in message["Subject"]
    assert dkim.verify(raw, dnsfunc=lambda name, timeout=5: b"v=DKIM1; k=rsa; p=" + base64.b64encode(public))


# --- A worker killed while it hands an email over ---------------------------------------------------------

SETUP = """
from candor.accounts.models import User
User.objects.create_user("zed", "zed.person@example.net", "a-long-passphrase-99", email_verified=True)
print("ok")
"""
QUEUE = """
from candor.accounts.models import User
from candor.comms import outbox
print(outbox.queue("password-changed", User.objects.named("zed").get().pk).pk)
"""
ROW = """
from candor.comms.models import Email
row = Email.objects.get()
print(row.status, row.attempts)
"""


def test_a_worker_killed_while_sending_an_account_email_sends_it_after_its_restart(tmp_path: Path) -> None:
    from tests.analytics.conftest import start_candor
    from tests.test_worker_crashes import kill_hard, shell, stop, wait_until

    with smtp_server() as (handler, port):
        handler.hold_first_data = True
        env = {"CANDOR_EMAIL_URL": f"smtp://127.0.0.1:{port}"}
        assert run_candor(["migrate", "-v0"], tmp_path, env).returncode == 0
        shell(tmp_path, env, SETUP)
        worker = start_candor(["worker"], tmp_path, env, log=True)
        try:
            shell(tmp_path, env, QUEUE)
            wait_until("the worker is handing the email over", handler.holding.is_set, 90, worker)
            assert shell(tmp_path, env, ROW) == "sending 1"
            kill_hard(worker)
            handler.release.set()
            worker = start_candor(["worker"], tmp_path, env, log=True)
            wait_until("the email arrives", lambda: len(handler.received) >= 1, 180, worker)
            wait_until("its row is sent", lambda: shell(tmp_path, env, ROW).startswith("sent"), 60, worker)
            time.sleep(2)
        finally:
            stop(worker)
        message = email.message_from_bytes(handler.received[0], policy=email.policy.default)
        assert message["To"] == "zed.person@example.net"
        assert "Your password was changed" in message["Subject"]
        assert shell(tmp_path, env, ROW) == "sent 2"  # claimed again after the crash, and sent
