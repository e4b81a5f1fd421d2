"""The card follows README.md on main: a model's card fields are set from the README of its head.

Called by :func:`candor.hub.revisions.commit` (and :func:`~candor.hub.revisions.purge_path`) inside their
transaction, after the new head is in place and before the projection is refreshed, so the page, the
API, the listings and the filters never disagree with the README on main once a commit stands.

What the README holds is judged by :mod:`candor.hub.card`; its values replace the model's licence,
library, task, tags, languages, data sets and base models, its Markdown body becomes the card, and
what is wrong with it is kept (encrypted, like the card) for the owner to see. A README removed from
main clears them all.
"""

from __future__ import annotations

from typing import Any

from candor.hub import blobs, card
from candor.hub.models import Blob, Commit, MLModel, ModelFile, path_index

FIELDS = (
    "card",
    "license",
    "library",
    "task",
    "tags",
    "languages",
    "datasets",
    "base_models",
    "card_data",
    "card_problems",
)


def readme_blob_id(model: MLModel, commit_id: int | None) -> int | None:
    """The blob README.md holds in a revision of the model (None without one)."""
    if commit_id is None:
        return None
    found = ModelFile.objects.filter(
        commit_id=commit_id, path_index=path_index(model.pk, card.PATH)
    ).values_list("blob_id", flat=True)
    return found.first()


def read_readme(blob: Blob) -> card.Card:
    """The card a stored README makes; a README too large to be a card is not read at all."""
    if int(blob.size) > card.MAX_README * 4:  # at most four bytes a character in UTF-8
        return card.decode(b"x" * (card.MAX_README * 4 + 1))
    return card.decode(b"".join(blobs.read(blob)))


def values(found: card.Card | None) -> dict[str, Any]:
    """The model's card fields for a card (None: no README, every field cleared)."""
    if found is None:
        found = card.Card()
    return {
        "card": found.body,
        "license": found.license or "other",
        "library": found.library or "other",
        "task": found.task or "other",
        "tags": list(found.tags),
        "languages": list(found.languages),
        "datasets": list(found.datasets),
        "base_models": list(found.base_models),
        "card_data": found.data,
        # Each message names the front-matter key it is about: the owner reads them as they are.
        "card_problems": [problem.message for problem in found.problems],
    }


def sync_from_head(model: MLModel, since: Commit | bool | None = True) -> None:
    """Set the model's card fields from README.md on its head, when it changed since the revision
    ``since`` (the head before the commit); ``True`` (the default) sets them whatever changed."""
    after = readme_blob_id(model, model.head_id)
    if since is not True:
        before = readme_blob_id(model, since.pk if isinstance(since, Commit) else None)
        if before == after:
            return
    found = None if after is None else read_readme(Blob.objects.get(pk=after))
    for name, value in values(found).items():
        setattr(model, name, value)
    model.save(update_fields=FIELDS)


def purged(model: MLModel, path: str) -> None:
    """After ``path`` was removed from every revision: README.md gone from main clears the card."""
    if path == card.PATH:
        sync_from_head(model)


def problems_of(model: MLModel) -> list[str]:
    """The messages of what is wrong in the model's README, as stored (for its owner)."""
    stored: list[Any] = model.card_problems if isinstance(model.card_problems, list) else []
    return [str(message) for message in stored]
