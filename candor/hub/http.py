"""Serving a model file: decrypted as it streams, with Content-Length, ETag (its SHA-256) and single byte
ranges (only the sealed segments a range lies in are read and opened).

Part of the entry tier: the HTTP answer the hub's page and its API share (entry points may not import
each other, so what both send lives here, beside them).

Django's FileResponse streams but does not answer Range requests, and whitenoise's range support is
for static files only, so the few lines of RFC 9110 range handling live here. The bytes come from the
object store (:func:`candor.core.objectstore.read`: a seek on local disk, one ranged GET on S3), streamed
in chunks whether the whole file or a range is asked for, so a download never holds the file in memory
and works the same on every storage.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

from candor.hub import blobs
from candor.hub.models import ModelFile
from candor.kernel.refusal import Code, Refusal

logger = logging.getLogger("candor.hub")

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


def file_response(
    request: HttpRequest, model_file: ModelFile, extra_headers: Mapping[str, str] | None = None
) -> HttpResponse | StreamingHttpResponse:
    """The file's bytes (or the asked-for range), decrypted segment by segment as they are sent.

    ``extra_headers`` go on every answer (200, 206, 304 and 416 alike): the Hugging Face protocol's
    resolve adds the commit id and the linked size and ETag the client reads even from a HEAD.

    A stored copy that fails its check at the start is refused with Refusal(DAMAGED) before any byte is
    sent; damage found further on ends the response early, so its Content-Length is not met and no
    client takes what it got for the file.
    """
    etag = f'"{model_file.sha256}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition_header(True, model_file.path.rsplit("/", 1)[-1]),
        "X-Content-Type-Options": "nosniff",
        **(extra_headers or {}),
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
    try:
        body = blobs.read(model_file.blob, start, length) if request.method != "HEAD" else iter(())
    except blobs.Damaged:
        raise Refusal(Code.DAMAGED, DAMAGED) from None
    response = StreamingHttpResponse(
        _checked(body), status=status, content_type="application/octet-stream", headers=headers
    )
    response["Content-Length"] = str(length)
    return response


DAMAGED = (
    "The stored copy of this file is damaged and cannot be served. Its owner can upload it again; the "
    "operator has been told."
)


def _checked(body: Iterator[bytes]) -> Iterator[bytes]:
    try:
        yield from body
    except blobs.Damaged:
        logger.error("a stored file failed its integrity check while it was being sent")
        raise
