"""Sign-in history (clause C9): what is recorded, where the person sees it, and when it goes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from candor.accounts import actions as account_actions
from candor.accounts.models import EmailConfirmation, SecurityEvent
from candor.api.actions import create_token
from candor.lifecycle import retention
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def kinds(user) -> list[str]:
    return list(
        SecurityEvent.objects.filter(user=user).order_by("created_at", "id").values_list("kind", flat=True)
    )


def test_sign_ins_and_failed_sign_ins_are_recorded_with_address_and_browser_family() -> None:
    alice = make_user("alice")
    client = Client(HTTP_USER_AGENT=FIREFOX, REMOTE_ADDR="198.51.100.23")
    client.post("/login/", {"username": "alice", "password": "wrong-password-123"})
    client.post("/login/", {"username": "alice@example.org", "password": PASSWORD})
    assert kinds(alice) == ["sign_in_failed", "sign_in"]
    for event in SecurityEvent.objects.filter(user=alice):
        assert event.ip_address == "198.51.100.23"
        assert event.browser_family == "Firefox"
    # A failed sign-in for a name that has no account records nothing anywhere.
    client.post("/login/", {"username": "nobody-here", "password": "wrong-password-123"})
    assert SecurityEvent.objects.count() == 2


def test_password_email_and_token_changes_are_recorded(owner_client: Client, owner, mailbox) -> None:
    response = owner_client.post(
        "/settings/password/",
        {"old_password": PASSWORD, "new_password": "a-new-long-passphrase-42", "end_other_sessions": ""},
    )
    assert response.status_code == 302
    response = owner_client.post(
        "/settings/email/", {"email": "alice.new@example.org", "password": "a-new-long-passphrase-42"}
    )
    assert response.status_code == 302
    confirmation = EmailConfirmation.objects.get(user=owner, purpose="change")
    account_actions.confirm_email(confirmation.public_id, confirmation.token(), acting_user=None)
    create_token(owner, name="laptop", scopes=["read"], acting_user=owner)
    assert kinds(owner) == ["password_changed", "email_change_requested", "email_changed", "token_created"]


def test_the_person_sees_their_events_in_settings_and_the_api(owner_client: Client, owner, member) -> None:
    account_actions.record_event(owner, SecurityEvent.Kind.SIGN_IN_FAILED, None)
    SecurityEvent.objects.create(
        user=owner, kind="sign_in", ip_address="192.0.2.200", browser_family="Safari"
    )
    SecurityEvent.objects.create(user=member, kind="sign_in", ip_address="192.0.2.99", browser_family="Edge")
    page = owner_client.get("/settings/").content.decode()
    assert "Recent security events" in page and "192.0.2.200" in page and "Safari" in page
    assert "failed sign-in" in page
    assert "192.0.2.99" not in page and "Edge" not in page
    response = owner_client.get("/api/v1/me/security-events")
    assert response.status_code == 200
    items = response.json()["items"]
    assert [(i["kind"], i["ip_address"]) for i in items] == [
        ("sign_in", "192.0.2.200"),
        ("sign_in_failed", ""),
    ]
    assert Client().get("/api/v1/me/security-events").status_code == 401


def test_events_are_swept_after_thirty_days_or_the_configured_period(settings, owner) -> None:
    SecurityEvent.objects.create(user=owner, kind="sign_in", ip_address="192.0.2.1")
    now = timezone.now()
    by_rule = lambda when: {o.rule: o.count for o in retention.sweep(now=when)}  # noqa: E731
    assert by_rule(now + timedelta(days=29, hours=23))["security events"] == 0
    assert SecurityEvent.objects.filter(user=owner).exists()
    settings.SECURITY_EVENT_DAYS = 10
    assert by_rule(now + timedelta(days=10, minutes=1))["security events"] == 1
    assert not SecurityEvent.objects.filter(user=owner).exists()
    SecurityEvent.objects.create(user=owner, kind="sign_in")
    settings.SECURITY_EVENT_DAYS = 30
    assert by_rule(now + timedelta(days=30, minutes=1))["security events"] == 1
