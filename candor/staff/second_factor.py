"""A member of staff's second factor: TOTP (RFC 6238, by ``pyotp``) and ten single-use recovery codes.

Setting up: :func:`begin_setup` stores a new secret (encrypted under the member's own key) unconfirmed,
and the page shows its ``otpauth://`` URI and the secret as text; :func:`confirm_setup` checks a first
code, confirms the factor and hands out ten recovery codes, shown once and stored as SHA-256 hashes.
Signing in: :func:`verify` takes a code of the current 30-second step or the one either side, and never
the same step twice (``totp_last_step``), or one unused recovery code (audited ``RECOVERY_CODE_USED``).
Wrong codes are throttled per account; the counter keeps its own connection, so a refused code counts
although the action's transaction rolls back.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import pyotp
from django.conf import settings
from django.utils import timezone

from candor.accounts.models import User
from candor.core.throttle import Limit
from candor.kernel.actions import durable
from candor.kernel.refusal import Code, Refusal
from candor.privacy import audit
from candor.privacy.audit import EventType
from candor.staff import queries
from candor.staff.models import StaffMember

STEP_SECONDS = 30
RECOVERY_CODES = 10
# Wrong codes allowed per account in the window before even a right one is refused.
WRONG_CODES = 5
WRONG_CODE_WINDOW = 15 * 60
WRONG_CODE = "The code is not right: type the six digits your app shows now."


@dataclass(frozen=True)
class Setup:
    secret: str  # base32, for typing into an authenticator by hand
    uri: str  # otpauth://totp/…, for an authenticator that reads it


def code_limit() -> Limit:
    return Limit("staff-second-factor", WRONG_CODES, WRONG_CODE_WINDOW)


def _member(acting_user: User) -> StaffMember:
    member = queries.member_of(acting_user)
    if member is None:
        raise Refusal(Code.NOT_STAFF, "Only active members of staff have a second factor here.")
    # A fresh row, locked: two codes checked at once must not both pass for one step.
    return StaffMember.objects.select_for_update().get(pk=member.pk)


def _hash(code: str) -> str:
    return hashlib.sha256(_normal(code).encode()).hexdigest()


def _normal(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def new_recovery_codes() -> list[str]:
    """Ten codes of ten base32 letters and digits, written as two groups of five."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(alphabet) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def uri_of(member: StaffMember, secret: str) -> str:
    """The authenticator's entry: the platform's name and "staff", nothing of the person."""
    return pyotp.TOTP(secret).provisioning_uri(name="staff", issuer_name=f"{settings.PLATFORM_NAME} staff")


def _matching_step(secret: str, code: str, after: int, now: float | None = None) -> int | None:
    """The time step (now's, or one either side) whose code is ``code``, if it is later than ``after``."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int((time.time() if now is None else now) // STEP_SECONDS)
    for step in (current - 1, current, current + 1):
        if step > after and hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def _count_attempt(member: StaffMember) -> str:
    key = f"user:{member.user_id}"
    limit = code_limit()
    if limit.hit(key) > limit.limit:
        raise Refusal(
            Code.THROTTLED,
            f"Too many wrong codes: wait {limit.window // 60} minutes, then try again.",
            field="code",
            retry_after=limit.window,
        )
    return key


@durable
def begin_setup(*, acting_user: User) -> Setup:
    """A new, unconfirmed secret. Refused once a factor is confirmed: an administrator resets it."""
    member = _member(acting_user)
    if member.has_second_factor:
        raise Refusal(Code.CONFLICT, "Your second factor is set up already.")
    secret = pyotp.random_base32()
    member.totp_secret = secret
    member.totp_confirmed_at = None
    member.recovery_codes = []
    member.save(update_fields=["totp_secret", "totp_confirmed_at", "recovery_codes"])
    return Setup(secret, uri_of(member, secret))


def pending_setup(member: StaffMember) -> Setup | None:
    """The unconfirmed secret being set up, to show it again."""
    secret = str(member.totp_secret or "")
    if member.has_second_factor or not secret:
        return None
    return Setup(secret, uri_of(member, secret))


@durable
def confirm_setup(*, acting_user: User, code: str) -> list[str]:
    """Confirm the secret with a first code; returns the ten recovery codes, to show once."""
    member = _member(acting_user)
    secret = str(member.totp_secret or "")
    if member.has_second_factor or not secret:
        raise Refusal(Code.CONFLICT, "Start the set-up first: there is no new secret to confirm.")
    key = _count_attempt(member)
    step = _matching_step(secret, code, member.totp_last_step)
    if step is None:
        raise Refusal(Code.INVALID, WRONG_CODE, field="code")
    code_limit().undo(key)
    codes = new_recovery_codes()
    member.totp_confirmed_at = timezone.now()
    member.totp_last_step = step
    member.recovery_codes = [_hash(c) for c in codes]
    member.save(update_fields=["totp_confirmed_at", "totp_last_step", "recovery_codes"])
    audit.record(EventType.SECOND_FACTOR_SET, acting_user=acting_user, subject=acting_user)
    return codes


@durable
def verify(*, acting_user: User, code: str) -> bool:
    """Check a code at sign-in: a TOTP code, or a recovery code (used up). True if it was a recovery code."""
    member = _member(acting_user)
    if not member.has_second_factor:
        raise Refusal(Code.SECOND_FACTOR_REQUIRED, "Set up your second factor first.")
    key = _count_attempt(member)
    step = _matching_step(str(member.totp_secret), code, member.totp_last_step)
    if step is not None:
        member.totp_last_step = step
        member.save(update_fields=["totp_last_step"])
        code_limit().undo(key)
        return False
    digest = _hash(code)
    if len(_normal(code)) == 10 and digest in member.recovery_codes:
        member.recovery_codes = [c for c in member.recovery_codes if c != digest]
        member.save(update_fields=["recovery_codes"])
        audit.record(EventType.RECOVERY_CODE_USED, acting_user=acting_user, subject=acting_user)
        code_limit().undo(key)
        return True
    raise Refusal(
        Code.INVALID,
        "The code is not right, or was used already: type the six digits your app shows now, or a "
        "recovery code.",
        field="code",
    )


@durable
def regenerate_codes(*, acting_user: User, code: str) -> list[str]:
    """Ten new recovery codes (the old ones stop working), after a current code from the app."""
    member = _member(acting_user)
    if not member.has_second_factor:
        raise Refusal(Code.SECOND_FACTOR_REQUIRED, "Set up your second factor first.")
    key = _count_attempt(member)
    step = _matching_step(str(member.totp_secret), code, member.totp_last_step)
    if step is None:
        raise Refusal(Code.INVALID, WRONG_CODE, field="code")
    code_limit().undo(key)
    codes = new_recovery_codes()
    member.totp_last_step = step
    member.recovery_codes = [_hash(c) for c in codes]
    member.save(update_fields=["totp_last_step", "recovery_codes"])
    audit.record(EventType.SECOND_FACTOR_SET, acting_user=acting_user, subject=acting_user)
    return codes


def remaining_codes(member: StaffMember) -> int:
    return len(member.recovery_codes)
