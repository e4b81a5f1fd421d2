"""Turning a composed email into the message the mail server receives: the platform's From, a
Message-ID of our own, the list headers of product updates (RFC 2369, RFC 2919, and RFC 8058's one-click
unsubscribe), and, when a key is configured, a DKIM signature (dkimpy) that covers them."""

from __future__ import annotations

import email.message
import email.policy
import uuid
from typing import Any

import dkim
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.urls import reverse

from candor.comms import unsubscribe
from candor.comms.choices import Category

# What the signature covers: the headers a reader trusts, and the list headers, so that nobody on the
# way can point the unsubscribe link somewhere else without breaking it.
SIGNED_HEADERS = (
    b"from", b"to", b"subject", b"date", b"message-id", b"mime-version", b"content-type",
    b"list-id", b"list-unsubscribe", b"list-unsubscribe-post",
)  # fmt: skip


def mail_domain() -> str:
    return settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost"


def unsubscribe_headers(email_id: Any) -> dict[str, str]:
    token = unsubscribe.token_for(email_id)
    web = f"{settings.WEBSITE_URL}{reverse('comms:unsubscribe', args=[token])}"
    # RFC 6068: a space in a mailto query is %20 ("+" would be read as a plus). The token needs no escaping.
    mail = f"mailto:{settings.UNSUBSCRIBE_EMAIL}?subject=unsubscribe%20{token}"
    return {
        "List-Id": f"{settings.PLATFORM_NAME} product updates <updates.{mail_domain()}>",
        "List-Unsubscribe": f"<{web}>, <{mail}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


class SignedMessage(EmailMultiAlternatives):
    """A message that signs itself with DKIM as it is rendered for the mail server."""

    def message(self, *, policy: Any = email.policy.default) -> Any:
        # Lines up to RFC 5322's limit of 998: folded at 78, the list headers' long addresses would be
        # split into encoded words that mail readers do not read as links.
        msg = super().message(policy=policy.clone(max_line_length=998))
        if settings.DKIM_PRIVATE_KEY:
            raw = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
            signature = dkim.sign(
                raw,
                settings.DKIM_SELECTOR.encode(),
                settings.DKIM_DOMAIN.encode(),
                settings.DKIM_PRIVATE_KEY.encode(),
                include_headers=[h for h in SIGNED_HEADERS if msg.get(h.decode()) is not None],
                canonicalize=(b"relaxed", b"relaxed"),
            )
            name, _, value = signature.decode().partition(":")
            # Unfolded: the relaxed canonicalisation ignores how the value is folded again.
            msg[name] = " ".join(value.split())
        return msg


def build(row: Any, composed: Any) -> SignedMessage:
    return _build(row.pk, row.category, composed)


def build_unqueued(composed: Any) -> SignedMessage:
    """An account email that has no outbox row (the deletion receipt: the account is gone), with the
    same headers and signature as the queued ones, and a random Message-ID."""
    return _build(uuid.uuid4(), Category.ACCOUNT, composed)


def _build(email_id: Any, category: str, composed: Any) -> SignedMessage:
    headers = {
        "Message-ID": f"<{email_id}@{mail_domain()}>",
        **composed.headers,
    }
    if category == Category.PRODUCT:
        headers.update(unsubscribe_headers(email_id))
    else:
        # Account and policy emails are not a list: nothing to unsubscribe from, and no reply expected.
        headers["Auto-Submitted"] = "auto-generated"
    message = SignedMessage(
        subject=f"[{settings.PLATFORM_NAME}] {composed.subject}",
        body=composed.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[composed.to],
        headers=headers,
    )
    if composed.html is not None:
        message.attach_alternative(composed.html, "text/html")
    return message


def parse(raw: bytes) -> email.message.EmailMessage:
    """A received message, for the unsubscribe-by-mail address."""
    import email as email_package

    parsed = email_package.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed
