"""Everything the inventory ties to one person: the rows, and the stored files among their fields.

Export, permanent deletion and the retention sweep find a person's data here and only here, so a newly
declared personal field is exported, erased and swept without code of its own.
"""

from __future__ import annotations

import graphlib
from collections.abc import Callable, Iterable, Iterator
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


def delete_stored(names: Iterable[str], *, remove: Callable[[str], None] | None = None) -> int:
    """Remove files from storage with ``remove`` (one name at a time); a file already gone counts as
    removed. The callers above the privacy base pass the object store's delete
    (``candor.core.objectstore.delete``), which this tier may not import; without one, Django's
    default storage is asked directly.

    Several at a time: each removal waits on the disk (or the object store), not on Python, and an
    account may have tens of thousands of files. The first failure (the store unreachable) is raised
    once the removals in flight end, so the caller can try the whole list again.
    """
    from concurrent.futures import ThreadPoolExecutor

    from django.core.files.storage import default_storage

    removing = remove or default_storage.delete
    count = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        for batch in batched(names, 500):  # a bounded number of removals in flight
            count += sum(1 for _ in pool.map(removing, batch))
    return count
