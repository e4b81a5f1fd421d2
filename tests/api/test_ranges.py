"""Range and Content-Length headers at their edges: answers as RFC 9110 says (206, 416, or the whole
file when a header may be ignored), never a 500, on the website's downloads and the API's alike."""

from __future__ import annotations

import pytest
from django.test import Client

from candor.accounts.models import User
from candor.hub import actions
from tests.api.conftest import Api, assert_error, body, publish

DATA = bytes(range(256)) * 4
SIZE = len(DATA)
HUGE = "9" * 4301  # one digit past Python's default integer-string limit
ZEROS = "0" * 5000

URLS = ["/alice/m/files/w.bin", "/api/v1/models/alice/m/files/w.bin"]


@pytest.fixture
def published(owner: User) -> None:
    model = publish(owner, "m")
    actions.add_file(model, "w.bin", [DATA], acting_user=owner)


# (Range header, status, (first, last) of the bytes sent; None: the whole file)
CASES: list[tuple[str, int, tuple[int, int] | None]] = [
    (f"bytes={HUGE}-", 416, None),
    (f"bytes={HUGE}-{HUGE}", 416, None),
    (f"bytes=0-{HUGE}", 206, (0, SIZE - 1)),
    (f"bytes=10-{HUGE}", 206, (10, SIZE - 1)),
    (f"bytes=-{HUGE}", 206, (0, SIZE - 1)),
    (f"bytes={ZEROS}10-{ZEROS}19", 206, (10, 19)),
    (f"bytes=-{ZEROS}", 416, None),
    (f"bytes={ZEROS}-", 206, (0, SIZE - 1)),
    (f"bytes={SIZE}-", 416, None),
    (f"bytes={2**64}-", 416, None),
    (f"bytes=0-{2**64}", 206, (0, SIZE - 1)),
    ("bytes=20-10", 416, None),
    ("BYTES=0-1", 206, (0, 1)),
    ("bytes=-5", 206, (SIZE - 5, SIZE - 1)),
    # Ignored, so the whole file: several ranges, other units, malformed or negative numbers.
    ("bytes=0-1,5-6", 200, None),
    (",".join(["bytes=0-0", *(f"{n}-{n}" for n in range(1, 2000))]), 200, None),
    ("bytes=--5", 200, None),
    ("bytes=-5-", 200, None),
    ("bytes=-", 200, None),
    ("bytes=a-b", 200, None),
    ("bytes=1.5-2", 200, None),
    ("bytes=+1-2", 200, None),
    ("bytes=\u0661-\u0662", 200, None),  # Arabic-Indic digits, which int() would read
    ("items=0-1", 200, None),
    ("bytes 0-1", 200, None),
    (f"bytes={HUGE}", 200, None),
]


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize(("header", "status", "span"), CASES, ids=[c[0][:30] for c in CASES])
def test_ranges_at_the_edges(
    published: None, url: str, header: str, status: int, span: tuple[int, int] | None
) -> None:
    # Through the WSGI environ, as a server passes it (latin-1 text).
    response = Client().get(url, headers={"Range": header.encode().decode("latin-1")})
    assert response.status_code == status, (header[:60], response.status_code)
    if status == 416:
        assert response["Content-Range"] == f"bytes */{SIZE}"
        if url.startswith("/api/"):
            assert_error(response, 416, "range_not_satisfiable")
        return
    sent = body(response)
    if status == 206:
        assert span is not None
        first, last = span
        assert sent == DATA[first : last + 1]
        assert response["Content-Range"] == f"bytes {first}-{last}/{SIZE}"
        assert response["Content-Length"] == str(last - first + 1)
    else:
        assert sent == DATA and "Content-Range" not in response


@pytest.mark.parametrize(
    ("length", "status", "code"),
    [
        (HUGE, 413, "too_large"),
        ("0007", 200, None),  # seven bytes, written with leading zeros
        # So many zeros that Django cannot read the length, and so reads no body: refused, not cut.
        (ZEROS + "7", 400, "bad_request"),
        ("\u0661\u0662", 400, "bad_request"),
        ("-1", 400, "bad_request"),
        ("1e3", 400, "bad_request"),
    ],
)
def test_a_content_length_at_the_edges(
    published: None, alice: Api, length: str, status: int, code: str | None
) -> None:
    response = alice.client.generic(
        "PUT",
        "/api/v1/models/alice/m/files/w.bin",
        b"smaller",
        content_type="application/octet-stream",
        headers={**alice.headers, "Content-Length": length},
    )
    if code is None:
        assert response.status_code == status, response.content[:300]
        assert response.json()["size"] == 7
    else:
        assert_error(response, status, code)
        # Nothing already stored is lost.
        assert body(Client().get(URLS[1])) == DATA
