"""Every change to staff records, agreements and grants: views, the console and commands call these.

Who may do what: an administrator (or the operator at the command line, ``acting_user=None``) adds,
changes and ends staff records and publishes the agreement; a member signs the agreement and sets up
their second factor; a member with a role that allows the purpose asks for a grant; another member
approves or refuses one that needs approval; the requester (or an administrator) ends one early.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime, timedelta

import pycountry
from django.conf import settings
from django.utils import timezone

from candor.accounts.models import User
from candor.kernel.actions import durable
from candor.kernel.refusal import Code, Refusal
from candor.privacy import audit
from candor.privacy.audit import EventType
from candor.staff import queries
from candor.staff.choices import (
    CASE_REFERENCE,
    ONLY_FOR,
    PURPOSES_OF_ROLE,
    SENSITIVE_CATEGORIES,
    Employment,
    Purpose,
    Role,
)
from candor.staff.models import Agreement, Grant, Signature, StaffMember

MAX_GRANT_MINUTES = 24 * 60


def _country(code: str, field: str) -> str:
    code = (code or "").strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise Refusal(
            Code.INVALID, "Give a country as its two-letter ISO 3166 code, such as DE or US.", field=field
        )
    return code


def _roles(roles: Iterable[str]) -> list[str]:
    chosen = sorted(set(roles))
    unknown = [role for role in chosen if role not in Role.values]
    if not chosen or unknown:
        raise Refusal(Code.INVALID, f"Choose roles among: {', '.join(Role.values)}.", field="roles")
    return chosen


def _require_administrator(acting_user: User | None) -> None:
    """The operator at the command line (None), or an active administrator with a second factor."""
    if acting_user is None:
        return
    member = queries.member_of(acting_user)
    if member is None or not member.has_role(Role.ADMINISTRATOR):
        raise Refusal(Code.NOT_STAFF, "Only an administrator may manage staff.")
    if not member.has_second_factor:
        raise Refusal(Code.SECOND_FACTOR_REQUIRED, "Set up your second factor first.")


def ready_member(user: User | None, *, doing: str = "see personal data") -> tuple[StaffMember, Signature]:
    """The acting member, refused unless active, with a second factor and the agreement in force."""
    member = queries.member_of(user)
    if member is None:
        raise Refusal(Code.NOT_STAFF, f"Only active members of staff may {doing}.")
    if not member.has_second_factor:
        raise Refusal(Code.SECOND_FACTOR_REQUIRED, f"Set up your second factor before you {doing}.")
    signature = queries.signature_in_force(member)
    if signature is None:
        raise Refusal(
            Code.NO_AGREEMENT,
            f"Sign the current confidentiality agreement before you {doing}: you have no signature in force.",
        )
    return member, signature


@durable
def add_staff(
    user: User,
    *,
    acting_user: User | None,
    roles: Iterable[str],
    employment: str,
    office_country: str,
    work_country: str,
    organisation: str = "",
) -> StaffMember:
    _require_administrator(acting_user)
    if employment not in Employment.values:
        raise Refusal(
            Code.INVALID, f"Employment is one of: {', '.join(Employment.values)}.", field="employment"
        )
    organisation = organisation.strip()
    if employment == Employment.AFFILIATE and not organisation:
        raise Refusal(Code.INVALID, "Name the affiliated organisation.", field="organisation")
    if StaffMember.objects.filter(user=user, ended_at__isnull=True).exists():
        raise Refusal(Code.CONFLICT, "This account is already a member of staff.")
    member, _ = StaffMember.objects.update_or_create(
        user=user,
        defaults={
            "roles": _roles(roles),
            "employment": employment,
            "organisation": organisation if employment == Employment.AFFILIATE else "",
            "office_country": _country(office_country, "office_country"),
            "work_country": _country(work_country, "work_country"),
            "created_at": timezone.now(),
            "created_by_id": acting_user.pk if acting_user is not None else None,
            "ended_at": None,
        },
    )
    User.objects.filter(pk=user.pk).update(is_staff=True)
    audit.record(EventType.STAFF_ADDED, acting_user=acting_user, subject=user)
    return member


@durable
def change_staff(
    member: StaffMember,
    *,
    acting_user: User | None,
    roles: Iterable[str],
    office_country: str,
    work_country: str,
) -> StaffMember:
    _require_administrator(acting_user)
    member.roles = _roles(roles)
    member.office_country = _country(office_country, "office_country")
    member.work_country = _country(work_country, "work_country")
    member.save(update_fields=["roles", "office_country", "work_country"])
    audit.record(EventType.STAFF_CHANGED, acting_user=acting_user, subject=member.user_id)
    return member


@durable
def end_staff(member: StaffMember, *, acting_user: User | None) -> None:
    """The member is staff no more: their grants end now, and their sessions must sign in again."""
    _require_administrator(acting_user)
    now = timezone.now()
    StaffMember.objects.filter(pk=member.pk).update(ended_at=now)
    Grant.objects.filter(requester=member, ended_at__isnull=True).update(ended_at=now)
    User.objects.filter(pk=member.user_id).update(is_staff=False)
    audit.record(EventType.STAFF_ENDED, acting_user=acting_user, subject=member.user_id)


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@durable
def publish_agreement(version: str, text: str, *, acting_user: User | None) -> Agreement:
    """A new version of the confidentiality agreement: every member must sign it before any access."""
    _require_administrator(acting_user)
    version, text = version.strip(), text.strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}", version):
        raise Refusal(
            Code.INVALID, "A version is up to 32 letters, digits, dots and dashes.", field="version"
        )
    if not text:
        raise Refusal(Code.INVALID, "The agreement needs its text.", field="text")
    if Agreement.objects.filter(version=version).exists():
        raise Refusal(
            Code.CONFLICT, "This version exists already: give the new text a new version.", field="version"
        )
    agreement = Agreement.objects.create(version=version, text=text, sha256=text_digest(text))
    audit.record(EventType.AGREEMENT_PUBLISHED, acting_user=acting_user)
    return agreement


@durable
def sign_agreement(*, acting_user: User, signed_name: str, text_sha256: str) -> Signature:
    """Sign the current agreement, as shown (``text_sha256``: the hash of the text the page showed)."""
    member = queries.member_of(acting_user)
    if member is None:
        raise Refusal(Code.NOT_STAFF, "Only members of staff sign the confidentiality agreement.")
    agreement = queries.current_agreement()
    if agreement is None:
        raise Refusal(Code.NOT_FOUND, "There is no confidentiality agreement to sign yet.")
    if text_sha256 != agreement.sha256:
        raise Refusal(
            Code.CONFLICT, "The agreement changed since the page was shown: read it again and sign."
        )
    signed_name = " ".join(signed_name.split())
    if len(signed_name) < 2 or len(signed_name) > 200:
        raise Refusal(Code.INVALID, "Type your full name to sign.", field="signed_name")
    now = timezone.now()
    signature = Signature.objects.create(
        user=acting_user,
        member=member,
        agreement=agreement,
        text_sha256=agreement.sha256,
        signed_name=signed_name,
        signed_at=now,
        valid_until=now + timedelta(days=settings.STAFF_AGREEMENT_DAYS),
    )
    audit.record(EventType.AGREEMENT_SIGNED, acting_user=acting_user, subject=acting_user)
    return signature


def needs_approval(categories: Iterable[str]) -> bool:
    """Network addresses, a full email address, or a whole record at once need a second member."""
    chosen = set(categories)
    return bool(chosen & SENSITIVE_CATEGORIES) or chosen >= set(queries.categories())


@durable
def request_grant(
    *,
    acting_user: User,
    subject: User,
    role: str,
    purpose: str,
    case_reference: str,
    categories: Iterable[str],
    minutes: int | None = None,
    tell_after: datetime | None = None,
) -> Grant:
    member, _ = ready_member(acting_user, doing="ask for access")
    if role not in member.roles:
        raise Refusal(Code.FORBIDDEN, "Ask under one of your own roles.", field="role")
    if purpose not in Purpose.values:
        raise Refusal(Code.INVALID, f"The purpose is one of: {', '.join(Purpose.values)}.", field="purpose")
    if purpose not in PURPOSES_OF_ROLE[Role(role)]:
        raise Refusal(
            Code.FORBIDDEN,
            f"The role {Role(role).label} may not ask for {Purpose(purpose).label}.",
            field="purpose",
        )
    case_reference = (case_reference or "").strip()
    if not re.fullmatch(CASE_REFERENCE, case_reference):
        raise Refusal(
            Code.INVALID,
            "Give the case's reference (letters, digits and - . / #, up to 64): every grant names its case.",
            field="case_reference",
        )
    chosen = sorted(set(categories))
    known = set(queries.categories())
    if not chosen or not set(chosen) <= known:
        raise Refusal(
            Code.INVALID, "Choose the categories of data from the inventory's list.", field="categories"
        )
    for category in chosen:
        allowed = ONLY_FOR.get(category)
        if allowed is not None and purpose not in allowed:
            raise Refusal(
                Code.FORBIDDEN, f"{category} is revealed for a security incident only.", field="categories"
            )
    minutes = settings.GRANT_DEFAULT_MINUTES if minutes is None else int(minutes)
    if not 1 <= minutes <= MAX_GRANT_MINUTES:
        raise Refusal(Code.INVALID, "A grant lasts from 1 minute to 24 hours.", field="minutes")
    if subject.pk == acting_user.pk:
        raise Refusal(Code.FORBIDDEN, "Your own data is in your settings: a grant is for someone else's.")
    now = timezone.now()
    if tell_after is not None and (purpose != Purpose.LEGAL_REQUEST or tell_after <= now):
        raise Refusal(
            Code.INVALID,
            "Only a legal request may hold back the person's notice, and only until a later date.",
            field="tell_after",
        )
    approval = needs_approval(chosen)
    grant = Grant.objects.create(
        requester=member,
        role=role,
        subject_id=subject.pk,
        categories=chosen,
        purpose=purpose,
        case_reference=case_reference,
        minutes=minutes,
        requested_at=now,
        decision=Grant.Decision.PENDING if approval else Grant.Decision.NOT_NEEDED,
        starts_at=None if approval else now,
        expires_at=None if approval else now + timedelta(minutes=minutes),
        tell_after=tell_after,
    )
    audit.record(
        EventType.GRANT_REQUESTED, acting_user=acting_user, subject=subject, extra={"purpose": purpose}
    )
    return grant


def _pending(grant_id: str) -> Grant:
    grant = Grant.objects.select_for_update().filter(public_id=grant_id).first()
    if grant is None:
        raise Refusal(Code.NOT_FOUND, "There is no such grant.")
    if grant.decision != Grant.Decision.PENDING:
        raise Refusal(Code.CONFLICT, "This grant is not waiting for a decision.")
    return grant


def _approver(acting_user: User, grant: Grant) -> StaffMember:
    member, _ = ready_member(acting_user, doing="decide on a grant")
    if member.pk == grant.requester_id:
        raise Refusal(Code.FORBIDDEN, "Another member of staff must decide on your own grant.")
    allowed = any(
        grant.purpose in PURPOSES_OF_ROLE[Role(role)] for role in member.roles if role in Role.values
    )
    if not (allowed or member.has_role(Role.ADMINISTRATOR)):
        raise Refusal(Code.FORBIDDEN, "Your roles may not decide on grants for this purpose.")
    return member


def _decide(grant_id: str, acting_user: User, *, approve: bool) -> Grant:
    grant = _pending(grant_id)
    now = timezone.now()
    grant.decided_by = _approver(acting_user, grant)
    grant.decided_at = now
    changed = ["decision", "decided_by", "decided_at"]
    if approve:
        grant.decision = Grant.Decision.APPROVED
        grant.starts_at = now
        grant.expires_at = now + timedelta(minutes=grant.minutes)
        changed += ["starts_at", "expires_at"]
    else:
        grant.decision = Grant.Decision.REFUSED
    grant.save(update_fields=changed)
    audit.record(
        EventType.GRANT_APPROVED if approve else EventType.GRANT_REFUSED,
        acting_user=acting_user,
        subject=grant.subject_id,
        extra={"purpose": grant.purpose},
    )
    return grant


@durable
def approve_grant(grant_id: str, *, acting_user: User) -> Grant:
    """Approve another member's grant: it runs from now for its minutes."""
    return _decide(grant_id, acting_user, approve=True)


@durable
def refuse_grant(grant_id: str, *, acting_user: User) -> Grant:
    return _decide(grant_id, acting_user, approve=False)


@durable
def end_grant(grant_id: str, *, acting_user: User) -> Grant:
    """End a grant before its time (its requester, or an administrator)."""
    grant = Grant.objects.select_for_update().filter(public_id=grant_id).first()
    member = queries.member_of(acting_user)
    if grant is None or member is None:
        raise Refusal(Code.NOT_FOUND, "There is no such grant.")
    if member.pk != grant.requester_id and not member.has_role(Role.ADMINISTRATOR):
        raise Refusal(Code.FORBIDDEN, "Only who asked for a grant, or an administrator, may end it.")
    if grant.ended_at is not None:
        raise Refusal(Code.CONFLICT, "This grant has already ended.")
    grant.ended_at = timezone.now()
    grant.save(update_fields=["ended_at"])
    audit.record(
        EventType.GRANT_ENDED,
        acting_user=acting_user,
        subject=grant.subject_id,
        extra={"purpose": grant.purpose},
    )
    return grant
