"""Correction (clause C5; GDPR art. 16): every field the inventory calls correctable can be changed by
its owner, in the settings pages and through the API. A field newly marked correctable without a way to
change it fails the first test here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from candor.accounts.models import EmailConfirmation, User
from candor.api.actions import create_token
from candor.comms.actions import preferences_of
from candor.hub import actions as hub_actions
from candor.hub.models import MLModel
from candor.privacy import inventory
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

MODEL_FORM = {
    "title": "Old title",
    "summary": "old summary",
    "tags": "old",
    "license": "MIT",
    "library": "pytorch",
    "task": "other",
    "card": "old card",
    "in_popular": "on",  # a ticked box; left out of the form, it would be unticked
}


def _confirm_pending(user: User) -> None:
    from candor.accounts import actions

    confirmation = EmailConfirmation.objects.filter(user=user, purpose="change").latest("created_at")
    actions.confirm_email(confirmation.public_id, confirmation.token(), acting_user=None)


def _web_model_field(field: str, value: str) -> Callable[[Client, User], None]:
    def change(client: Client, user: User) -> None:
        response = client.post("/alice/model-a/edit/", {**MODEL_FORM, field: value})
        assert response.status_code == 302, response.content

    return change


def _api_model_field(field: str, value: Any) -> Callable[[Client], None]:
    def change(api: Client) -> None:
        response = api.patch("/api/v1/models/alice/model-a", {field: value}, content_type="application/json")
        assert response.status_code == 200, response.content

    return change


def _read_model(field: str) -> Callable[[User], Any]:
    def read(user: User) -> Any:
        model = MLModel.objects.named(user, "model-a").get()
        return sorted(model.tag_names) if field == "tags" else getattr(model, field)

    return read


def _web_email(client: Client, user: User) -> None:
    client.post("/settings/email/", {"email": "alice.web@example.org", "password": PASSWORD})
    _confirm_pending(user)


def _api_email(api: Client) -> None:
    response = api.post(
        "/api/v1/me/email",
        {"email": "alice.api@example.org", "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 202
    _confirm_pending(User.objects.named("alice").get())


def _web_profile(field: str) -> Callable[[Client, User], None]:
    def change(client: Client, user: User) -> None:
        other = "profile_indexable" if field == "profile_visible" else "profile_visible"
        response = client.post("/settings/models/", {other: "on"})  # the field itself unticked
        assert response.status_code == 302

    return change


def _api_profile(field: str) -> Callable[[Client], None]:
    def change(api: Client) -> None:
        response = api.patch("/api/v1/me", {field: True}, content_type="application/json")
        assert response.status_code == 200

    return change


def _read_user(field: str) -> Callable[[User], Any]:
    return lambda user: getattr(User.objects.get(pk=user.pk), field)


def _web_unticked(field: str) -> Callable[[Client, User], None]:
    def change(client: Client, user: User) -> None:
        form = {key: value for key, value in MODEL_FORM.items() if key != field}
        response = client.post("/alice/model-a/edit/", form)
        assert response.status_code == 302, response.content

    return change


def _web_visibility(client: Client, user: User) -> None:
    assert client.post("/alice/model-a/visibility/", {"visibility": "unlisted"}).status_code == 302


# (model, field) -> (change it on the web, change it through the API, read it back, web value, API value)
CORRECTIONS: dict[tuple[str, str], tuple[Callable, Callable, Callable, Any, Any]] = {
    ("accounts.User", "email"): (
        _web_email,
        _api_email,
        _read_user("email"),
        "alice.web@example.org",
        "alice.api@example.org",
    ),
    ("accounts.User", "profile_visible"): (
        _web_profile("profile_visible"),
        _api_profile("profile_visible"),
        _read_user("profile_visible"),
        False,
        True,
    ),
    ("accounts.User", "profile_indexable"): (
        _web_profile("profile_indexable"),
        _api_profile("profile_indexable"),
        _read_user("profile_indexable"),
        False,
        True,
    ),
    ("hub.MLModel", "title"): (
        _web_model_field("title", "Web title"),
        _api_model_field("title", "API title"),
        _read_model("title"),
        "Web title",
        "API title",
    ),
    ("hub.MLModel", "summary"): (
        _web_model_field("summary", "web words"),
        _api_model_field("summary", "api words"),
        _read_model("summary"),
        "web words",
        "api words",
    ),
    ("hub.MLModel", "card"): (
        _web_model_field("card", "# Web card"),
        _api_model_field("card", "# API card"),
        _read_model("card"),
        "# Web card",
        "# API card",
    ),
    ("hub.MLModel", "tags"): (
        _web_model_field("tags", "web, vision"),
        _api_model_field("tags", ["api", "text"]),
        _read_model("tags"),
        ["vision", "web"],
        ["api", "text"],
    ),
    ("hub.MLModel", "in_popular"): (
        _web_unticked("in_popular"),
        _api_model_field("in_popular", True),
        _read_model("in_popular"),
        False,
        True,
    ),
    ("hub.MLModel", "visibility"): (
        _web_visibility,
        lambda api: _api_model_field("visibility", "private")(api),
        _read_model("visibility"),
        "unlisted",
        "private",
    ),
}


def _web_product_updates(client: Client, user: User) -> None:
    response = client.post("/settings/emails/", {"product_updates": "off"})
    assert response.status_code == 302, response.content


def _api_product_updates(api: Client) -> None:
    response = api.patch(
        "/api/v1/me/email-preferences", {"product_updates": True}, content_type="application/json"
    )
    assert response.status_code == 200, response.content


def _read_product_updates(user: User) -> bool:
    return preferences_of(user).product_updates


CORRECTIONS[("comms.Preferences", "product_updates")] = (
    _web_product_updates,
    _api_product_updates,
    _read_product_updates,
    False,
    True,
)


def correctable_fields() -> set[tuple[str, str]]:
    return {
        (d.label, name)
        for d in inventory.declarations()
        if d.model.__module__.startswith("candor.")
        for name, item in d.personal_fields().items()
        if item.correctable
    }


def test_every_correctable_field_has_a_way_to_be_corrected() -> None:
    assert correctable_fields() == set(CORRECTIONS)


@pytest.mark.parametrize("key", sorted(CORRECTIONS), ids=lambda k: f"{k[0]}.{k[1]}")
def test_the_owner_corrects_it_in_settings_and_through_the_api(
    key, owner: User, owner_client: Client
) -> None:
    hub_actions.create_model(
        acting_user=owner,
        name="model-a",
        visibility="public",
        **{**MODEL_FORM, "tags": ["old"], "in_popular": True},
    )
    web, api_change, read, web_value, api_value = CORRECTIONS[key]
    before = read(owner)
    web(owner_client, owner)
    assert read(owner) == web_value != before
    token = create_token(owner, name="fix", scopes=["read", "write"], acting_user=owner)[1]
    api_change(Client(HTTP_AUTHORIZATION=f"Bearer {token}"))
    assert read(owner) == api_value
