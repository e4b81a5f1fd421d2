"""The public trends report in the API, GET /api/v1/trends (clause C8).

The same report as the /trends/ page, from :mod:`candor.analytics.trends.report`: aggregates only, no
figure under k, and with differential privacy on, the ε the release spent. Refusals are rendered by the
API's one error handler (a bad parameter: 422 ``invalid_fields``, naming it).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.params.functions import Query
from pydantic import Field

from candor.analytics.trends import ranges, report
from candor.api.auth import ANYONE
from candor.api.errors import explain_pattern
from candor.api.schemas import openapi, responses

router = Router(tags=["analytics"])

# YYYY-MM-DD from ranges.EARLIEST (2000) on, with months 01-12 and days 01-31: the schema says as much
# of what the server accepts as a pattern can. Left to the server's 422: the days a month lacks
# (02-30), and what depends on today or on the range's other end.
DATE_PATTERN = explain_pattern(
    r"^2[0-9]{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])$",
    "Write the date as YYYY-MM-DD, from 2000-01-01 on.",
)


class PeriodOut(Schema):
    start: date
    end: date
    label: str
    value: int | None = Field(description="Null when withheld (under k).")
    withheld: bool


class FigureOut(Schema):
    value: int | None = Field(description="Null when withheld (under k).")
    withheld: bool


class VisitsOut(Schema):
    periods: list[PeriodOut]
    bots: FigureOut = Field(description="Requests from known bots, not in the figures.")


class VisitorsOut(Schema):
    periods: list[PeriodOut]


class RowOut(Schema):
    label: str
    value: int
    share: float | None = Field(description="Of the figures this table releases.")


class ModelRowOut(RowOut):
    url: str = Field(description="The model's page on the website.")


class OtherOut(Schema):
    value: int | None = Field(description="Null when withheld (under k).")
    share: float | None
    withheld: bool


class TableOut(Schema):
    rows: list[RowOut]
    other: OtherOut | None = Field(description="Entries under k and past the top rows; null if none.")


class ModelTableOut(Schema):
    rows: list[ModelRowOut]
    other: OtherOut | None


class DpOut(Schema):
    enabled: bool
    epsilon: float = Field(description="The ε this release spent (0 without differential privacy).")
    epsilon_per_table: float
    unit: str | None = Field(description="What the guarantee protects: one request (event-level).")
    released_at: datetime | None = Field(description="When a DP release was computed and recorded.")


class TrendsOut(Schema):
    start: date
    end: date
    granularity: Literal["day", "week", "month"]
    k: int = Field(description="No released figure counts fewer than this.")
    dp: DpOut
    visits: VisitsOut
    visitors: VisitorsOut
    browsers: TableOut
    languages: TableOut
    referrers: TableOut
    models: ModelTableOut
    notes: dict[str, str]


@router.get(
    "/trends",
    auth=ANYONE,
    response=responses({200: TrendsOut}, 403),
    url_name="trends",
    openapi_extra=openapi(optional_auth=True),
    summary="The public usage-trends report",
)
def trends_report(
    request: HttpRequest,
    start: str | None = Query(
        None,
        alias="from",
        pattern=DATE_PATTERN,
        description="First day (UTC), YYYY-MM-DD; by default 29 days before 'to'.",
    ),
    to: str | None = Query(
        None,
        pattern=DATE_PATTERN,
        description="Last day (UTC), YYYY-MM-DD; by default today (yesterday with differential privacy).",
    ),
    granularity: Literal["day", "week", "month"] = "day",
) -> dict[str, Any]:
    """Visits, unique visitors, browsers, languages, referring sites and top public models over a range
    (default: the last 30 days, by day). No figure counts fewer than k; with differential privacy on,
    each range is released once and then served as recorded."""
    query = ranges.parse(start, to, granularity)
    return report.build(query)
