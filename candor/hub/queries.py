"""The public listing: what /models/ and GET /api/v1/models show, in which order, and how it pages.

One query (:func:`listing`, the visibility helper's listed models narrowed by a :class:`ModelQuery`),
one table of orders (:data:`ORDERS`), and two ways to page through it: numbered pages for the website
(:func:`offset_page`) and signed keyset cursors for the API (:func:`keyset_page`). The "popular" sort
needs scores that the analytics app computes; the hub never imports it, so the entry point hands the
ranking in as a :class:`Ranker`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from django.core import signing
from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime

from candor.hub import projection, visibility
from candor.hub.choices import LIBRARIES, LICENSES, TASKS
from candor.hub.models import MLModel, ModelFile, PublicModel
from candor.kernel.refusal import Code, Refusal

# The orders of the public projection (:class:`PublicModel`), whose columns are in clear. Every order
# ends in (owner, name), which is unique, so an order is total: a page boundary is exact and neither a
# database id nor an offset appears in a cursor. "popular" puts the models a Ranker scores first, by
# score; the rest follow in this order, as if their score were 0.
ORDERS: dict[str, tuple[str, ...]] = {
    "updated": ("-updated_at", "owner_username", "name"),
    "name": ("name", "owner_username"),
    "popular": ("owner_username", "name"),
}
# One account's own models, read from the models themselves (their names are encrypted, so not an
# order): the most recently changed first, then by id.
OWN_ORDER = ("-updated_at", "-pk")
DEFAULT_SORT = "updated"
MAX_QUERY = 200
MAX_PAGE = 500
CURSOR_SALT = "candor.api.models-cursor"


@dataclass(frozen=True)
class ModelQuery:
    """Text search, filters and a sort, as asked for in a query string."""

    q: str = ""
    task: str = ""
    library: str = ""
    license: str = ""
    tag: str = ""
    language: str = ""
    sort: str = DEFAULT_SORT

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ModelQuery:
        """From a QueryDict or mapping; unknown filter values are dropped rather than failing."""
        values = {
            name: str(params.get(name, "") or "").strip()
            for name in ("q", "task", "library", "license", "tag", "language", "sort")
        }
        values["q"] = values["q"][:MAX_QUERY]
        for name, choices in (("task", TASKS), ("library", LIBRARIES), ("license", LICENSES)):
            if values[name] not in {value for value, _ in choices}:
                values[name] = ""
        values["tag"] = values["tag"].lower()[:40]
        # A language code as a card gives it (ISO 639, maybe with a region: "pt-BR"); no space.
        values["language"] = values["language"][:20]
        if values["sort"] not in ORDERS:
            values["sort"] = DEFAULT_SORT
        return cls(**values)

    def apply(self, models: QuerySet[PublicModel]) -> QuerySet[PublicModel]:
        """``models`` (public projections) narrowed by the words and filters, in the sort's order."""
        if self.q:
            # A word holds no space, and the tags column separates tags by spaces: a word is found
            # inside one tag, never across two.
            for word in self.q.split()[:8]:
                models = models.filter(
                    Q(title__icontains=word)
                    | Q(summary__icontains=word)
                    | Q(name__icontains=word)
                    | Q(tags__icontains=word)
                )
        if self.task:
            models = models.filter(task=self.task)
        if self.library:
            models = models.filter(library=self.library)
        if self.license:
            models = models.filter(license=self.license)
        if self.tag:
            # A tag holds no space; one asked for with a space matches no model (not two tags in a row).
            wanted = projection.tag_filter(self.tag) if self.tag.split() == [self.tag] else None
            models = models.filter(tags__contains=wanted) if wanted else models.none()
        if self.language:
            code = self.language
            wanted = projection.tag_filter(code) if code.split() == [code] else None
            models = models.filter(languages__contains=wanted) if wanted else models.none()
        return models.order_by(*ORDERS[self.sort])


def listing(query: ModelQuery) -> QuerySet[PublicModel]:
    """The public models the query matches, in its order (public ones only: clause C4)."""
    return query.apply(visibility.listed_models())


def file_count(model: MLModel) -> int:
    """How many files a model has (a listing reads it from the projection instead)."""
    if model.head_id is None:
        return 0
    return int(ModelFile.objects.filter(commit_id=model.head_id).count())


class Ranker(Protocol):
    """Models in the popular order with their scores: a page from ``offset``, or the page after the
    model whose (score, owner, name) is ``after``. Given by the entry point (analytics computes it)."""

    def __call__(
        self,
        models: QuerySet[PublicModel],
        *,
        limit: int,
        offset: int = 0,
        after: tuple[int, str, str] | None = None,
    ) -> list[tuple[PublicModel, int]]: ...


class Sliceable(Protocol):
    def __getitem__(self, items: slice, /) -> Any: ...


@dataclass(frozen=True)
class Ranked:
    """``models`` in a ranker's order, sliced like a queryset (for the website's numbered pages)."""

    models: QuerySet[PublicModel]
    ranker: Ranker

    def __getitem__(self, items: slice) -> list[PublicModel]:
        start = items.start or 0
        if items.stop is None or items.step is not None:
            raise TypeError("a page is a plain slice with an end")
        return [model for model, _ in self.ranker(self.models, offset=start, limit=items.stop - start)]


def ordered(models: QuerySet[PublicModel], sort: str, ranker: Ranker | None = None) -> Sliceable:
    """``models`` (already in ``sort``'s order by :meth:`ModelQuery.apply`), ranked when the sort is
    "popular" and a ranker is given."""
    return Ranked(models, ranker) if sort == "popular" and ranker is not None else models


@dataclass(frozen=True)
class OffsetPage:
    """One page of a listing, found without counting the whole listing.

    Django's Paginator counts every matching row to number the pages; over a hundred thousand models
    that count costs more than the page itself, so a listing shows "previous" and "next" instead.
    """

    object_list: list[Any]  # public projections, or an owner's own models
    number: int
    has_previous: bool
    has_next: bool

    @property
    def has_other_pages(self) -> bool:
        return self.has_previous or self.has_next

    def previous_page_number(self) -> int:
        return self.number - 1

    def next_page_number(self) -> int:
        return self.number + 1


def page_number(raw_number: object) -> int:
    """The page asked for: 1 to MAX_PAGE, 1 for anything that is not a number."""
    try:
        return min(max(1, int(str(raw_number))), MAX_PAGE)
    except ValueError:
        return 1


def offset_page(models: Sliceable, raw_number: object, size: int) -> OffsetPage:
    number = page_number(raw_number)
    start = (number - 1) * size
    rows = list(models[start : start + size + 1])
    return OffsetPage(rows[:size], number, number > 1, len(rows) > size and number < MAX_PAGE)


# Keyset pages (the API). A cursor is the last model's sort key, signed so that only the server's own
# cursors parse, and named by its sort, so that one sort's cursor never pages another.


def cursor_for(model: PublicModel, sort: str, score: int = 0) -> str:
    key: list[Any] = [model.updated_at.isoformat()] if sort == "updated" else []
    key += [score] if sort == "popular" else []
    key += [model.name, model.owner_username] if sort == "name" else [model.owner_username, model.name]
    return signing.dumps([sort, *key], salt=CURSOR_SALT)


def cursor_key(cursor: str, sort: str) -> list[Any]:
    """The cursor's key, after its sort's name; a refusal for one the server did not give for ``sort``."""
    try:
        key = signing.loads(cursor, salt=CURSOR_SALT)
    except signing.BadSignature:
        raise Refusal(
            Code.INVALID_CURSOR, "There is no page at this cursor: use the 'next' link as given."
        ) from None
    if not isinstance(key, list) or not key or key[0] != sort:
        raise Refusal(
            Code.INVALID_CURSOR,
            "There is no page at this cursor in this sort order: it belongs to another one.",
        )
    return list(key[1:])


def after(key: list[Any], sort: str) -> Q:
    """The models that come after the one whose sort key is ``key``, in ``sort``'s order."""
    if sort == "name":
        name, owner = key
        return Q(name__gt=name) | Q(name=name, owner_username__gt=owner)
    if sort == "popular":  # the unscored rest, by (owner, name)
        owner, name = key[-2:]
        return Q(owner_username__gt=owner) | Q(owner_username=owner, name__gt=name)
    at, owner, name = parse_datetime(key[0]), key[1], key[2]
    return (
        Q(updated_at__lt=at)
        | Q(updated_at=at, owner_username__gt=owner)
        | Q(updated_at=at, owner_username=owner, name__gt=name)
    )


@dataclass(frozen=True)
class KeysetPage:
    items: list[tuple[PublicModel, int]]  # each model with its score (0 outside the popular sort)
    next_cursor: str | None


def keyset_page(
    models: QuerySet[PublicModel], sort: str, *, limit: int, cursor: str | None, ranker: Ranker | None = None
) -> KeysetPage:
    """The ``limit`` models after ``cursor`` (from the start without one), and the next page's cursor."""
    key = cursor_key(cursor, sort) if cursor else None
    if sort == "popular" and ranker is not None:
        start = (int(key[0]), str(key[1]), str(key[2])) if key is not None else None
        scored = ranker(models, limit=limit + 1, after=start)
    else:
        if key is not None:
            models = models.filter(after(key, sort))
        scored = [(model, 0) for model in models[: limit + 1]]
    if len(scored) <= limit:
        return KeysetPage(scored, None)
    scored = scored[:limit]
    last, score = scored[-1]
    return KeysetPage(scored, cursor_for(last, sort, score))
