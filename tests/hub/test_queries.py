"""The listing's cursors, page numbers and the upload body's length: pure pieces, tested without a
database; then one check that the page and the API list in the same order."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.db.models import Q
from django.test import Client

from candor.accounts.models import User, username_index
from candor.hub import actions, queries
from candor.hub.api.body import content_length, whole_body
from candor.hub.models import MLModel
from candor.kernel.refusal import Code, Refusal

AT = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)


def unsaved(owner: str, name: str) -> MLModel:
    """A model whose owner's sort key (the blind index of the name, see queries.ORDERS) is ``owner``."""
    return MLModel(owner=User(username=owner, username_index=owner), name=name, updated_at=AT)


@pytest.mark.parametrize(
    ("sort", "score", "key"),
    [
        ("updated", 0, [AT.isoformat(), "alice", "net"]),
        ("name", 0, ["net", "alice"]),
        ("popular", 42, [42, "alice", "net"]),
    ],
)
def test_a_cursor_holds_its_sort_and_the_last_key(sort: str, score: int, key: list[object]) -> None:
    cursor = queries.cursor_for(unsaved("alice", "net"), sort, score)
    assert queries.cursor_key(cursor, sort) == key


def test_a_cursor_pages_only_its_own_sort() -> None:
    cursor = queries.cursor_for(unsaved("alice", "net"), "name")
    with pytest.raises(Refusal) as refused:
        queries.cursor_key(cursor, "updated")
    assert refused.value.code == Code.INVALID_CURSOR and "another" in refused.value.message


def test_a_forged_cursor_is_refused() -> None:
    cursor = queries.cursor_for(unsaved("alice", "net"), "name")
    payload, stamp, signature = cursor.split(":")
    with pytest.raises(Refusal) as refused:
        queries.cursor_key(f"{payload}:{stamp}:{'A' * len(signature)}", "name")
    assert refused.value.code == Code.INVALID_CURSOR


def test_after_a_key_in_the_name_order() -> None:
    assert str(queries.after(["net", "alice"], "name")) == str(
        Q(name__gt="net") | Q(name="net", owner__username_index__gt="alice")
    )


@pytest.mark.parametrize(("raw", "number"), [(1, 1), ("3", 3), ("0", 1), ("-4", 1), ("x", 1), ("10000", 500)])
def test_page_numbers(raw: object, number: int) -> None:
    assert queries.page_number(raw) == number


def test_every_order_ends_in_the_unique_owner_and_name() -> None:
    for order in queries.ORDERS.values():
        assert {"owner__username_index", "name"} <= set(order[-2:])


@pytest.mark.parametrize(("raw", "length"), [("0", 0), ("12", 12), (" 007 ", 7), ("100", 100)])
def test_content_lengths(raw: str, length: int) -> None:
    assert content_length(raw, 100) == length


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", Code.LENGTH_REQUIRED),
        ("12a", Code.BAD_REQUEST),
        ("-1", Code.BAD_REQUEST),
        ("\u0661\u0662", Code.BAD_REQUEST),  # Arabic-Indic digits: digits to Python, not to HTTP
        ("101", Code.TOO_LARGE),
        ("9" * 5000, Code.TOO_LARGE),
    ],
)
def test_content_lengths_refused(raw: str, code: Code) -> None:
    with pytest.raises(Refusal) as refused:
        content_length(raw, 100)
    assert refused.value.code == code


def test_a_body_shorter_than_announced_is_refused_after_its_last_chunk() -> None:
    assert b"".join(whole_body(iter([b"ab", b"c"]), 3)) == b"abc"
    chunks = whole_body(iter([b"ab"]), 3)
    assert next(chunks) == b"ab"
    with pytest.raises(Refusal) as refused:
        next(chunks)
    assert refused.value.code == Code.BAD_REQUEST


@pytest.mark.django_db
def test_the_page_and_the_api_list_models_updated_at_once_in_one_order(owner: User, member: User) -> None:
    for person, name in ((member, "b"), (owner, "c"), (owner, "a"), (member, "a")):
        actions.create_model(acting_user=person, name=name, visibility="public")
    MLModel.objects.update(updated_at=AT)  # a tie on the first key: the rest of the order decides
    client = Client()
    page = re.findall(r'<h3><a href="/([^/"]+/[^/"]+)/">', client.get("/models/").content.decode())
    api = [item["full_name"] for item in client.get("/api/v1/models").json()["items"]]
    # Owners in the order of their names' blind indexes (the names are stored encrypted), then by name.
    first, second = sorted(("alice", "bob"), key=username_index)
    assert (
        page
        == api
        == [
            f"{first}/a",
            f"{first}/{'c' if first == 'alice' else 'b'}",
            f"{second}/a",
            f"{second}/{'c' if second == 'alice' else 'b'}",
        ]
    )
