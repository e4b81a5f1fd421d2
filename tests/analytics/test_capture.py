"""Capture at the edge (clauses C7, C12): what a request may leave in the counts, and what it never does.

The reductions of a request's headers (browser family, bot, primary language, referring domain), which
requests count and against what, file downloads by web, API and the command-line client, bots apart,
and a byte scan proving that a counted request's address, user agent and referrer are nowhere
afterwards: not in the database file, its write-ahead log, the log file, or the cache.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import resolve
from pytest_django.live_server_helper import LiveServer

from candor.accounts.models import User
from candor.analytics import capture, features, salt, sketch
from candor.analytics.buffer import BUFFER, flush
from candor.analytics.models import DailySalt, DailyUnique, DimensionDaily, RouteHourly
from candor.api.actions import create_token
from candor.hub import actions
from tests.analytics.conftest import (
    FILE_BYTES,
    Shelf,
    all_model_rows,
    dimension_totals,
    last_line,
    model_totals,
    route_totals,
)
from tests.conftest import empty_redis, run_candor

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
OWN = frozenset({"models.example.org", "127.0.0.1"})

pytestmark = pytest.mark.django_db


# --- Reductions of the headers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_agent", "family", "bot"),
    [
        (CHROME, "Chrome", False),
        (FIREFOX, "Firefox", False),
        (SAFARI_IPHONE, "Mobile Safari", False),
        (GOOGLEBOT, "Googlebot", True),
        (
            "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/120.0.6099.71 Mobile Safari/537.36 "
            "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Googlebot",
            True,
        ),
        ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bingbot", True),
        ("", "Unknown", False),
    ],
)
def test_browser_family_and_known_bots(user_agent: str, family: str, bot: bool) -> None:
    assert features.browser(user_agent) == (family, bot)


@pytest.mark.parametrize(
    "user_agent",
    [
        "A" * 10_240,
        "Mozilla/5.0 " + "(" * 10_240,
        "Mozilla/5.0 (" + "KHTML, like Gecko; " * 600 + ")",
        "\x00\xff" * 5_120,
    ],
)
def test_an_absurd_ten_kilobyte_user_agent_is_reduced_to_a_short_family(user_agent: str) -> None:
    family, bot = features.browser(user_agent)
    assert family in ("Other", "Unknown") and bot is False


@pytest.mark.parametrize(
    "template",
    [
        "{token}/1.0 CFNetwork/1390 Darwin/22.0.0",
        "Mozilla/5.0 (iPhone) {token}/1.0 CFNetwork",
        "{token}-iPhone/1.0 CFNetwork/1390 Darwin/22.0.0",
        "{token}-iPad/1.0 CFNetwork/1390 Darwin/22.0.0",
        "Mozilla/5.0 {token}/9.9",
        "{token}/9.9",
    ],
)
@pytest.mark.parametrize("token", ["ZzqxCanaryBrowser", "JaneDoeLaptop", "c0ffee00-1111-4222-8333"])
def test_text_of_the_user_agent_never_becomes_the_family(template: str, token: str) -> None:
    """uap-core has catch-all rules whose family is whatever text precedes a version: a family is kept
    only from the parser's fixed vocabulary, so a visitor's own words never reach the counts."""
    family, _ = features.browser(template.format(token=token))
    assert token.split("-")[0].lower() not in family.lower(), family
    assert "Mozilla" not in family and "iPhone" not in family


@pytest.mark.parametrize(
    ("user_agent", "family"),
    [
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
            "Edge",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.4 Safari/605.1.15",
            "Safari",
        ),
        (
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Mobile Safari/537.36",
            "Chrome Mobile",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
            "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
            "Samsung Internet",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36 OPR/109.0.0.0",
            "Opera",
        ),
        ("curl/8.5.0", "curl"),
        ("Wget/1.21.4", "Wget"),
        ("python-requests/2.31.0", "Python Requests"),
    ],
)
def test_common_browsers_keep_their_family(user_agent: str, family: str) -> None:
    assert features.browser(user_agent) == (family, False)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("en-GB,fr;q=0.5", "en"),
        ("fr-CA, en;q=0.8", "fr"),
        ("DE", "de"),
        ("zh_Hant_TW", "zh"),
        ("gsw-CH", "gsw"),
        ("en;q=0.8", "en"),
        ("*", "und"),
        ("", "und"),
        ("garbage!!", "und"),
        ("x-klingon", "und"),
        ("1234", "und"),
        ("en" * 5_000, "und"),
        ("<script>", "und"),
    ],
)
def test_language_is_the_primary_subtag_of_the_first_choice(header: str, expected: str) -> None:
    assert features.language(header) == expected


@pytest.mark.parametrize(
    ("referer", "expected"),
    [
        ("https://news.example.org/path?secret=QqCanary123", "example.org"),
        ("https://www.bbc.co.uk/news/article#top", "bbc.co.uk"),
        ("http://EXAMPLE.COM./", "example.com"),
        ("https://user:password@evil.example.com:8443/x", "example.com"),
        ("https://jane.github.io/blog/", "jane.github.io"),  # a private suffix: the site is jane's
        # Our own pages, by the request's host or the configured website address.
        ("https://models.example.org/alice/tiny/", None),
        ("http://127.0.0.1:8000/models/", None),
        # Addresses, in any spelling, and names that are not public hosts.
        ("http://192.0.2.1/x", None),
        ("http://[2001:db8::1]/x", None),
        ("http://[::ffff:192.0.2.1]/", None),
        ("http://2130706433/", None),
        ("http://0x7f.0.0.1/", None),
        ("http://localhost:8000/", None),
        ("http://dev.localhost:3000/", None),
        ("http://johns-macbook.local/", None),
        ("http://printer.lan/", None),
        ("http://intranet/", None),
        # Bare public suffixes, and what is not a web page.
        ("https://co.uk/", None),
        ("https://com/", None),
        ("https://github.io/", None),
        ("android-app://com.google.android.gm/", None),
        ("file:///home/jane/secret.html", None),
        ("not a url", None),
        ("http://[::1", None),
        ("", None),
    ],
)
def test_referring_domain_is_the_registered_domain_of_an_external_page(
    referer: str, expected: str | None
) -> None:
    assert features.referring_domain(referer, OWN) == expected


def test_an_absurd_referer_or_language_header_is_handled() -> None:
    long_referer = "https://news.example.org/" + "a" * 10_240
    assert features.referring_domain(long_referer, OWN) == "example.org"
    assert features.referring_domain("https://" + "a" * 10_240 + ".example.org/", OWN) is None
    assert features.language("en-" + "x" * 10_240) == "en"


# --- Which requests count, and against what -----------------------------------------------------------------


def test_a_public_model_page_and_api_read_count_as_views_of_the_model(shelf: Shelf) -> None:
    anonymous = Client()
    assert anonymous.get("/alice/public-model/").status_code == 200
    assert anonymous.get("/api/v1/models/alice/public-model").status_code == 200
    assert anonymous.get("/api/v1/models/alice/public-model/files").status_code == 200
    assert anonymous.get("/").status_code == 200
    assert flush() > 0
    assert model_totals(shelf.public.pk) == {"hourly": (3, 0), "daily": (3, 0), "monthly": (3, 0)}
    assert route_totals() == {
        "hub:model": (1, 0),
        "api:get_model": (1, 0),
        "api:list_files": (1, 0),
        "home": (1, 0),
    }
    assert route_totals(daily=True) == route_totals()
    assert all_model_rows() == 3  # one row each of hour, day and month, for the public model only


def test_only_successful_reads_of_public_routes_count(
    shelf: Shelf, owner: User, owner_client: Client
) -> None:
    anonymous = Client()
    token = create_token(owner, name="t", scopes=["read", "write"], acting_user=owner)[1]
    not_counted = [
        owner_client.get("/settings/"),
        owner_client.get("/settings/export/"),
        owner_client.get("/alice/public-model/edit/"),
        anonymous.get("/login/"),
        anonymous.get("/signup/"),
        anonymous.post("/login/", {"username": "alice", "password": "wrong-password-here"}),
        anonymous.get("/nobody/nothing/"),
        anonymous.get("/alice/private-model/"),
        anonymous.get("/alice/private-model/files/weights/model.bin"),
        anonymous.get("/api/v1/models/alice/private-model"),
        anonymous.get("/api/v1/models/alice/private-model/files/weights/model.bin"),
        anonymous.get("/api/v1/models/nobody/nothing"),
        anonymous.head("/alice/public-model/"),
        anonymous.options("/api/v1/models/alice/public-model"),
        Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/me"),
        Client(HTTP_AUTHORIZATION=f"Bearer {token}").patch(
            "/api/v1/models/alice/public-model", {"summary": "x"}, content_type="application/json"
        ),
    ]
    statuses = [response.status_code for response in not_counted]
    assert statuses[:3] == [200, 200, 200] and statuses[6:12] == [404] * 6, statuses
    # Pages that answer 200 but whose model is not public count the page, never the model.
    assert anonymous.get("/alice/unlisted-model/").status_code == 200
    assert anonymous.get("/api/v1/models/alice/unlisted-model").status_code == 200
    assert anonymous.get("/alice/unlisted-model/files/weights/model.bin").status_code == 200
    assert owner_client.get("/alice/private-model/").status_code == 200
    assert owner_client.get("/alice/private-model/files/weights/model.bin").status_code == 200
    flush()
    assert all_model_rows() == 0
    assert route_totals() == {"hub:model": (2, 0), "api:get_model": (1, 0), "hub:file": (2, 0)}


def test_a_model_made_private_stops_counting_at_once(shelf: Shelf, owner: User, owner_client: Client) -> None:
    assert owner_client.get("/alice/public-model/").status_code == 200
    actions.set_visibility(shelf.public, "private", acting_user=owner)
    assert owner_client.get("/alice/public-model/").status_code == 200
    assert Client().get("/alice/public-model/").status_code == 404
    flush()
    assert model_totals(shelf.public.pk)["daily"] == (1, 0)


def test_the_route_is_recorded_by_its_name_never_by_its_address(shelf: Shelf) -> None:
    anonymous = Client()
    assert anonymous.get("/models/", {"q": "QqNeedleQuery", "sort": "new"}).status_code == 200
    assert anonymous.get("/alice/", {"page": "1", "QqNeedleParam": "1"}).status_code == 200
    assert anonymous.get("/api/v1/models", {"q": "QqNeedleQuery"}).status_code == 200
    flush()
    routes = set(RouteHourly.objects.values_list("route", flat=True))
    assert routes == {"hub:list", "hub:profile", "api:list_models"}
    assert set(capture.PUBLIC_ROUTES.values()) >= routes
    stored = [str(v) for v in DimensionDaily.objects.values_list("value", flat=True)]
    assert not any("Needle" in value or "/" in value for value in stored + list(routes))


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/alice/public-model/files/weights/model.bin", "hub:file"),
        ("/api/v1/models/alice/public-model/files/weights/model.bin", "api:download_file"),
    ],
)
def test_file_downloads_count_by_web_and_api(shelf: Shelf, path: str, route: str) -> None:
    anonymous = Client()
    whole = anonymous.get(path)
    assert whole.status_code == 200 and b"".join(whole.streaming_content) == FILE_BYTES
    first = anonymous.get(path, HTTP_RANGE="bytes=0-99")
    assert first.status_code == 206 and first["Content-Range"].startswith("bytes 0-99/")
    resumed = anonymous.get(path, HTTP_RANGE="bytes=100-")
    assert resumed.status_code == 206 and resumed["Content-Range"].startswith("bytes 100-")
    tail = anonymous.get(path, HTTP_RANGE="bytes=-50")
    assert tail.status_code == 206  # the last 50 bytes: not a download from the start either
    unchanged = anonymous.get(path, HTTP_IF_NONE_MATCH=whole["ETag"])
    assert unchanged.status_code == 304
    flush()
    assert model_totals(shelf.public.pk) == {"hourly": (0, 2), "daily": (0, 2), "monthly": (0, 2)}
    assert route_totals() == {route: (2, 0)}


def test_capture_counts_a_ranged_download_only_from_its_first_byte(shelf: Shelf) -> None:
    request = RequestFactory().get("/alice/public-model/files/weights/model.bin")
    request.resolver_match = resolve(request.path)
    capture.mark(request, shelf.public, capture.DOWNLOAD)
    for content_range, counted in (("bytes 0-99/2048", True), ("bytes 100-2047/2048", False), ("", False)):
        response = HttpResponse(status=206)
        if content_range:
            response["Content-Range"] = content_range
        assert capture.capture(request, response) is counted, content_range


def test_bots_are_counted_apart_and_nowhere_else(shelf: Shelf) -> None:
    crawler = Client(
        HTTP_USER_AGENT=GOOGLEBOT, HTTP_ACCEPT_LANGUAGE="en", HTTP_REFERER="https://example.net/"
    )
    for path in (
        "/",
        "/alice/public-model/",
        "/alice/public-model/files/weights/model.bin",
        "/api/v1/models/alice/public-model",
    ):
        assert crawler.get(path).status_code == 200, path
    flush()
    assert route_totals() == {
        "home": (0, 1),
        "hub:model": (0, 1),
        "hub:file": (0, 1),
        "api:get_model": (0, 1),
    }
    assert all_model_rows() == 0
    assert not DimensionDaily.objects.exists()
    assert not DailyUnique.objects.exists()
    assert not DailySalt.objects.exists(), "no visitor hash was even computed"


def test_dimensions_and_visitors_of_human_requests(shelf: Shelf, settings: Any) -> None:
    settings.WEBSITE_URL = "https://models.example.org"
    visits = [
        ("198.51.100.1", CHROME, "en-GB,fr;q=0.5", "https://news.example.org/a?b=c"),
        ("198.51.100.1", CHROME, "en-US", "https://models.example.org/alice/"),  # our own site
        ("198.51.100.2", FIREFOX, "fr", "http://testserver/models/"),  # our own host
        ("198.51.100.2", SAFARI_IPHONE, "*", ""),
        ("198.51.100.3", "A" * 10_240, "de-DE", "http://[2001:db8::1]/"),
    ]
    for address, agent, language, referer in visits:
        extra = {"HTTP_REFERER": referer} if referer else {}
        response = Client().get(
            "/alice/public-model/",
            REMOTE_ADDR=address,
            HTTP_USER_AGENT=agent,
            HTTP_ACCEPT_LANGUAGE=language,
            **extra,
        )
        assert response.status_code == 200
    flush()
    assert dimension_totals() == {
        ("browser", "Chrome"): 2,
        ("browser", "Firefox"): 1,
        ("browser", "Mobile Safari"): 1,
        ("browser", "Other"): 1,
        ("language", "en"): 2,
        ("language", "fr"): 1,
        ("language", "und"): 1,
        ("language", "de"): 1,
        ("referrer", "example.org"): 1,
    }
    # Four distinct (address, user agent) pairs: the stored sketches are exactly those of their hashes.
    today = datetime.now(UTC).date()
    hashes = {salt.visitor_hash(today, address, agent) for address, agent, _, _ in visits}
    assert len(hashes) == 4
    for model_id in (0, shelf.public.pk):
        row = DailyUnique.objects.get(day=today, model_id=model_id)
        expected = sketch.build(hashes, sketch.precision_for(model_id))
        assert bytes(row.registers) == sketch.to_bytes(expected)
        assert row.visitors == 4


def test_the_client_address_behind_a_trusted_proxy_is_the_visitor(shelf: Shelf, settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = Client(REMOTE_ADDR="127.0.0.1", HTTP_USER_AGENT=CHROME)
    assert proxy.get("/", HTTP_X_FORWARDED_FOR="203.0.113.5, 198.51.100.7").status_code == 200
    assert proxy.get("/", HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 200
    assert proxy.get("/", HTTP_X_FORWARDED_FOR="198.51.100.8").status_code == 200
    flush()
    today = datetime.now(UTC).date()
    expected = {salt.visitor_hash(today, a, CHROME) for a in ("198.51.100.7", "198.51.100.8")}
    row = DailyUnique.objects.get(day=today, model_id=0)
    assert bytes(row.registers) == sketch.to_bytes(sketch.build(expected, sketch.SITE_PRECISION))


def test_capture_off_counts_nothing(shelf: Shelf, settings: Any) -> None:
    settings.ANALYTICS_ENABLED = False
    assert Client().get("/alice/public-model/").status_code == 200
    assert BUFFER.flush() == 0 and not RouteHourly.objects.exists()


# --- The command-line client, against a live server ---------------------------------------------------------


def run_client(args: list[str], home: Path, server: str) -> subprocess.CompletedProcess[str]:
    """`candor ARGS` as a person runs it on their own machine: no server settings, own config folder."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "DJANGO_SETTINGS_MODULE",
            "DATABASE_URL",
            "CANDOR_REDIS_URL",
            "CANDOR_DATA_DIR",
            "CANDOR_TOKEN",
        )
    }
    env |= {"XDG_CONFIG_HOME": str(home / "config"), "HOME": str(home), "CANDOR_SERVER": server}
    return subprocess.run(
        [sys.executable, "-m", "candor", *args],
        env=env,
        cwd=home,
        input="",
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.django_db(transaction=True)
def test_candor_pull_counts_a_download_of_each_file(
    live_server: LiveServer, owner: User, media: Path, tmp_path: Path
) -> None:
    model = actions.create_model(acting_user=owner, name="pulled", visibility="public")
    actions.add_file(model, "config.json", [b'{"a": 1}'], acting_user=owner)
    actions.add_file(model, "weights/model.bin", [FILE_BYTES], acting_user=owner)
    private = actions.create_model(acting_user=owner, name="hidden")
    actions.add_file(private, "w.bin", [b"x"], acting_user=owner)
    pulled = run_client(["pull", "alice/pulled", str(tmp_path / "copy")], tmp_path, live_server.url)
    assert pulled.returncode == 0, pulled.stderr
    assert (tmp_path / "copy" / "weights" / "model.bin").read_bytes() == FILE_BYTES
    refused = run_client(["pull", "alice/hidden", str(tmp_path / "nope")], tmp_path, live_server.url)
    assert refused.returncode != 0
    flush()
    # The listing is a read of the model; each file a download.
    assert model_totals(model.pk)["daily"] == (1, 2)
    assert model_totals(private.pk)["daily"] == (0, 0)
    assert route_totals()["api:download_file"] == (2, 0)
    # The client tells the server who it is; its family is the parser's word for it, or "Other".
    browsers = {value for (dimension, value) in dimension_totals() if dimension == "browser"}
    assert browsers and all("candor" not in value.lower() for value in browsers)


# --- Byte scan (C7) -----------------------------------------------------------------------------------------

CANARY_AGENT = "Mozilla/5.0 ZzqxCanaryBrowser/9.9"
CANARY_REFERER = "https://news.example.org/path?secret=QqCanary123"
CANARY_ADDRESSES = ("203.0.113.77", "203.0.113.88", "2001:db8:cafe::77")
NEEDLES = [
    *(address.encode() for address in CANARY_ADDRESSES),
    bytes([203, 0, 113, 77]),  # the address packed, as an inet column would hold it
    b"ZzqxCanary",
    CANARY_AGENT.encode(),
    b"QqCanary123",
    b"secret=",
    b"news.example.org",
    b"example.org/path",
]

BYTE_SCAN = r"""
import json, os
from unittest import mock
from django.conf import settings
from django.test import Client
from candor.accounts.models import User
from candor.analytics import buffer, redis_store, store, tasks
from candor.analytics.models import DailyUnique, DimensionDaily, ModelDaily, RouteDaily
from candor.hub import actions
agent, referer = os.environ["CANARY_AGENT"], os.environ["CANARY_REFERER"]
owner = User.objects.create_user(
    "zzqowner", "zzq.owner@example.net", "a-long-passphrase-77", email_verified=True
)
model = actions.create_model(acting_user=owner, name="zzq-canary-model", visibility="public")
headers = {"HTTP_USER_AGENT": agent, "HTTP_REFERER": referer, "HTTP_ACCEPT_LANGUAGE": "fr-CA,en;q=0.5",
           "HTTP_HOST": "127.0.0.1"}
web = Client()
statuses = [
    web.get("/zzqowner/zzq-canary-model/", REMOTE_ADDR="203.0.113.77", **headers).status_code,
    # Behind one trusted proxy: the last X-Forwarded-For entry is the client, the one before it a claim.
    web.get("/zzqowner/zzq-canary-model/", REMOTE_ADDR="127.0.0.1",
            HTTP_X_FORWARDED_FOR="2001:db8:cafe::77, 203.0.113.88", **headers).status_code,
    web.get("/api/v1/models/zzqowner/zzq-canary-model", REMOTE_ADDR="203.0.113.77", **headers).status_code,
]
assert statuses == [200, 200, 200], statuses
# A flush that fails first, with the visitor's values in its error: the warning must not repeat them.
failing = mock.patch.object(redis_store if settings.REDIS_URL else store, "write",
                            side_effect=RuntimeError(" ".join(["203.0.113.77", agent, referer])))
with failing:
    assert buffer.flush() == 0
assert buffer.flush() > 0
needles = os.environ["NEEDLES"].split("|")
in_redis_before_rollup, redis_hits, redis_has_counts = [], [], False
if settings.REDIS_URL:  # every key and value in Redis, before the rollup empties the counters
    server = redis_store.client()
    in_redis_before_rollup = sorted(k.decode() for k in server.keys("candor:analytics:*"))
    dumped = b"".join(key + (server.dump(key) or b"") for key in server.scan_iter(match="*"))
    redis_hits = [n for n in needles if n.encode() in dumped]
    redis_has_counts = b"example.org" in dumped and b"hub:model" in dumped
tasks.run()
from django.core.cache.backends.locmem import _caches
cached = b"".join(key.encode() + value for store_ in _caches.values() for key, value in store_.items())
print(json.dumps({
    "model_views": sum(ModelDaily.objects.filter(model_id=model.pk).values_list("views", flat=True)),
    "route_views": dict(RouteDaily.objects.values_list("route", "views")),
    "dimensions": sorted(DimensionDaily.objects.values_list("dimension", "value", "views")),
    "visitors": dict((str(k), v) for k, v in DailyUnique.objects.values_list("model_id", "visitors")),
    "model_id": model.pk,
    "redis_keys": in_redis_before_rollup,
    "redis_hits": redis_hits,
    "redis_has_counts": redis_has_counts,
    "cache_hits": [n for n in needles if n.encode() in cached],
}))
"""


def scanned_files(data: Path, log_file: Path) -> list[Path]:
    database, counters = data / "candor.sqlite3", data / "counters.sqlite3"
    return [
        database,
        Path(f"{database}-wal"),
        Path(f"{database}-shm"),
        log_file,
        *(Path(f"{counters}{side}") for side in ("", "-wal", "-shm", "-journal")),
    ]


@pytest.mark.parametrize("mode", ["embedded", "redis"])
def test_a_counted_request_leaves_no_trace_of_its_address_agent_or_referrer(
    tmp_path: Path, mode: str, request: pytest.FixtureRequest
) -> None:
    import redis

    log_file = tmp_path / "logs" / "candor.log"
    log_file.parent.mkdir()
    env = {
        "CANDOR_LOG_FILE": str(log_file),
        "CANDOR_TRUSTED_PROXIES": "1",
        "CANARY_AGENT": CANARY_AGENT,
        "CANARY_REFERER": CANARY_REFERER,
        "NEEDLES": "|".join(n.decode("latin-1") for n in NEEDLES if n.isascii()),
    }
    # Only the Redis run needs the run's Redis database (and so a server).
    redis_url = str(request.getfixturevalue("redis_url")) if mode == "redis" else ""
    server = redis.Redis.from_url(redis_url) if redis_url else None
    if redis_url:
        empty_redis(redis_url)
        env["CANDOR_REDIS_URL"] = redis_url
    try:
        assert run_candor(["migrate", "-v0"], tmp_path, env).returncode == 0
        facts = json.loads(last_line(run_candor(["shell", "-c", BYTE_SCAN], tmp_path, env)))
        # Counted: three views of the model, by two visitors, from a French-speaking "Other" browser
        # that came from example.org.
        assert facts["model_views"] == 3
        assert facts["route_views"] == {"hub:model": 2, "api:get_model": 1}
        assert facts["dimensions"] == [
            ["browser", "Other", 3],
            ["language", "fr", 3],
            ["referrer", "example.org", 3],
        ]
        assert facts["visitors"] == {"0": 2, str(facts["model_id"]): 2}
        assert facts["cache_hits"] == []
        redis_dump = b""
        if server is not None:
            assert any(key.startswith("candor:analytics:hll:") for key in facts["redis_keys"])
            assert "candor:analytics:counts" in facts["redis_keys"]
            assert facts["redis_has_counts"] and facts["redis_hits"] == []
            for key in server.scan_iter(match="*"):
                redis_dump += key + (server.dump(key) or b"")
            assert b"candor:analytics:" in redis_dump  # the scan reads what the counting left there
        data = tmp_path / "data"
        if server is None:
            # The embedded default keeps its rate-limit counters (one per client address, under an HMAC)
            # in a file of their own: the scan reads a file that holds them.
            with sqlite3.connect(data / "counters.sqlite3") as counters:
                assert counters.execute("SELECT count(*) FROM core_counter").fetchone()[0] > 0
        files = scanned_files(data, log_file)
        # The scan finds what is there: the model's name in the database, the failed flush in the log.
        assert b"zzq-canary-model" in files[0].read_bytes() + (
            files[1].read_bytes() if files[1].exists() else b""
        )
        log = log_file.read_text()
        assert "analytics flush failed (RuntimeError)" in log
        for path in files:
            if path.exists():
                content = path.read_bytes()
                for needle in NEEDLES:
                    assert needle not in content, (path.name, needle)
        for needle in NEEDLES:
            assert needle not in redis_dump, needle
    finally:
        if redis_url:
            empty_redis(redis_url)
