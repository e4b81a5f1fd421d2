"""Serving a model file: streamed, with Content-Length, ETag (its SHA-256) and single byte ranges.

Part of the entry tier: the HTTP answer the hub's page and its API share (entry points may not import
each other, so what both send lives here, beside them).

Django's FileResponse streams but does not answer Range requests, and whitenoise's range support is
for static files only, so the few lines of RFC 9110 range handling live here. The bytes come from the
object store (:func:`candor.core.objectstore.read`: a seek on local disk, one ranged GET on S3), streamed
in chunks whether the whole file or a range is asked for, so a download never holds the file in memory
and works the same on every storage.
"""

from __future__ import annotations

import re

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

from candor.core import objectstore
from candor.hub.models import ModelFile

CHUNK = 256 * 1024
# ASCII digits only: \d would also take other scripts' digits, which int() reads but RFC 9110 does not.
_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.ASCII | re.IGNORECASE)
# Larger than any file: a position with more digits than this is only compared, never converted (int()
# refuses strings of more than 4,300 digits, and a header may carry more).
_BEYOND = 10**18


def _position(digits: str) -> int:
    significant = digits.lstrip("0")
    return int(significant or "0") if len(significant) < len(str(_BEYOND)) else _BEYOND


def parse_range(header: str, size: int) -> tuple[int, int] | bool | None:
    """(start, end) inclusive for one satisfiable range; None to ignore the header; False if unsatisfiable."""
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None  # unknown unit or several ranges: serve the whole file (allowed by RFC 9110)
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        suffix = _position(last)
        if suffix == 0 or size == 0:
            return False
        return max(0, size - suffix), size - 1
    start = _position(first)
    if start >= size or (last and _position(last) < start):
        return False  # past the end, or an invalid range (RFC 9110, section 14.1.1): 416 either way
    return start, min(_position(last), size - 1) if last else size - 1


def file_response(request: HttpRequest, model_file: ModelFile) -> HttpResponse | StreamingHttpResponse:
    etag = f'"{model_file.sha256}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition_header(True, model_file.path.rsplit("/", 1)[-1]),
        "X-Content-Type-Options": "nosniff",
    }
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        return HttpResponse(status=304, headers=headers)
    size = model_file.size
    start, end, status = 0, size - 1, 200
    wanted = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    if wanted and (if_range is None or if_range.strip() == etag):
        parsed = parse_range(wanted, size)
        if parsed is False:
            return HttpResponse(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
        if isinstance(parsed, tuple):
            start, end = parsed
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    length = max(0, end - start + 1)
    # Asked for before the answer starts: a missing object or an unreachable store is raised here
    # (StoreUnavailable is answered 503 by the entry points), not half-way through the body.
    pieces = objectstore.read(str(model_file.blob.name), start, length, chunk=CHUNK)
    response = StreamingHttpResponse(
        pieces, status=status, content_type="application/octet-stream", headers=headers
    )
    response["Content-Length"] = str(length)
    return response
