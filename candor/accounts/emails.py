"""The emails the accounts domain sends, each a composer of the outbox (:mod:`candor.comms.outbox`),
registered on import (the accounts app's ``ready``). Callers queue them by kind and ids
(``outbox.queue("verify", user.pk, refs={"confirmation": id})``); the words and the address are looked
up when the worker sends them. The deletion receipt is the exception: the account is gone by then, so
it is built at once through :mod:`candor.comms.mailer` (same headers and DKIM) and sent from memory."""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from candor.accounts.models import EmailConfirmation, User
from candor.accounts.tokens import reset_tokens
from candor.comms import mailer, outbox
from candor.comms.choices import Category, Reason
from candor.comms.models import Email
from candor.core.throttle import email_limit

SUBJECTS = {
    "verify": "Confirm your email address",
    "verify-new-address": "Confirm your new email address",
    "email-change-notice": "Your email address is being changed",
    "password-changed": "Your password was changed",
    "address-in-use": "Someone tried to use your email address",
    "password-reset": "Reset your password",
    "export-ready": "Your data export is ready",
}

logger = logging.getLogger("candor.accounts")

# The emails anyone can make the site send to an address, again and again: a sign-up or an email change
# naming someone else's address, a password reset, a resent confirmation. Past
# CANDOR_EMAILS_PER_ADDRESS_PER_HOUR they are dropped without a word (the page that asked answers the
# same, so the cap tells nothing about the address). Notices of a change made with the password
# (password-changed, email-change-notice) and export-ready are not capped: the password checks are
# throttled, and a flood of resets must not be able to silence the notice of a real change.
CAPPED = frozenset({"verify", "verify-new-address", "address-in-use", "password-reset"})

# When a deletion receipt cannot be handed to the mail server, it is tried again after each of these
# waits, from this process's memory only (a queued task would have to store the address): about six
# minutes in all, which covers a mail server's restart. A process that stops meanwhile loses it.
RECEIPT_RETRY_SECONDS: tuple[float, ...] = (10, 60, 300)


def absolute(path: str) -> str:
    return f"{settings.WEBSITE_URL}{path}"


def _context(user: User) -> dict[str, object]:
    return {
        "user": user,
        "platform_name": settings.PLATFORM_NAME,
        "website_url": settings.WEBSITE_URL,
        "contact_email": settings.CONTACT_EMAIL,
        "settings_url": absolute(reverse("accounts:settings")),
    }


def compose(kind: str, row: Email, user: User) -> outbox.Composed | None:
    """The words and the address of an account email of ``kind``, looked up now (the outbox's row holds
    ids only). None when there is nothing to send any more: the confirmation it carried was used,
    replaced or has expired. Raises Skip past the per-address cap (CAPPED kinds)."""
    context = _context(user)
    to = user.email
    confirmation_id = row.refs.get("confirmation")
    if confirmation_id is not None:
        confirmation = EmailConfirmation.objects.filter(pk=confirmation_id, user=user).first()
        if confirmation is None or not confirmation.is_live:
            return None
        context["confirmation"] = confirmation
        context["link"] = absolute(
            reverse("accounts:verify", args=[confirmation.public_id, confirmation.token()])
        )
        if kind == "verify-new-address":
            to = confirmation.email  # the address being confirmed, not the one the account has now
    if kind in CAPPED:
        limit = email_limit()
        if limit.hit(to) > limit.limit:
            raise outbox.Skip(Reason.THROTTLED)
    if kind == "password-reset":
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        context["link"] = absolute(
            reverse("accounts:password_reset_confirm", args=[uid, reset_tokens.make_token(user)])
        )
    return outbox.Composed(
        subject=SUBJECTS[kind], text=render_to_string(f"accounts/email/{kind}.txt", context), to=to
    )


LABELS = {
    "verify": "confirmation of your address",
    "verify-new-address": "confirmation of a new address",
    "email-change-notice": "notice of an address change",
    "password-changed": "notice of a password change",
    "address-in-use": "notice that your address was used",
    "password-reset": "password reset",
    "export-ready": "your data export",
}


def _register(kind: str) -> None:
    @outbox.composer(kind, Category.ACCOUNT, LABELS[kind])
    def composer(row: Email, user: User) -> outbox.Composed | None:
        return compose(kind, row, user)


for _kind in SUBJECTS:
    _register(_kind)


def send_deletion_receipt(address: str, username: str, rows: dict[str, int]) -> None:
    """The receipt of a permanent deletion, to the address the account had. Sent at once, never queued
    (an outbox row would belong to the account just erased), but built like every other email."""
    context = {
        "username": username,
        "platform_name": settings.PLATFORM_NAME,
        "website_url": settings.WEBSITE_URL,
        "contact_email": settings.CONTACT_EMAIL,
        "total": sum(rows.values()),
    }
    body = render_to_string("accounts/email/deletion-receipt.txt", context)
    composed = outbox.Composed(subject="Your account has been deleted", text=body, to=address)
    _deliver_receipt(mailer.build_unqueued(composed), RECEIPT_RETRY_SECONDS)


def _deliver_receipt(message: EmailMultiAlternatives, retries: tuple[float, ...]) -> None:
    try:
        message.send()
    except Exception as error:
        # The deletion stands whatever happens here. The log names the error's class only: an SMTP
        # error's text may quote the address.
        if not retries:
            logger.error(
                "the receipt of an account deletion could not be sent; given up (%s)", type(error).__name__
            )
            return
        logger.warning(
            "the receipt of an account deletion could not be sent (%s); trying again in %g s",
            type(error).__name__,
            retries[0],
        )
        timer = threading.Timer(retries[0], _deliver_receipt, (message, retries[1:]))
        timer.daemon = True
        timer.start()
