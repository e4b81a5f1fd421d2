"""Staff sessions: verified by the second factor, and shorter than other sessions.

A staff account's session reaches a console page only after the second factor was checked in it
(:data:`VERIFIED_KEY` holds when), for at most ``CANDOR_STAFF_SESSION_HOURS`` after that, and while
it was active in the last ``CANDOR_STAFF_IDLE_MINUTES`` (:data:`SEEN_KEY`). The console's pages ask
:func:`state` and send the person to sign in again past a limit.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any

from django.conf import settings

VERIFIED_KEY = "_candor_staff_verified"
SEEN_KEY = "_candor_staff_seen"


def mark_verified(session: MutableMapping[str, Any], now: float | None = None) -> None:
    now = time.time() if now is None else now
    session[VERIFIED_KEY] = int(now)
    session[SEEN_KEY] = int(now)


def state(session: MutableMapping[str, Any], now: float | None = None) -> str:
    """``unverified``, ``expired`` (absolute limit), ``idle`` (idle limit) or ``verified``."""
    now = time.time() if now is None else now
    verified = session.get(VERIFIED_KEY)
    if not isinstance(verified, int):
        return "unverified"
    if now - verified > settings.STAFF_SESSION_HOURS * 3600:
        return "expired"
    seen = session.get(SEEN_KEY, verified)
    if not isinstance(seen, int) or now - seen > settings.STAFF_IDLE_MINUTES * 60:
        return "idle"
    return "verified"


def touch(session: MutableMapping[str, Any], now: float | None = None) -> None:
    session[SEEN_KEY] = int(time.time() if now is None else now)
