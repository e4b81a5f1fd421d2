"""Permanent deletion (C4, C5, C25): at once, complete, with a receipt, and finished if interrupted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.test import Client

from candor.accounts import actions as account_actions
from candor.accounts.models import SecurityEvent, User, UserSession
from candor.api.actions import create_token
from candor.api.models import ApiToken
from candor.hub import actions as hub_actions
from candor.hub.models import MLModel, ModelFile, PublicModel
from candor.kernel import hooks
from candor.lifecycle import erasure
from candor.privacy import audit, crypto, subjects
from candor.privacy.models import AuditEvent, DataKey, DeletionRecord, RetiredUsername
from candor.web.demo import DEMO_MODELS
from tests.conftest import PASSWORD, deliver_on_commit, empty_redis, run_candor
from tests.testapp.models import Diary

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.DATA_DIR = tmp_path / "data"


def furnish(user: User, prefix: str) -> dict[str, object]:
    """Give the person models (public and private), files, a token, security events and a session."""
    public = hub_actions.create_model(
        acting_user=user, name=f"{prefix}-public-model", visibility="public", tags=["vision", f"{prefix}-tag"]
    )
    private = hub_actions.create_model(acting_user=user, name=f"{prefix}-private-model")
    blobs = [
        hub_actions.add_file(
            public, "weights.bin", [f"{prefix} weights".encode()], acting_user=user
        ).blob.stored.name,
        hub_actions.add_file(
            private, "notes.txt", [f"{prefix} notes".encode()], acting_user=user
        ).blob.stored.name,
    ]
    token = create_token(user, name="laptop", scopes=["read", "write"], acting_user=user)[1]
    SecurityEvent.objects.create(user=user, kind="sign_in", ip_address="192.0.2.10")
    diary = Diary.objects.create(user=user, mood="calm", secret=f"{prefix} secret")
    diary.attachment.save(f"{prefix}-diary.txt", ContentFile(b"diary"))
    blobs.append(diary.attachment.name)
    return {"models": [public, private], "blobs": blobs, "token": token}


def test_settings_page_asks_for_password_and_username_and_refusals_keep_everything(
    owner_client: Client, owner: User
) -> None:
    furnish(owner, "alice")
    page = owner_client.get("/settings/delete/")
    assert page.status_code == 200 and b"cannot be undone" in page.content
    wrong = owner_client.post("/settings/delete/", {"password": "not-the-password", "confirm": "alice"})
    assert wrong.status_code == 400 and b"The password is not correct." in wrong.content
    unconfirmed = owner_client.post("/settings/delete/", {"password": PASSWORD, "confirm": "alicia"})
    assert unconfirmed.status_code == 400 and b"Type your username exactly" in unconfirmed.content
    assert User.objects.filter(pk=owner.pk).exists() and DataKey.objects.filter(user=owner).exists()
    assert MLModel.objects.filter(owner=owner).count() == 2
    assert Client().get("/settings/delete/").status_code == 302  # signed-out visitors are sent to log in


def test_deletion_removes_everything_everywhere_and_sends_a_receipt(
    owner_client: Client, owner: User, member: User, mailbox, django_capture_on_commit_callbacks
) -> None:
    stuff = furnish(owner, "alice")
    other = furnish(member, "bob")
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post("/settings/delete/", {"password": PASSWORD, "confirm": "Alice"})
    assert response.status_code == 302 and response["Location"] == "/"
    # The key first, then every row the inventory ties to her, then her files.
    assert not DataKey.objects.filter(user_id=owner.pk).exists()
    assert not User.objects.filter(pk=owner.pk).exists()
    for model in (MLModel, ApiToken, SecurityEvent, UserSession, Diary):
        field = "owner" if model is MLModel else "user"
        assert not model.objects.filter(**{f"{field}_id": owner.pk}).exists(), model
    assert not ModelFile.objects.filter(model__owner_id=owner.pk).exists()
    # Her public model's projection went with it; his stays, with its tags.
    assert not PublicModel.objects.filter(pk__in=[m.pk for m in stuff["models"]]).exists()
    assert not PublicModel.objects.filter(owner_id=owner.pk).exists()
    assert PublicModel.objects.get(owner=member).tag_names == ["bob-tag", "vision"]
    for name in stuff["blobs"]:
        assert not default_storage.exists(name), name
    record = DeletionRecord.objects.get(account_id=owner.pk)
    assert record.completed_at is not None and record.storage_names == []
    assert str(owner.pk) in erasure.ledger_path().read_text()
    assert "alice" not in erasure.ledger_path().read_text()
    # Signed out, and nothing of her on any page, route, listing, search, sitemap or feed.
    assert owner_client.get("/settings/").status_code == 302
    anonymous = Client()
    for path in ("/alice/", "/alice/alice-public-model/", "/api/v1/models/alice/alice-public-model"):
        assert anonymous.get(path).status_code == 404, path
    for path in ("/models/", "/models/?q=alice", "/sitemap.xml", "/models/feed.atom", "/api/v1/models", "/"):
        body = anonymous.get(path).content
        assert b"alice-public-model" not in body, path
        assert b"bob-public-model" in body or path in ("/models/?q=alice", "/"), path
    token_client = Client(HTTP_AUTHORIZATION=f"Bearer {stuff['token']}")
    assert token_client.get("/api/v1/me").status_code == 401
    # Bob is untouched.
    assert MLModel.objects.filter(owner=member).count() == 2
    assert all(default_storage.exists(name) for name in other["blobs"])
    assert User.objects.get(pk=member.pk).email == "bob@example.org"
    # The receipt went to the address the account had.
    receipt = mailbox.last_to("alice@example.org")
    assert "deleted" in receipt["Subject"] and "alice" in receipt.get_content()
    # The name is retired for good, in any letters.
    assert RetiredUsername.objects.count() == 1
    assert account_actions.username_taken("ALICE")
    signup = Client().post(
        "/signup/",
        {"username": "Alice", "email": "new-alice@example.org", "password": "a-long-new-passphrase-1"},
    )
    assert b"This username is taken." in signup.content
    assert not User.objects.named("alice").exists()


def test_the_api_deletes_with_password_and_confirmation(owner: User, mailbox) -> None:
    stuff = furnish(owner, "alice")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {stuff['token']}")
    wrong = api.delete(
        "/api/v1/me", {"password": "nope-nope-nope", "confirm": "alice"}, content_type="application/json"
    )
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "wrong_password"
    missing = api.delete("/api/v1/me", {"password": PASSWORD}, content_type="application/json")
    assert missing.status_code == 422
    unconfirmed = api.delete(
        "/api/v1/me", {"password": PASSWORD, "confirm": "bob"}, content_type="application/json"
    )
    assert unconfirmed.status_code == 422 and unconfirmed.json()["error"]["code"] == "not_confirmed"
    assert User.objects.filter(pk=owner.pk).exists()
    done = api.delete(
        "/api/v1/me", {"password": PASSWORD, "confirm": "alice"}, content_type="application/json"
    )
    assert done.status_code == 200 and done.json()["deleted"] is True and done.json()["records"] >= 8
    deliver_on_commit()
    assert not User.objects.filter(pk=owner.pk).exists()
    assert api.get("/api/v1/me").status_code == 401
    assert mailbox.last_to("alice@example.org")["Subject"].endswith("Your account has been deleted")


def test_a_model_declared_only_in_a_test_app_is_erased_with_its_file(owner: User, member: User) -> None:
    mine = Diary.objects.create(user=owner, mood="happy", secret="s1")
    mine.attachment.save("mine.txt", ContentFile(b"x"))
    theirs = Diary.objects.create(user=member, mood="sad", secret="s2")
    outcome = erasure.erase_account(owner.pk)
    deliver_on_commit()
    assert outcome.rows["testapp.Diary"] == 1
    assert not Diary.objects.filter(pk=mine.pk).exists() and Diary.objects.filter(pk=theirs.pk).exists()
    assert not default_storage.exists(mine.attachment.name)


def test_a_failure_inside_the_deletion_leaves_the_whole_account(owner: User, monkeypatch) -> None:
    stuff = furnish(owner, "alice")

    purge = erasure._purge_rows

    def crash(user_id: object) -> object:
        purge(user_id)
        raise RuntimeError("the process died here")

    # Late in the transaction: every row has been deleted by then.
    monkeypatch.setattr(erasure, "_purge_rows", crash)
    with pytest.raises(RuntimeError):
        erasure.erase_account(owner.pk)
    # Nothing half-deleted is visible: the account, its key and its models are all still there.
    crypto.forget_cached_keys()
    assert User.objects.get(pk=owner.pk).email == "alice@example.org"
    assert MLModel.objects.filter(owner=owner).count() == 2
    assert not DeletionRecord.objects.exists() and not RetiredUsername.objects.exists()
    # The erasure's audit row is written early in the transaction, and rolled back with it.
    assert not AuditEvent.objects.filter(event_type=audit.EventType.ACCOUNT_ERASED).exists()
    assert all(default_storage.exists(name) for name in stuff["blobs"])


def test_the_erasure_writes_one_audit_row_of_ids_that_outlives_the_account(owner: User, member: User) -> None:
    furnish(owner, "alice")
    erasure.erase_account(owner.pk, acting_user=owner)
    deliver_on_commit()
    erasure.erase_account(owner.pk, acting_user=None)  # again (the ledger after a restore): no second row
    rows = list(AuditEvent.objects.filter(event_type=audit.EventType.ACCOUNT_ERASED))
    assert len(rows) == 1
    (row,) = rows
    assert row.subject_id == owner.pk and row.acting_user_id == owner.pk and row.model_id is None
    assert row.extra == {"how": "owner"}
    # The trail belongs to no account: nothing of it went with the account.
    assert not User.objects.filter(pk=owner.pk).exists() and User.objects.filter(pk=member.pk).exists()


def test_the_apps_hear_of_the_erasure_before_the_rows_go(owner: User) -> None:
    model = hub_actions.create_model(acting_user=owner, name="heard", visibility="public")
    heard: list[tuple[list[object], bool]] = []

    def receiver(gone: hooks.AccountsGone) -> None:
        heard.append((list(gone.account_ids), MLModel.objects.filter(pk=model.pk).exists()))

    hooks.accounts_gone.connect(receiver)
    try:
        erasure.erase_account(owner.pk, acting_user=owner)
    finally:
        hooks.accounts_gone.disconnect(receiver)
    assert heard == [([owner.pk], True)]
    assert not MLModel.objects.filter(pk=model.pk).exists()


def test_a_deletion_that_stopped_after_its_commit_is_finished_by_a_rerun(owner: User, monkeypatch) -> None:
    stuff = furnish(owner, "alice")
    real_delete = subjects.delete_stored

    def storage_down(names, **options) -> int:
        raise OSError("storage unavailable")

    monkeypatch.setattr(subjects, "delete_stored", storage_down)
    erasure.erase_account(owner.pk)
    deliver_on_commit()  # the queued finishing task runs, and fails on the storage
    record = DeletionRecord.objects.get(account_id=owner.pk)
    assert record.completed_at is None and set(record.storage_names) == set(stuff["blobs"])
    assert not User.objects.filter(pk=owner.pk).exists()  # the rows are gone already; only files are left
    monkeypatch.setattr(subjects, "delete_stored", real_delete)
    call_command("privacy", "sweep", stdout=(out := __import__("io").StringIO()))
    assert "Finished 1 account deletion." in out.getvalue()
    record.refresh_from_db()
    assert record.completed_at is not None
    assert not any(default_storage.exists(name) for name in stuff["blobs"])


BYTE_SCAN_SETUP = """
import json
import os
from django.test import RequestFactory
from candor.accounts import actions
from candor.accounts.models import User
from candor.api.actions import create_token
from candor.hub import actions as hub
user = User.objects.create_user("zeldaqx", "zelda.unique.person@example.net", "a-long-passphrase-99")
user.email_verified = True
user.save()
request = RequestFactory().post(
    "/login/", REMOTE_ADDR="203.0.113.199", HTTP_USER_AGENT="Mozilla/5.0 Firefox/128.0"
)
for kind in ("sign_in", "sign_in_failed", "password_changed"):
    actions.record_event(user, kind, request)
names = []
for i in range(3):
    model = hub.create_model(acting_user=user, name=f"zelda-hidden-model-{i}",
                             visibility="public" if i else "private", summary="zelda summary words")
    hub.add_file(model, f"dir/file-{i}.bin", [b"zelda file body " * 100], acting_user=user)
    names.append(model.name)
row, token = create_token(user, name="zelda token", scopes=["read"], request=request, acting_user=user)
from candor.comms import outbox
outbox.queue("password-changed", user.pk)
import logging
logging.getLogger("candor.test").warning(
    "zelda.unique.person@example.net signed in from 203.0.113.199 with %s", token
)
print(json.dumps({"token_prefix": row.prefix, "names": names, "id": str(user.pk)}))
"""

BYTE_SCAN_DELETE = """
from candor.accounts import actions, emails
from candor.accounts.models import User
from candor.lifecycle import erasure
user = User.objects.named("zeldaqx").get()
actions.check_deletion(user, password="a-long-passphrase-99", confirm="zeldaqx")
address, username = user.email, user.username
emails.send_deletion_receipt(address, username, erasure.erase_account(user.pk).rows)
print("deleted")
"""


def test_after_deletion_no_byte_of_the_person_remains_in_database_wal_media_logs_or_queue(
    tmp_path: Path,
) -> None:
    log_file = tmp_path / "logs" / "candor.log"
    log_file.parent.mkdir()
    env = {"CANDOR_LOG_FILE": str(log_file)}
    assert run_candor(["migrate", "-v0"], tmp_path, env).returncode == 0
    assert run_candor(["demo", "--no-serve"], tmp_path, env).returncode == 0  # other people's data beside
    setup = run_candor(["shell", "-c", BYTE_SCAN_SETUP], tmp_path, env)
    assert setup.returncode == 0, setup.stderr
    facts = json.loads(setup.stdout.strip().splitlines()[-1])
    data = tmp_path / "data"
    needles = [
        b"zelda.unique.person@example.net",
        b"zeldaqx",
        b"203.0.113.199",
        facts["token_prefix"].encode(),
        *(name.encode() for name in facts["names"]),
    ]
    database = data / "candor.sqlite3"
    # Before: the scan finds what it looks for (a public model's name and its owner's username in the
    # public projection; a private model's name, the address and IP are encrypted, and in the log the
    # redaction filter has already replaced them).
    wal = Path(f"{database}-wal")
    before = database.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert facts["names"][1].encode() in before and b"zeldaqx" in before
    assert facts["names"][0].encode() not in before
    assert b"zelda.unique.person@example.net" not in before and b"203.0.113.199" not in before
    deletion = run_candor(["shell", "-c", BYTE_SCAN_DELETE], tmp_path, env)
    assert deletion.returncode == 0 and "deleted" in deletion.stdout, deletion.stderr
    worker = run_candor(["worker", "--burst"], tmp_path, env)  # runs the queued finishing task
    assert worker.returncode == 0, worker.stderr
    scanned: list[Path] = [database, Path(f"{database}-wal"), Path(f"{database}-shm"), log_file]
    scanned += [p for p in (data / "media").rglob("*") if p.is_file()]
    for path in scanned:
        if not path.exists():
            continue
        content = path.read_bytes()
        for needle in needles:
            assert needle not in content, (path.name, needle)
    # The scan would have found other people's data: the demo's models are still in the database.
    assert DEMO_MODELS[0][1].encode() in database.read_bytes()
    # The queued email for her was removed, not sent; the receipt went out.
    sent = "".join(p.read_text() for p in (data / "mail").glob("*.log"))
    assert "Your account has been deleted" in sent
    assert "Your password was changed" not in sent


QUEUE_EMAILS = """
from candor.accounts.models import User
from candor.comms import outbox
rows = [outbox.queue("password-changed", User.objects.named(name).get().pk) for name in ("alice", "bob")]
print(rows[0].pk)
"""
DELETE_ALICE = """
from candor.accounts import actions, emails
from candor.accounts.models import User
from candor.lifecycle import erasure
alice = User.objects.named("alice").get()
actions.check_deletion(alice, password="violet-harbour-71", confirm="alice")
address, username = alice.email, alice.username
emails.send_deletion_receipt(address, username, erasure.erase_account(alice.pk).rows)
"""


def test_on_redis_the_deleted_persons_queued_emails_are_removed_from_rq(
    tmp_path: Path, redis_url: str
) -> None:
    import redis
    import rq

    client = redis.Redis.from_url(redis_url)
    empty_redis(redis_url)
    env = {"CANDOR_REDIS_URL": redis_url}
    try:
        assert run_candor(["demo", "--no-serve"], tmp_path, env).returncode == 0
        queued = run_candor(["shell", "-c", QUEUE_EMAILS], tmp_path, env)
        assert queued.returncode == 0, queued.stderr
        alice_email_id = queued.stdout.strip().splitlines()[-1]  # the task names her email, by its id
        queue = rq.Queue("default", connection=client)

        def jobs_naming(text: str) -> int:
            return sum(text in repr(job.args) + repr(job.kwargs) for job in queue.get_jobs())

        assert jobs_naming(alice_email_id) == 1 and len(queue.get_jobs()) == 2
        deleted = run_candor(["shell", "-c", DELETE_ALICE], tmp_path, env)
        assert deleted.returncode == 0, deleted.stderr
        assert jobs_naming(alice_email_id) == 0  # removed from the queue, not merely skipped when it runs
        worked = run_candor(["worker", "--burst"], tmp_path, env)
        assert worked.returncode == 0, worked.stderr
        sent = "".join(p.read_text() for p in (tmp_path / "data" / "mail").glob("*.log"))
        assert "Your account has been deleted" in sent  # the receipt, sent directly
        changed = [chunk for chunk in sent.split("-" * 79) if "Your password was changed" in chunk]
        assert len(changed) == 1 and "bob@demo.candor.localhost" in changed[0]  # bob's went; alice's did not
    finally:
        empty_redis(redis_url)


def test_a_receipt_is_tried_again_until_the_mail_server_takes_it(settings, monkeypatch, caplog) -> None:
    """Against a real SMTP server (aiosmtpd), down at first: the receipt waits in memory, then goes."""
    import logging
    import time

    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    from candor.accounts import emails
    from tests.test_settings_and_cli import free_port

    received: list[bytes] = []

    class Collect(Sink):
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope.content)
            return "250 OK"

    def smtp_on(port: int) -> None:
        backend = "django.core.mail.backends.smtp.EmailBackend"
        options = {"host": "127.0.0.1", "port": port, "timeout": 5}
        settings.MAILERS = {"default": {"BACKEND": backend, "OPTIONS": options}}

    def wait_until(condition, seconds: float = 10) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not condition():
            time.sleep(0.05)
        return condition()

    caplog.set_level(logging.WARNING, logger="candor.accounts")
    monkeypatch.setattr(emails, "RECEIPT_RETRY_SECONDS", (0.2, 0.2))
    smtp_on(free_port())  # nothing listens there: every try fails, then it gives up
    emails.send_deletion_receipt("gone@example.org", "gone", {"rows": 2})
    assert wait_until(lambda: "given up" in caplog.text)
    assert caplog.text.count("could not be sent") == 3  # the first try and two more

    caplog.clear()
    monkeypatch.setattr(emails, "RECEIPT_RETRY_SECONDS", (0.5,) * 20)
    port = free_port()
    smtp_on(port)
    emails.send_deletion_receipt("frida@example.org", "frida", {"rows": 3})
    assert "trying again" in caplog.text  # the first try failed before the call returned
    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert wait_until(lambda: bool(received))
    finally:
        controller.stop()
    assert len(received) == 1 and b"To: frida@example.org" in received[0] and b"deleted" in received[0]
    assert "given up" not in caplog.text
    assert "example.org" not in caplog.text and "frida" not in caplog.text  # nothing of hers in the log
