"""The data inventory: complete for every Candor model, enforced by `check`, and the source of the table."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import models
from django.test import Client
from django.test.utils import isolate_apps

from candor.accounts.models import User
from candor.privacy import inventory
from candor.privacy.checks import candor_models, check_inventory, check_models
from candor.privacy.inventory import NotPersonal, Personal, declare
from tests.conftest import run_candor

CLASSIFIED = Personal("contact.phone", "to test", "never kept", ("C1",), correctable=True)


def ids(messages) -> list[str]:
    return [m.id for m in messages]


def test_every_candor_model_is_classified() -> None:
    assert candor_models(), "the check must see Candor's models"
    assert check_inventory() == []


@isolate_apps("candor.privacy")
def test_an_unclassified_field_fails_and_is_named() -> None:
    class Pet(models.Model):
        owner = models.ForeignKey(User, on_delete=models.CASCADE)
        nickname = models.CharField(max_length=20)

        class Meta:
            app_label = "privacy"

    declare(Pet, belongs_to="owner", fields={"id": NotPersonal(), "owner": NotPersonal("link")})
    try:
        errors = check_models([Pet])
        assert ids(errors) == ["candor.privacy.E002"]
        assert "privacy.Pet.nickname" in errors[0].msg
    finally:
        inventory.forget(Pet)


@isolate_apps("candor.privacy")
def test_an_undeclared_model_fails() -> None:
    class Orphan(models.Model):
        class Meta:
            app_label = "privacy"

    assert ids(check_models([Orphan])) == ["candor.privacy.E001"]


@isolate_apps("candor.privacy")
@pytest.mark.parametrize(
    ("field", "name"),
    [
        (models.EmailField(), "contact"),
        (models.GenericIPAddressField(), "origin"),
        (models.CharField(max_length=20), "phone_number"),
        (models.CharField(max_length=20), "home_address"),
        (models.CharField(max_length=20), "display_name"),
        (models.DateField(), "birth_date"),
    ],
)
def test_personal_looking_fields_need_a_reason_to_be_not_personal(field: models.Field, name: str) -> None:
    attrs = {"__module__": __name__, "Meta": type("Meta", (), {"app_label": "privacy"}), name: field}
    model = type(f"Thing{name.title().replace('_', '')}", (models.Model,), attrs)
    try:
        declare(model, belongs_to=None, fields={"id": NotPersonal(), name: NotPersonal()})
        errors = check_models([model])
        assert ids(errors) == ["candor.privacy.E003"] and name in errors[0].msg
        declare(
            model,
            belongs_to=None,
            fields={"id": NotPersonal(), name: NotPersonal("holds a code, not a person")},
        )
        assert check_models([model]) == []
    finally:
        inventory.forget(model)


@isolate_apps("candor.privacy")
def test_personal_rows_must_say_whose_they_are_and_the_path_must_lead_to_an_account() -> None:
    class Note(models.Model):
        author = models.ForeignKey(User, on_delete=models.CASCADE)
        text = models.TextField()

        class Meta:
            app_label = "privacy"

    fields = {"id": NotPersonal(), "author": NotPersonal("link"), "text": CLASSIFIED}
    try:
        declare(Note, belongs_to=None, fields=fields)
        assert ids(check_models([Note])) == ["candor.privacy.E005"]
        declare(Note, belongs_to="text", fields=fields)
        assert ids(check_models([Note])) == ["candor.privacy.E006"]
        declare(Note, belongs_to="author", fields={**fields, "ghost": NotPersonal()})
        assert ids(check_models([Note])) == ["candor.privacy.E004"]
        declare(Note, belongs_to="author", fields=fields)
        assert check_models([Note]) == []
        assert any(r.model == "privacy.Note" and r.field == "text" for r in inventory.rows())
    finally:
        inventory.forget(Note)


def test_check_command_fails_on_an_unclassified_field(tmp_path: Path) -> None:
    """The whole way: `candor check` exits non-zero and names the field."""
    script = (
        "from candor.privacy import inventory\n"
        "from candor.hub.models import MLModel\n"
        "d = inventory.declaration_for(MLModel)\n"
        "f = dict(d.fields); f.pop('summary')\n"
        "inventory.declare(MLModel, belongs_to='owner', fields=f)\n"
        "from django.core.management import call_command\n"
        "call_command('check')\n"
    )
    result = run_candor(["shell", "-c", script], tmp_path)
    assert result.returncode != 0
    assert "hub.MLModel.summary is not classified" in result.stderr + result.stdout


@pytest.mark.django_db
def test_the_generated_table_and_the_api_show_every_personal_field(client: Client) -> None:
    rows = inventory.rows()
    page = client.get("/privacy/data/").content.decode()
    api = client.get("/api/v1/privacy/inventory").json()["items"]
    assert len(api) == len(rows) > 10
    for row in rows:
        assert f"{row.model}.{row.field}" in page
        assert row.category in page
    categories = {r.category for r in rows}
    assert {"account.username", "contact.email", "content.model_card", "account.token"} <= categories
    assert not any(r["field"] == "is_active" for r in api)  # not personal, so not in the table


@pytest.mark.django_db  # an API request is counted by the rate limit, in the database
def test_the_table_says_which_fields_are_stored_encrypted(client: Client) -> None:
    api = {(r["model"], r["field"]): r for r in client.get("/api/v1/privacy/inventory").json()["items"]}
    encrypted = {key for key, row in api.items() if row["encrypted"]}
    assert {
        ("accounts.User", "email"),
        ("accounts.EmailConfirmation", "email"),
        ("accounts.SecurityEvent", "ip_address"),
        ("privacy.ExportArchive", "archive"),  # the export's file, sealed under the account's key
        ("accounts.User", "username"),  # shown in public, but what a backup keeps must be unreadable
        ("api.ApiToken", "name"),
    } <= encrypted
    assert ("accounts.User", "username_index") not in encrypted  # a keyed hash, not the name
    page = client.get("/privacy/data/").content.decode()
    assert "Stored encrypted" in page
