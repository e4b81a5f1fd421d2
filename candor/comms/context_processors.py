"""The notices banner's data for every page (candor/templates/base.html)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from candor.comms import actions


def notices(request: HttpRequest) -> dict[str, Any]:
    """``open_notices``: the signed-in person's open notices, read once per page by one query, and only
    if the page shows them (a lazy list: an email or a bare page rendered with a request costs
    nothing). Visitors cost nothing either: no query without an account."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"open_notices": ()}
    return {"open_notices": SimpleLazyObject(lambda: actions.open_notices(user))}
