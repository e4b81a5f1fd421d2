"""Password reset links: Django's signed tokens, over the email's blind index instead of the address.

Django's generator hashes the address itself, which would decrypt the account's email while an
anonymous visitor's link is checked (the decryption rule forbids it). The blind index changes exactly
when the address does, so a link still stops working once the email changes.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.tokens import PasswordResetTokenGenerator


class ResetTokenGenerator(PasswordResetTokenGenerator):
    def _make_hash_value(self, user: Any, timestamp: int) -> str:
        login = "" if user.last_login is None else user.last_login.replace(microsecond=0, tzinfo=None)
        return f"{user.pk}{user.password}{login}{timestamp}{user.email_index}"


reset_tokens = ResetTokenGenerator()
