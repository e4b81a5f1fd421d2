"""The public projection: :class:`~candor.hub.models.PublicModel`, one row in clear per public model.

A model's words are stored encrypted under its owner's key (clause C25: destroying the key makes every
copy unreadable, backups included). What anyone may see of a public model is kept a second time, in
clear, in the projection, so that listings, search, sorts, the sitemap, the feed and the popular lists
read plain indexed columns. The projection is derived, never the source:

- every action that changes a model, its files or its visibility calls :func:`refresh` inside its own
  transaction, so the projection and the models never disagree once a change commits;
- its rows go with their model and with their account (foreign keys, cascading);
- it is declared ``backed_up=False``: no backup holds its rows, so no backup holds a model's words in
  clear; :func:`rebuild_projection` makes it again from the encrypted models after a restore, once the
  deletion ledger has erased again the accounts deleted since (whose keys are gone).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Count, F, Q

from candor.hub.choices import Visibility
from candor.hub.models import MLModel, ModelFile, PublicModel
from candor.privacy.crypto import Unreadable

BATCH = 1000


def tags_column(tags: Iterable[str]) -> str:
    """The projection's tags column: each tag between spaces, sorted."""
    words = sorted(set(tags))
    return f" {' '.join(words)} " if words else ""


def tag_filter(tag: str) -> str:
    """What the tags column contains when the model has exactly this tag."""
    return f" {tag} "


def _words(value: object) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def _file_counts(model_ids: list[int]) -> dict[int, int]:
    rows = (
        # The files of each model's main branch (older revisions are not counted).
        ModelFile.objects.filter(model_id__in=model_ids, commit_id=F("model__head_id"))
        .order_by()
        .values("model_id")
        .annotate(count=Count("pk"))
        .values_list("model_id", "count")
    )
    return {int(model_id): int(count) for model_id, count in rows}


def _projected(model: MLModel, files: int) -> PublicModel | None:
    """The projection of a public model, or None if its words cannot be read (its key is gone)."""
    words: tuple[object, ...] = (model.name, model.title, model.summary, model.card, model.tags)
    words += (model.languages, model.datasets, model.base_models)
    if any(isinstance(word, Unreadable) for word in words):
        return None
    return PublicModel(
        model_id=model.pk,
        owner_id=model.owner_id,
        owner_username=model.owner.username,
        name=model.name,
        title=model.title,
        summary=model.summary,
        card=model.card,
        tags=tags_column(model.tag_names),
        languages=tags_column(_words(model.languages)),
        datasets=_words(model.datasets),
        base_models=_words(model.base_models),
        license=model.license,
        library=model.library,
        task=model.task,
        in_popular=model.in_popular,
        files=files,
        created_at=model.created_at,
        updated_at=model.updated_at,
        published_at=model.published_at,
    )


def refresh_many(model_ids: Iterable[int]) -> int:
    """Make the projection of these models match them as stored now: a row for each public one, none
    for the others (unlisted, private, deleted). Returns how many rows it holds for them afterwards."""
    ids = sorted({int(pk) for pk in model_ids})
    if not ids:
        return 0
    with transaction.atomic():
        PublicModel.objects.filter(pk__in=ids).delete()
        public = list(
            MLModel.objects.filter(pk__in=ids, visibility=Visibility.PUBLIC)
            .select_related("owner")
            .order_by("owner_id", "pk")  # each owner's models together: their key is unwrapped once
        )
        counts = _file_counts([model.pk for model in public]) if public else {}
        rows = [row for model in public if (row := _projected(model, counts.get(model.pk, 0))) is not None]
        PublicModel.objects.bulk_create(rows)
    return len(rows)


def refresh(model: MLModel | int) -> None:
    """Make one model's projection match it (see :func:`refresh_many`). Called inside every action."""
    refresh_many([model if isinstance(model, int) else model.pk])


def rebuild_projection(*, batch: int = BATCH) -> int:
    """Make the whole projection again from the encrypted models; returns how many rows it holds.

    Idempotent, and batched: rows of models that are no longer public are deleted first, then the
    public models are projected ``batch`` at a time, each batch in a transaction of its own, owner by
    owner (so each account's key is unwrapped once, not once per model). Run after a restore (backups
    hold no projection) and by ``candor privacy rebuild-projection``.
    """
    with transaction.atomic():
        PublicModel.objects.exclude(model__visibility=Visibility.PUBLIC).delete()
    public = MLModel.objects.filter(visibility=Visibility.PUBLIC).order_by("owner_id", "pk")
    total = 0
    last: tuple[Any, int] | None = None
    while True:
        page = public
        if last is not None:
            page = page.filter(Q(owner_id__gt=last[0]) | Q(owner_id=last[0], pk__gt=last[1]))
        keys = list(page.values_list("owner_id", "pk")[:batch])
        if not keys:
            return total
        total += refresh_many(pk for _, pk in keys)
        last = keys[-1]
