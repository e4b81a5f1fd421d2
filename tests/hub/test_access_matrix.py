"""Clause C4 through changes of state: every persona and surface after each visibility change, a
deletion, a bulk change, a hidden or unindexed profile, an owner made inactive.

The route walker (tests/test_routes.py) asks every route, as every persona, about each visibility once;
what it cannot see is kept here: whether a model shows in the lists (listings, search, profile, sitemap,
feed, the API's list and search) and is marked noindex, and how that follows the model from one state to
the next."""

from __future__ import annotations

import itertools

import pytest
from django.core.files.storage import default_storage
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from candor.accounts.models import User
from candor.hub import actions, revisions
from candor.hub.models import MLModel
from tests.hub.access import PERSONAS, absent, check, client_for, observe

pytestmark = pytest.mark.django_db

counter = itertools.count()


def publish(owner: User, visibility: str) -> MLModel:
    n = next(counter)
    model = actions.create_model(
        acting_user=owner,
        name=f"model-{n}",
        title=f"Zebrafinch{n}",
        summary="a test model",
        tags="matrix",
        visibility=visibility,
    )
    actions.add_file(model, "weights.bin", [b"\x00weights" * 10], acting_user=owner)
    return model


def test_deleted_model_is_gone_everywhere_and_from_storage(
    owner: User, member: User, django_capture_on_commit_callbacks
) -> None:
    model = publish(owner, "public")
    blob = str(revisions.head_files(model).get().blob.stored.name)
    assert default_storage.exists(blob)
    name, title = model.name, model.title
    with django_capture_on_commit_callbacks(execute=True):
        actions.delete_model(model, acting_user=owner)
    assert not default_storage.exists(blob)
    for persona in PERSONAS:
        client = client_for(persona, owner, member)
        check(
            persona,
            "deleted",
            observe(client, owner.username, name, title, "weights.bin"),
            absent(client, owner.username),
        )


class VisibilityWalk(RuleBasedStateMachine):
    """Walks one model through visibility changes (public → unlisted → private → public → deleted and any
    other order Hypothesis picks) and re-checks every surface for every persona after each step."""

    owner: User
    member: User

    def __init__(self) -> None:
        super().__init__()
        self.model: MLModel | None = publish(self.owner, "private")
        self.state = "private"
        self.name, self.title = self.model.name, self.model.title

    @rule(visibility=st.sampled_from(["public", "unlisted", "private"]))
    def change(self, visibility: str) -> None:
        if self.model is None:
            return
        actions.set_visibility(self.model, visibility, acting_user=self.owner)
        self.state = visibility

    @rule()
    def delete(self) -> None:
        if self.model is None:
            return
        actions.delete_model(self.model, acting_user=self.owner)
        self.model, self.state = None, "deleted"

    @invariant()
    def every_surface_agrees(self) -> None:
        for persona in PERSONAS:
            client = client_for(persona, self.owner, self.member)
            seen = observe(client, self.owner.username, self.name, self.title, "weights.bin")
            check(persona, self.state, seen, absent(client, self.owner.username))


def test_walk_through_visibility_states(owner: User, member: User) -> None:
    VisibilityWalk.owner, VisibilityWalk.member = owner, member
    run_state_machine_as_test(
        VisibilityWalk, settings=settings(max_examples=8, stateful_step_count=6, deadline=None)
    )


def test_the_prescribed_walk(owner: User, member: User) -> None:
    """The walk named in the issue, step by step: public, unlisted, private, public, deleted."""
    model = publish(owner, "private")
    name, title = model.name, model.title
    for state in ("public", "unlisted", "private", "public", "deleted"):
        if state == "deleted":
            actions.delete_model(model, acting_user=owner)
        else:
            actions.set_visibility(model, state, acting_user=owner)
        for persona in PERSONAS:
            client = client_for(persona, owner, member)
            check(
                persona,
                state,
                observe(client, owner.username, name, title, "weights.bin"),
                absent(client, owner.username),
            )


def test_bulk_visibility_changes_every_model(owner: User, member: User) -> None:
    models = [publish(owner, v) for v in ("public", "unlisted", "private")]
    assert actions.set_visibility_of_all("private", acting_user=owner) == 2
    for model in models:
        client = client_for("member", owner, member)
        check(
            "member",
            "private",
            observe(client, owner.username, model.name, model.title, "weights.bin"),
            absent(client, owner.username),
        )


def test_hidden_profile(owner: User, member: User) -> None:
    model = publish(owner, "public")
    actions.set_profile(acting_user=owner, visible=False)
    stranger = client_for("anonymous", owner, member)
    missing_profile = stranger.get("/nobody-here/")
    hidden = stranger.get(f"/{owner.username}/")
    assert (
        (hidden.status_code, hidden.content)
        == (missing_profile.status_code, missing_profile.content)
        == (404, missing_profile.content)
    )
    page = stranger.get(model.get_absolute_url())
    assert page.status_code == 200
    assert f'href="/{owner.username}/"'.encode() not in page.content  # public model, no profile link
    assert client_for("owner", owner, member).get(f"/{owner.username}/").status_code == 200
    sitemap = stranger.get("/sitemap.xml").content.decode()
    assert f"/{owner.username}/</loc>" not in sitemap and f"/{owner.username}/{model.name}/" in sitemap


def test_profile_noindex(owner: User, member: User) -> None:
    actions.set_profile(acting_user=owner, indexable=False)
    response = client_for("crawler", owner, member).get(f"/{owner.username}/")
    assert response.status_code == 200 and response["X-Robots-Tag"] == "noindex"
    assert b'<meta name="robots" content="noindex">' in response.content
    assert (
        f"/{owner.username}/</loc>"
        not in client_for("crawler", owner, member).get("/sitemap.xml").content.decode()
    )


def test_inactive_owner_models_disappear(owner: User, member: User) -> None:
    model = publish(owner, "public")
    User.objects.filter(pk=owner.pk).update(is_active=False)
    client = client_for("member", owner, member)
    check(
        "member",
        "deleted",
        observe(client, owner.username, model.name, model.title, "weights.bin"),
        absent(client, owner.username),
    )
