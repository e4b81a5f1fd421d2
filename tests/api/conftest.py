"""Helpers for the API tests: a client that speaks JSON with a bearer token, and the personas' tokens."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from candor.accounts.models import User
from candor.api.actions import create_token
from candor.hub import actions
from candor.hub.models import MLModel

API = "/api/v1"


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Iterator[Path]:
    settings.MEDIA_ROOT = tmp_path / "media"
    yield settings.MEDIA_ROOT


def token_for(user: User, *scopes: str, **extra: Any) -> str:
    _, token = create_token(
        user, name="test", scopes=list(scopes or ("read", "write")), **extra, acting_user=user
    )
    return token


class Api:
    """A Django test client aimed at /api/v1, sending JSON and, if given one, a bearer token."""

    def __init__(self, token: str | None = None, client: Client | None = None) -> None:
        self.client = client or Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {**self.headers, **(extra or {})}

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
        return self.client.get(API + path, params, headers=self._headers(headers))

    def post(self, path: str, data: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.client.post(
            API + path, data, content_type="application/json", headers=self._headers(headers)
        )

    def patch(self, path: str, data: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.client.patch(
            API + path, data, content_type="application/json", headers=self._headers(headers)
        )

    def put(self, path: str, data: bytes, headers: dict[str, str] | None = None) -> Any:
        return self.client.put(
            API + path, data, content_type="application/octet-stream", headers=self._headers(headers)
        )

    def delete(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return self.client.delete(API + path, headers=self._headers(headers))

    def request(self, method: str, path: str, **extra: Any) -> Any:
        return self.client.generic(method, API + path, headers=self.headers, **extra)


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else bytes(response.content)


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The one error shape: {"error": {"code": str, "message": str, "fields": {str: [str]}}}."""
    assert response.status_code == status, (response.status_code, body(response)[:500])
    assert response["Content-Type"] == "application/json; charset=utf-8"
    payload = json.loads(body(response))
    assert set(payload) == {"error"}
    error = payload["error"]
    assert set(error) == {"code", "message", "fields"}
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["fields"], dict)
    assert all(isinstance(k, str) and isinstance(v, list) for k, v in error["fields"].items())
    assert all(isinstance(message, str) for messages in error["fields"].values() for message in messages)
    if code is not None:
        assert error["code"] == code, error
    return error


def publish(owner: User, name: str, visibility: str = "public", **data: Any) -> MLModel:
    data.setdefault("title", name.replace("-", " ").title())
    return actions.create_model(acting_user=owner, name=name, visibility=visibility, **data)


@pytest.fixture
def alice(owner: User) -> Api:
    return Api(token_for(owner))


@pytest.fixture
def bob(member: User) -> Api:
    return Api(token_for(member))


@pytest.fixture
def anonymous(db: None) -> Api:
    return Api()
