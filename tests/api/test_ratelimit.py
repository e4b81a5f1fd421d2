"""Rate limits: per token or signed-in person, per address for anonymous callers and refused
credentials; a 429 in the error format with Retry-After; counters that do not hold the address."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from candor.accounts.models import User
from candor.core.counters import DATABASE
from tests.api.conftest import Api, assert_error, token_for

pytestmark = pytest.mark.django_db


def assert_throttled(response: Any) -> None:
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 60


def test_anonymous_callers_are_limited_per_address(settings: Any, db: None) -> None:
    settings.API_ANON_RATE_PER_MINUTE = 3
    here, there = Client(REMOTE_ADDR="192.0.2.1"), Client(REMOTE_ADDR="192.0.2.2")
    for _ in range(3):
        assert here.get("/api/v1/models").status_code == 200
    assert_throttled(here.get("/api/v1/models"))
    assert_throttled(here.get("/api/v1/models/alice/anything"))
    assert there.get("/api/v1/models").status_code == 200


def test_tokens_are_limited_per_token(settings: Any, owner: User, member: User) -> None:
    settings.API_RATE_PER_MINUTE = 2
    settings.API_ANON_RATE_PER_MINUTE = 1
    first, second = Api(token_for(owner)), Api(token_for(owner))
    assert first.get("/me").status_code == 200
    assert first.get("/models").status_code == 200
    assert_throttled(first.get("/me"))
    # Another token, even the same person's, has its own budget; and the address limit is not spent.
    assert second.get("/me").status_code == 200
    assert Api(token_for(member)).get("/me").status_code == 200


def test_session_callers_are_limited_per_person(settings: Any, owner_client: Client) -> None:
    settings.API_RATE_PER_MINUTE = 1
    assert owner_client.get("/api/v1/me").status_code == 200
    assert_throttled(owner_client.get("/api/v1/me"))


def test_refused_credentials_count_against_the_address(settings: Any, db: None) -> None:
    settings.API_ANON_RATE_PER_MINUTE = 2
    guesser = Api("cnd_" + "g" * 40)
    assert_error(guesser.get("/me"), 401, "invalid_token")
    assert_error(guesser.get("/me"), 401, "invalid_token")
    assert_throttled(guesser.get("/me"))


def test_the_counters_hold_no_address(db: None) -> None:
    Client(REMOTE_ADDR="198.51.100.77").get("/api/v1/models")
    keys = DATABASE.keys()
    assert any("api-address" in key for key in keys)
    assert not any("198.51.100.77" in key for key in keys)
