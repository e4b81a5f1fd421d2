"""The release ledger (:class:`TrendsRelease`) and the privacy budget.

A DP release is computed once, stored and served as stored ever after, so asking again spends nothing
and cannot average the noise away. With ``settings.TRENDS_DP_BUDGET`` set, the ledger's total may not
pass it: once a new release would, only the ranges released before are served, and a new one is
refused with ``Code.BUDGET_SPENT``. Without DP nothing is recorded: a report is computed on request and
kept a minute in the cache.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Max, Sum
from django.urls import reverse
from django.utils.http import urlencode

from candor.analytics import noise, suppression
from candor.analytics.models import TrendsRelease
from candor.analytics.trends import release
from candor.analytics.trends.ranges import TrendsQuery
from candor.hub import listing_cache
from candor.kernel.db import is_postgres
from candor.kernel.refusal import Code, Refusal

LIVE_SECONDS = 60  # how long a report without DP is kept in the cache


def budget() -> float | None:
    """The total ε all releases may spend, or None for no limit."""
    limit = float(settings.TRENDS_DP_BUDGET)
    return limit if limit > 0 else None


def spent() -> float:
    return float(TrendsRelease.objects.aggregate(total=Sum("epsilon"))["total"] or 0.0)


def check_budget() -> None:
    """Refuse (``BUDGET_SPENT``) if one more release would take the ledger past the budget."""
    limit = budget()
    if limit is None:
        return
    total = spent()
    # A little slack for the floating-point sum: ten releases of 0.1 may spend a budget of 1.0.
    if total + noise.epsilon() > limit * (1 + 1e-9):
        raise Refusal(
            Code.BUDGET_SPENT,
            f"This site's privacy budget for the trends report is spent (ε {total:.3f} of {limit:.3f}): "
            "no new range can be released. The ranges released before can still be shown.",
        )


def release_for(query: TrendsQuery) -> tuple[dict[str, Any], datetime | None]:
    """The release for ``query`` and when it was recorded (None for a live report without DP)."""
    if not noise.enabled():
        # Keyed by the listings' generation, which every visibility change bumps: a model made private
        # leaves the cached figures (its "Other" share included) the moment the change commits.
        cache_key = f"analytics:trends:{query.key}:{suppression.min_count()}:{listing_cache.generation()}"
        released: dict[str, Any] | None = cache.get(cache_key)
        if released is None:
            released = release.compute(query, noisy=False)
            cache.set(cache_key, released, LIVE_SECONDS)
        return released, None
    stored = TrendsRelease.objects.filter(query=query.key).first()
    if stored is not None:
        return stored.payload, stored.released_at
    check_budget()  # before the work of computing it
    released = release.compute(query, noisy=True)
    try:
        with transaction.atomic():
            # Checked again where no other release can be written meanwhile: SQLite's IMMEDIATE
            # transactions hold the write lock from their start; on PostgreSQL a lock on the ledger
            # table does (ROW EXCLUSIVE writers wait, readers do not).
            if budget() is not None and is_postgres():
                with connection.cursor() as cursor:
                    table = connection.ops.quote_name(TrendsRelease._meta.db_table)
                    cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
            check_budget()
            stored = TrendsRelease.objects.create(
                query=query.key,
                released_at=datetime.now(UTC),
                epsilon=released["dp"]["epsilon"],
                cells=released["cells"],
                payload=released,
            )
    except IntegrityError:
        # Another request released the same query first: serve its release, and this one is never shown.
        stored = TrendsRelease.objects.get(query=query.key)
    return stored.payload, stored.released_at


def summary(recent: int = 10) -> dict[str, Any]:
    """The privacy budget spent so far: total ε, number of releases, the latest ones."""
    totals = TrendsRelease.objects.aggregate(
        epsilon=Sum("epsilon"), releases=Count("pk"), cells=Sum("cells"), last=Max("released_at")
    )
    latest = TrendsRelease.objects.order_by("-released_at", "-pk").values(
        "query", "released_at", "epsilon", "cells"
    )[:recent]
    total = float(totals["epsilon"] or 0.0)
    limit = budget()
    return {
        "epsilon": total,
        "budget": limit,
        "remaining": None if limit is None else max(0.0, limit - total),
        "releases": int(totals["releases"] or 0),
        "cells": int(totals["cells"] or 0),
        "recent": [
            {
                "query": row["query"],
                "link": reverse("analytics:trends")
                + "?"
                + urlencode(dict(zip(("from", "to", "granularity"), row["query"].split("/"), strict=True))),
                "released_at": row["released_at"],
                "epsilon": float(row["epsilon"]),
                "cells": int(row["cells"]),
            }
            for row in latest
        ],
    }
