"""Schemathesis over the whole OpenAPI schema: generated and mutated requests for every operation,
sent to the WSGI application in this process, with every built-in check, ignored_auth included.

Twice: once with every parameter drawn (owners and models that mostly do not exist: 404s, refusals,
malformed input), once with the path aimed at the caller's own model, so that the generated changes,
uploads and downloads really happen. Then the stateful phase: chains of calls that follow the
schema's links (a created model read, changed, uploaded to; a listing followed by its next_cursor).

The schemas are built by fixtures, when a test runs, not at import: building one and expanding it into
a test per operation took most of the suite's collection time. Each operation is a subtest.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.openapi.checks import RejectedPositiveData

from candor.api.actions import create_token
from candor.hub import actions
from tests.conftest import make_user

CREDENTIALS: dict[str, str] = {}


def load() -> Any:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", WSGIHandler())

    @schema.auth(refresh_interval=None)
    class WriteToken:
        """The fixture's person's read-and-write token, on every generated request."""

        def get(self, case: Any, context: Any) -> str:
            # Set by the fixture that the schema fixtures depend on.
            return CREDENTIALS["token"]

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    @schema.hook
    def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
        """Keep every failure but three. A trends range can be well-formed dates that no schema can
        refuse (the end before the start, a day in the future, more than the longest range), rightly a
        422 naming the field. And the in-process WSGI transport sends an empty upload with no
        Content-Length at all, which is a request without a body (411), where any HTTP client would
        send "Content-Length: 0" (tests/api/test_files.py checks that an empty file is stored); the
        same holds for an empty blob upload (POST). And a
        commit of more changes than the schema allows can be a body larger than the server reads at
        all: refused as too large (413) before anything looks at it, which schemathesis does not
        count as a refusal."""
        impossible_range = (
            case.path.endswith("/trends")
            and response.status_code == 422
            and b'"invalid_fields"' in response.content
        )
        empty_upload = (
            case.method in ("PUT", "POST")
            and response.status_code == 411
            and getattr(case.body, "data", case.body) in (b"", None)
            and (case.media_type or "application/octet-stream") == "application/octet-stream"
        )
        too_large = response.status_code == 413 and b'"too_large"' in response.content
        return not (
            (isinstance(failure, RejectedPositiveData) and (impossible_range or empty_upload))
            or (isinstance(failure, AcceptedNegativeData) and too_large)
        )

    return schema


EXAMPLES = hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


@pytest.fixture
def fuzzed_account(db: None, settings: Any, tmp_path: Any) -> Iterator[None]:
    settings.MEDIA_ROOT = tmp_path / "media"
    # The fuzzer sends far more than a person would; the limits have their own tests.
    settings.API_RATE_PER_MINUTE = settings.API_ANON_RATE_PER_MINUTE = 1_000_000
    person = make_user("fuzzer")
    model = actions.create_model(acting_user=person, name="fuzzed", title="Fuzzed", visibility="public")
    actions.add_file(model, "weights.bin", [b"\x00" * 64], acting_user=person)
    _, CREDENTIALS["token"] = create_token(
        person, name="schemathesis", scopes=["read", "write"], acting_user=person
    )
    # Django's test client keeps the test's database connection across requests; a bare WSGI handler
    # would close it after each one, and the test's transaction with it.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
    CREDENTIALS.clear()


@pytest.fixture(autouse=True)
def _node_id_for_lazy_schemas(request: pytest.FixtureRequest) -> None:
    """Schemathesis's lazy schemas (4.32) read and rename the test's `_nodeid` to name each operation's
    subtest, an attribute pytest 9.2 no longer has: give it one, seeded with the real node id."""
    request.node._nodeid = request.node.nodeid


@pytest.fixture
def drawn_schema(fuzzed_account: None) -> Any:
    return load()


@pytest.fixture
def aimed_schema(fuzzed_account: None) -> Any:
    schema = load()
    schema.config.update(parameters={"path.owner": "fuzzer", "path.name": "fuzzed"})
    return schema


@schemathesis.pytest.from_fixture("drawn_schema").parametrize()
@EXAMPLES
def test_any_request(case: Any, fuzzed_account: None) -> None:
    case.call_and_validate()


@schemathesis.pytest.from_fixture("aimed_schema").parametrize()
@EXAMPLES
def test_requests_on_the_callers_own_model(case: Any, fuzzed_account: None) -> None:
    case.call_and_validate()


def test_stateful_workflows_follow_the_schema_s_links(fuzzed_account: None) -> None:
    """Schemathesis's stateful phase: sequences of calls chained by the schema's links (a model
    created, then read, changed, given files that are downloaded and deleted; a listing followed
    page after page by its next_cursor), with every check on every step."""

    linked = load()

    class Workflow(linked.as_state_machine()):  # type: ignore[misc]
        """Each scenario starts from the same state, as Hypothesis needs to replay one: its changes
        are rolled back after it (a savepoint in the test's transaction) and the cache emptied."""

        def setup(self) -> None:
            self.scenario = transaction.atomic()
            # What Django's TestCase marks its own blocks with, so the actions' durable blocks run.
            self.scenario._from_testcase = True  # type: ignore[attr-defined]
            self.scenario.__enter__()
            cache.clear()

        def teardown(self) -> None:
            transaction.set_rollback(True)
            self.scenario.__exit__(None, None, None)
            cache.clear()

    Workflow.run(
        settings=hypothesis_settings(
            max_examples=12,
            stateful_step_count=6,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
    )
