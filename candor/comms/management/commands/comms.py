"""``candor comms unsubscribe-mail``: the mailto half of a product update's List-Unsubscribe.

The mail server delivers each message sent to CANDOR_UNSUBSCRIBE_EMAIL to this command on its standard
input (a pipe transport: Postfix's ``pipe``, Exim's ``pipe_transport``). The subject carries the token
the email was sent with ("unsubscribe <token>"); that token, not the sender's address, says who is
unsubscribed, so the address is never read. A message without a valid token changes nothing and ends
with exit status 1, which the mail server reports back to the sender as a failed delivery.
"""

from __future__ import annotations

import re
import sys
from typing import Any, BinaryIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from candor.comms import actions, mailer
from candor.comms.choices import Via

# What a mail server may hand us is bounded: the subject is in the headers, at the start.
MAX_BYTES = 1024 * 1024
TOKEN = re.compile(r"\bunsubscribe\s+([A-Za-z0-9_-]{16,64})\b", re.IGNORECASE)


def token_in(raw: bytes) -> str | None:
    """The unsubscribe token in a message's subject, or None."""
    try:
        subject = str(mailer.parse(raw).get("Subject") or "")
    except Exception:  # a message the parser cannot read has no token we could trust either
        return None
    found = TOKEN.search(" ".join(subject.split()))
    return found.group(1) if found else None


class Command(BaseCommand):
    help = (
        "Communications: `unsubscribe-mail` reads one email (RFC 5322) on standard input and "
        "unsubscribes the person its token was made for."
    )
    # Tests hand the message in as a stream (call_command(..., stdin=...)).
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser(
            "unsubscribe-mail",
            help="Unsubscribe from product updates with the token in the subject of the email on stdin "
            "(for the mail server's pipe transport).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stream: BinaryIO = options.get("stdin") or sys.stdin.buffer
        raw = stream.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise CommandError(
                "The message is larger than 1 MB: not an unsubscribe request. Nothing changed."
            )
        token = token_in(raw)
        if token is None:
            raise CommandError(
                'No unsubscribe token in the subject (expected "unsubscribe <token>"). Nothing changed.'
            )
        if not actions.unsubscribe_with_token(token, via=Via.MAIL, acting_user=None):
            raise CommandError(
                "The token in the subject is not valid (changed, from another site, or its email is no "
                "longer kept). Nothing changed."
            )
        self.stdout.write("Unsubscribed from product updates.")
