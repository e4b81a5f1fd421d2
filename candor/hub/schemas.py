"""The one shape of a model in the API's answers: :class:`ModelOut`, built by :func:`model_out`.

Every route that answers with models (the hub's, and analytics' popular and trending lists, which
extend it) takes both from here, so a model reads the same wherever it appears. Plain pydantic: domain
code does not import the API's transport.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.conf import settings
from pydantic import BaseModel, Field

from candor.hub import cardsync, queries
from candor.hub.models import MLModel, PublicModel

VisibilityName = Literal["public", "unlisted", "private"]


class ModelOut(BaseModel):
    owner: str
    name: str
    full_name: str
    title: str
    summary: str
    card: str
    tags: list[str]
    license: str
    library: str
    task: str
    languages: list[str] = Field(description="ISO 639 codes, from README.md's front-matter.")
    datasets: list[str] = Field(description="The data sets README.md names.")
    base_models: list[str] = Field(description="The models (owner/name) README.md says it derives from.")
    card_problems: list[str] | None = Field(
        None, description="What is wrong in README.md's front-matter: shown to the model's owner only."
    )
    visibility: VisibilityName
    in_popular: bool = Field(
        description="Whether the owner lets it appear in the popular and trending lists."
    )
    created_at: datetime
    updated_at: datetime
    url: str = Field(description="The model's page on the website.")
    files: int = Field(description="How many files the model has.")


def _words(value: object) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def model_out(model: MLModel, files: int | None = None, *, owner_view: bool = False) -> dict[str, Any]:
    """``model`` as :class:`ModelOut`'s fields, decrypted from the model itself (a model's page).
    ``files`` is its file count when the caller knows it; otherwise it is counted here. The card's
    problems are given only when ``owner_view`` (the caller may edit the model)."""
    return {
        "owner": model.owner.username,
        "name": model.name,
        "full_name": model.full_name,
        "title": model.title,
        "summary": model.summary,
        "card": model.card,
        "tags": sorted(model.tag_names),
        "license": model.license,
        "library": model.library,
        "task": model.task,
        "languages": sorted(_words(model.languages)),
        "datasets": _words(model.datasets),
        "base_models": _words(model.base_models),
        "card_problems": cardsync.problems_of(model) if owner_view else None,
        "visibility": model.visibility,
        "in_popular": model.in_popular,
        "created_at": model.created_at,
        "updated_at": model.updated_at,
        "url": settings.WEBSITE_URL + model.get_absolute_url(),
        "files": queries.file_count(model) if files is None else files,
    }


def public_out(model: PublicModel) -> dict[str, Any]:
    """A public model's projection as :class:`ModelOut`'s fields: the same answer as :func:`model_out`
    gives of the model itself."""
    return {
        "owner": model.owner_username,
        "name": model.name,
        "full_name": model.full_name,
        "title": model.title,
        "summary": model.summary,
        "card": model.card,
        "tags": model.tag_names,
        "license": model.license,
        "library": model.library,
        "task": model.task,
        "languages": model.languages.split(),
        "datasets": list(model.datasets),
        "base_models": list(model.base_models),
        "card_problems": None,
        "visibility": model.visibility,
        "in_popular": model.in_popular,
        "created_at": model.created_at,
        "updated_at": model.updated_at,
        "url": settings.WEBSITE_URL + model.get_absolute_url(),
        "files": model.files,
    }


def models_out(models: list[PublicModel]) -> list[dict[str, Any]]:
    """Several public models (a listing's page), from their projection."""
    return [public_out(model) for model in models]
