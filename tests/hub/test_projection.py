"""A model's words are encrypted under its owner's key, and public models have a public projection.

What these tests hold the code to (issue 12: C4, C18, C25): no table holds a private model's name,
title, summary, card or tags in clear (read with raw SQL, on whichever database the suite runs);
names are found by a per-owner blind index, case-insensitively and uniquely per owner; the projection
has exactly one row per public model, equal to the model, after any sequence of actions; rebuilding it
gives the same rows; it is declared never backed up.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from candor.accounts.models import User
from candor.hub import actions, projection, queries
from candor.hub.models import MLModel, PublicModel, name_index
from candor.kernel.refusal import Code, Refusal
from candor.privacy import crypto, inventory
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

WORDS = {
    "name": "Quokka-Net",
    "title": "Marsupial detector",
    "summary": "finds wombats at dusk",
    "card": "# Card of the platypus",
    "tags": "echidna-topic, numbat",
}


def every_text_cell() -> list[tuple[str, str]]:
    """(table, value) of every text value in every table of the database, read with raw SQL."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT * FROM {quoted}")  # noqa: S608 - the database's own table names
            for row in cursor.fetchall():
                found += [(table, value) for value in row if isinstance(value, str)]
    return found


def tables_holding(text: str) -> set[str]:
    needle = text.lower()
    return {table for table, value in every_text_cell() if needle in value.lower()}


def create(owner: User, **fields: Any) -> MLModel:
    return actions.create_model(acting_user=owner, **{**WORDS, **fields})


def test_a_private_models_words_are_in_no_table_in_clear(owner: User) -> None:
    model = create(owner)
    for word in [*WORDS.values(), "echidna-topic", "numbat"]:
        if "," not in word:
            assert tables_holding(word) == set(), word
    raw = MLModel.objects.filter(pk=model.pk).values("name", "title", "summary", "card", "tags").get()
    assert all(crypto.is_encrypted(value) for value in raw.values())
    # Read back through the model, in clear.
    again = MLModel.objects.get(pk=model.pk)
    assert (again.name, again.title, again.tag_names) == (
        "Quokka-Net",
        "Marsupial detector",
        ["echidna-topic", "numbat"],
    )
    assert not PublicModel.objects.exists()


def test_a_public_models_words_are_in_clear_only_in_its_projection(owner: User) -> None:
    model = create(owner, visibility="public")
    for word in ("Quokka-Net", "Marsupial detector", "wombats", "platypus", "echidna-topic", "numbat"):
        assert tables_holding(word) == {PublicModel._meta.db_table}, word
    row = PublicModel.objects.get(pk=model.pk)
    assert (row.owner_username, row.name, row.tag_names, row.files) == (
        "alice",
        "Quokka-Net",
        ["echidna-topic", "numbat"],
        0,
    )
    # Made unlisted: the projection row goes, and with it every clear copy.
    actions.set_visibility(model, "unlisted", acting_user=owner)
    assert not PublicModel.objects.exists()
    assert tables_holding("platypus") == set()


def test_names_are_found_by_a_per_owner_index_in_any_case(owner: User, member: User) -> None:
    mine = create(owner)
    theirs = create(member)
    assert MLModel.objects.named(owner, "quokka-net").get() == mine
    assert MLModel.objects.named(member, "QUOKKA-NET").get() == theirs
    assert MLModel.objects.named_by("ALICE", "Quokka-net").get() == mine
    assert not MLModel.objects.named_by("nobody", "Quokka-Net").exists()
    # Two owners' equal names do not show as equal in the table.
    indexes = set(MLModel.objects.values_list("name_index", flat=True))
    assert indexes == {name_index(owner.pk, "quokka-net"), name_index(member.pk, "Quokka-Net")}
    assert len(indexes) == 2
    # One owner cannot have "quokka-net" beside "Quokka-Net".
    with pytest.raises(Refusal) as refused:
        actions.create_model(acting_user=owner, name="QUOKKA-net", title="again")
    assert refused.value.code == Code.CONFLICT
    # The pages find it by name in any case too.
    assert Client().get("/alice/quokka-NET/").status_code == 404  # private
    actions.set_visibility(mine, "public", acting_user=owner)
    assert Client().get("/ALICE/quokka-NET/").status_code == 200


def test_the_database_refuses_a_second_name_index_for_one_owner(owner: User) -> None:
    from django.db import IntegrityError, transaction

    create(owner)
    with pytest.raises(IntegrityError), transaction.atomic():
        MLModel.objects.create(owner=owner, name="quokka-NET", title="t")


def test_files_refresh_the_projection_count_and_time(owner: User) -> None:
    model = create(owner, visibility="public")
    before = PublicModel.objects.get(pk=model.pk).updated_at
    actions.add_file(model, "a.bin", [b"x"], acting_user=owner)
    actions.add_file(model, "b.bin", [b"y"], acting_user=owner)
    row = PublicModel.objects.get(pk=model.pk)
    assert row.files == 2 and row.updated_at > before
    actions.delete_file(model, "a.bin", acting_user=owner)
    assert PublicModel.objects.get(pk=model.pk).files == 1
    # The API's listing reads the count from the projection.
    items = Client().get("/api/v1/models").json()["items"]
    assert [(item["full_name"], item["files"]) for item in items] == [("alice/Quokka-Net", 1)]


def test_a_tag_filter_is_exact_and_search_finds_words_inside_tags(owner: User) -> None:
    create(owner, name="one", visibility="public", tags="ab, cd")
    create(owner, name="two", visibility="public", tags="abc")
    client = Client()

    def names(query: str) -> list[str]:
        return sorted(item["name"] for item in client.get(f"/api/v1/models?{query}").json()["items"])

    assert names("tag=ab") == ["one"]
    assert names("tag=abc") == ["two"]
    assert names("tag=ab%20cd") == []  # two tags in a row are not one tag
    assert names("q=bc") == ["two"]
    assert names("q=ab") == ["one", "two"]


def test_deleting_a_model_or_its_account_removes_its_projection(owner: User, member: User) -> None:
    from candor.lifecycle import erasure

    gone = create(owner, name="gone", visibility="public")
    create(owner, name="kept", visibility="public")
    create(member, name="theirs", visibility="public")
    actions.delete_model(gone, acting_user=owner)
    assert sorted(PublicModel.objects.values_list("name", flat=True)) == ["kept", "theirs"]
    erasure.erase_account(owner.pk)
    assert list(PublicModel.objects.values_list("name", flat=True)) == ["theirs"]


def test_the_projection_is_declared_never_backed_up() -> None:
    assert set(inventory.tables_not_backed_up()) == {"hub_publicmodel", "privacy_datakey"}
    declaration = inventory.declaration_for(PublicModel)
    assert declaration is not None and not declaration.backed_up
    # Its words are a copy: exported from the model itself, never from the projection.
    assert all(item.export == "omitted" for item in declaration.personal_fields().values())


def test_rebuilding_gives_the_same_rows_and_skips_unreadable_models(owner: User, member: User) -> None:
    for i, visibility in enumerate(["public", "unlisted", "public", "private", "public"]):
        create(owner if i in (1, 2) else member, name=f"m{i}", visibility=visibility)
    before = sorted(PublicModel.objects.values_list("pk", "name", "title", "tags", "files", "updated_at"))
    PublicModel.objects.all().delete()
    assert projection.rebuild_projection(batch=2) == 3
    assert projection.rebuild_projection(batch=2) == 3  # idempotent
    after = sorted(PublicModel.objects.values_list("pk", "name", "title", "tags", "files", "updated_at"))
    assert after == before and len(after) == 3
    # A model whose key is gone cannot be read, so it is not projected.
    crypto.destroy_data_key(member.pk)
    projection.rebuild_projection()
    assert set(PublicModel.objects.values_list("owner_id", flat=True)) == {owner.pk}


# --- The projection after any sequence of actions ----------------------------------------------------

NAMES = ("a", "B", "c")
STEP = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(NAMES), st.sampled_from(["public", "unlisted", "private"])),
    st.tuples(st.just("update"), st.sampled_from(NAMES), st.sampled_from(["x", "y"])),
    st.tuples(
        st.just("visibility"), st.sampled_from(NAMES), st.sampled_from(["public", "unlisted", "private"])
    ),
    st.tuples(st.just("all"), st.just(""), st.sampled_from(["public", "private"])),
    st.tuples(st.just("add_file"), st.sampled_from(NAMES), st.sampled_from(["f1", "f2"])),
    st.tuples(st.just("delete_file"), st.sampled_from(NAMES), st.sampled_from(["f1", "f2"])),
    st.tuples(st.just("delete"), st.sampled_from(NAMES), st.just("")),
)


def expected_projection() -> list[tuple[Any, ...]]:
    """What the projection must hold: computed from the models themselves, decrypted."""
    rows = []
    for model in MLModel.objects.select_related("owner"):
        if model.visibility == "public":
            rows.append(
                (
                    model.pk,
                    model.owner.username,
                    model.name,
                    model.title,
                    model.summary,
                    sorted(model.tag_names),
                    model.in_popular,
                    queries.file_count(model),
                    model.updated_at,
                    model.published_at,
                )
            )
    return sorted(rows)


def actual_projection() -> list[tuple[Any, ...]]:
    return sorted(
        (
            row.pk,
            row.owner_username,
            row.name,
            row.title,
            row.summary,
            row.tag_names,
            row.in_popular,
            row.files,
            row.updated_at,
            row.published_at,
        )
        for row in PublicModel.objects.all()
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=1, max_size=12))
def test_the_projection_matches_the_models_after_any_actions(steps: list[tuple[str, str, str]]) -> None:
    owner = User.objects.by_username("prop") or make_user("prop")
    MLModel.objects.filter(owner=owner).delete()
    for kind, name, value in steps:
        model = MLModel.objects.named(owner, name).first()
        try:
            if kind == "create":
                actions.create_model(
                    acting_user=owner, name=name, title=name, visibility=value, tags=name.lower()
                )
            elif model is None:
                continue
            elif kind == "update":
                actions.update_model(
                    model, acting_user=owner, title=value, tags=f"{value}, t", in_popular=value == "x"
                )
            elif kind == "visibility":
                actions.set_visibility(model, value, acting_user=owner)
            elif kind == "add_file":
                actions.add_file(model, value, [value.encode()], acting_user=owner)
            elif kind == "delete_file":
                actions.delete_file(model, value, acting_user=owner)
            elif kind == "delete":
                actions.delete_model(model, acting_user=owner)
        except Refusal as refused:
            assert refused.code in (Code.CONFLICT, Code.NOT_FOUND)
        if kind == "all":
            actions.set_visibility_of_all(value, acting_user=owner)
        assert actual_projection() == expected_projection(), (kind, name, value)
