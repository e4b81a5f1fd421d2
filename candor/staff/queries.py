"""What staff pages, the gate and the policy page read about staff, agreements and grants."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import F, QuerySet, Subquery
from django.utils import timezone

from candor.privacy import inventory
from candor.staff.choices import PURPOSES_OF_ROLE, Purpose, Role
from candor.staff.models import Agreement, Grant, Signature, StaffMember


def member_of(user: Any) -> StaffMember | None:
    """The account's staff record, if it is an active member of staff."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    member = StaffMember.objects.filter(user_id=user.pk, ended_at__isnull=True).select_related("user").first()
    return member if member is not None and member.user.is_active else None


def current_agreement() -> Agreement | None:
    return Agreement.objects.order_by("-published_at", "-pk").first()


def signature_in_force(member: StaffMember, now: datetime | None = None) -> Signature | None:
    """The member's signature of the current agreement, if it still holds (one query: the gate asks
    on every reveal)."""
    latest = Agreement.objects.order_by("-published_at", "-pk").values("pk")[:1]
    return (
        Signature.objects.filter(
            member=member,
            agreement=Subquery(latest),
            text_sha256=F("agreement__sha256"),
            valid_until__gt=now or timezone.now(),
        )
        .order_by("-valid_until")
        .first()
    )


def categories() -> list[str]:
    """The data categories a grant may name: those of the inventory's personal fields."""
    return sorted({row.category for row in inventory.rows()})


def roles() -> list[tuple[str, str, list[str]]]:
    """Each role, its label and the purposes it may ask a grant for (for the policy page)."""
    return [
        (role.value, role.label, sorted(Purpose(p).label for p in PURPOSES_OF_ROLE[role])) for role in Role
    ]


def members_with_access(now: datetime | None = None) -> QuerySet[StaffMember]:
    """Active members who could be granted access: a role that may ask, a second factor, an agreement."""
    now = now or timezone.now()
    agreement = current_agreement()
    if agreement is None:
        return StaffMember.objects.none()
    askers = [role for role, purposes in PURPOSES_OF_ROLE.items() if purposes]
    signed = Signature.objects.filter(agreement=agreement, valid_until__gt=now).values("member_id")
    members = StaffMember.objects.filter(
        ended_at__isnull=True, user__is_active=True, totp_confirmed_at__isnull=False, pk__in=signed
    )
    return members.filter(pk__in=[m.pk for m in members if set(m.roles) & set(askers)])


def countries_with_access(now: datetime | None = None) -> list[str]:
    """The ISO 3166 codes of where staff who may be given access work and have their office."""
    found: set[str] = set()
    for office, work in members_with_access(now).values_list("office_country", "work_country"):
        found.update({office, work})
    return sorted(found)


def grant_by_id(public_id: str) -> Grant | None:
    return Grant.objects.select_related("requester", "decided_by").filter(public_id=public_id).first()


def open_grants(now: datetime | None = None) -> QuerySet[Grant]:
    """Grants waiting for approval or still running."""
    now = now or timezone.now()
    pending = Grant.objects.filter(decision=Grant.Decision.PENDING)
    running = Grant.objects.filter(ended_at__isnull=True, expires_at__gt=now).exclude(
        decision=Grant.Decision.REFUSED
    )
    return (pending | running).select_related("requester").order_by("-requested_at")


def recent_grants(limit: int = 50) -> QuerySet[Grant]:
    return Grant.objects.select_related("requester", "decided_by").order_by("-requested_at")[:limit]
