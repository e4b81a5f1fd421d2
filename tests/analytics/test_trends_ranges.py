"""What a trends report may cover, its periods, and which aggregate rows it reads: dates only, no
database."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from candor.analytics.trends.counts import model_plan
from candor.analytics.trends.ranges import (
    EARLIEST,
    TrendsQuery,
    bucket,
    month_end,
    parse,
    parse_date,
    periods,
    validate,
)
from candor.kernel.refusal import Code, Refusal

NOW = date(2026, 3, 18)  # a Wednesday


def refused_field(call: Callable[..., object], *args: object, **kwargs: object) -> tuple[str | None, str]:
    with pytest.raises(Refusal) as caught:
        call(*args, **kwargs)
    assert caught.value.code is Code.INVALID_FIELDS
    return caught.value.field, caught.value.message


@pytest.mark.parametrize(
    ("start", "end", "granularity", "field", "words"),
    [
        (date(2026, 3, 1), date(2026, 3, 10), "hour", "granularity", "day, week or month"),
        (date(1999, 12, 31), date(2000, 1, 2), "day", "from", "begin on 2000-01-01"),
        (NOW + timedelta(days=1), NOW + timedelta(days=2), "day", "from", "after today"),
        (NOW - timedelta(days=3), NOW + timedelta(days=1), "day", "to", "after today"),
        (NOW - timedelta(days=3), NOW - timedelta(days=5), "day", "from", "comes after the end"),
        (NOW - timedelta(days=366), NOW, "day", "from", "at most 366 days (a year)"),
        (NOW - timedelta(days=6 * 365), NOW, "month", "from", "(five years)"),
    ],
)
def test_a_query_that_cannot_be_answered_names_its_parameter(
    start: date, end: date, granularity: str, field: str, words: str
) -> None:
    named, message = refused_field(validate, start, end, granularity, now=NOW, closed_only=False)
    assert named == field
    assert words in message


def test_closed_days_only_refuses_today() -> None:
    field, message = refused_field(validate, NOW - timedelta(days=3), NOW, "day", now=NOW, closed_only=True)
    assert field == "to" and "2026-03-17 or earlier" in message
    assert validate(NOW - timedelta(days=3), NOW, "day", now=NOW, closed_only=False).end == NOW


def test_long_ranges_are_fine_by_week_and_month() -> None:
    assert validate(NOW - timedelta(days=365), NOW, "day", now=NOW, closed_only=False)
    assert validate(NOW - timedelta(days=5 * 365), NOW, "month", now=NOW, closed_only=False)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("2026-1-1", "YYYY-MM-DD"),
        ("yesterday", "YYYY-MM-DD"),
        ("2026-02-30", "does not exist"),
        ("1999-12-31", "2000"),
    ],
)
def test_a_date_is_written_in_full_and_exists(text: str, words: str) -> None:
    field, message = refused_field(parse_date, text, "to")
    assert field == "to" and words in message


def test_missing_parameters_take_their_defaults(settings: Any) -> None:
    settings.TRENDS_DP_EPSILON = 0.0
    query = parse(None, None, None, now=NOW)
    assert query == TrendsQuery(NOW - timedelta(days=29), NOW, "day")
    assert parse(None, "2026-02-10", "week", now=NOW) == TrendsQuery(
        date(2026, 1, 12), date(2026, 2, 10), "week"
    )
    assert parse_date("2000-01-01", "from") == EARLIEST
    settings.TRENDS_DP_EPSILON = 1.0  # a DP release covers closed days: the default ends yesterday
    assert parse(None, None, None, now=NOW).end == NOW - timedelta(days=1)


def test_weeks_run_monday_to_sunday_and_the_edges_are_cut() -> None:
    found = periods(TrendsQuery(date(2026, 3, 4), date(2026, 3, 18), "week"))
    assert [(p.start, p.end, p.label) for p in found] == [
        (date(2026, 3, 4), date(2026, 3, 8), "2026-03-04"),
        (date(2026, 3, 9), date(2026, 3, 15), "2026-03-09"),
        (date(2026, 3, 16), date(2026, 3, 18), "2026-03-16"),
    ]


def test_months_are_calendar_months() -> None:
    found = periods(TrendsQuery(date(2024, 1, 30), date(2024, 3, 2), "month"))
    assert [(p.start, p.end, p.label) for p in found] == [
        (date(2024, 1, 30), date(2024, 1, 31), "2024-01"),
        (date(2024, 2, 1), date(2024, 2, 29), "2024-02"),
        (date(2024, 3, 1), date(2024, 3, 2), "2024-03"),
    ]


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2035, 12, 31)),
    st.integers(min_value=0, max_value=400),
    st.sampled_from(["day", "week", "month"]),
)
def test_periods_cover_the_range_once_each_inside_one_calendar_period(
    start: date, length: int, granularity: str
) -> None:
    query = TrendsQuery(start, start + timedelta(days=length), granularity)  # type: ignore[arg-type]
    found = periods(query)
    assert found[0].start == query.start and found[-1].end == query.end
    assert all(after.start == before.end + timedelta(days=1) for before, after in pairwise(found))
    for period in found:
        if granularity == "day":
            assert period.start == period.end
        elif granularity == "week":
            assert period.start.isocalendar()[:2] == period.end.isocalendar()[:2]
        else:
            assert (period.start.year, period.start.month) == (period.end.year, period.end.month)
    # Adding up one per day gives each period's length, and nothing outside the range counts.
    days = [(query.start + timedelta(days=i), 1) for i in range(-3, length + 4)]
    assert bucket(query, days) == [(p.end - p.start).days + 1 for p in found]


def test_bucket_treats_a_missing_figure_as_zero() -> None:
    query = TrendsQuery(date(2026, 3, 1), date(2026, 3, 2), "day")
    assert bucket(query, [(date(2026, 3, 1), None), (date(2026, 3, 2), 5), (date(2026, 3, 2), 2)]) == [0, 7]


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
    st.integers(min_value=0, max_value=800),
)
def test_a_model_plan_counts_each_day_of_the_range_once(start: date, length: int) -> None:
    end = start + timedelta(days=length)
    plan = model_plan(start, end)
    counted: dict[date, int] = defaultdict(int)
    if plan.months is not None:
        day = plan.months[0]
        while day <= month_end(plan.months[1]):
            counted[day] += 1
            day += timedelta(days=1)
    for first, last, sign in plan.days:
        day = first
        while day <= last:
            counted[day] += sign
            day += timedelta(days=1)
    assert {day for day, n in counted.items() if n} == {start + timedelta(days=i) for i in range(length + 1)}
    assert all(n in (0, 1) for n in counted.values())
    # Never more day rows than half a month at each edge.
    assert sum((last - first).days + 1 for first, last, _ in plan.days) <= 2 * 16
