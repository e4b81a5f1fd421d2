"""What the person sees of accesses to their data (C23): the settings page, GET /api/v1/me/accesses, the
daily digest, the export's accesses.json, entries held back by a legal order, and the policy's queries."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from candor.accounts.models import User
from candor.lifecycle.export import builder
from candor.privacy.models import AuditEvent
from candor.staff import actions, digest, gate, notices, queries, tasks
from candor.staff.models import AccessEntry, AccessNotice, StaffMember
from tests.api.conftest import Api, token_for
from tests.conftest import PASSWORD, Mailbox, deliver_on_commit, make_user
from tests.staff.factory import make_staff

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ORDER_ENDS = datetime(2026, 3, 20, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _urls_loaded() -> None:
    """Load the URL configuration before any test freezes the clock: the API's schemas are built when
    it loads, and pydantic cannot build them for freezegun's stand-in datetime class."""
    reverse("staff:accesses")


def reveal(
    subject: User,
    agent: User,
    *,
    role: str = "support",
    purpose: str = "support_case",
    categories: tuple[str, ...] = ("account.username",),
    tell_after: datetime | None = None,
    times: int = 1,
) -> None:
    grant = actions.request_grant(
        acting_user=agent,
        subject=subject,
        role=role,
        purpose=purpose,
        case_reference="CASE-1",
        categories=list(categories),
        tell_after=tell_after,
    )
    if grant.decision == grant.Decision.PENDING:  # an email address: a second member approves
        lead = User.objects.filter(username="lead").first() or make_staff("lead", [role])
        actions.approve_grant(grant.public_id, acting_user=lead)
    for _ in range(times):
        gate.reveal(grant.public_id, acting_user=agent)


def held_back(subject: User) -> None:
    """An access for a legal request whose order forbids telling the person until ORDER_ENDS."""
    lex = User.objects.filter(username="lex").first() or make_staff("lex", ["legal"])
    reveal(subject, lex, role="legal", purpose="legal_request", tell_after=ORDER_ENDS)


def signed_in(user: User) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


# --- the query ------------------------------------------------------------------------------------------


def test_the_person_sees_their_own_accesses_newest_first_in_words_and_no_one_elses() -> None:
    erin, frank = make_user("erin"), make_user("frank")
    sam = make_staff("sam", ["support"], office="DE", work="PT")
    tess = make_staff("tess", ["trust_and_safety"], office="IE", work="IE")
    reveal(erin, sam)
    reveal(frank, sam)
    reveal(erin, tess, role="trust_and_safety", purpose="abuse_report", categories=("contact.email",))
    seen = notices.accesses_of(erin.pk)
    assert [(a.role_label, a.purpose_label) for a in seen] == [
        ("trust and safety", "an abuse report"),
        ("support", "a support case"),
    ]
    assert [c.code for c in seen[0].countries] == ["IE"]  # office and work in one country: named once
    assert [(c.code, c.name) for c in seen[1].countries] == [("DE", "Germany"), ("PT", "Portugal")]
    assert seen[0].categories == (notices.Category("contact.email", "contact (email)"),)
    assert all(a.staff_name is None and not a.held_back for a in seen)  # names are off by default
    assert len(notices.accesses_of(frank.pk)) == 1


def test_the_staff_members_username_is_shown_only_when_the_operator_turns_it_on(settings: Any) -> None:
    erin = make_user("erin")
    reveal(erin, make_staff("sam"))
    assert notices.accesses_of(erin.pk)[0].staff_name is None
    settings.ACCESS_SHOWS_STAFF_NAME = True
    assert notices.accesses_of(erin.pk)[0].staff_name == "sam"
    assert "staff_member" in notices.as_record(notices.accesses_of(erin.pk)[0])


def test_an_access_held_back_by_a_legal_order_appears_by_itself_once_the_date_passes() -> None:
    erin = make_user("erin")
    with freeze_time(START):
        held_back(erin)
        reveal(erin, make_staff("sam"))
        assert [a.role for a in notices.accesses_of(erin.pk)] == ["support"]
    with freeze_time(ORDER_ENDS - timedelta(seconds=1)):
        assert len(notices.accesses_of(erin.pk)) == 1
    with freeze_time(ORDER_ENDS):  # no job ran: the date alone lets it be told
        seen = notices.accesses_of(erin.pk)
    assert [a.role for a in seen] == ["support", "legal"]
    assert seen[1].occurred_at == START and seen[1].shown_from == ORDER_ENDS and seen[1].held_back


# --- the page -------------------------------------------------------------------------------------------


def test_the_page_lists_the_accesses_privately_and_links_from_the_settings() -> None:
    erin = make_user("erin")
    reveal(erin, make_staff("sam", office="DE", work="PT"), categories=("account.username", "contact.email"))
    reveal(make_user("frank"), make_staff("tess", ["trust_and_safety"], office="IE", work="IE"),
           role="trust_and_safety", purpose="abuse_report")  # fmt: skip
    client = signed_in(erin)
    response = client.get("/settings/accesses/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    page = response.content.decode()
    assert "a support case" in page and "account (username); contact (email)" in page
    assert "<dd>Germany, Portugal</dd>" in page
    assert "an abuse report" not in page and "Ireland" not in page  # frank's, not erin's
    assert "sam" not in page
    assert 'href="/settings/accesses/"' in client.get("/settings/").content.decode()


def test_the_page_has_an_empty_state_and_needs_an_account() -> None:
    erin = make_user("erin")
    empty = signed_in(erin).get("/settings/accesses/").content.decode()
    assert "No member of staff has accessed your data." in empty
    response = Client().get("/settings/accesses/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert signed_in(erin).post("/settings/accesses/").status_code == 405


def test_the_page_is_paged_and_a_page_that_does_not_exist_says_so(settings: Any) -> None:
    erin = make_user("erin")
    reveal(erin, make_staff("sam"), times=52)
    client = signed_in(erin)
    first = client.get("/settings/accesses/").content.decode()
    assert first.count("<li>\n    <h2>") == 50
    assert 'rel="next"' in first and "52 accesses" in first
    second = client.get("/settings/accesses/", {"page": 2}).content.decode()
    assert second.count("a support case") == 2
    for bad in ("3", "zero", "-1"):
        response = client.get("/settings/accesses/", {"page": bad})
        assert response.status_code == 404
        assert "There is no such page: the list has 2 pages." in response.content.decode()


def test_the_page_names_the_member_when_the_operator_shows_names(settings: Any) -> None:
    settings.ACCESS_SHOWS_STAFF_NAME = True
    erin = make_user("erin")
    reveal(erin, make_staff("sam"))
    page = signed_in(erin).get("/settings/accesses/").content.decode()
    assert "<dt>Member of staff</dt><dd>sam</dd>" in page


# --- the API --------------------------------------------------------------------------------------------


def test_the_api_lists_the_callers_accesses_in_pages_with_a_read_token() -> None:
    erin = make_user("erin")
    with freeze_time(START):
        held_back(erin)
    reveal(erin, make_staff("sam"), times=3)
    api = Api(token_for(erin, "read"))
    response = api.get("/me/accesses", limit=2)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert [item["purpose"] for item in body["items"]] == ["support_case", "support_case"]
    assert body["items"][0]["categories"] == [{"name": "account.username", "label": "account (username)"}]
    assert body["items"][0]["staff_member"] is None and body["items"][0]["held_back_until"] is None
    assert body["next"].startswith("http") and "limit=2" in body["next"] and "cursor=" in body["next"]
    rest = api.get("/me/accesses", limit=2, cursor=body["next_cursor"]).json()
    # The legal request was held back until a date long past: it shows, with the date.
    assert [(i["purpose"], i["held_back_until"]) for i in rest["items"]] == [
        ("support_case", None),
        ("legal_request", "2026-03-20T00:00:00Z"),
    ]
    assert rest["next"] is None and rest["next_cursor"] is None


def test_the_api_refuses_a_forged_cursor_a_bad_limit_and_strangers() -> None:
    erin = make_user("erin")
    api = Api(token_for(erin, "read"))
    forged = api.get("/me/accesses", cursor="MTA:1abcde:" + "A" * 43)
    assert forged.status_code == 404
    assert forged.json()["error"]["code"] == "invalid_cursor"
    assert api.get("/me/accesses", cursor="not a cursor").status_code == 422
    assert api.get("/me/accesses", limit=0).status_code == 422
    assert Api().get("/me/accesses").status_code == 401


def test_the_api_operation_is_in_the_openapi_schema() -> None:
    schema = Client().get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/me/accesses"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"limit", "cursor"}
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ok.endswith("/AccessList")
    assert "held_back_until" in schema["components"]["schemas"]["AccessOut"]["properties"]


# --- the daily digest -----------------------------------------------------------------------------------


def test_the_digest_emails_new_accesses_once_a_day_with_categories_only(mailbox: Mailbox) -> None:
    erin = make_user("erin")
    make_user("frank")  # never accessed: never emailed
    with freeze_time(START):
        reveal(erin, make_staff("sam"), categories=("account.username", "contact.email"))
        assert digest.send_digests() == 1
        message = mailbox.last_to("erin@example.org")
        body = mailbox.body(message)
        assert "Accesses to your data" in str(message["Subject"])
        assert "support" in body and "a support case" in body and "contact (email)" in body
        assert "erin@example.org" not in body  # the category, never the value
        assert "sam" not in body.split()  # no member's name without the setting
        assert "http://" in body and "/settings/accesses/" in body
        assert mailbox.to("frank@example.org") == []
        # Run twice the same day: nothing again, even with a new access.
        tess = make_staff("tess", ["trust_and_safety"])
        reveal(erin, tess, role="trust_and_safety", purpose="abuse_report")
        assert digest.send_digests() == 0
    assert len(mailbox.to("erin@example.org")) == 1
    with freeze_time(START + timedelta(days=1)):
        assert digest.send_digests() == 1
        assert digest.send_digests() == 0
    second = mailbox.body(mailbox.last_to("erin@example.org"))
    assert "an abuse report" in second and "a support case" not in second  # only what is new
    notice = AccessNotice.objects.get(user=erin)
    assert notice.last_position == max(e.position for e in AccessEntry.objects.filter(subject_id=erin.pk))
    assert AuditEvent.objects.filter(event_type=521, subject_id=erin.pk).count() == 2


def test_the_digest_tells_a_held_back_access_the_day_its_date_has_passed(mailbox: Mailbox) -> None:
    erin = make_user("erin")
    with freeze_time(START):
        held_back(erin)
        reveal(erin, make_staff("sam"))
        assert digest.send_digests() == 1
        assert "a legal request" not in mailbox.body(mailbox.last_to("erin@example.org"))
    with freeze_time(ORDER_ENDS - timedelta(hours=1)):
        assert digest.candidates(timezone.now()) == []  # everything tellable was in a digest
        assert digest.send_digests() == 0
    with freeze_time(ORDER_ENDS + timedelta(hours=1)):
        assert digest.candidates(timezone.now()) == [erin.pk]
        assert digest.send_digests() == 1
        assert digest.send_digests() == 0  # one is waiting to be sent: not a second
        deliver_on_commit()  # the worker sends it, and its bookmark is written
        assert digest.candidates(timezone.now()) == []
        assert digest.send_digests() == 0
    body = mailbox.body(mailbox.last_to("erin@example.org"))
    assert "a legal request" in body and "until 20 March 2026" in body
    assert "a support case" not in body
    assert len(mailbox.to("erin@example.org")) == 2


def test_a_digest_that_could_not_be_sent_is_sent_at_the_next_run(mailbox: Mailbox, monkeypatch: Any) -> None:
    """The outbox keeps it and tries again; the bookmark is written only once the mail server took it."""
    from candor.comms import outbox
    from candor.comms.models import Email

    erin = make_user("erin")
    reveal(erin, make_staff("sam"))

    def refused(message: object, connection: object) -> None:
        raise ConnectionRefusedError("mail server down")

    with monkeypatch.context() as patch:
        patch.setattr(outbox, "_send", refused)
        assert digest.send_digests() == 1
        deliver_on_commit()
    row = Email.objects.get(user=erin, kind=digest.KIND)
    assert row.status == "queued" and row.attempts == 1  # waiting for its next try
    assert not AccessNotice.objects.filter(user=erin).exists()
    assert digest.send_digests() == 0  # not queued twice while one waits
    assert outbox.deliver(row.pk, now=timezone.now() + outbox.retry_wait(1)) == "sent"
    assert AccessNotice.objects.filter(user=erin).exists()
    assert len(mailbox.to("erin@example.org")) == 1


def test_the_digest_names_the_member_only_with_the_setting_and_skips_a_closed_account(
    mailbox: Mailbox, settings: Any
) -> None:
    settings.ACCESS_SHOWS_STAFF_NAME = True
    erin, gone = make_user("erin"), make_user("gone")
    reveal(erin, make_staff("sam"))
    reveal(gone, make_staff("tess"))
    User.objects.filter(pk=gone.pk).update(is_active=False)
    assert digest.send_digests() == 1
    assert "sam, support" in mailbox.body(mailbox.last_to("erin@example.org"))
    assert mailbox.to("gone@example.org") == []


def test_the_daily_task_sends_and_schedules_its_next_run_a_day_later(mailbox: Mailbox, settings: Any) -> None:
    from django_tasks_db.models import DBTaskResult

    from tests.conftest import use_task_backend

    erin = make_user("erin")
    reveal(erin, make_staff("sam"))
    use_task_backend(settings, "django_tasks_db.DatabaseBackend")
    assert tasks.daily_access_digest.call() == 1
    deliver_on_commit()
    # The digest waits in the outbox, by id; the worker's delivery task sends it.
    (delivery,) = DBTaskResult.objects.filter(task_path="candor.comms.outbox.deliver_email")
    from candor.comms.tasks import deliver_email

    assert deliver_email.call(*delivery.args_kwargs["args"]) == "sent"
    assert len(mailbox.to("erin@example.org")) == 1
    queued = DBTaskResult.objects.filter(task_path="candor.staff.tasks.daily_access_digest").get()
    assert queued.run_after is not None and queued.run_after > timezone.now() + timedelta(hours=23)
    assert tasks.ensure_digest_scheduled() is False  # a restarted worker does not start a second chain


# --- the export -----------------------------------------------------------------------------------------


def exported_accesses(user: User, at: datetime) -> dict[str, Any]:
    handle = io.BytesIO()
    builder.write_zip(handle, user, generated_at=at)
    with zipfile.ZipFile(handle) as archive:
        assert "accesses.json" in json.loads(archive.read("README.json"))["layout"]
        return dict(json.loads(archive.read("accesses.json")))


def test_the_export_holds_the_accesses_but_not_those_held_back_until_their_date() -> None:
    erin = make_user("erin")
    with freeze_time(START):
        held_back(erin)
        reveal(erin, make_staff("sam", office="DE", work="PT"))
        reveal(make_user("frank"), make_staff("tess"))
        before = exported_accesses(erin, timezone.now())
    assert before["accesses"] == [
        {
            "occurred_at": START.isoformat(),
            "held_back_until": None,
            "role": "support",
            "office_country": "DE",
            "work_country": "PT",
            "purpose": "a support case",
            "categories": ["account.username"],
        }
    ]
    with freeze_time(ORDER_ENDS):
        after = exported_accesses(erin, timezone.now())
    assert [(a["purpose"], a["held_back_until"]) for a in after["accesses"]] == [
        ("a support case", None),
        ("a legal request", ORDER_ENDS.isoformat()),
    ]


def test_the_export_of_someone_never_accessed_has_an_empty_list() -> None:
    assert exported_accesses(make_user("erin"), timezone.now())["accesses"] == []


# --- the policy's needs ---------------------------------------------------------------------------------


def test_only_ready_members_who_may_ask_count_for_the_policy() -> None:
    make_staff("sam", ["support"], office="DE", work="PT")
    make_staff("unsigned", ["support"], office="FR", work="FR", signed=False)
    make_staff("nofactor", ["support"], office="ES", work="ES", second_factor=False)
    make_staff("boss", ["administrator"], office="US", work="US")
    ended = make_staff("ended", ["legal"], office="JP", work="JP")
    StaffMember.objects.filter(user=ended).update(ended_at=timezone.now())
    assert queries.countries_with_access() == ["DE", "PT"]
    make_staff("lex", ["legal", "administrator"], office="NL", work="BE")
    assert queries.countries_with_access() == ["BE", "DE", "NL", "PT"]


def test_an_expired_agreement_stops_counting() -> None:
    make_staff("sam", ["support"], office="DE", work="PT")
    assert queries.countries_with_access(timezone.now() + timedelta(days=3 * 366 + 1)) == []


def test_the_roles_list_names_each_role_and_what_it_may_ask_for() -> None:
    listed = {role: (label, purposes) for role, label, purposes in queries.roles()}
    assert set(listed) == {
        "support", "trust_and_safety", "legal", "billing", "on_call", "communications", "administrator"
    }  # fmt: skip
    assert listed["communications"] == ("communications", [])
    assert listed["trust_and_safety"] == ("trust and safety", ["a security incident", "an abuse report"])
    assert listed["on_call"] == ("engineering on call", ["a security incident"])
    assert listed["administrator"] == ("administrator", [])
