"""What a trends report may cover: a range of UTC days, by day, week (Monday to Sunday) or month.

Parsing and the range's limits, and the range cut into periods. Nothing here reads the database; a
query that cannot be answered is refused with ``Code.INVALID_FIELDS``, naming the parameter at fault
(``from``, ``to`` or ``granularity``, as the page and the API call them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from candor.analytics import noise
from candor.kernel.refusal import Code, Refusal

Granularity = Literal["day", "week", "month"]
GRANULARITIES: tuple[Granularity, ...] = ("day", "week", "month")
# The longest range each granularity may cover: a (leap) year by day, five years by week or month.
MAX_DAYS: dict[str, int] = {"day": 366, "week": 5 * 365 + 2, "month": 5 * 365 + 2}
DEFAULT_DAYS = 30
EARLIEST = date(2000, 1, 1)  # no report reaches further back (and date arithmetic stays in range)

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class TrendsQuery:
    start: date
    end: date
    granularity: Granularity

    @property
    def key(self) -> str:
        """The release's name in the ledger, e.g. "2026-01-01/2026-06-30/week"."""
        return f"{self.start.isoformat()}/{self.end.isoformat()}/{self.granularity}"


def today() -> date:
    return datetime.now(UTC).date()


def _invalid(field: str, message: str) -> Refusal:
    return Refusal(Code.INVALID_FIELDS, message, field=field)


def default_range(now: date | None = None, *, closed_only: bool | None = None) -> tuple[date, date]:
    """The last 30 days; with DP on, the 30 days up to yesterday (a release covers closed days only)."""
    current = now or today()
    closed = noise.enabled() if closed_only is None else closed_only
    end = current - timedelta(days=1) if closed else current
    return end - timedelta(days=DEFAULT_DAYS - 1), end


def parse_date(text: str, field: str) -> date:
    if not _ISO_DATE.fullmatch(text):
        raise _invalid(field, "Write the date as YYYY-MM-DD.")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise _invalid(field, "This date does not exist.") from None
    if day < EARLIEST:
        raise _invalid(field, f"Reports begin on {EARLIEST.isoformat()}.")
    return day


def validate(
    start: date, end: date, granularity: str, *, now: date | None = None, closed_only: bool | None = None
) -> TrendsQuery:
    """The query if it may be answered; otherwise a refusal naming the parameter at fault.

    ``closed_only`` (by default: whether DP is on) refuses a range that reaches today.
    """
    current = now or today()
    closed = noise.enabled() if closed_only is None else closed_only
    if granularity not in GRANULARITIES:
        raise _invalid("granularity", "Choose day, week or month.")
    if start < EARLIEST:
        raise _invalid("from", f"Reports begin on {EARLIEST.isoformat()}.")
    if start > current:
        raise _invalid("from", f"The report cannot start after today ({current.isoformat()}).")
    if end > current:
        raise _invalid("to", f"The report cannot end after today ({current.isoformat()}).")
    if start > end:
        raise _invalid("from", "The start date comes after the end date.")
    days = (end - start).days + 1
    limit = MAX_DAYS[granularity]
    if days > limit:
        years = "a year" if granularity == "day" else "five years"
        raise _invalid(
            "from", f"A report by {granularity} covers at most {limit} days ({years}); this range has {days}."
        )
    if closed and end >= current:
        raise _invalid(
            "to",
            "With differential privacy on, a report covers closed days only: end the range on "
            f"{(current - timedelta(days=1)).isoformat()} or earlier.",
        )
    return TrendsQuery(start, end, granularity)


def parse(
    start: str | None, end: str | None, granularity: str | None, *, now: date | None = None
) -> TrendsQuery:
    """A query from text parameters (each may be missing: the default is the last 30 days by day)."""
    default_start, default_end = default_range(now)
    start_day = parse_date(start, "from") if start else None
    end_day = parse_date(end, "to") if end else None
    if start_day is None:
        start_day = default_start if end_day is None else end_day - timedelta(days=DEFAULT_DAYS - 1)
    return validate(start_day, end_day or default_end, granularity or "day", now=now)


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    label: str


def month_end(day: date) -> date:
    following = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
    return following - timedelta(days=1)


def periods(query: TrendsQuery) -> list[Period]:
    """The range cut into days, weeks (Monday to Sunday) or months, the edges cut by the range."""
    found: list[Period] = []
    day = query.start
    while day <= query.end:
        if query.granularity == "day":
            last, label = day, day.isoformat()
        elif query.granularity == "week":
            last, label = day + timedelta(days=6 - day.weekday()), day.isoformat()
        else:
            last, label = month_end(day), f"{day:%Y-%m}"
        last = min(last, query.end)
        found.append(Period(day, last, label))
        day = last + timedelta(days=1)
    return found


def bucket(query: TrendsQuery, by_day: Iterable[tuple[date, int | None]]) -> list[int]:
    """Day figures added up per period; days outside the range are ignored."""
    spans = periods(query)
    index: dict[date, int] = {}
    for position, period in enumerate(spans):
        day = period.start
        while day <= period.end:
            index[day] = position
            day += timedelta(days=1)
    sums = [0] * len(spans)
    for day, value in by_day:
        if day in index:
            sums[index[day]] += int(value or 0)
    return sums
