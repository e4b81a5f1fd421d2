"""The trends report's date parameters: what the schema's pattern admits, the server accepts, as far
as it does not depend on today or on the range's other end."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def date_pattern(client: Client, name: str) -> str:
    schema = json.loads(client.get("/api/v1/openapi.json").content)
    (parameter,) = [p for p in schema["paths"]["/api/v1/trends"]["get"]["parameters"] if p["name"] == name]
    (text,) = [s for s in parameter["schema"]["anyOf"] if s.get("type") == "string"]
    return str(text["pattern"])


@pytest.mark.parametrize(
    "day",
    [
        "1999-12-31",
        "0001-01-05",
        "0000-00-00",
        "2026-13-01",
        "2026-00-10",
        "2026-01-32",
        "2026-01-00",
        "2026-1-1",
    ],
)
def test_days_the_server_refuses_are_outside_the_schema(day: str) -> None:
    client = Client()
    # A start the server would refuse whatever the end: the schema refuses it too.
    assert re.fullmatch(date_pattern(client, "from"), day) is None
    response = client.get("/api/v1/trends", {"from": day, "to": "2000-01-10"})
    assert response.status_code == 422 and "from" in response.json()["error"]["fields"]


@pytest.mark.parametrize("day", ["2000-01-01", "2000-01-31", "2000-02-29"])
def test_days_inside_the_schema_are_answered(day: str) -> None:
    client = Client()
    assert re.fullmatch(date_pattern(client, "from"), day)
    assert client.get("/api/v1/trends", {"from": day, "to": "2000-03-01"}).status_code == 200
