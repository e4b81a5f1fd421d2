"""The trends report as published (page, API, CSV): a release with labels, shares and suppression
markers, and the figures each chart shows.

Model ids are named through the popular lists' models of the moment
(:func:`candor.analytics.trends.counts.candidate_models`), so a model that has left the public lists
since its release was computed is left out of every report at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from django.conf import settings
from django.urls import reverse

from candor.analytics.suppression import OTHER
from candor.analytics.trends import ledger
from candor.analytics.trends.counts import candidate_models
from candor.analytics.trends.ranges import TrendsQuery, periods, validate

NOTES = {
    "visits": (
        "Requests by people: pages and API reads of public resources. Requests from known bots are not "
        "in the figures; their total is given apart."
    ),
    "visitors": (
        "Each day's number of distinct visitors is an estimate (HyperLogLog) from hashes salted with a key "
        "that changes every day, so a person who comes back on another day counts again: a week's or a "
        "month's figure is the sum of its days, not the number of different people."
    ),
    "models": "Public models only, views and downloads together; a model its owner keeps out of the lists "
    "does not appear.",
    "periods": "Weeks run from Monday to Sunday; the first and last period may be cut by the range.",
}


def for_range(start: date, end: date, granularity: str) -> dict[str, Any]:
    """The published report for the range; a refusal if it cannot be given."""
    return build(validate(start, end, granularity))


def build(query: TrendsQuery) -> dict[str, Any]:
    """The published report for ``query`` (refused with ``BUDGET_SPENT`` when a new DP release would
    pass the budget)."""
    released, released_at = ledger.release_for(query)
    return present(released, released_at)


def _share(value: int | None, total: int) -> float | None:
    return round(value / total, 4) if value is not None and total > 0 else None


def _present_table(table: dict[str, Any], names: dict[int, tuple[str, str]] | None) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for key, value in table["rows"]:
        if names is None:
            rows.append({"label": str(key), "value": int(value)})
            continue
        named = names.get(int(key))
        if named is None:
            continue  # no longer public (or opted out): gone from every report at once
        owner, model = named
        rows.append(
            {
                "label": f"{owner}/{model}",
                "value": int(value),
                "url": settings.WEBSITE_URL + reverse("hub:model", args=[owner, model]),
            }
        )
    other: dict[str, Any] | None = None
    if table["has_other"]:
        other = {"value": table["other"], "withheld": table["other"] is None}
    total = sum(row["value"] for row in rows) + (table["other"] or 0)
    for row in rows:
        row["share"] = _share(row["value"], total)
    if other is not None:
        other["share"] = _share(other["value"], total)
    return {"rows": rows, "other": other}


def _series(query: TrendsQuery, values: Sequence[int | None]) -> list[dict[str, Any]]:
    return [
        {
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "label": period.label,
            "value": value,
            "withheld": value is None,
        }
        for period, value in zip(periods(query), values, strict=True)
    ]


def present(released: dict[str, Any], released_at: datetime | None = None) -> dict[str, Any]:
    """A stored or live release as published."""
    query = TrendsQuery(
        date.fromisoformat(released["start"]),
        date.fromisoformat(released["end"]),
        released["granularity"],
    )
    ids = [int(key) for key, _ in released["models"]["rows"]]
    # Read through the models (the owner's name is decrypted on the way), not as raw column values.
    names = {
        pk: (owner, name)
        for pk, owner, name in candidate_models()
        .filter(pk__in=ids)
        .values_list("pk", "owner_username", "name")
    }
    dp_in = released["dp"]
    return {
        "start": released["start"],
        "end": released["end"],
        "granularity": released["granularity"],
        "k": released["k"],
        "dp": {
            "enabled": bool(dp_in["enabled"]),
            "epsilon": float(dp_in["epsilon"]),
            "epsilon_per_table": float(dp_in["epsilon_per_table"]),
            "unit": "one request (event-level)" if dp_in["enabled"] else None,
            "released_at": released_at.isoformat() if released_at else None,
        },
        "visits": {
            "periods": _series(query, released["visits"]),
            "bots": {"value": released["bots"], "withheld": released["bots"] is None},
        },
        "visitors": {"periods": _series(query, released["visitors"])},
        "browsers": _present_table(released["browsers"], None),
        "languages": _present_table(released["languages"], None),
        "referrers": _present_table(released["referrers"], None),
        "models": _present_table(released["models"], names),
        "notes": NOTES,
    }


# --- charts and their CSV -------------------------------------------------------------------------
@dataclass(frozen=True)
class Chart:
    name: str
    kind: Literal["columns", "bars"]
    title: str
    description: str
    header: tuple[str, str]
    rows: list[tuple[str, int | None]]


CHARTS = ("visits", "visitors", "browsers", "languages", "referrers", "models")
_CHART_TEXT = {
    "visits": ("Visits", ("period", "visits"), "Requests by people per {unit}"),
    "visitors": ("Unique visitors", ("period", "visitors"), "Estimated distinct visitors per {unit}"),
    "browsers": ("Browsers", ("browser", "requests"), "Requests by browser family"),
    "languages": ("Languages", ("language", "requests"), "Requests by the first language asked for"),
    "referrers": ("Referring sites", ("referring site", "requests"), "Requests arriving from other sites"),
    "models": ("Top public models", ("model", "requests"), "Views and downloads of public models"),
}
# The top lists show their leaders only: "Other" would dwarf them. Its figure is given beside the chart.
_OTHER_IN_CHART = {"browsers": True, "languages": True, "referrers": False, "models": False}


def chart(data: dict[str, Any], name: str) -> Chart:
    """The figures one chart shows, the same for its SVG and for its CSV download."""
    title, header, description = _CHART_TEXT[name]
    description = (
        f"{description.format(unit=data['granularity'])}, {data['start']} to {data['end']}. "
        f"Figures under {data['k']} are withheld or merged into Other."
    )
    if name in ("visits", "visitors"):
        points: list[tuple[str, int | None]] = [(p["label"], p["value"]) for p in data[name]["periods"]]
        return Chart(name, "columns", title, description, header, points)
    table = data[name]
    rows: list[tuple[str, int | None]] = [(row["label"], row["value"]) for row in table["rows"]]
    other = table["other"]
    if _OTHER_IN_CHART[name] and other is not None and other["value"] is not None:
        rows.append((OTHER, other["value"]))
    return Chart(name, "bars", title, description, header, rows)
