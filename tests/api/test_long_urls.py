"""Long URLs through a real `candor serve`: whatever the schema allows reaches the API and is answered
in its error format, not with gunicorn's HTML 414 page (gunicorn's default limit is 4094 bytes)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from candor.accounts.validators import USERNAME_MAX
from candor.hub.validators import MAX_PATH
from candor.web.server import MAX_REQUEST_LINE
from tests.analytics.conftest import free_port, start_candor

# A character of four UTF-8 bytes: twelve bytes once percent-encoded, the longest any character gets.
WIDE = "\U0001f9e0"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    tmp_path = tmp_path_factory.mktemp("long-urls")
    port = free_port()
    process = start_candor(["serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"], tmp_path, log=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                get(port, "/api/v1/openapi.json")
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.3)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def get(port: int, target: str) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest("GET", target, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def api_error(answer: tuple[int, str, bytes], status: int) -> dict[str, object]:
    got, content_type, content = answer
    assert (got, content_type) == (status, "application/json; charset=utf-8"), (got, content[:200])
    error = json.loads(content)["error"]
    assert set(error) == {"code", "message", "fields"}
    return dict(error)


def test_the_longest_file_path_the_schema_allows_reaches_the_api(server: int) -> None:
    owner, name = "a" * USERNAME_MAX, "m" * 100
    target = f"/api/v1/models/{owner}/{name}/files/{quote(WIDE * MAX_PATH)}"
    assert len(target) > 4094  # what gunicorn's default would have refused
    error = api_error(get(server, target), 404)
    assert error["code"] == "not_found"


def test_a_query_past_the_schema_s_lengths_is_answered_by_the_api(server: int) -> None:
    target = "/api/v1/models?q=" + quote(WIDE * 500)  # q may be 200 characters
    assert 4094 < len(target) < MAX_REQUEST_LINE
    error = api_error(get(server, target), 422)
    assert "q" in error["fields"]  # type: ignore[operator]


def test_every_list_parameter_at_its_longest_fits(server: int) -> None:
    target = (
        f"/api/v1/models?q={quote(WIDE * 200)}&tag={quote(WIDE * 40)}&sort=popular&limit=100"
        f"&task=text-classification&cursor={'c' * 1000}"
    )
    assert len(target) < MAX_REQUEST_LINE - len("GET  HTTP/1.1")
    status, content_type, _ = get(server, target)
    assert content_type == "application/json; charset=utf-8" and status in (200, 400, 422)


def test_a_page_url_past_gunicorn_s_default_is_served(server: int) -> None:
    status, content_type, content = get(server, "/models/?q=" + "x" * 6000)
    assert status == 200 and content_type.startswith("text/html"), content[:200]


def test_a_request_line_past_the_documented_limit_is_refused_with_414(server: int) -> None:
    status, _, _ = get(server, "/api/v1/models?q=" + "x" * MAX_REQUEST_LINE)
    assert status == 414
