"""``candor analytics status|rollup``: the operator's view of the counters, salts and ledger."""

from __future__ import annotations

import io
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command

from candor.accounts.models import User
from candor.analytics import salt
from candor.analytics.models import DailySalt, TrendsRelease
from tests.analytics.test_popularity import add_counts, publish, this_hour

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("analytics", *args, stdout=out)
    return out.getvalue()


def table_line(output: str, table: str) -> list[str]:
    return next(line.split() for line in output.splitlines() if line.startswith(table + " "))


def test_status_and_rollup(owner: User, settings: Any) -> None:
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    hour = this_hour()
    add_counts(publish(owner, "counted"), {hour: (12, 3), hour - timedelta(days=40): (5, 0)})
    salt.forget_in_memory()
    salt.salt_for(today)
    # Left by a process that stopped before midnight, with no rollup since.
    DailySalt.objects.create(day=yesterday, salt=secrets.token_bytes(32))
    TrendsRelease.objects.create(
        released_at=datetime.now(UTC), query="2026-01-01/2026-01-31/day", epsilon=0.5, cells=120, payload={}
    )

    status = run("status")
    assert "counts go to the database" in status
    first, last = (hour - timedelta(days=40)).date().isoformat(), today.isoformat()
    assert table_line(status, "analytics_modelhourly") == ["analytics_modelhourly", "2", first, last]
    assert table_line(status, "analytics_modeldaily")[1] == "2"
    assert table_line(status, "analytics_routehourly") == ["analytics_routehourly", "0", "-", "-"]
    assert f"salts held: {yesterday.isoformat()}, {today.isoformat()}." in status
    assert "1 of them belong to an ended day" in status
    assert "releases with noise: 1, epsilon spent 0.5 over 120 figures" in status
    assert "Budget: no limit." in status

    settings.TRENDS_DP_BUDGET = 4
    assert "Budget: epsilon 4 in all." in run("status")

    assert "1 salts destroyed" in run("rollup")
    after = run("status")
    assert f"salts held: {today.isoformat()}." in after and "ended day" not in after
    assert list(DailySalt.objects.values_list("day", flat=True)) == [today]


def test_status_in_redis_mode_lists_the_salts_redis_holds(redis_mode: Any) -> None:
    today = datetime.now(UTC).date()
    salt.salt_for(today)  # the fixture started with nothing in memory
    status = run("status")
    assert "counts go to Redis" in status and f"salts held: {today.isoformat()}." in status
    assert not DailySalt.objects.exists()


def test_an_unknown_action_is_refused() -> None:
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="invalid choice"):
        run("purge")
