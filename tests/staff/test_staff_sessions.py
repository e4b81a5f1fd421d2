"""Staff sessions: verified by the second factor before any console page, with absolute and idle limits."""

from __future__ import annotations

import time

import pyotp
import pytest
from django.test import Client

from candor.staff import sessions
from candor.staff.models import StaffMember
from tests.conftest import make_user
from tests.staff.console_client import staff_client
from tests.staff.factory import make_staff

pytestmark = pytest.mark.django_db


def test_a_signed_out_visitor_is_sent_to_log_in_and_someone_not_staff_finds_nothing() -> None:
    answer = Client().get("/staff/")
    assert answer.status_code == 302 and answer["Location"].startswith("/login/")
    client = Client()
    client.force_login(make_user("erin"))
    assert client.get("/staff/").status_code == 404


def test_an_unverified_session_must_give_a_code_first_and_then_reaches_the_console() -> None:
    user = make_staff("sam")
    client = staff_client(user, verified=False)
    answer = client.get("/staff/find/")
    assert answer.status_code == 302 and answer["Location"].startswith("/staff/verify/")
    wrong = client.post("/staff/verify/", {"code": "abc", "next": "/staff/find/"})
    assert wrong.status_code == 400 and b"The code is not right" in wrong.content
    assert client.get("/staff/").status_code == 302
    secret = str(StaffMember.objects.get(user=user).totp_secret)
    right = client.post("/staff/verify/", {"code": pyotp.TOTP(secret).now(), "next": "/staff/find/"})
    assert right.status_code == 302 and right["Location"] == "/staff/find/"
    assert client.get("/staff/find/").status_code == 200


def test_a_member_without_a_second_factor_reaches_only_the_setup_page() -> None:
    user = make_staff("sam", second_factor=False)
    client = staff_client(user, verified=False)
    for path in ("/staff/", "/staff/find/", "/staff/agreement/", "/staff/verify/", "/staff/grants/"):
        answer = client.get(path)
        assert answer.status_code == 302 and answer["Location"] == "/staff/second-factor/", path
    page = client.get("/staff/second-factor/")
    assert page.status_code == 200
    started = client.post("/staff/second-factor/", {"step": "begin"})
    secret = str(StaffMember.objects.get(user=user).totp_secret)
    assert secret.encode() in started.content
    done = client.post("/staff/second-factor/", {"step": "confirm", "code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200 and b"recovery-codes" in done.content
    assert client.get("/staff/").status_code == 200  # confirming verified the session


@pytest.mark.parametrize(
    ("verified_ago", "seen_ago", "message"),
    [(9 * 3600, 60, b"staff sessions are short"), (3600, 31 * 60, b"idle too long")],
)
def test_past_the_absolute_or_idle_limit_the_member_signs_in_again(
    verified_ago: int, seen_ago: int, message: bytes
) -> None:
    user = make_staff("sam")
    client = staff_client(user)
    session = client.session
    now = time.time()
    session[sessions.VERIFIED_KEY] = int(now - verified_ago)
    session[sessions.SEEN_KEY] = int(now - seen_ago)
    session.save()
    answer = client.get("/staff/")
    assert answer.status_code == 302 and answer["Location"].startswith("/login/")
    assert "_auth_user_id" not in client.session
    assert message in client.get("/login/").content


def test_the_limits_follow_the_settings(settings: object) -> None:
    settings.STAFF_IDLE_MINUTES = 5  # type: ignore[attr-defined]
    store: dict[str, object] = {}
    sessions.mark_verified(store, now=1000.0)
    assert sessions.state(store, now=1000.0 + 4 * 60) == "verified"
    assert sessions.state(store, now=1000.0 + 6 * 60) == "idle"
    settings.STAFF_SESSION_HOURS = 1  # type: ignore[attr-defined]
    sessions.touch(store, now=1000.0 + 3590)
    assert sessions.state(store, now=1000.0 + 3601) == "expired"
    assert sessions.state({}, now=0) == "unverified"


def test_activity_keeps_a_session_alive() -> None:
    user = make_staff("sam")
    client = staff_client(user)
    session = client.session
    session[sessions.SEEN_KEY] = int(time.time() - 29 * 60)
    session.save()
    assert client.get("/staff/").status_code == 200
    assert client.session[sessions.SEEN_KEY] >= int(time.time()) - 5
