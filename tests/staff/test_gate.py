"""The gate refuses, with a clear message and nothing revealed or logged, every access it must refuse."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from candor.accounts.models import User
from candor.kernel.refusal import Code, Refusal
from candor.lifecycle.erasure import erase_account
from candor.staff import actions, gate, queries
from candor.staff.choices import GROUND, Ground, Purpose
from candor.staff.models import AccessEntry, Grant, Signature, StaffMember
from tests.conftest import make_user
from tests.staff.factory import make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def subject() -> User:
    return make_user("erin")


def ask(agent: User, subject: User, **changes: object) -> Grant:
    request: dict[str, object] = {
        "role": "support",
        "purpose": "support_case",
        "case_reference": "CASE-7",
        "categories": ["account.username"],
    }
    request.update(changes)
    return actions.request_grant(acting_user=agent, subject=subject, **request)  # type: ignore[arg-type]


def refused(call: object, code: Code, words: str) -> Refusal:
    with pytest.raises(Refusal) as caught:
        call()  # type: ignore[operator]
    assert caught.value.code is code, caught.value.message
    assert words in caught.value.message
    assert not AccessEntry.objects.exists()
    return caught.value


def test_someone_who_is_not_staff_is_refused(subject: User) -> None:
    agent = make_staff("sam")
    grant = ask(agent, subject)
    outsider = make_user("olga")
    refused(lambda: gate.reveal(grant.public_id, acting_user=outsider), Code.NOT_STAFF, "members of staff")


def test_an_ended_staff_record_stops_its_grants(subject: User) -> None:
    agent = make_staff("sam")
    grant = ask(agent, subject)
    actions.end_staff(StaffMember.objects.get(user=agent), acting_user=None)
    refused(lambda: gate.reveal(grant.public_id, acting_user=agent), Code.NOT_STAFF, "members of staff")
    assert Grant.objects.get(pk=grant.pk).state() == "ended"


def test_a_member_without_a_second_factor_is_refused(subject: User) -> None:
    agent = make_staff("sam", second_factor=False)
    refused(lambda: ask(agent, subject), Code.SECOND_FACTOR_REQUIRED, "second factor")


def test_no_agreement_and_an_expired_agreement_are_refused(subject: User) -> None:
    agent = make_staff("sam", signed=False)
    make_staff("lee")  # publishes the agreement and signs it
    refused(lambda: ask(agent, subject), Code.NO_AGREEMENT, "confidentiality agreement")
    signer = make_staff("kim")
    grant = ask(signer, subject)
    Signature.objects.filter(member__user=signer).update(valid_until=timezone.now() - timedelta(seconds=1))
    refused(
        lambda: gate.reveal(grant.public_id, acting_user=signer), Code.NO_AGREEMENT, "no signature in force"
    )


def test_a_new_version_of_the_agreement_must_be_signed_again(subject: User) -> None:
    agent = make_staff("sam")
    grant = ask(agent, subject)
    actions.publish_agreement("2026-2", "A stricter text.", acting_user=None)
    refused(lambda: gate.reveal(grant.public_id, acting_user=agent), Code.NO_AGREEMENT, "current")
    current = queries.current_agreement()
    assert current is not None
    with pytest.raises(Refusal) as stale:
        actions.sign_agreement(acting_user=agent, signed_name="Sam Example", text_sha256="0" * 64)
    assert stale.value.code is Code.CONFLICT
    actions.sign_agreement(acting_user=agent, signed_name="Sam Example", text_sha256=current.sha256)
    assert gate.reveal(grant.public_id, acting_user=agent).position == 1


def test_an_expired_or_ended_grant_reveals_nothing(subject: User) -> None:
    agent = make_staff("sam")
    expired = ask(agent, subject)
    Grant.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    refused(lambda: gate.reveal(expired.public_id, acting_user=agent), Code.GRANT_INACTIVE, "expired")
    ended = ask(agent, subject, case_reference="CASE-8")
    actions.end_grant(ended.public_id, acting_user=agent)
    refused(lambda: gate.reveal(ended.public_id, acting_user=agent), Code.GRANT_INACTIVE, "ended")


def test_a_refused_grant_and_someone_elses_grant_reveal_nothing(subject: User) -> None:
    agent = make_staff("sam")
    lead = make_staff("lee")
    grant = ask(agent, subject, categories=["contact.email"])
    actions.refuse_grant(grant.public_id, acting_user=lead)
    refused(lambda: gate.reveal(grant.public_id, acting_user=agent), Code.GRANT_INACTIVE, "refused")
    mine = ask(agent, subject)
    refused(lambda: gate.reveal(mine.public_id, acting_user=lead), Code.NOT_FOUND, "no grant")


@pytest.mark.parametrize(
    ("changes", "code", "words"),
    [
        ({"purpose": "curiosity"}, Code.INVALID, "purpose is one of"),
        ({"purpose": "legal_request"}, Code.FORBIDDEN, "may not ask"),
        ({"role": "legal", "purpose": "legal_request"}, Code.FORBIDDEN, "your own roles"),
        ({"case_reference": ""}, Code.INVALID, "case's reference"),
        ({"case_reference": "erin@example.org asked"}, Code.INVALID, "case's reference"),
        ({"categories": []}, Code.INVALID, "categories"),
        ({"categories": ["everything"]}, Code.INVALID, "categories"),
        ({"categories": ["network.ip"]}, Code.FORBIDDEN, "security incident only"),
        ({"minutes": 0}, Code.INVALID, "24 hours"),
        ({"minutes": 24 * 60 + 1}, Code.INVALID, "24 hours"),
    ],
)
def test_a_request_outside_the_rules_is_refused(
    subject: User, changes: dict[str, object], code: Code, words: str
) -> None:
    agent = make_staff("sam")
    refused(lambda: ask(agent, subject, **changes), code, words)
    assert not Grant.objects.exists()


def test_a_grant_lasts_an_hour_unless_asked_and_at_most_a_day(subject: User) -> None:
    agent = make_staff("sam")
    grant = ask(agent, subject)
    assert grant.expires_at is not None and grant.starts_at is not None
    assert grant.expires_at - grant.starts_at == timedelta(hours=1)
    longest = ask(agent, subject, minutes=24 * 60)
    assert longest.expires_at is not None and longest.starts_at is not None
    assert longest.expires_at - longest.starts_at == timedelta(hours=24)


def test_network_addresses_need_a_security_incident_and_a_second_member(subject: User) -> None:
    responder = make_staff("sam", ["on_call"])
    grant = ask(responder, subject, role="on_call", purpose="security_incident", categories=["network.ip"])
    assert grant.decision == Grant.Decision.PENDING
    refused(lambda: gate.reveal(grant.public_id, acting_user=responder), Code.GRANT_INACTIVE, "approval")
    refused(
        lambda: actions.approve_grant(grant.public_id, acting_user=responder),
        Code.FORBIDDEN,
        "Another member",
    )
    support = make_staff("sue", ["support"])
    refused(lambda: actions.approve_grant(grant.public_id, acting_user=support), Code.FORBIDDEN, "roles")
    actions.approve_grant(grant.public_id, acting_user=make_staff("tom", ["trust_and_safety"]))
    assert gate.reveal(grant.public_id, acting_user=responder).position == 1


def test_a_whole_record_at_once_needs_approval(subject: User) -> None:
    agent = make_staff("sam", ["on_call"])
    everything = queries.categories()
    grant = ask(agent, subject, role="on_call", purpose="security_incident", categories=everything)
    assert grant.decision == Grant.Decision.PENDING
    few = ask(agent, subject, role="on_call", purpose="security_incident", categories=["account.username"])
    assert few.decision == Grant.Decision.NOT_NEEDED


def test_every_purpose_names_one_of_the_policys_three_grounds() -> None:
    assert set(GROUND) == set(Purpose.values)
    assert set(GROUND.values()) == set(Ground)


def test_one_cannot_ask_for_ones_own_data(subject: User) -> None:
    agent = make_staff("sam")
    refused(lambda: ask(agent, agent), Code.FORBIDDEN, "your settings")


def test_a_legal_hold_is_only_for_a_legal_request_and_a_later_date(subject: User) -> None:
    lawyer = make_staff("lou", ["legal"])
    later = timezone.now() + timedelta(days=30)
    grant = ask(lawyer, subject, role="legal", purpose="legal_request", tell_after=later)
    assert grant.tell_after == later
    refused(
        lambda: ask(lawyer, subject, role="legal", purpose="legal_request", tell_after=timezone.now()),
        Code.INVALID,
        "later date",
    )
    agent = make_staff("sam")
    refused(lambda: ask(agent, subject, tell_after=later), Code.INVALID, "legal request")


def test_the_entry_records_who_where_why_and_what_without_any_value(subject: User) -> None:
    agent = make_staff("sam", office="IE", work="IN")
    grant = ask(agent, subject, categories=["account.username", "contact.email"])
    actions.approve_grant(grant.public_id, acting_user=make_staff("lee"))
    revealed = gate.reveal(grant.public_id, acting_user=agent, categories=["contact.email"])
    assert [item.values for item in revealed.items if item.field == "email"] == [("erin@example.org",)]
    entry = AccessEntry.objects.get()
    signature = queries.signature_in_force(StaffMember.objects.get(user=agent))
    assert signature is not None
    assert (entry.staff_id, entry.role, entry.office_country, entry.work_country) == (
        agent.pk,
        "support",
        "IE",
        "IN",
    )
    assert (entry.grant_id, entry.purpose, entry.case_reference) == (
        grant.public_id,
        "support_case",
        "CASE-7",
    )
    assert (entry.subject_id, entry.categories) == (subject.pk, ["contact.email"])
    assert entry.agreement_sha256 == signature.text_sha256
    stored = " ".join(str(getattr(entry, f.attname)) for f in AccessEntry._meta.concrete_fields)
    assert "erin" not in stored.lower()


def test_the_policy_counts_only_staff_who_may_be_given_access() -> None:
    make_staff("sam", office="DE", work="PT")
    make_staff("ann", ["administrator"], office="FR", work="FR")
    make_staff("nof", office="JP", work="JP", second_factor=False)
    ended = make_staff("old", office="BR", work="BR")
    actions.end_staff(StaffMember.objects.get(user=ended), acting_user=None)
    assert queries.countries_with_access() == ["DE", "PT"]
    roles = {value: purposes for value, _, purposes in queries.roles()}
    assert roles["administrator"] == [] and roles["legal"] == ["a legal request"]


def test_erasing_a_member_or_a_subject_keeps_the_log(subject: User) -> None:
    agent = make_staff("sam")
    grant = ask(agent, subject)
    gate.reveal(grant.public_id, acting_user=agent)
    erase_account(agent.pk)
    erase_account(subject.pk)
    assert not User.objects.filter(pk__in=[agent.pk, subject.pk]).exists()
    entry = AccessEntry.objects.get()
    assert (entry.staff_id, entry.subject_id) == (agent.pk, subject.pk)
    assert Grant.objects.get(pk=grant.pk).requester is None
