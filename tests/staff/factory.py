"""Members of staff for tests: an account, a staff record, a second factor and a signed agreement."""

from __future__ import annotations

from collections.abc import Iterable

import pyotp
from django.utils import timezone

from candor.accounts.models import User
from candor.staff import actions, queries
from candor.staff.models import StaffMember
from tests.conftest import make_user

AGREEMENT_TEXT = "I keep confidential what I see of people's data, and use it only for the case at hand."


def agreement() -> object:
    return queries.current_agreement() or actions.publish_agreement(
        "2026-1", AGREEMENT_TEXT, acting_user=None
    )


def make_staff(
    username: str,
    roles: Iterable[str] = ("support",),
    *,
    office: str = "DE",
    work: str = "PT",
    signed: bool = True,
    second_factor: bool = True,
) -> User:
    user = make_user(username)
    member = actions.add_staff(
        user, acting_user=None, roles=roles, employment="employee", office_country=office, work_country=work
    )
    if second_factor:
        member = StaffMember.objects.get(pk=member.pk)
        member.totp_secret = pyotp.random_base32()
        member.totp_confirmed_at = timezone.now()
        member.save(update_fields=["totp_secret", "totp_confirmed_at"])
    if signed:
        current = agreement()
        actions.sign_agreement(
            acting_user=user, signed_name=f"{username.title()} Example", text_sha256=current.sha256
        )  # type: ignore[attr-defined]
    return User.objects.get(pk=user.pk)
