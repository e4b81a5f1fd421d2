"""The unsubscribe token of a product update: the email's random id and a MAC of it (Django's salted
HMAC under the site's secret key). It names one email, which names its account in the database; it
carries no personal data, and a token that was tampered with, or made for another site, is refused."""

from __future__ import annotations

import base64
import hmac
import uuid
from typing import Any

from django.utils.crypto import salted_hmac

SALT = "candor.comms.unsubscribe"
MAC_BYTES = 16


def _mac(raw: bytes) -> bytes:
    return salted_hmac(SALT, raw, algorithm="sha256").digest()[:MAC_BYTES]


def token_for(email_id: Any) -> str:
    raw = (email_id if isinstance(email_id, uuid.UUID) else uuid.UUID(str(email_id))).bytes
    return base64.urlsafe_b64encode(raw + _mac(raw)).decode().rstrip("=")


def email_id_of(token: str) -> uuid.UUID | None:
    """The email a token was made for, or None for anything that is not one of ours."""
    if not isinstance(token, str) or len(token) > 64:
        return None
    try:
        data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        return None
    if len(data) != 16 + MAC_BYTES:
        return None
    raw, mac = data[:16], data[16:]
    if not hmac.compare_digest(mac, _mac(raw)):
        return None
    return uuid.UUID(bytes=raw)
