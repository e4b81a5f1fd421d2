"""``POST /api/validate-yaml``: the client's check of a README.md before it uploads one.

``huggingface_hub`` posts ``{"content": <the README>, "repoType": "model"}`` whenever a README.md is part
of an upload (``HfApi._validate_yaml``, ``RepoCard.validate``). It shows each of the answer's
``warnings`` to its user, and refuses the upload (``ValueError``) on a 400 answer whose ``errors`` say
why. The answer here is Candor's own reading of the card (:mod:`candor.hub.card`), the one the model's
page will make of it after the commit: a front-matter that is not YAML, or names an unknown licence,
task or library, is an error; a README with no front-matter is a warning, as on the Hub.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, path

from candor.hub import card
from candor.hub.api.hf.common import HfError, endpoint

# A README of card.MAX_README characters, four bytes each at most, in JSON's escapes: a generous bound
# on the body, read in pieces so a longer one is refused without being held.
MAX_BODY = card.MAX_README * 6 + 4096
_PIECE = 65536


def _read_json(request: HttpRequest) -> object:
    """The request's JSON body, read at most MAX_BODY bytes (never ``request.body``, which would take
    whatever length a client sends)."""
    pieces: list[bytes] = []
    held = 0
    while piece := request.read(_PIECE):
        held += len(piece)
        if held > MAX_BODY:
            raise HfError(413, f"The body is larger than {MAX_BODY} bytes.")
        pieces.append(piece)
    try:
        return json.loads(b"".join(pieces))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise HfError(400, 'The body must be JSON: {"content": "...", "repoType": "model"}.') from None


@endpoint("POST")
def validate_yaml(request: HttpRequest) -> HttpResponse:
    body = _read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("content"), str):
        raise HfError(400, 'The body must be a JSON object with the README.md text as "content".')
    repo_type = body.get("repoType", "model")
    if repo_type not in (None, "model"):
        raise HfError(400, 'Candor holds models only: repoType must be "model".')
    text: str = body["content"]
    found = card.parse(text)
    front, _, _ = card.split(text)
    warnings = [{"message": p.message} for p in found.problems if not p.blocking]
    if front is None or not found.data:
        warnings.append({"message": "empty or missing yaml metadata in repo card"})
    errors = [{"message": p.message} for p in found.problems if p.blocking]
    if errors:
        answer = {"error": "Invalid metadata in README.md.", "errors": errors, "warnings": warnings}
        return JsonResponse(answer, status=400)
    return JsonResponse({"errors": [], "warnings": warnings})


urlpatterns: list[URLPattern] = [path("api/validate-yaml", validate_yaml, name="hf_validate_yaml")]
