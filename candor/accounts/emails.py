"""The emails the accounts domain sends. Each is rendered from a template and the platform's identity."""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from candor.accounts.models import EmailConfirmation, User
from candor.accounts.tokens import reset_tokens
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


def send(kind: str, user_id: str, confirmation_id: int | None = None) -> None:
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:  # the account was deleted before the task ran: nothing to send
        return
    context: dict[str, object] = {
        "user": user,
        "platform_name": settings.PLATFORM_NAME,
        "website_url": settings.WEBSITE_URL,
        "contact_email": settings.CONTACT_EMAIL,
        "settings_url": absolute(reverse("accounts:settings")),
    }
    to = user.email
    if confirmation_id is not None:
        confirmation = EmailConfirmation.objects.filter(pk=confirmation_id, user=user).first()
        if confirmation is None or not confirmation.is_live:
            return
        context["confirmation"] = confirmation
        context["link"] = absolute(
            reverse("accounts:verify", args=[confirmation.public_id, confirmation.token()])
        )
        if kind == "verify-new-address":
            to = confirmation.email
        elif kind == "email-change-notice":
            context["new_email"] = confirmation.email
    if kind in CAPPED:
        limit = email_limit()
        if limit.hit(to) > limit.limit:
            return
    if kind == "password-reset":
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        context["link"] = absolute(
            reverse("accounts:password_reset_confirm", args=[uid, reset_tokens.make_token(user)])
        )
    body = render_to_string(f"accounts/email/{kind}.txt", context)
    subject = f"[{settings.PLATFORM_NAME}] {SUBJECTS[kind]}"
    EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [to]).send()


def send_deletion_receipt(address: str, username: str, rows: dict[str, int]) -> None:
    """The receipt of a permanent deletion, to the address the account had. Sent at once, never queued."""
    context = {
        "username": username,
        "platform_name": settings.PLATFORM_NAME,
        "website_url": settings.WEBSITE_URL,
        "contact_email": settings.CONTACT_EMAIL,
        "total": sum(rows.values()),
    }
    body = render_to_string("accounts/email/deletion-receipt.txt", context)
    subject = f"[{settings.PLATFORM_NAME}] Your account has been deleted"
    _deliver_receipt(
        EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [address]), RECEIPT_RETRY_SECONDS
    )


def _deliver_receipt(message: EmailMessage, retries: tuple[float, ...]) -> None:
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
