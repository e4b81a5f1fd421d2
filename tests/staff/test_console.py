"""The staff console through the test client: every page, every refusal, and no page cached or indexed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from candor.accounts.models import User
from candor.staff import actions
from candor.staff.models import AccessEntry, Grant, Signature, StaffMember
from tests.conftest import make_user
from tests.staff.console_client import staff_client
from tests.staff.factory import AGREEMENT_TEXT, agreement, make_staff

pytestmark = pytest.mark.django_db


def _private(answer: object) -> None:
    cache = answer["Cache-Control"]  # type: ignore[index]
    assert "no-store" in cache and "private" in cache
    assert "noindex" in answer["X-Robots-Tag"]  # type: ignore[index]


def _ask(client: Client, subject: User, **changes: object) -> object:
    data: dict[str, object] = {
        "role": "support",
        "purpose": "support_case",
        "case_reference": "CASE-41",
        "categories": ["account.username"],
        "minutes": 30,
    }
    data.update(changes)
    return client.post(f"/staff/grants/new/{subject.pk}/", data)


def _grant(requester: User, subject: User, categories: list[str], purpose: str = "support_case") -> Grant:
    return actions.request_grant(
        acting_user=requester,
        subject=subject,
        role=next(r for r in StaffMember.objects.get(user=requester).roles if r != "administrator"),
        purpose=purpose,
        case_reference="CASE-9",
        categories=categories,
    )


def test_every_console_page_is_private_and_noindexed() -> None:
    subject = make_user("erin")
    admin = make_staff("ada", ["administrator", "support"])
    grant = _grant(admin, subject, ["account.username"])
    client = staff_client(admin)
    member = StaffMember.objects.get(user=admin)
    for path in (
        "/staff/",
        "/staff/find/",
        "/staff/agreement/",
        "/staff/grants/",
        f"/staff/grants/new/{subject.pk}/",
        f"/staff/grants/{grant.public_id}/",
        "/staff/second-factor/codes/",
        "/staff/members/",
        f"/staff/members/{member.pk}/",
    ):
        answer = client.get(path)
        assert answer.status_code == 200, path
        _private(answer)
        assert b'<meta name="robots" content="noindex' in answer.content, path
    revealed = client.post(f"/staff/grants/{grant.public_id}/reveal/")
    assert revealed.status_code == 200
    _private(revealed)
    _private(Client().get("/staff/"))  # even the redirect to log in


def test_robots_txt_disallows_the_console() -> None:
    assert "Disallow: /staff/" in Client().get("/robots.txt").content.decode()


def test_finding_a_person_shows_only_that_the_account_exists_and_its_id() -> None:
    subject = make_user("erin")
    client = staff_client(make_staff("sam"))
    by_name = client.post("/staff/find/", {"query": "Erin"})
    assert str(subject.pk).encode() in by_name.content
    by_email = client.post("/staff/find/", {"query": "erin@example.org"})
    assert str(subject.pk).encode() in by_email.content
    assert b"erin@example.org" not in by_email.content.replace(b'value="erin@example.org"', b"")
    partial = client.post("/staff/find/", {"query": "erin@example"})
    assert b"No account has this username or email" in partial.content
    assert str(subject.pk).encode() not in partial.content


def test_asking_approving_revealing_and_ending_a_grant() -> None:
    subject = make_user("erin")
    sam, lee = make_staff("sam"), make_staff("lee")
    client = staff_client(sam)
    asked = _ask(client, subject, categories=["contact.email"])
    grant = Grant.objects.get()
    assert asked.status_code == 302 and asked["Location"] == f"/staff/grants/{grant.public_id}/"
    assert grant.decision == Grant.Decision.PENDING
    home = staff_client(lee).get("/staff/")
    assert grant.public_id[:6].encode() in home.content
    pending = client.post(f"/staff/grants/{grant.public_id}/reveal/")
    assert pending.status_code == 403 and b"waiting for a second member" in pending.content
    own = client.post(f"/staff/grants/{grant.public_id}/decide/", {"decision": "approve"})
    assert own.status_code == 403 and b"Another member of staff must decide" in own.content
    approved = staff_client(lee).post(f"/staff/grants/{grant.public_id}/decide/", {"decision": "approve"})
    assert approved.status_code == 302
    revealed = client.post(f"/staff/grants/{grant.public_id}/reveal/")
    assert revealed.status_code == 200 and b"erin@example.org" in revealed.content
    assert b"contact.email" in revealed.content and b"accounts.User" in revealed.content
    assert AccessEntry.objects.count() == 1
    outside = client.post(f"/staff/grants/{grant.public_id}/reveal/", {"categories": ["network.ip"]})
    assert outside.status_code == 403 and b"does not cover network.ip" in outside.content
    ended = client.post(f"/staff/grants/{grant.public_id}/end/")
    assert ended.status_code == 302
    after = client.post(f"/staff/grants/{grant.public_id}/reveal/")
    assert after.status_code == 403 and b"This grant was ended" in after.content
    assert AccessEntry.objects.count() == 1


def test_refusing_a_grant() -> None:
    subject = make_user("erin")
    sam, lee = make_staff("sam"), make_staff("lee")
    grant = _grant(sam, subject, ["contact.email"])
    staff_client(lee).post(f"/staff/grants/{grant.public_id}/decide/", {"decision": "refuse"})
    refused = staff_client(sam).post(f"/staff/grants/{grant.public_id}/reveal/")
    assert refused.status_code == 403 and b"This grant was refused" in refused.content


def test_an_expired_grant_reveals_nothing() -> None:
    subject = make_user("erin")
    sam = make_staff("sam")
    grant = _grant(sam, subject, ["account.username"])
    Grant.objects.filter(pk=grant.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    answer = staff_client(sam).post(f"/staff/grants/{grant.public_id}/reveal/")
    assert answer.status_code == 403 and b"This grant has expired" in answer.content
    assert b"erin" not in answer.content.lower().replace(b"erin@", b"")
    assert AccessEntry.objects.count() == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"purpose": "fishing"}, b"Select a valid choice"),
        ({"purpose": "legal_request"}, b"may not ask for a legal request"),
        ({"case_reference": ""}, b"Give the case&#x27;s reference"),
        ({"categories": ["made.up"]}, b"Select a valid choice"),
        ({"categories": []}, b"Choose the categories of data"),
        ({"minutes": 0}, b"greater than or equal to 1"),
        ({"tell_after": "2099-01-01"}, b"Only a legal request may hold back"),
    ],
)
def test_a_bad_request_is_refused_in_the_page_and_asks_nothing(
    changes: dict[str, object], message: bytes
) -> None:
    subject = make_user("erin")
    client = staff_client(make_staff("sam"))
    answer = _ask(client, subject, **changes)
    assert answer.status_code == 400
    assert message in answer.content
    assert Grant.objects.count() == 0


def test_a_legal_request_may_hold_back_the_notice() -> None:
    subject = make_user("erin")
    client = staff_client(make_staff("liz", ["legal"]))
    answer = _ask(client, subject, role="legal", purpose="legal_request", tell_after="2099-01-01")
    assert answer.status_code == 302
    assert Grant.objects.get().tell_after is not None


def test_without_an_agreement_in_force_nothing_is_asked_found_or_revealed() -> None:
    subject = make_user("erin")
    sam = make_staff("sam")
    grant = _grant(sam, subject, ["account.username"])
    Signature.objects.update(valid_until=timezone.now() - timedelta(minutes=1))
    client = staff_client(sam)
    home = client.get("/staff/")
    assert b"Sign the" in home.content
    reveal = client.post(f"/staff/grants/{grant.public_id}/reveal/")
    assert reveal.status_code == 403 and b"Sign the current confidentiality agreement" in reveal.content
    asked = _ask(client, subject)
    assert asked.status_code == 400 and b"Sign the current confidentiality agreement" in asked.content
    found = client.post("/staff/find/", {"query": "erin"})
    assert b"Sign the current confidentiality agreement" in found.content
    assert str(subject.pk).encode() not in found.content
    assert AccessEntry.objects.count() == 0 and Grant.objects.count() == 1


def test_the_agreement_page_shows_the_text_and_signs_it() -> None:
    sam = make_staff("sam", signed=False)
    agreement()
    client = staff_client(sam)
    page = client.get("/staff/agreement/")
    assert AGREEMENT_TEXT.encode() in page.content.replace(b"&#x27;", b"'")
    sha = page.context["agreement"].sha256
    short = client.post("/staff/agreement/", {"signed_name": "S", "text_sha256": sha})
    assert short.status_code == 400 and b"Type your full name" in short.content
    stale = client.post("/staff/agreement/", {"signed_name": "Sam Example", "text_sha256": "0" * 64})
    assert stale.status_code == 400 and b"The agreement changed" in stale.content
    signed = client.post("/staff/agreement/", {"signed_name": "Sam Example", "text_sha256": sha})
    assert signed.status_code == 302
    assert b"it holds until" in client.get("/staff/agreement/").content


def test_administrators_add_change_and_end_staff_and_no_one_else_may() -> None:
    make_user("newbie")
    admin = make_staff("ada", ["administrator"])
    client = staff_client(admin)
    data = {
        "username": "newbie",
        "roles": ["support"],
        "employment": "employee",
        "office_country": "DE",
        "work_country": "FR",
    }
    unknown = client.post("/staff/members/", {**data, "username": "nobody"})
    assert unknown.status_code == 400 and b"no account with this username" in unknown.content
    no_role = client.post("/staff/members/", {**data, "roles": []})
    assert no_role.status_code == 400 and b"Choose roles among" in no_role.content
    assert client.post("/staff/members/", data).status_code == 302
    member = StaffMember.objects.get(user__username_index=User.objects.by_username("newbie").username_index)  # type: ignore[union-attr]
    assert (member.roles, member.work_country) == (["support"], "FR")
    changed = client.post(
        f"/staff/members/{member.pk}/", {"roles": ["legal"], "office_country": "DE", "work_country": "PT"}
    )
    assert changed.status_code == 302
    member.refresh_from_db()
    assert (member.roles, member.work_country) == (["legal"], "PT")
    sam = make_staff("sam")
    other = staff_client(sam)
    assert other.get("/staff/members/").status_code == 403
    assert other.post("/staff/members/", data).status_code == 403
    ended = client.post(f"/staff/members/{member.pk}/", {"end": "yes"})
    assert ended.status_code == 302
    member.refresh_from_db()
    assert member.ended_at is not None
