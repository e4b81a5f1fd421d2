"""Names the viewer of each web request for the decryption rule (:mod:`candor.privacy.crypto`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse

from candor.privacy import crypto


class ViewerMiddleware:
    """Sets the viewer, the signed-in account or ANONYMOUS, for the request and its streamed body.

    Placed after authentication. The bearer-token authentications update it once they know a token's
    owner. A body streamed after the view returned (a model's file) is read back inside the same scope.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        user = getattr(request, "user", None)
        viewer = user.pk if user is not None and user.is_authenticated else crypto.ANONYMOUS
        with crypto.viewing(viewer):
            response = self.get_response(request)
            state = crypto.viewing_state()
        if isinstance(response, StreamingHttpResponse) and not response.is_async:
            response.streaming_content = _resumed(cast(Iterable[bytes], response.streaming_content), state)
        return response


def _resumed(chunks: Iterable[Any], state: Any) -> Iterator[Any]:
    iterator = iter(chunks)
    while True:
        with crypto.resumed(state):
            try:
                chunk = next(iterator)
            except StopIteration:
                return
        yield chunk
