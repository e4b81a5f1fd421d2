"""The access tokens of Candor's Xet store: short-lived, sealed, and checked again on every use.

A token is granted by the protocol's token endpoint to a write token's person for one of their models.
It is the grant (the person, the model, the API token it came from, its expiry) encrypted with
AES-256-GCM under a key derived from the site's secret key: opaque to its holder (no id can be read from
it) and impossible to forge or alter. Each use checks the grant again against the database, so a revoked
API token, a deactivated account or a deleted model stops the Xet token at once, not at its expiry.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.utils import timezone

from candor.accounts.models import User
from candor.api.models import ApiToken
from candor.hub import visibility
from candor.hub.models import MLModel
from candor.kernel.refusal import Code, Refusal

LIFETIME_SECONDS = 3600
_PREFIX = "cxt1_"
_NONCE = 12
_AAD = b"candor.hub.xet.token.v1"


def _cipher() -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_AAD).derive(
        str(settings.SECRET_KEY).encode()
    )
    return AESGCM(key)


@dataclass(frozen=True)
class Grant:
    """What a valid Xet token lets its holder do: upload objects of ``owner`` for ``model``."""

    owner: User
    model: MLModel
    api_token: ApiToken


def issue(api_token: ApiToken, model: MLModel, *, now: float | None = None) -> tuple[str, int]:
    """A Xet token for the API token's person on ``model`` (which they own), and its expiry (Unix time)."""
    expires = int(now if now is not None else time.time()) + LIFETIME_SECONDS
    claims = {"u": str(api_token.user_id), "m": str(model.pk), "t": str(api_token.pk), "e": expires}
    nonce = os.urandom(_NONCE)
    sealed = _cipher().encrypt(nonce, json.dumps(claims, separators=(",", ":")).encode(), _AAD)
    return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("="), expires


def _invalid(message: str = "The Xet access token is not valid: ask for a new one.") -> Refusal:
    return Refusal(Code.INVALID_TOKEN, message)


def _claims(token: str) -> dict[str, Any]:
    if not token.startswith(_PREFIX) or len(token) > 512:
        raise _invalid()
    body = token[len(_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        clear = _cipher().decrypt(raw[:_NONCE], raw[_NONCE:], _AAD)
        claims = json.loads(clear)
    except (binascii.Error, ValueError, InvalidTag):
        raise _invalid() from None
    if not isinstance(claims, dict):
        raise _invalid()
    return claims


def check(token: str, *, now: float | None = None) -> Grant:
    """The grant behind a Xet token; Refusal INVALID_TOKEN if it is not one of ours, has expired, or
    no longer holds (its API token revoked or expired, its person inactive, the model gone or theirs
    no more)."""
    claims = _claims(token)
    if int(claims.get("e", 0)) <= int(now if now is not None else time.time()):
        raise _invalid("The Xet access token has expired: ask for a new one.")
    api_token = ApiToken.objects.select_related("user").filter(pk=str(claims.get("t"))).first()
    if (
        api_token is None
        or str(api_token.user_id) != claims.get("u")
        or not api_token.user.is_active
        or api_token.revoked_at is not None
        or (api_token.expires_at is not None and api_token.expires_at <= timezone.now())
        or not api_token.can_write
    ):
        raise _invalid()
    model = MLModel.objects.filter(pk=str(claims.get("m"))).first()
    if model is None or not visibility.can_edit(api_token.user, model):
        raise _invalid()
    return Grant(owner=api_token.user, model=model, api_token=api_token)
