"""Encryption at rest (clauses C18, C25): per-account data keys under master keys, and blind indexes."""

from __future__ import annotations

import base64
import os
import re

import pytest
from django.db import connection
from django.test import Client

from candor.accounts import actions as account_actions
from candor.accounts.models import EmailConfirmation, SecurityEvent, User
from candor.privacy import crypto
from candor.privacy.models import DataKey
from tests.conftest import PASSWORD, make_user, run_candor

pytestmark = pytest.mark.django_db

FORMAT = re.compile(r"^enc:v1:[A-Za-z0-9_-]{16}:[A-Za-z0-9_=-]+$")


def new_key() -> bytes:
    return os.urandom(32)


MODELS = {
    "accounts_user": User,
    "accounts_emailconfirmation": EmailConfirmation,
    "accounts_securityevent": SecurityEvent,
}


def raw(table: str, column: str, pk: object) -> str:
    """The column as stored (values_list skips the field's decrypting descriptor)."""
    return str(MODELS[table].objects.filter(pk=pk).values_list(column, flat=True).get())


def every_stored_text() -> str:
    """Every value of every column of every table, as text: what a copy of the database would show."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                found.extend(
                    bytes(v).decode("latin-1") if isinstance(v, bytes | memoryview) else str(v) for v in row
                )
    return "\n".join(found)


def test_addresses_are_stored_encrypted_under_the_accounts_own_key() -> None:
    alice = make_user("alice")
    bob = make_user("bob")
    stored = raw("accounts_user", "email", alice.pk)
    assert FORMAT.match(stored) and "alice" not in stored and "example.org" not in stored
    alice_key = DataKey.objects.get(user=alice)
    assert stored.split(":")[2] == alice_key.key_id
    assert raw("accounts_user", "email", bob.pk).split(":")[2] == DataKey.objects.get(user=bob).key_id
    assert User.objects.get(pk=alice.pk).email == "alice@example.org"
    # The data key itself is stored wrapped, never in clear.
    assert bytes(alice_key.wrapped) != crypto.unwrap(
        alice_key.wrapped, alice_key.key_id, alice_key.master_key_id
    )
    assert "alice@example.org" not in every_stored_text()
    assert "bob@example.org" not in every_stored_text()


def test_two_encryptions_of_one_value_differ_and_a_moved_value_does_not_decrypt() -> None:
    alice = make_user("alice")
    bob = make_user("bob")
    first = raw("accounts_user", "email", alice.pk)
    alice.email = "alice@example.org"
    alice.save()
    assert raw("accounts_user", "email", alice.pk) != first  # a fresh nonce each time it is written
    # Alice's ciphertext copied onto Bob's row names her key, but the associated data names her row.
    User.objects.filter(pk=bob.pk).update(email=raw("accounts_user", "email", alice.pk))
    with pytest.raises(crypto.KeyringError, match="does not match"):
        _ = User.objects.get(pk=bob.pk).email


def test_a_tampered_value_is_refused_rather_than_read_wrongly() -> None:
    alice = make_user("alice")
    stored = raw("accounts_user", "email", alice.pk)
    head, body = stored.rsplit(":", 1)
    data = bytearray(base64.urlsafe_b64decode(body))
    data[-1] ^= 1
    User.objects.filter(pk=alice.pk).update(email=f"{head}:{base64.urlsafe_b64encode(bytes(data)).decode()}")
    with pytest.raises(crypto.KeyringError):
        _ = User.objects.get(pk=alice.pk).email


def test_sign_in_and_uniqueness_use_the_blind_index(client: Client, mailbox) -> None:
    alice = make_user("alice")
    assert raw("accounts_user", "email_index", alice.pk) == crypto.blind_index("email", "ALICE@example.org ")
    assert account_actions.email_in_use("Alice@Example.ORG") == alice
    response = client.post("/login/", {"username": "ALICE@EXAMPLE.ORG", "password": PASSWORD})
    assert response.status_code == 302
    # Signing up with the same address in other letters claims nothing: the index still finds alice, the
    # new account's index is a stand-in, and the address's owner is told.
    other = account_actions.sign_up(
        username="alice2", email="aLiCe@example.org", password=PASSWORD, acting_user=None
    )
    assert other.address_unclaimed
    assert raw("accounts_user", "email_index", other.pk) != raw("accounts_user", "email_index", alice.pk)
    assert account_actions.email_in_use("alice@example.org") == alice
    assert mailbox.last_to("alice@example.org")["Subject"].endswith("Someone tried to use your email address")


def test_the_index_has_its_own_key(settings) -> None:
    before = crypto.blind_index("email", "alice@example.org")
    settings.MASTER_KEYS = {"other": new_key()}  # rotating master keys leaves every index valid
    assert crypto.blind_index("email", "alice@example.org") == before
    settings.BLIND_INDEX_KEY = new_key()
    assert crypto.blind_index("email", "alice@example.org") != before
    assert crypto.blind_index("email", "alice@example.org") != crypto.blind_index(
        "username", "alice@example.org"
    )


def test_pending_addresses_and_security_event_addresses_are_encrypted_too(client: Client) -> None:
    alice = make_user("alice")
    account_actions.request_email_change(
        alice, password=PASSWORD, new_email="alice.new@example.org", acting_user=alice
    )
    confirmation = EmailConfirmation.objects.get(user=alice, purpose="change")
    assert FORMAT.match(raw("accounts_emailconfirmation", "email", confirmation.pk))
    assert EmailConfirmation.objects.get(pk=confirmation.pk).email == "alice.new@example.org"
    client.post("/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="203.0.113.77")
    event = SecurityEvent.objects.get(user=alice, kind="sign_in")
    assert FORMAT.match(raw("accounts_securityevent", "ip_address", event.pk))
    assert "203.0.113.77" not in every_stored_text() and "alice.new@example.org" not in every_stored_text()


def test_rotation_rewraps_data_keys_without_touching_encrypted_values(settings) -> None:
    alice = make_user("alice")
    bob = make_user("bob")
    old_id = next(iter(settings.MASTER_KEYS))
    old_key = settings.MASTER_KEYS[old_id]
    stored = raw("accounts_user", "email", alice.pk)
    settings.MASTER_KEYS = {"next": new_key(), old_id: old_key}
    crypto.forget_cached_keys()
    assert crypto.rewrap_all() == 2
    assert set(DataKey.objects.values_list("master_key_id", flat=True)) == {"next"}
    assert crypto.rewrap_all() == 0
    # The old master key can now go: everything still reads, and the values themselves never changed.
    settings.MASTER_KEYS = {"next": settings.MASTER_KEYS["next"]}
    crypto.forget_cached_keys()
    assert raw("accounts_user", "email", alice.pk) == stored
    assert User.objects.get(pk=alice.pk).email == "alice@example.org"
    assert User.objects.get(pk=bob.pk).email == "bob@example.org"
    carol = make_user("carol")  # new keys are wrapped under the first master key
    assert DataKey.objects.get(user=carol).master_key_id == "next"


def test_a_missing_or_wrong_master_key_is_a_clear_error_and_nothing_is_read(settings) -> None:
    alice = make_user("alice")
    old_id = next(iter(settings.MASTER_KEYS))
    right_keys = dict(settings.MASTER_KEYS)
    crypto.forget_cached_keys()
    settings.MASTER_KEYS = {"unrelated": new_key()}
    with pytest.raises(crypto.KeyringError, match=f"{old_id!r}, which is not in CANDOR_MASTER_KEYS"):
        _ = User.objects.get(pk=alice.pk).email
    with pytest.raises(crypto.KeyringError):
        crypto.verify_keyring()
    settings.MASTER_KEYS = {old_id: new_key()}  # the right name, the wrong key
    with pytest.raises(crypto.KeyringError, match="is not the key that wrapped"):
        _ = User.objects.get(pk=alice.pk).email
    # Nothing was lost: with the right key back, the value reads as before.
    assert FORMAT.match(raw("accounts_user", "email", alice.pk))
    settings.MASTER_KEYS = right_keys
    crypto.forget_cached_keys()
    assert User.objects.get(pk=alice.pk).email == "alice@example.org"


def test_start_up_stops_on_a_wrong_master_key_and_rewrap_rotates(tmp_path) -> None:
    assert run_candor(["demo", "--no-serve"], tmp_path).returncode == 0
    key_file = (tmp_path / "data" / "master_keys").read_text().strip()
    wrong = {"CANDOR_MASTER_KEYS": f"{key_file.split(':')[0]}:{base64.urlsafe_b64encode(new_key()).decode()}"}
    for command in (["worker", "--burst"], ["serve", "--no-migrate"], ["privacy", "verify-keys"]):
        result = run_candor(command, tmp_path, wrong)
        assert result.returncode != 0, command
        assert "is not the key that wrapped the data keys" in result.stderr, command
        assert "Traceback" not in result.stderr
    rotated = {"CANDOR_MASTER_KEYS": f"fresh:{base64.urlsafe_b64encode(new_key()).decode()},{key_file}"}
    result = run_candor(["privacy", "rewrap"], tmp_path, rotated)
    assert result.returncode == 0 and "under the master key 'fresh'" in result.stdout
    only_new = {"CANDOR_MASTER_KEYS": rotated["CANDOR_MASTER_KEYS"].split(",")[0]}
    result = run_candor(
        [
            "shell",
            "-c",
            "from candor.accounts.models import User; print(User.objects.named('alice').get().email)",
        ],
        tmp_path,
        only_new,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "alice@demo.candor.localhost"
    assert run_candor(["privacy", "verify-keys"], tmp_path, only_new).returncode == 0


def test_addresses_stored_before_encryption_are_encrypted_by_the_migration(tmp_path) -> None:
    """An installation from before encryption: its clear addresses are encrypted and indexed on migrate."""
    assert run_candor(["migrate", "-v0", "accounts", "0002"], tmp_path).returncode == 0
    insert = (
        "from django.db import connection\n"
        "c = connection.cursor()\n"
        'c.execute("INSERT INTO accounts_user (id, password, username, email, email_verified, is_active, '
        "is_staff, date_joined, profile_visible, profile_indexable) VALUES "
        "('0123456789abcdef0123456789abcdef', '!', 'olduser', 'Old.User@Example.org', 1, 1, 0, "
        "'2026-01-01 00:00:00', 1, 1)\")\n"
    )
    assert run_candor(["shell", "-c", insert], tmp_path).returncode == 0
    assert run_candor(["migrate", "-v0"], tmp_path).returncode == 0
    check = (
        "from candor.accounts.models import User, email_index, username_index\n"
        "raw = User.objects.values_list('email', flat=True).get(username_index=username_index('olduser'))\n"
        "user = User.objects.get(email_index=email_index('old.user@example.org'))\n"
        "print(raw.startswith('enc:v1:'), 'Example' in raw, user.email)\n"
    )
    result = run_candor(["shell", "-c", check], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True False Old.User@Example.org"
    database = (tmp_path / "data" / "candor.sqlite3").read_bytes()
    assert b"Old.User@Example.org" not in database


def test_without_keys_nothing_is_encrypted_or_indexed(settings) -> None:
    """A process that only answered --help has no keys: using them fails, rather than hashing or wrapping
    under an empty key into values that match nothing."""
    settings.MASTER_KEYS = {}
    with pytest.raises(crypto.KeyringError, match="--help"):
        crypto.current_master_key_id()
    settings.BLIND_INDEX_KEY = b""
    with pytest.raises(crypto.KeyringError, match="--help"):
        crypto.blind_index("email", "alice@example.org")


MODEL_ROWS = """
from django.db import connection
c = connection.cursor()
c.execute(
    "INSERT INTO accounts_user (id, password, username, email, email_index, email_verified, is_active, "
    "is_staff, date_joined, profile_visible, profile_indexable) "
    "VALUES ('0123456789abcdef0123456789abcdef', '!', 'olduser', 'x', 'idx', 1, 1, 0, "
    "'2026-01-01 00:00:00', 1, 1)"
)
for pk, name, visibility in ((1, "Old-Net", "public"), (2, "Hidden-Net", "private")):
    c.execute(
        "INSERT INTO hub_mlmodel (id, owner_id, name, title, summary, card, license, library, task, "
        "visibility, storage_key, created_at, updated_at, in_popular) "
        "VALUES (%s, '0123456789abcdef0123456789abcdef', %s, %s, %s, %s, 'MIT', 'onnx', 'other', %s, %s, "
        "'2026-01-01 00:00:00', '2026-01-02 00:00:00', 1)",
        [pk, name, name + " title", "a summary of " + name, "# card of " + name, visibility, f"key{pk}"],
    )
c.execute("INSERT INTO hub_tag (id, name) VALUES (1, 'oldtopic'), (2, 'secrettopic')")
c.execute("INSERT INTO hub_mlmodel_tags (mlmodel_id, tag_id) VALUES (1, 1), (2, 2)")
"""
AFTER_0005 = """
import importlib
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
state = MigrationExecutor(connection).loader.project_state(("hub", "0007_encrypt_existing_content"))
M = state.apps.get_model("hub", "MLModel")
columns = ("name", "title", "summary", "card", "tag_list", "name_index")
raw = lambda: list(M.objects.order_by("pk").values_list(*columns))
before = raw()
print("encrypted", all(v.startswith("enc:v1:") for row in before for v in row[:5]))
step = importlib.import_module("candor.hub.migrations.0007_encrypt_existing_content")
step.encrypt_existing(state.apps, None)
print("unchanged on a second run", raw() == before)
M.objects.filter(pk=2).update(title="Plain again")
step.encrypt_existing(state.apps, None)
after = raw()
title = after[1][1]
print("only the clear value", after[0] == before[0] and title.startswith("enc:v1:") and title != before[1][1])
"""
CHECK_CONTENT = """
from candor.hub.models import MLModel, PublicModel
old = MLModel.objects.named_by("olduser", "old-net").get()
hidden = MLModel.objects.named_by("OLDUSER", "HIDDEN-net").get()
row = PublicModel.objects.get()
print(old.title, "|", old.tag_names, "|", hidden.title, "|", hidden.tag_names)
print(row.pk == old.pk, row.name, row.title, row.summary, row.tags.strip(), row.owner_username)
"""


def test_model_content_stored_before_encryption_is_encrypted_by_the_migration(tmp_path) -> None:
    """An installation from before: its models' words are encrypted, indexed and projected on migrate,
    and the data migration run again changes only what is still in clear."""
    assert run_candor(["migrate", "-v0", "hub", "0003"], tmp_path).returncode == 0
    assert run_candor(["migrate", "-v0", "accounts", "0004"], tmp_path).returncode == 0
    inserted = run_candor(["shell", "-c", MODEL_ROWS], tmp_path)
    assert inserted.returncode == 0, inserted.stderr
    assert run_candor(["migrate", "-v0", "hub", "0007"], tmp_path).returncode == 0
    rerun = run_candor(["shell", "-c", AFTER_0005], tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.strip().splitlines()[-3:] == [
        "encrypted True",
        "unchanged on a second run True",
        "only the clear value True",
    ]
    assert run_candor(["migrate", "-v0"], tmp_path).returncode == 0
    result = run_candor(["shell", "-c", CHECK_CONTENT], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-2:] == [
        "Old-Net title | ['oldtopic'] | Plain again | ['secrettopic']",
        "True Old-Net Old-Net title a summary of Old-Net oldtopic olduser",
    ]
    database = (tmp_path / "data" / "candor.sqlite3").read_bytes()
    wal = tmp_path / "data" / "candor.sqlite3-wal"
    content = database + (wal.read_bytes() if wal.exists() else b"")
    for word in (b"Hidden-Net", b"secrettopic", b"Plain again", b"card of Hidden"):
        assert word not in content, word
