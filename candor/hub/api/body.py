"""An upload's body as the API receives it: its announced length, and a check that all of it came.

Transport only (what HTTP says about the body); what may be stored is the action's decision.
"""

from __future__ import annotations

from collections.abc import Iterator

from candor.kernel.refusal import Code, Refusal


def content_length(raw: str, limit: int) -> int:
    """The body's length from its Content-Length header (``raw``), or a refusal.

    Without a length there is no body to read (RFC 9112, section 6.3), or, chunked, one Django would
    not read: either would be stored as an empty file. An empty file is sent as "Content-Length: 0".
    """
    raw = raw.strip()
    if not raw:
        raise Refusal(
            Code.LENGTH_REQUIRED, "Send the file with a Content-Length header (0 for an empty file)."
        )
    # ASCII digits only (str.isdigit() takes other scripts' digits too); the length of the digits is
    # compared before int(), which refuses strings of more than 4,300 digits.
    if not (raw.isascii() and raw.isdigit()):
        raise Refusal(Code.BAD_REQUEST, "The Content-Length header is not a number.")
    digits = raw.lstrip("0") or "0"
    length = int(digits) if len(digits) <= len(str(limit)) else limit + 1
    if length > limit:
        raise Refusal(Code.TOO_LARGE, f"The file is larger than the limit of {limit} bytes.")
    return length


def whole_body(chunks: Iterator[bytes], length: int) -> Iterator[bytes]:
    """The chunks, then a refusal if fewer bytes came than announced (the client stopped sending, or
    the server could not read the length): a cut file must not replace the one stored."""
    received = 0
    for chunk in chunks:
        received += len(chunk)
        yield chunk
    if received < length:
        raise Refusal(
            Code.BAD_REQUEST,
            f"The body ended after {received} of the {length} bytes its Content-Length announced.",
        )
