"""The client's argument types: what argparse turns words into, or refuses with a usage error."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

VISIBILITIES = ("public", "unlisted", "private")
SORTS = ("updated", "popular", "name")  # the API's orders of GET /api/v1/models
MAX_STATS_DAYS = 365


@dataclass(frozen=True)
class ModelRef:
    owner: str
    name: str

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}"


def model_ref(value: str) -> ModelRef:
    owner, slash, name = value.partition("/")
    if not slash or not owner or not name or "/" in name:
        raise argparse.ArgumentTypeError(f"expected owner/name, got {value!r}")
    return ModelRef(owner, name)


def _whole(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0  # out of every range below, so refused with the range's own words


def positive_limit(value: str) -> int:
    number = _whole(value)
    if not 1 <= number <= 100:
        raise argparse.ArgumentTypeError(f"expected a number from 1 to 100, got {value!r}")
    return number


def day_count(value: str) -> int:
    number = _whole(value)
    if not 1 <= number <= MAX_STATS_DAYS:
        raise argparse.ArgumentTypeError(
            f"expected a number of days from 1 to {MAX_STATS_DAYS}, got {value!r}"
        )
    return number
