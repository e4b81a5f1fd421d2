"""Every change to an account happens here; views, commands and tasks call these functions.

Each state change is an action (:func:`candor.kernel.actions.durable`): one durable transaction, its
audit row written inside it, its emails queued with ``transaction.on_commit`` so a change that rolls
back sends nothing. What cannot be done is refused with :class:`~candor.kernel.refusal.Refusal`.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, authenticate, logout
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from candor.accounts.models import (
    EmailConfirmation,
    SecurityEvent,
    User,
    UserSession,
    email_index,
    identifier_lookup,
    unclaimed_index,
    username_index,
)
from candor.comms import actions as comms
from candor.comms import outbox
from candor.core.throttle import login_limits
from candor.kernel.actions import durable
from candor.kernel.net import client_address
from candor.kernel.refusal import Code, Refusal
from candor.kernel.useragent import browser_family
from candor.privacy import audit, crypto
from candor.privacy.audit import EventType
from candor.privacy.models import RetiredUsername

USERNAME_TAKEN = "This username is taken."


def _email(kind: str, user: User, confirmation: EmailConfirmation | None = None) -> None:
    # The outbox's row is written in the action's transaction and handed to the worker when it commits.
    refs = {"confirmation": confirmation.pk} if confirmation is not None else {}
    outbox.queue(kind, user.pk, refs=refs)


# The dashboard's notices of a change to how one signs in (candor.comms): title, body. One open notice
# per key, so two changes before the person looks make one notice, and a later change a new one.
SECURITY_NOTICES = {
    "password": (
        "Your password was changed",
        "If you did not change it, reset it now from the log-in page, then end the sessions you do not "
        "recognise in your settings.",
    ),
    "reset": (
        "Your password was reset",
        "It was set through a link sent to your address, and every session was ended. If you did not do "
        "this, reset it again now and check your email account.",
    ),
    "email": (
        "Your email address was changed",
        "Emails now go to the new address. If you did not make this change, reset your password and put "
        "your address back in your settings.",
    ),
}


def _security_notice(user: User, what: str) -> None:
    title, body = SECURITY_NOTICES[what]
    key = "security:email" if what == "email" else "security:password"
    comms.notify(user, "security", title, body, link=reverse("accounts:settings"), key=key)


def record_event(user: User | str, kind: str, request: HttpRequest | None) -> None:
    """Add to the account's security history: when, the client address (encrypted), the browser family."""
    user_id = user.pk if isinstance(user, User) else user
    SecurityEvent.objects.create(
        user_id=user_id,
        kind=kind,
        ip_address=client_address(request) if request is not None else "",
        browser_family=browser_family(request.headers.get("User-Agent", "")) if request is not None else "",
    )


def security_events(user: User, limit: int = 50) -> list[SecurityEvent]:
    return list(SecurityEvent.objects.filter(user=user).order_by("-created_at")[:limit])


def email_in_use(email: str, *, exclude: User | None = None) -> User | None:
    users = User.objects.filter(email_index=email_index(email))
    if exclude is not None:
        users = users.exclude(pk=exclude.pk)
    return users.first()


def username_taken(username: str) -> bool:
    """Taken by an account, or once used by an account that was deleted (never given out again)."""
    return (
        User.objects.named(username).exists()
        or RetiredUsername.objects.filter(digest=username_index(username)).exists()
    )


def _new_confirmation(user: User, purpose: str, email: str) -> EmailConfirmation:
    # A new link replaces any earlier one of the same purpose, so only the newest works.
    EmailConfirmation.objects.live().filter(user=user, purpose=purpose).update(used_at=timezone.now())
    return EmailConfirmation.objects.create(
        user=user,
        purpose=purpose,
        email=email,
        expires_at=timezone.now() + timedelta(hours=settings.VERIFICATION_TTL_HOURS),
    )


@durable
def sign_up(*, username: str, email: str, password: str, acting_user: User | None) -> User:
    """Create an unconfirmed account and send the confirmation link.

    If the address already belongs to an account, the sign-up makes an account all the same, with the
    name and password it was given, and that address's holder is told instead of being sent a link.
    Nothing the person signing up can see then differs from a new address: the name is taken (a second
    sign-up with it is refused), the account can sign in by its name and shows the address unconfirmed,
    on the pages and in the API, and the sweep deletes it after CANDOR_UNVERIFIED_ACCOUNT_DAYS like
    every unconfirmed account. It differs only where that person cannot look: its blind index is a
    random stand-in (models.UNCLAIMED), so it does not claim the address, cannot sign in by it and can
    never confirm it (no link is ever sent for it). Both paths do the same work: the same checks, a
    password hash, an account, a confirmation row, an audit row and one queued email.

    ``acting_user`` is the signed-in account that made this one; None for a visitor signing up, and the
    trail then shows the new account acting on itself.
    """
    email = User.objects.normalize_email(email.strip())
    if username_taken(username):
        raise Refusal(Code.USERNAME_TAKEN, USERNAME_TAKEN, field="username")
    holder = email_in_use(email)
    extra = {"email_index": unclaimed_index()} if holder is not None else {}
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, email=email, password=password, **extra)
    except IntegrityError:  # a concurrent sign-up took the name or address a moment ago
        raise Refusal(Code.USERNAME_TAKEN, USERNAME_TAKEN, field="username") from None
    confirmation = _new_confirmation(user, EmailConfirmation.Purpose.SIGNUP, email)
    # The same row on both paths: the trail must not tell the two apart either.
    audit.record(EventType.SIGNED_UP, acting_user=acting_user or user, subject=user)
    if holder is not None:
        _email("address-in-use", holder)
    else:
        _email("verify", user, confirmation)
    return user


@durable
def resend_verification(user: User, *, acting_user: User | None) -> None:
    if user.email_verified:
        raise Refusal(Code.ALREADY_VERIFIED, "Your email address is already verified.")
    confirmation = _new_confirmation(user, EmailConfirmation.Purpose.SIGNUP, user.email)
    holder = email_in_use(user.email, exclude=user) if user.address_unclaimed else None
    if holder is not None:
        # An unclaimed address gets no link; its holder hears of the attempt again (capped per hour).
        _email("address-in-use", holder)
    elif not user.address_unclaimed:
        _email("verify", user, confirmation)


def _token_matches(confirmation: EmailConfirmation, token: str) -> bool:
    with crypto.acting_for(confirmation.user_id):  # the token hashes the address it was sent to
        return confirmation.check_token(token)


def find_confirmation(public_id: str, token: str) -> EmailConfirmation:
    """The live confirmation a link names, or a Refusal that says why the link does not work."""
    confirmation = EmailConfirmation.objects.filter(public_id=public_id).select_related("user").first()
    if confirmation is None or not _token_matches(confirmation, token):
        raise Refusal(Code.BAD_LINK, "This confirmation link is not valid. Check that it was copied whole.")
    if confirmation.used_at is not None:
        raise Refusal(
            Code.USED_LINK, "This confirmation link has already been used or was replaced by a newer one."
        )
    if confirmation.expires_at <= timezone.now():
        raise Refusal(
            Code.EXPIRED_LINK, "This confirmation link has expired. Ask for a new one in your settings."
        )
    # The link's token was sent to this account's mailbox: whoever holds it acts for the account.
    crypto.set_viewer(confirmation.user_id)
    return confirmation


@durable
def confirm_email(
    public_id: str, token: str, request: HttpRequest | None = None, *, acting_user: User | None
) -> User:
    """Open a link sent by email: confirm the account's address, or move it to the new one.

    ``acting_user`` is whoever is signed in where the link was opened; None if nobody is, and the trail
    then shows the account acting on itself, as the one who received the link.
    """
    confirmation = find_confirmation(public_id, token)
    confirmation = EmailConfirmation.objects.select_for_update().get(pk=confirmation.pk)
    if confirmation.used_at is not None:
        raise Refusal(Code.USED_LINK, "This confirmation link has already been used.")
    user = confirmation.user
    if confirmation.purpose == EmailConfirmation.Purpose.CHANGE:
        if email_in_use(confirmation.email, exclude=user) is not None:
            raise Refusal(
                Code.EMAIL_TAKEN, "This address is no longer available. Choose another in your settings."
            )
        user.email = confirmation.email
        record_event(user, SecurityEvent.Kind.EMAIL_CHANGED, request)
        event = EventType.EMAIL_CHANGED
        _security_notice(user, "email")
    elif confirmation.email.lower() != user.email.lower() or user.address_unclaimed:
        raise Refusal(Code.STALE_LINK, "This link was for an address that is no longer on the account.")
    else:
        event = EventType.EMAIL_CONFIRMED
    user.email_verified = True
    user.save(update_fields=["email", "email_verified"])
    confirmation.used_at = timezone.now()
    confirmation.save(update_fields=["used_at"])
    audit.record(event, acting_user=acting_user or user, subject=user, extra={"how": "link"})
    return user


@durable
def request_email_change(
    user: User, *, password: str, new_email: str, request: HttpRequest | None = None, acting_user: User
) -> None:
    """Start moving the account to a new address: needs the password, then proof of the new address.

    The old address is told at once, so a person whose session was hijacked learns of it. The account
    keeps its current address until the new one is confirmed: the audit row is written then
    (:func:`confirm_email`), when the address changes.
    """
    verify_password(user, password, request)
    record_event(user, SecurityEvent.Kind.EMAIL_CHANGE_REQUESTED, request)
    new_email = User.objects.normalize_email(new_email.strip())
    if new_email.lower() == user.email.lower():
        raise Refusal(Code.SAME_EMAIL, "This is already your address.", field="email")
    other = email_in_use(new_email, exclude=user)
    if other is not None:
        # Same answer as for a free address; the other account's owner is told of the attempt.
        _email("address-in-use", other)
        return
    confirmation = _new_confirmation(user, EmailConfirmation.Purpose.CHANGE, new_email)
    _email("verify-new-address", user, confirmation)
    _email("email-change-notice", user, confirmation)


def pending_email_change(user: User) -> EmailConfirmation | None:
    return (
        EmailConfirmation.objects.live()
        .filter(user=user, purpose=EmailConfirmation.Purpose.CHANGE)
        .order_by("-created_at")
        .first()
    )


@durable
def cancel_email_change(user: User, *, acting_user: User) -> None:
    EmailConfirmation.objects.live().filter(user=user, purpose=EmailConfirmation.Purpose.CHANGE).update(
        used_at=timezone.now()
    )


def _others(user: User, current_session_key: str | None) -> QuerySet[UserSession]:
    return UserSession.objects.filter(user=user).exclude(session_key=current_session_key or "")


@durable
def change_password(
    user: User,
    *,
    new_password: str,
    current_session_key: str | None,
    end_other_sessions: bool,
    request: HttpRequest | None = None,
    acting_user: User,
) -> int:
    """Set a new password. Returns how many other sessions were ended.

    Django ends every session whose stored password hash no longer matches; if the person chose to
    keep their other sessions, those are re-keyed to the new hash instead.
    """
    user.set_password(new_password)
    user.save(update_fields=["password"])
    others = _others(user, current_session_key)
    ended = 0
    if end_other_sessions:
        ended, _ = others.delete()
    else:
        new_hash = user.get_session_auth_hash()
        store_class = UserSession.get_session_store_class()
        for row in others:
            store = store_class(session_key=row.session_key)
            data = store.load()
            if data:
                data[HASH_SESSION_KEY] = new_hash
                row.session_data = store.encode(data)
                row.save(update_fields=["session_data"])
    record_event(user, SecurityEvent.Kind.PASSWORD_CHANGED, request)
    audit.record(
        EventType.PASSWORD_CHANGED,
        acting_user=acting_user,
        subject=user,
        extra={"how": "password", "ended_sessions": ended},
    )
    _email("password-changed", user)
    _security_notice(user, "password")
    return ended


@durable
def reset_password(
    user: User, *, new_password: str, request: HttpRequest | None = None, acting_user: User | None
) -> int:
    """Set the password chosen through a reset link, and end every session of the account.

    Whoever knew the old password is logged out everywhere, not just on their next request. Returns
    how many sessions were ended. ``acting_user`` as for :func:`confirm_email`.
    """
    user.set_password(new_password)
    user.save(update_fields=["password"])
    ended, _ = _others(user, None).delete()
    record_event(user, SecurityEvent.Kind.PASSWORD_RESET, request)
    audit.record(
        EventType.PASSWORD_RESET,
        acting_user=acting_user or user,
        subject=user,
        extra={"how": "link", "ended_sessions": ended},
    )
    _security_notice(user, "reset")
    return ended


def active_sessions(user: User) -> list[UserSession]:
    return list(
        UserSession.objects.filter(user=user, expire_date__gt=timezone.now()).order_by("-last_active")
    )


@durable
def sign_out(request: HttpRequest, *, acting_user: User | None) -> None:
    """End the session this request belongs to (a signed-out visitor's ends nothing worth a row)."""
    logout(request)
    if acting_user is not None:
        audit.record(
            EventType.SESSION_ENDED, acting_user=acting_user, subject=acting_user, extra={"how": "signed_out"}
        )


@durable
def end_session(user: User, public_id: str, *, current_session_key: str | None, acting_user: User) -> None:
    """End one of the account's other sessions, named by its public id."""
    session = UserSession.objects.filter(user=user, public_id=public_id).first()
    if session is None:
        raise Refusal(Code.NO_SESSION, "That session has already ended.")
    if session.session_key == current_session_key:
        raise Refusal(Code.CURRENT_SESSION, "To end this session, log out.")
    session.delete()
    audit.record(
        EventType.SESSION_ENDED, acting_user=acting_user, subject=user, extra={"how": "owner", "ended": 1}
    )


@durable
def end_other_sessions(user: User, *, current_session_key: str | None, acting_user: User) -> int:
    """End every session of the account but this one. Returns how many ended."""
    ended, _ = _others(user, current_session_key).delete()
    if ended:
        audit.record(
            EventType.SESSION_ENDED,
            acting_user=acting_user,
            subject=user,
            extra={"how": "all_others", "ended": ended},
        )
    return ended


def _account_key(identifier: str) -> tuple[str, object]:
    """What the per-account counter counts: the account if one matches, else the name as typed."""
    identifier = identifier.strip()
    pk = User.objects.filter(identifier_lookup(identifier)).values_list("pk", flat=True).first()
    return (f"user:{pk}" if pk is not None else f"name:{identifier.lower()}"), pk


def _throttled(window: int, *, field: str | None = None) -> Refusal:
    minutes = max(1, window // 60)
    return Refusal(
        Code.THROTTLED,
        f"Too many failed attempts to log in. Please wait {minutes} minutes and try again, "
        "or reset your password.",
        field=field,
        retry_after=window,
    )


def _count_attempt(account_key: str, address: str | None) -> bool:
    """Count an attempt on the account's and the address's counters before its password is checked.

    Counted first, in one atomic step each, and not after a failure: two processes checking two guesses
    at once would otherwise both read "4 failures so far" and both try. Returns whether the attempt may
    go ahead; one that turns out right is taken back (:func:`_attempt_succeeded`).
    """
    per_account, per_address = login_limits()
    over = per_account.hit(account_key) > per_account.limit
    if address is not None:
        over = per_address.hit(address) > per_address.limit or over
    return not over


def _attempt_succeeded(account_key: str, address: str | None, *, clear_account: bool) -> None:
    per_account, per_address = login_limits()
    if clear_account:
        per_account.reset(account_key)
    else:
        per_account.undo(account_key)
    if address is not None:
        per_address.undo(address)


def log_in(request: HttpRequest, *, identifier: str, password: str) -> User:
    """Check a username-or-email and password, with throttling per account and per client address."""
    account_key, account_id = _account_key(identifier)
    address = client_address(request)
    if not _count_attempt(account_key, address):
        raise _throttled(login_limits()[0].window)
    user = authenticate(request, username=identifier, password=password)
    if user is None:
        if account_id is not None:
            record_event(str(account_id), SecurityEvent.Kind.SIGN_IN_FAILED, request)
        raise Refusal(
            Code.INVALID_LOGIN,
            "The username or email and password do not match an account. Check them and try again.",
        )
    # A log-in clears the account's failures, as before; the address keeps its other failures.
    _attempt_succeeded(account_key, address, clear_account=True)
    assert isinstance(user, User)
    record_event(user, SecurityEvent.Kind.SIGN_IN, request)
    return user


def verify_password(user: User, password: str, request: HttpRequest | None = None) -> None:
    """The password again, before a sensitive change (email, password, deletion), on the web or the API.

    Counted with the same counters as log-ins (the account's, and the client address's): otherwise a
    stolen session or token could guess the password at the API's rate, and a guess refused here must
    not be worth more than one refused at the log-in page. While the account is throttled even the right
    password is refused. The counters keep their own connection, so a refusal counts even though the
    action's transaction rolls back.
    """
    account_key = f"user:{user.pk}"
    address = client_address(request) if request is not None else None
    if not _count_attempt(account_key, address):
        raise _throttled(login_limits()[0].window, field="password")
    if not user.check_password(password):
        raise Refusal(Code.WRONG_PASSWORD, "The password is not correct.", field="password")
    # The right password takes back its own attempt only: an earlier guess still counts.
    _attempt_succeeded(account_key, address, clear_account=False)


def check_deletion(user: User, *, password: str, confirm: str, request: HttpRequest | None = None) -> None:
    """Whether the account may be deleted now: the password and the username typed again, or a Refusal.

    The deletion itself is the erasure orchestrator's (candor.lifecycle.erasure), which the entry
    points call after this check: a domain app does not drive the orchestrators.
    """
    verify_password(user, password, request)
    if confirm.strip().lower() != user.username.lower():
        raise Refusal(
            Code.NOT_CONFIRMED,
            "Type your username exactly to confirm that the account should be deleted.",
            field="confirm",
        )
