"""Usernames are stored encrypted, like every field a person types in (clauses C18, C25), and found by
a blind index: sign-in, profile and model addresses, "name taken", Django's natural key. API token
names are encrypted too."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection
from django.test import Client

from candor.accounts import actions as account_actions
from candor.accounts.models import User, username_index, username_q
from candor.hub import actions as hub_actions
from candor.hub.models import MLModel
from candor.kernel.refusal import Code, Refusal
from candor.lifecycle import erasure
from candor.privacy import crypto
from candor.privacy.models import RetiredUsername
from tests.conftest import PASSWORD, make_user, run_candor
from tests.privacy.test_encryption import FORMAT, every_stored_text, raw

pytestmark = pytest.mark.django_db


def test_a_username_is_stored_encrypted_and_read_in_clear() -> None:
    user = make_user("quillwort")
    stored = raw("accounts_user", "username", user.pk)
    assert FORMAT.match(stored) and "quillwort" not in stored
    assert raw("accounts_user", "username_index", user.pk) == crypto.blind_index("username", "QuillWort ")
    assert User.objects.get(pk=user.pk).username == "quillwort"
    assert "quillwort" not in every_stored_text()


def test_lookups_by_name_ignore_case_and_go_through_the_index(client: Client) -> None:
    user = make_user("Quillwort")
    assert User.objects.by_username("QUILLWORT") == user
    assert User.objects.named("quillwort").get() == user
    assert User.objects.get_by_natural_key("qUiLlWoRt") == user
    assert User.objects.by_username("quill") is None
    hub_actions.create_model(acting_user=user, name="fern", visibility="public")
    assert MLModel.objects.filter(username_q("QUILLWORT", "owner__")).count() == 1
    # The profile and model pages, by name in any case; sign-in by name in any case.
    assert client.get("/quillwort/").status_code == 200
    assert client.get("/QUILLWORT/fern/").status_code == 200
    assert client.get("/api/v1/models/quillwort/fern").status_code == 200
    assert client.get("/quillwor/").status_code == 404
    response = client.post("/login/", {"username": "QUILLWORT", "password": PASSWORD})
    assert response.status_code == 302


def test_one_name_in_any_case_is_one_account() -> None:
    make_user("quillwort")
    with pytest.raises(Refusal) as refused:
        account_actions.sign_up(
            username="QuillWort", email="q2@example.org", password=PASSWORD, acting_user=None
        )
    assert refused.value.code == Code.USERNAME_TAKEN
    # The database says so too, for a writer that skipped the check.
    with pytest.raises(IntegrityError):
        User.objects.create_user("QUILLWORT", "q3@example.org", PASSWORD)


def test_renaming_follows_the_index() -> None:
    user = make_user("quillwort")
    user.username = "bracken"
    user.save(update_fields=["username"])
    assert User.objects.by_username("bracken") == user
    assert User.objects.by_username("quillwort") is None
    # Saving a loaded account without touching the name keeps name and index as they were.
    loaded = User.objects.get(pk=user.pk)
    loaded.profile_visible = False
    loaded.save()
    assert User.objects.by_username("bracken") == user
    assert User.objects.get(pk=user.pk).username == "bracken"


def test_an_erased_name_is_retired_by_its_index_and_unreadable() -> None:
    user = make_user("quillwort")
    stored = raw("accounts_user", "username", user.pk)
    erasure.erase_account(user.pk, acting_user=user)
    assert RetiredUsername.objects.filter(digest=username_index("QUILLWORT")).exists()
    assert account_actions.username_taken("quillwort")
    # A copy of the row taken before the erasure (as a backup holds it) cannot be read any more.
    assert crypto.decrypt(stored, context=crypto.associated_data("accounts.User", "username", user.pk)) is (
        crypto.UNREADABLE
    )


def test_the_stored_values_hold_no_clear_username_on_this_database() -> None:
    make_user("quillwort")
    with connection.cursor() as cursor:
        cursor.execute("SELECT username FROM accounts_user")
        assert all(FORMAT.match(value) for (value,) in cursor.fetchall())


def test_usernames_stored_in_clear_are_encrypted_by_the_migration(tmp_path) -> None:
    """An installation from before: its clear names are encrypted and indexed on migrate, and the
    function is safe to run again (the names it finds encrypted it leaves as they are)."""
    assert run_candor(["migrate", "-v0", "accounts", "0004"], tmp_path).returncode == 0
    assert run_candor(["migrate", "-v0", "api", "0001"], tmp_path).returncode == 0
    insert = (
        "from django.db import connection\n"
        "from candor.privacy import crypto\n"
        "c = connection.cursor()\n"
        "for pk, name in (('0123456789abcdef0123456789abcdef', 'Old-Fernwhistle'),"
        " ('fedcba9876543210fedcba9876543210', 'other-fernwhistle')):\n"
        '    c.execute("INSERT INTO accounts_user (id, password, username, email, email_index,'
        " email_verified, is_active, is_staff, date_joined, profile_visible, profile_indexable) VALUES "
        "(%s, '!', %s, 'x', %s, 1, 1, 0, '2026-01-01 00:00:00', 1, 1)\", [pk, name, pk])\n"
        'c.execute("INSERT INTO api_apitoken (id, user_id, name, scopes, prefix, secret_hash, created_at) '
        "VALUES ('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', '0123456789abcdef0123456789abcdef',"
        " 'Fernwhistle laptop', '[]', 'x', 'y', '2026-01-01 00:00:00')\")\n"
    )
    result = run_candor(["shell", "-c", insert], tmp_path)
    assert result.returncode == 0, result.stderr
    assert run_candor(["migrate", "-v0"], tmp_path).returncode == 0
    check = (
        "import importlib\n"
        "from django.apps import apps\n"
        "from candor.accounts.models import User\n"
        "migration = importlib.import_module('candor.accounts.migrations.0005_encrypted_username')\n"
        "before = sorted(User.objects.values_list('username', flat=True))\n"
        "migration.encrypt_existing(apps, None)\n"
        "after = sorted(User.objects.values_list('username', flat=True))\n"
        "user = User.objects.by_username('OLD-fernwhistle')\n"
        "from candor.api.models import ApiToken\n"
        "token = ApiToken.objects.get()\n"
        "print(before == after, all(v.startswith('enc:v1:') for v in after), user.username,"
        " User.objects.by_username('other-fernwhistle').username, token.user == user, token.name)\n"
    )
    result = run_candor(["shell", "-c", check], tmp_path)
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last == "True True Old-Fernwhistle other-fernwhistle True Fernwhistle laptop"
    database = (tmp_path / "data" / "candor.sqlite3").read_bytes()
    assert b"fernwhistle" not in database.lower()


def test_createsuperuser_makes_a_staff_account_found_by_its_name(tmp_path) -> None:
    env = {"DJANGO_SUPERUSER_PASSWORD": "a-long-superuser-password-1"}
    assert run_candor(["migrate", "-v0"], tmp_path).returncode == 0
    args = ["createsuperuser", "--noinput", "--username", "Rootling", "--email", "root@example.org"]
    result = run_candor(args, tmp_path, env)
    assert result.returncode == 0, result.stderr
    again = run_candor([*args[:3], "ROOTLING", *args[4:]], tmp_path, env)
    assert again.returncode != 0 and "already taken" in again.stderr
    check = (
        "from candor.accounts.models import User\n"
        "u = User.objects.by_username('rootling')\n"
        "print(u.username, u.is_staff, u.email_verified, u.check_password('a-long-superuser-password-1'))\n"
    )
    result = run_candor(["shell", "-c", check], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "Rootling True True True"


def test_a_token_name_is_stored_encrypted() -> None:
    from candor.api.actions import create_token
    from candor.api.models import ApiToken

    user = make_user("quillwort")
    token, _ = create_token(user, name="Fernwhistle laptop", scopes=["read"], acting_user=user)
    stored = ApiToken.objects.filter(pk=token.pk).values_list("name", flat=True).get()
    assert FORMAT.match(stored) and "Fernwhistle" not in stored
    assert ApiToken.objects.get(pk=token.pk).name == "Fernwhistle laptop"
    assert "Fernwhistle" not in every_stored_text()
