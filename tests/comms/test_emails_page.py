"""\"Emails we sent you\": the settings page and API v1 (/me/emails, /me/email-preferences) show a person
their own emails and preferences, change the preference, refuse bad input with nothing changed, and
show nobody else's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from candor.accounts.models import User
from candor.comms import outbox
from candor.comms.choices import Reason, Status
from candor.comms.models import Email, Preferences
from candor.privacy.models import AuditEvent
from tests.api.conftest import Api, token_for
from tests.conftest import PASSWORD, Mailbox, deliver_on_commit, make_user

pytestmark = pytest.mark.django_db
URL = "/settings/emails/"


def signed_in(user: User) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def sent_password_notice(user: User) -> Email:
    row = outbox.queue("password-changed", user.pk)
    assert row is not None
    deliver_on_commit()
    row.refresh_from_db()
    assert row.status == Status.SENT
    return row


def test_the_page_lists_the_persons_emails_newest_first_with_what_became_of_each(
    mailbox: Mailbox,
) -> None:
    erin = make_user("erin")
    sent_password_notice(erin)
    skipped = Email.objects.create(
        user=erin, category="product", kind="product-update", status=Status.SKIPPED, reason=Reason.CAPPED
    )
    Email.objects.filter(pk=skipped.pk).update(queued_at=timezone.now() + timedelta(minutes=1))
    sent_password_notice(make_user("frank"))
    page = signed_in(erin).get(URL)
    assert page.status_code == 200 and page["Cache-Control"] == "private, no-store"
    html = page.content.decode()
    assert "Your password was changed" in html and "Handed to the mail server" in html
    assert "Security and account" in html
    assert "you had already had a product update in the last days" in html
    assert html.index("Product update") < html.index("Your password was changed")  # newest first
    assert "2 emails, newest first" in html  # erin's two; frank's is not hers
    assert "frank" not in html
    # Linked from the settings page's navigation.
    assert f'href="{URL}"' in signed_in(erin).get(reverse("accounts:settings")).content.decode()


def test_the_page_changes_the_preference_with_a_message_and_refuses_a_bad_choice() -> None:
    erin = make_user("erin")
    client = signed_in(erin)
    answer = client.post(URL, {"product_updates": "off"}, follow=True)
    assert "you will get no more product updates" in answer.content.decode()
    prefs = Preferences.objects.get(user=erin)
    assert prefs.product_updates is False and prefs.changed_via == "settings"
    assert AuditEvent.objects.filter(event_type=601, subject_id=erin.pk).count() == 1
    bad = client.post(URL, {"product_updates": "maybe"}, follow=True)
    assert "Nothing was changed" in bad.content.decode()
    assert Preferences.objects.get(user=erin).product_updates is False
    assert 'value="off" checked' in client.get(URL).content.decode()


def test_the_page_needs_the_csrf_token() -> None:
    erin = make_user("erin")
    client = Client(enforce_csrf_checks=True)
    assert client.login(username="erin", password=PASSWORD)
    assert client.post(URL, {"product_updates": "off"}).status_code == 403
    assert not Preferences.objects.filter(user=erin).exists()


def test_a_refused_address_is_told_with_a_link_to_change_it_until_the_address_changes() -> None:
    erin = make_user("erin")
    row = Email.objects.create(user=erin, category="account", kind="password-changed")
    outbox.mark_undeliverable(row, erin, 550)
    html = signed_in(erin).get(URL).content.decode()
    assert 'id="address-refused"' in html and reverse("accounts:email_change") in html
    User.objects.filter(pk=erin.pk).update(email_index="another-address-index")
    assert 'id="address-refused"' not in signed_in(erin).get(URL).content.decode()


def test_a_page_past_the_end_answers_404_with_a_way_back() -> None:
    erin = make_user("erin")
    answer = signed_in(erin).get(URL, {"page": "9"})
    assert answer.status_code == 404 and "There is no such page" in answer.content.decode()


def test_visitors_are_sent_to_log_in() -> None:
    answer = Client().get(URL)
    assert answer.status_code == 302 and "/login/" in answer["Location"]


# --- API v1 -----------------------------------------------------------------------------------------------


def test_the_api_lists_ones_own_emails_page_by_page(mailbox: Mailbox) -> None:
    erin, frank = make_user("erin"), make_user("frank")
    rows = [sent_password_notice(erin) for _ in range(3)]
    for n, row in enumerate(rows):  # distinct times, the last the newest
        Email.objects.filter(pk=row.pk).update(queued_at=timezone.now() - timedelta(minutes=10 - n))
    sent_password_notice(frank)
    api = Api(token_for(erin, "read"))
    first = api.get("/me/emails", limit=2)
    assert first.status_code == 200
    body = first.json()
    assert [item["id"] for item in body["items"]] == [str(rows[2].pk), str(rows[1].pk)]
    item = body["items"][0]
    assert item["subject"] == "Your password was changed" and item["status"] == "sent"
    assert item["category"] == "account" and item["sent_at"] is not None
    assert body["next"].startswith("http") and body["next_cursor"]
    second = api.get("/me/emails", limit=2, cursor=body["next_cursor"]).json()
    assert [i["id"] for i in second["items"]] == [str(rows[0].pk)] and second["next"] is None
    assert str(frank.pk) not in str(body) + str(second)


def test_the_api_refuses_a_forged_cursor_a_bad_limit_and_strangers() -> None:
    erin = make_user("erin")
    api = Api(token_for(erin, "read"))
    forged = api.get("/me/emails", cursor="MTA:1abcde:" + "A" * 43)
    assert forged.status_code == 404 and forged.json()["error"]["code"] == "invalid_cursor"
    assert api.get("/me/emails", cursor="not a cursor").status_code == 422
    assert api.get("/me/emails", limit=0).status_code == 422
    assert Api().get("/me/emails").status_code == 401
    assert Api().get("/me/email-preferences").status_code == 401


def test_the_api_reads_and_changes_the_preference_with_the_write_scope_only() -> None:
    erin = make_user("erin")
    reader, writer = Api(token_for(erin, "read")), Api(token_for(erin, "read", "write"))
    assert reader.get("/me/email-preferences").json() == {
        "product_updates": True,
        "changed_at": None,
        "changed_via": "",
        "address_refused": False,
        "address_refused_at": None,
    }
    assert reader.patch("/me/email-preferences", {"product_updates": False}).status_code == 403
    assert not Preferences.objects.filter(user=erin).exists()
    changed = writer.patch("/me/email-preferences", {"product_updates": False})
    assert changed.status_code == 200
    assert changed.json()["product_updates"] is False and changed.json()["changed_via"] == "api"
    for bad in ({"product_updates": "no"}, {"product_updates": None}, {"other": True}, {}):
        refused = writer.patch("/me/email-preferences", bad)
        assert refused.status_code == 422, bad
        assert "error" in refused.json()
    assert Preferences.objects.get(user=erin).product_updates is False


def test_the_operations_are_in_the_openapi_schema() -> None:
    schema = Client().get("/api/v1/openapi.json").json()
    listing = schema["paths"]["/api/v1/me/emails"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"limit", "cursor"}
    prefs = schema["paths"]["/api/v1/me/email-preferences"]
    assert set(prefs) == {"get", "patch"}
    out = schema["components"]["schemas"]["EmailOut"]["properties"]
    assert out["reason"]["description"]
