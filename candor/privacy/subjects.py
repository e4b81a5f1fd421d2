"""Everything the inventory ties to one person: the rows, and the stored files among their fields.

Export, permanent deletion and the retention sweep find a person's data here and only here, so a newly
declared personal field is exported, erased and swept without code of its own.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Iterator
from itertools import batched
from typing import Any

from django.db import models

from candor.privacy import inventory


def _depth(declaration: inventory.Declaration) -> int:
    path = declaration.belongs_to or ""
    return 0 if path == "self" else path.count("__") + 1


def owned_declarations() -> list[inventory.Declaration]:
    """Declarations whose rows belong to a person: the furthest from the account first, the account last.

    That order deletes a model's files before the model, and everything before the account, so no row is
    ever left pointing at a deleted one.
    """
    owned = sorted(
        (d for d in inventory.declarations() if d.belongs_to is not None), key=lambda d: (-_depth(d), d.label)
    )
    # At one depth, a model whose rows point at another's goes first (a commit's files before the commit).
    ordered: list[inventory.Declaration] = []
    for depth in sorted({_depth(d) for d in owned}, reverse=True):
        level = [d for d in owned if _depth(d) == depth]
        models_here = {d.model for d in level}
        graph = {
            d.label: {
                inventory.declaration_for(f.related_model).label  # type: ignore[union-attr]
                for f in d.model._meta.concrete_fields
                if f.is_relation and f.related_model in models_here and f.related_model is not d.model
            }
            for d in level
        }
        # graphlib gives predecessors first: here a model's dependants (those pointing at it) come first.
        reverse: dict[str, set[str]] = {d.label: set() for d in level}
        for label, targets in graph.items():
            for target in targets:
                reverse[target].add(label)
        by_label = {d.label: d for d in level}
        sorter = graphlib.TopologicalSorter(reverse)
        sorter.prepare()
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            ordered.extend(by_label[label] for label in ready)
            sorter.done(*ready)
    return ordered


def rows_of(declaration: inventory.Declaration, user_id: Any) -> models.QuerySet[Any]:
    manager = declaration.model._default_manager
    if declaration.belongs_to == "self":
        return manager.filter(pk=user_id)
    return manager.filter(**{declaration.belongs_to or "": user_id})


def file_fields(declaration: inventory.Declaration) -> list[str]:
    """The declared personal fields that hold a file in storage."""
    names = []
    for name in declaration.personal_fields():
        if isinstance(declaration.model._meta.get_field(name), models.FileField):
            names.append(name)
    return names


def stored_names(declaration: inventory.Declaration, rows: models.QuerySet[Any]) -> Iterator[str]:
    """The storage names of every file the rows hold."""
    fields = file_fields(declaration)
    if not fields:
        return
    for values in rows.values_list(*fields).iterator(chunk_size=2000):
        yield from (name for name in values if name)


def delete_stored(names: Iterable[str]) -> int:
    """Remove files from storage; a file already gone counts as removed.

    Several at a time: each removal waits on the disk (or the object store), not on Python, and an
    account may have tens of thousands of files.
    """
    from concurrent.futures import ThreadPoolExecutor

    from django.core.files.storage import default_storage

    count = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        for batch in batched(names, 500):  # a bounded number of removals in flight
            count += sum(1 for _ in pool.map(default_storage.delete, batch))
    return count


# --- Shared words left behind ---------------------------------------------------------------------------
#
# A tag is declared as no one's (a shared vocabulary word), yet the one person who ever used a word is
# known by it: once their models are gone the word must go too, or a deleted person's tag stays in the
# database and in every backup taken since.


def _vocabulary_relations(model: type[models.Model]) -> list[Any]:
    """The many-to-many relations by which owned rows use a shared row, if nothing else refers to it."""
    relations = list(model._meta.related_objects)
    if not relations or not all(relation.many_to_many for relation in relations):
        return []
    owned = {d.model for d in owned_declarations()}
    return relations if all(relation.related_model in owned for relation in relations) else []


def vocabularies() -> list[tuple[type[models.Model], list[Any]]]:
    """Declarations of no one's rows that owned rows use only through many-to-many fields (the tags)."""
    found = []
    for declaration in inventory.declarations():
        if declaration.belongs_to is None:
            relations = _vocabulary_relations(declaration.model)
            if relations:
                found.append((declaration.model, relations))
    return found


def unused(model: type[models.Model], relations: list[Any]) -> models.QuerySet[Any]:
    """The rows of a vocabulary that no owned row uses any more."""
    lookups = {f"{relation.field.related_query_name()}__isnull": True for relation in relations}
    return model._default_manager.filter(**lookups)


def vocabulary_used_by(user_id: Any) -> dict[type[models.Model], set[Any]]:
    """The ids of the shared rows the person's rows use, per vocabulary (before they are deleted)."""
    used: dict[type[models.Model], set[Any]] = {}
    for model, relations in vocabularies():
        ids: set[Any] = set()
        for relation in relations:
            declaration = inventory.declaration_for(relation.related_model)
            if declaration is None:
                continue
            rows = rows_of(declaration, user_id)
            ids.update(
                model._default_manager.filter(
                    **{f"{relation.field.related_query_name()}__in": rows.values("pk")}
                ).values_list("pk", flat=True)
            )
        used[model] = ids
    return used


def delete_unused(candidates: dict[type[models.Model], set[Any]] | None = None) -> int:
    """Delete the vocabulary rows no owned row uses any more: among ``candidates``, or all of them."""
    deleted = 0
    for model, relations in vocabularies():
        rows = unused(model, relations)
        if candidates is not None:
            ids = candidates.get(model)
            if not ids:
                continue
            rows = rows.filter(pk__in=ids)
        deleted += int(rows.delete()[0])
    return deleted
