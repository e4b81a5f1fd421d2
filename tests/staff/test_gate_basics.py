"""The gate's first promises: a running grant reveals its categories and logs it; nothing else does."""

from __future__ import annotations

import pytest

from candor.kernel.refusal import Code, Refusal
from candor.staff import accesslog, actions, gate
from candor.staff.models import AccessEntry
from tests.conftest import make_user
from tests.staff.factory import make_staff

pytestmark = pytest.mark.django_db


def test_a_running_grant_reveals_its_categories_and_appends_one_chained_entry() -> None:
    subject = make_user("erin")
    agent = make_staff("sam", ["support"])
    grant = actions.request_grant(
        acting_user=agent,
        subject=subject,
        role="support",
        purpose="support_case",
        case_reference="CASE-17",
        categories=["account.username"],
    )
    revealed = gate.reveal(grant.public_id, acting_user=agent)
    values = {(item.record, item.field): item.values for item in revealed.items}
    assert values[("accounts.User", "username")] == ("erin",)
    assert values[("accounts.User", "username_index")] == (gate.WITHHELD,)
    entries = list(AccessEntry.objects.order_by("position"))
    assert [(e.position, str(e.subject_id), e.categories, e.case_reference) for e in entries] == [
        (1, str(subject.pk), ["account.username"], "CASE-17")
    ]
    assert entries[0].previous_hash == accesslog.GENESIS
    assert entries[0].entry_hash == accesslog.hash_of(accesslog.fields_of(entries[0]))
    gate.reveal(grant.public_id, acting_user=agent)
    second = AccessEntry.objects.get(position=2)
    assert second.previous_hash == entries[0].entry_hash


def test_an_email_needs_another_members_approval_first() -> None:
    subject = make_user("erin")
    agent = make_staff("sam", ["support"])
    lead = make_staff("lee", ["support"])
    grant = actions.request_grant(
        acting_user=agent,
        subject=subject,
        role="support",
        purpose="support_case",
        case_reference="CASE-18",
        categories=["contact.email"],
    )
    with pytest.raises(Refusal) as refused:
        gate.reveal(grant.public_id, acting_user=agent)
    assert refused.value.code is Code.GRANT_INACTIVE
    with pytest.raises(Refusal) as own:
        actions.approve_grant(grant.public_id, acting_user=agent)
    assert own.value.code is Code.FORBIDDEN
    actions.approve_grant(grant.public_id, acting_user=lead)
    revealed = gate.reveal(grant.public_id, acting_user=agent)
    assert ("erin@example.org",) in [item.values for item in revealed.items]
    with pytest.raises(Refusal) as outside:
        gate.reveal(grant.public_id, acting_user=agent, categories=["network.ip"])
    assert outside.value.code is Code.OUTSIDE_GRANT
    assert AccessEntry.objects.count() == 1
