"""``candor staff``: the operator adds, changes, ends and lists staff and publishes the agreement."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from candor.privacy.audit import EventType
from candor.privacy.models import AuditEvent
from candor.staff import queries
from candor.staff.models import StaffMember
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = StringIO()
    call_command("staff", *args, stdout=out)
    return out.getvalue()


def test_add_change_list_and_end_a_member_each_audited() -> None:
    user = make_user("sam")
    added = _run("add", "sam", "--roles", "support,legal", "--office", "de", "--work", "PT")
    member = StaffMember.objects.get(user=user)
    assert f"Added member {member.pk}" in added
    assert (member.roles, member.office_country, member.work_country) == (["legal", "support"], "DE", "PT")
    _run("change", "sam", "--roles", "on_call", "--work", "FR")
    member.refresh_from_db()
    assert (member.roles, member.office_country, member.work_country) == (["on_call"], "DE", "FR")
    listed = _run("list")
    assert "on_call" in listed and "not yet" in listed
    assert "sam" not in listed  # ids, roles and countries: no names
    _run("end", "sam")
    member.refresh_from_db()
    assert member.ended_at is not None
    types = set(AuditEvent.objects.values_list("event_type", flat=True))
    assert {EventType.STAFF_ADDED, EventType.STAFF_CHANGED, EventType.STAFF_ENDED} <= types


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("add", "nobody", "--roles", "support", "--office", "DE", "--work", "DE"),
            "no account with the username",
        ),
        (("add", "sam", "--roles", "support", "--office", "XX", "--work", "DE"), "two-letter ISO 3166 code"),
        (("add", "sam", "--roles", "wizard", "--office", "DE", "--work", "DE"), "Choose roles among"),
        (
            ("add", "sam", "--roles", "support", "--office", "DE", "--work", "DE", "--employment", "x"),
            "Employment is one of",
        ),
        (("change", "sam", "--roles", "support"), "is not a member of staff"),
        (("end", "sam"), "is not a member of staff"),
    ],
)
def test_bad_input_is_a_clear_error_and_changes_nothing(args: tuple[str, ...], message: str) -> None:
    make_user("sam")
    with pytest.raises(CommandError, match=message):
        _run(*args)
    assert StaffMember.objects.count() == 0


def test_publish_an_agreement_from_a_file(tmp_path: Path) -> None:
    text = tmp_path / "agreement.txt"
    text.write_text("I keep what I see to myself.\n", encoding="utf-8")
    out = _run("publish-agreement", "--version", "2026-2", "--file", str(text))
    current = queries.current_agreement()
    assert current is not None and current.version == "2026-2" and current.sha256 in out
    with pytest.raises(CommandError, match="This version exists already"):
        _run("publish-agreement", "--version", "2026-2", "--file", str(text))
    with pytest.raises(CommandError, match="Cannot read"):
        _run("publish-agreement", "--version", "2026-3", "--file", str(tmp_path / "missing.txt"))
    with pytest.raises(CommandError, match="A version is up to 32"):
        _run("publish-agreement", "--version", "bad version!", "--file", str(text))
