"""The API's popular and trending models (clause C12), and an owner's own counts per day.

/api/v1/models/popular and /api/v1/models/trending have one path segment after /models/, so the hub's
/models/{owner}/{name} (two segments) can never take them; /models/{owner}/{name}/stats has a fixed
last segment that none of the hub's routes has.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.params.functions import Path, Query
from pydantic import Field

from candor.analytics import popularity, suppression
from candor.api.auth import ANYONE, person
from candor.api.errors import explain_pattern
from candor.api.schemas import openapi, responses
from candor.hub import validators
from candor.hub.schemas import ModelOut, public_out

router = Router(tags=["analytics"])

# The same path rules as the hub's routes (the same patterns, so the same messages).
OWNER = Path(
    ...,
    min_length=1,
    max_length=validators.OWNER_MAX,
    pattern=explain_pattern(validators.OWNER_PATTERN, validators.OWNER_PATTERN_MESSAGE),
)
NAME = Path(
    ...,
    min_length=1,
    max_length=validators.NAME_MAX,
    pattern=explain_pattern(validators.NAME_PATTERN, validators.NAME_PATTERN_MESSAGE),
)


class RankedModel(ModelOut):
    rank: int = Field(description="1 for the first model of the list.")
    views: int = Field(description="Page and API reads of the model in the window.")
    downloads: int = Field(description="File downloads of the model in the window.")
    score: float = Field(description="What the list is ordered by; see formula.")


class Ranking(Schema):
    formula: str = Field(description="How the score is computed, in words.")
    min_count: int = Field(description="Models with fewer views and downloads in the window are left out.")
    items: list[RankedModel]


class DayCountOut(Schema):
    day: date
    views: int
    downloads: int


class ModelStats(Schema):
    full_name: str
    note: str
    days: list[DayCountOut]


def _ranking(kind: str, limit: int) -> dict[str, Any]:
    entries = popularity.ranking(kind, limit)
    return {
        "formula": popularity.FORMULAS[kind],
        "min_count": suppression.min_count(),
        "items": [
            {
                **public_out(e.model),
                "rank": e.rank,
                "views": e.views,
                "downloads": e.downloads,
                "score": e.score,
            }
            for e in entries
        ],
    }


LIMIT = Query(20, ge=1, le=100, description="How many models, from 1 to 100.")


@router.get(
    "/models/popular",
    auth=ANYONE,
    response=responses({200: Ranking}),
    url_name="popular_models",
    openapi_extra=openapi(optional_auth=True),
    summary="The most viewed and downloaded public models of the last 30 days",
)
def popular_models(request: HttpRequest, limit: int = LIMIT) -> dict[str, Any]:
    """Public models whose owners let them be listed; bots are not counted (clause C12)."""
    return _ranking(popularity.POPULAR, limit)


@router.get(
    "/models/trending",
    auth=ANYONE,
    response=responses({200: Ranking}),
    url_name="trending_models",
    openapi_extra=openapi(optional_auth=True),
    summary="Public models gaining views and downloads: the last 7 days, recent hours weighing most",
)
def trending_models(request: HttpRequest, limit: int = LIMIT) -> dict[str, Any]:
    """Public models whose owners let them be listed; bots are not counted (clause C12)."""
    return _ranking(popularity.TRENDING, limit)


@router.get(
    "/models/{owner}/{name}/stats",
    response=responses({200: ModelStats}),
    url_name="model_stats",
    openapi_extra=openapi(),
    summary="Your model's views and downloads per day (its owner only)",
)
def model_stats(
    request: HttpRequest,
    owner: str = OWNER,
    name: str = NAME,
    days: int = Query(30, ge=1, le=popularity.MAX_SERIES_DAYS, description="How many days, to today."),
) -> dict[str, Any]:
    """Only the owner sees these; to anyone else the address does not exist."""
    model, series = popularity.own_model_counts(person(request), owner, name, days)
    return {
        "full_name": model.full_name,
        "note": popularity.OWNER_NOTE,
        "days": [{"day": d.day, "views": d.views, "downloads": d.downloads} for d in series],
    }
