"""Analytics storage: counters by hour, day and month, daily visitor sketches, and the release ledger.

No table here has a column that could hold an IP address, a user-agent string, a URL or its query, a
cookie, or an account or session id. Text columns carry database CHECK constraints that refuse anything
but their narrow vocabulary (a route name, a browser family, a language subtag, a registered domain), and
the only id stored is a model's, never a person's. Counts of a model are kept by its id without a foreign
key: deleting a model (or its owner's account) never has to wait on its counters, which stop being
published at once because every report joins them with the public models of the moment.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models import Q

from candor.privacy.inventory import NotPersonal, declare

# The vocabulary of each text column, as patterns both PostgreSQL (POSIX) and Python (SQLite) accept.
# None can match an IPv4 address (they start with a letter, or need a letter in the last label), an IPv6
# address (no two colons), a user-agent string (no slash, parenthesis or semicolon), or a query (no ? = &).
ROUTE_PATTERN = r"^[a-z][a-z_]{0,30}(:[a-z][a-z_]{0,30})?$"
BROWSER_PATTERN = r"^[A-Za-z][A-Za-z0-9 ._-]{0,39}$"
LANGUAGE_PATTERN = r"^[a-z]{2,3}$"
DOMAIN_PATTERN = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?[.])+[a-z0-9-]*[a-z][a-z0-9-]*$"
# What a browser family may not contain: three digits or more. No family has more than two (Decentr
# Web3 Browser has one), and an account id (a UUID, a hex token) starting with a letter has many.
BROWSER_DIGITS = r"[0-9].*[0-9].*[0-9]"
# The trends ledger's key: the report's own dates and granularity, e.g. "2026-01-01/2026-06-30/week".
RELEASE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}/[0-9]{4}-[0-9]{2}-[0-9]{2}/(day|week|month)$"


class Dimension(models.TextChoices):
    BROWSER = "browser", "Browser family"
    LANGUAGE = "language", "Language"
    REFERRER = "referrer", "Referring site"


DIMENSION_PATTERNS = {
    Dimension.BROWSER: BROWSER_PATTERN,
    Dimension.LANGUAGE: LANGUAGE_PATTERN,
    Dimension.REFERRER: DOMAIN_PATTERN,
}


def _route_check(name: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=Q(route__regex=ROUTE_PATTERN), name=name)


class RouteHourly(models.Model):
    """Requests answered per route and hour; known bots apart."""

    hour = models.DateTimeField()
    route = models.CharField(max_length=64)
    views = models.BigIntegerField(default=0)
    bot_views = models.BigIntegerField(default=0)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["hour", "route"], name="analytics_routehour_unique"),
            _route_check("analytics_routehour_route"),
        ]

    def __str__(self) -> str:
        return f"{self.route} at {self.hour:%Y-%m-%d %H}:00"


class RouteDaily(models.Model):
    day = models.DateField()
    route = models.CharField(max_length=64)
    views = models.BigIntegerField(default=0)
    bot_views = models.BigIntegerField(default=0)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["day", "route"], name="analytics_routeday_unique"),
            _route_check("analytics_routeday_route"),
        ]

    def __str__(self) -> str:
        return f"{self.route} on {self.day}"


class ModelHourly(models.Model):
    """Views and downloads of one public model in one hour."""

    hour = models.DateTimeField()
    model_id = models.BigIntegerField()
    views = models.BigIntegerField(default=0)
    downloads = models.BigIntegerField(default=0)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["hour", "model_id"], name="analytics_modelhour_unique")
        ]
        # Covering: a model's series, and ranking over a window, read the index alone.
        indexes: ClassVar = [
            models.Index(fields=["model_id", "hour", "views", "downloads"], name="analytics_modelhour_cover")
        ]

    def __str__(self) -> str:
        return f"model {self.model_id} at {self.hour:%Y-%m-%d %H}:00"


class ModelDaily(models.Model):
    day = models.DateField()
    model_id = models.BigIntegerField()
    views = models.BigIntegerField(default=0)
    downloads = models.BigIntegerField(default=0)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["day", "model_id"], name="analytics_modelday_unique")
        ]
        indexes: ClassVar = [
            models.Index(fields=["model_id", "day", "views", "downloads"], name="analytics_modelday_cover")
        ]

    def __str__(self) -> str:
        return f"model {self.model_id} on {self.day}"


class ModelMonthly(models.Model):
    """Month totals (``month`` is the month's first day), so a year's ranking reads twelve rows a model."""

    month = models.DateField()
    model_id = models.BigIntegerField()
    views = models.BigIntegerField(default=0)
    downloads = models.BigIntegerField(default=0)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["month", "model_id"], name="analytics_modelmonth_unique")
        ]
        indexes: ClassVar = [
            models.Index(
                fields=["model_id", "month", "views", "downloads"], name="analytics_modelmonth_cover"
            )
        ]

    def __str__(self) -> str:
        return f"model {self.model_id} in {self.month:%Y-%m}"


class DimensionDaily(models.Model):
    """Human (not bot) requests per day by browser family, primary language or referring domain."""

    day = models.DateField()
    dimension = models.CharField(max_length=10, choices=Dimension.choices)
    value = models.CharField(max_length=100)
    views = models.BigIntegerField(default=0)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["day", "dimension", "value"], name="analytics_dimday_unique"),
            models.CheckConstraint(
                condition=(
                    Q(dimension=Dimension.BROWSER, value__regex=BROWSER_PATTERN)
                    & ~Q(value__regex=BROWSER_DIGITS)
                )
                | Q(dimension=Dimension.LANGUAGE, value__regex=LANGUAGE_PATTERN)
                | Q(dimension=Dimension.REFERRER, value__regex=DOMAIN_PATTERN),
                name="analytics_dimday_value",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dimension} {self.value} on {self.day}"


class DailyUnique(models.Model):
    """The estimated number of distinct visitors on one day, site-wide (``model_id`` 0) or to one model.

    ``registers`` is the HyperLogLog sketch the estimate comes from (embedded mode), merged by every
    flush. It was filled with keyed hashes under that day's salt, destroyed when the day ended: after
    that, nothing can tell whether a given visitor is among those counted.
    """

    day = models.DateField()
    model_id = models.BigIntegerField(default=0)
    visitors = models.BigIntegerField(default=0)
    registers = models.BinaryField(null=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["day", "model_id"], name="analytics_unique_day_model")
        ]

    def __str__(self) -> str:
        return f"visitors of {self.model_id or 'the site'} on {self.day}"


class DailySalt(models.Model):
    """The secret key of one UTC day's visitor hashes: drawn at random, deleted when the day ends."""

    day = models.DateField(unique=True)
    salt = models.BinaryField()

    def __str__(self) -> str:
        return f"salt of {self.day}"


class TrendsRelease(models.Model):
    """The privacy-budget ledger: one row per distinct release of the trends report.

    A release is computed once and then served as stored, so asking again spends nothing and cannot
    average the noise away.
    """

    released_at = models.DateTimeField()
    query = models.CharField(max_length=64, unique=True)  # e.g. "2026-01-01/2026-06-30/week"
    epsilon = models.FloatField()
    cells = models.IntegerField()
    payload = models.JSONField()

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(query__regex=RELEASE_PATTERN), name="analytics_release_query")
        ]

    def __str__(self) -> str:
        return f"release {self.query}"


_COUNT = NotPersonal("an aggregate count")
_ROUTE = NotPersonal("the name of a URL pattern, e.g. hub:model; never the URL")
_MODEL = NotPersonal("the id of a model that was public when counted; no account id")

declare(
    RouteHourly,
    belongs_to=None,
    fields={
        "id": NotPersonal(),
        "hour": NotPersonal(),
        "route": _ROUTE,
        "views": _COUNT,
        "bot_views": _COUNT,
    },
)
declare(
    RouteDaily,
    belongs_to=None,
    fields={"id": NotPersonal(), "day": NotPersonal(), "route": _ROUTE, "views": _COUNT, "bot_views": _COUNT},
)
for _table in (ModelHourly, ModelDaily):
    _time = "hour" if _table is ModelHourly else "day"
    declare(
        _table,
        belongs_to=None,
        fields={
            "id": NotPersonal(),
            _time: NotPersonal(),
            "model_id": _MODEL,
            "views": _COUNT,
            "downloads": _COUNT,
        },
    )
declare(
    ModelMonthly,
    belongs_to=None,
    fields={
        "id": NotPersonal(),
        "month": NotPersonal(),
        "model_id": _MODEL,
        "views": _COUNT,
        "downloads": _COUNT,
    },
)
declare(
    DimensionDaily,
    belongs_to=None,
    fields={
        "id": NotPersonal(),
        "day": NotPersonal(),
        "dimension": NotPersonal(),
        "value": NotPersonal("a browser family, a two- or three-letter language, or a registered domain"),
        "views": _COUNT,
    },
)
declare(
    DailyUnique,
    belongs_to=None,
    fields={
        "id": NotPersonal(),
        "day": NotPersonal(),
        "model_id": _MODEL,
        "visitors": _COUNT,
        "registers": NotPersonal("a cardinality sketch of salted hashes; its salt is destroyed at day end"),
    },
)
declare(
    DailySalt,
    belongs_to=None,
    fields={
        "id": NotPersonal(),
        "day": NotPersonal(),
        "salt": NotPersonal("a random key, destroyed when its day ends"),
    },
)
declare(
    TrendsRelease,
    belongs_to=None,
    fields={
        "id": NotPersonal(),
        "released_at": NotPersonal(),
        "query": NotPersonal("the report's dates and granularity"),
        "epsilon": NotPersonal("the privacy budget the release spent"),
        "cells": NotPersonal(),
        "payload": NotPersonal("the released report: aggregates only, small cells suppressed"),
    },
)
