"""Text search, filters and sorts over a queryset of models (already narrowed by the visibility helper)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from django.db.models import Q, QuerySet

from candor.analytics.popularity import PopularOrder
from candor.hub.choices import LIBRARIES, LICENSES, TASKS
from candor.hub.models import MLModel

# "popular": the most viewed and downloaded models of the last 30 days first, by their score (see
# candor.analytics.popularity.in_popular_order), then the rest in this order.
SORTS = {"updated": ("-updated_at", "-id"), "name": ("name", "id"), "popular": ("owner__username", "name")}
MAX_QUERY = 200


@dataclass(frozen=True)
class ModelQuery:
    q: str = ""
    task: str = ""
    library: str = ""
    license: str = ""
    tag: str = ""
    sort: str = "updated"

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ModelQuery:
        """From a QueryDict or mapping; unknown filter values are dropped rather than failing."""
        values = {
            name: str(params.get(name, "") or "").strip()
            for name in ("q", "task", "library", "license", "tag", "sort")
        }
        values["q"] = values["q"][:MAX_QUERY]
        for name, choices in (("task", TASKS), ("library", LIBRARIES), ("license", LICENSES)):
            if values[name] not in {value for value, _ in choices}:
                values[name] = ""
        values["tag"] = values["tag"].lower()[:40]
        if values["sort"] not in SORTS:
            values["sort"] = "updated"
        return cls(**values)

    def apply(self, models: QuerySet[MLModel]) -> QuerySet[MLModel]:
        if self.q:
            for word in self.q.split()[:8]:
                models = models.filter(
                    Q(title__icontains=word)
                    | Q(summary__icontains=word)
                    | Q(name__icontains=word)
                    | Q(tags__name__icontains=word)
                )
            models = models.distinct()
        if self.task:
            models = models.filter(task=self.task)
        if self.library:
            models = models.filter(library=self.library)
        if self.license:
            models = models.filter(license=self.license)
        if self.tag:
            models = models.filter(tags__name=self.tag)
        return models.order_by(*SORTS[self.sort])

    def ordered(self, models: QuerySet[MLModel]) -> Sliceable:
        """``apply``'s models, in an order that can be sliced into pages (the popular sort's is computed)."""
        models = self.apply(models)
        if self.sort == "popular":
            return PopularOrder(models)
        return models


class Sliceable(Protocol):
    def __getitem__(self, items: slice, /) -> Any: ...


@dataclass(frozen=True)
class OffsetPage:
    """One page of a listing, found without counting the whole listing.

    Django's Paginator counts every matching row to number the pages; over a hundred thousand models
    that count costs more than the page itself, so a listing shows "previous" and "next" instead.
    """

    object_list: list[MLModel]
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


MAX_PAGE = 500


def offset_page(models: Sliceable, raw_number: object, size: int) -> OffsetPage:
    try:
        number = min(max(1, int(str(raw_number))), MAX_PAGE)
    except ValueError:
        number = 1
    start = (number - 1) * size
    rows = list(models[start : start + size + 1])
    return OffsetPage(rows[:size], number, number > 1, len(rows) > size and number < MAX_PAGE)
