"""The hub's actions: one audit row per model created, visibility changed and model deleted, with ids
and fixed words only; none for a refused change; "may edit" as the visibility helper says."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from candor.accounts.models import User
from candor.hub import actions, visibility
from candor.hub.models import MLModel
from candor.kernel import hooks
from candor.kernel.refusal import Code, Refusal
from candor.privacy.audit import EventType
from candor.privacy.models import AuditEvent
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def rows() -> list[AuditEvent]:
    return list(AuditEvent.objects.order_by("id"))


def assert_nothing_personal(event: AuditEvent, *values: str) -> None:
    stored = json.dumps([event.event_type, str(event.acting_user_id), str(event.subject_id), event.extra])
    for value in values:
        assert value.lower() not in stored.lower(), value


def test_creating_a_model_writes_one_row_of_ids(owner: User) -> None:
    model = actions.create_model(
        acting_user=owner, name="secret-net", title="Secret net", visibility="public"
    )
    [event] = rows()
    assert event.event_type == EventType.MODEL_CREATED
    assert (event.acting_user_id, event.subject_id, event.model_id) == (owner.pk, owner.pk, model.pk)
    assert event.extra == {"visibility": "public"}
    assert_nothing_personal(event, owner.username, owner.email, "secret-net", "Secret net")


def test_a_visibility_change_writes_the_new_and_the_previous_visibility(owner: User) -> None:
    model = actions.create_model(acting_user=owner, name="m")
    actions.set_visibility(model, "unlisted", acting_user=owner)
    actions.update_model(model, acting_user=owner, title="Other title")  # no visibility change: no row
    actions.update_model(model, acting_user=owner, visibility="public", summary="now out")
    changes = [e for e in rows() if e.event_type == EventType.MODEL_VISIBILITY_CHANGED]
    assert [e.extra for e in changes] == [
        {"visibility": "unlisted", "previous_visibility": "private"},
        {"visibility": "public", "previous_visibility": "unlisted"},
    ]
    assert {(e.acting_user_id, e.subject_id, e.model_id) for e in changes} == {(owner.pk, owner.pk, model.pk)}


def test_the_bulk_change_writes_one_row_per_model_it_changed(owner: User) -> None:
    first = actions.create_model(acting_user=owner, name="one")
    second = actions.create_model(acting_user=owner, name="two", visibility="unlisted")
    actions.create_model(acting_user=owner, name="three", visibility="public")
    assert actions.set_visibility_of_all("public", acting_user=owner) == 2
    changes = {e.model_id: e.extra for e in rows() if e.event_type == EventType.MODEL_VISIBILITY_CHANGED}
    assert changes == {
        first.pk: {"visibility": "public", "previous_visibility": "private"},
        second.pk: {"visibility": "public", "previous_visibility": "unlisted"},
    }


def test_deleting_a_model_writes_a_row_that_outlives_it(owner: User) -> None:
    model = actions.create_model(acting_user=owner, name="doomed", visibility="public")
    model_id = model.pk
    actions.delete_model(model, acting_user=owner)
    assert not MLModel.objects.filter(pk=model_id).exists()
    event = rows()[-1]
    assert event.event_type == EventType.MODEL_DELETED
    assert (event.acting_user_id, event.subject_id, event.model_id) == (owner.pk, owner.pk, model_id)
    assert event.extra == {}
    assert_nothing_personal(event, owner.username, "doomed")


def refusals(owner: User, member: User, model: MLModel) -> list[tuple[Callable[[], Any], Code]]:
    unverified = make_user("eve", verified=False)
    return [
        (lambda: actions.set_visibility(model, "public", acting_user=member), Code.FORBIDDEN),
        (lambda: actions.delete_model(model, acting_user=member), Code.FORBIDDEN),
        (lambda: actions.update_model(model, acting_user=owner, visibility="everyone"), Code.INVALID_FIELDS),
        (lambda: actions.create_model(acting_user=owner, name="../etc"), Code.INVALID_FIELDS),
        (lambda: actions.create_model(acting_user=owner, name="kept"), Code.CONFLICT),
        (
            lambda: actions.create_model(acting_user=unverified, name="x", visibility="public"),
            Code.EMAIL_UNVERIFIED,
        ),
        (lambda: actions.set_visibility_of_all("public", acting_user=unverified), Code.EMAIL_UNVERIFIED),
    ]


def test_a_refused_change_writes_no_row_and_changes_nothing(owner: User, member: User) -> None:
    model = actions.create_model(acting_user=owner, name="kept")
    before = rows()
    for attempt, code in refusals(owner, member, model):
        with pytest.raises(Refusal) as refused:
            attempt()
        assert refused.value.code == code
        assert rows() == before
    model.refresh_from_db()
    assert model.visibility == "private"


def test_an_inactive_owner_may_not_edit(owner: User) -> None:
    model = actions.create_model(acting_user=owner, name="frozen", title="Frozen")
    assert visibility.can_edit(owner, model)
    owner.is_active = False
    owner.save()
    assert not visibility.can_edit(owner, model)
    for attempt in (
        lambda: actions.update_model(model, acting_user=owner, title="Thawed"),
        lambda: actions.set_visibility(model, "unlisted", acting_user=owner),
        lambda: actions.add_file(model, "w.bin", [b"w"], acting_user=owner),
        lambda: actions.delete_file(model, "w.bin", acting_user=owner),
        lambda: actions.delete_model(model, acting_user=owner),
    ):
        with pytest.raises(Refusal) as refused:
            attempt()
        assert refused.value.code == Code.FORBIDDEN
    model.refresh_from_db()
    assert model.title == "Frozen" and model.visibility == "private"


@pytest.fixture
def changed() -> Iterator[list[tuple[int, ...]]]:
    seen: list[tuple[int, ...]] = []

    def receiver(payload: hooks.ListingChanged) -> None:
        seen.append(tuple(payload.model_ids))

    hooks.listing_changed.connect(receiver)
    yield seen
    hooks.listing_changed.disconnect(receiver)


def test_listing_changes_are_announced_after_commit_only(
    owner: User, changed: list[tuple[int, ...]], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as pending:
        hidden = actions.create_model(acting_user=owner, name="hidden")
        shown = actions.create_model(acting_user=owner, name="shown", visibility="public")
    assert changed == []  # not yet committed
    for callback in pending:
        callback()
    shown_id = shown.pk
    assert changed == [(shown_id,)]  # a private model changes no listing
    with django_capture_on_commit_callbacks(execute=True):
        actions.delete_model(shown, acting_user=owner)
        actions.update_model(hidden, acting_user=owner, title="Still private")
    assert changed == [(shown_id,), (shown_id,)]
