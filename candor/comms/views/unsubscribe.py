"""The one-click unsubscribe address of product updates (/-/unsubscribe/<token>/).

- GET shows one button and changes nothing: link scanners and mail previews follow GETs.
- POST unsubscribes at once. RFC 8058: a mail client posts ``List-Unsubscribe=One-Click`` itself, with
  no cookie and no CSRF token, so this view is CSRF-exempt and needs no session. That is safe because
  the token is the credential: a MAC under the site's key that only our email carried, and all it can do
  is turn product updates off for the one person it was made for.
- A token that is not ours (tampered with, made for another site, or whose email record has gone): a
  400 page that says so, and nothing changed. 400 rather than 404: the address exists and the link is
  what is wrong, and the page says what to do instead (the settings).

Nothing on these pages names the person; the answer is never stored (``no-store``), never indexed,
and sends no Referer onwards (the token is in the address).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from candor.comms import actions
from candor.comms.choices import Via


def _answer(request: HttpRequest, state: str, token: str, status: int = 200) -> HttpResponse:
    response = render(request, "comms/unsubscribe.html", {"state": state, "token": token}, status=status)
    patch_cache_control(response, private=True, no_store=True)
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    if request.method != "POST":
        # Whether the token would work is all a GET finds out: it changes nothing.
        ours = actions.token_works(token)
        return _answer(request, "ask" if ours else "invalid", token, 200 if ours else 400)
    if not actions.unsubscribe_with_token(token, via=Via.ONE_CLICK, acting_user=None):
        return _answer(request, "invalid", token, 400)
    return _answer(request, "done", token)
