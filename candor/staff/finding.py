"""Finding an account for a grant: by username or by exact email address, through the blind indexes.

What is found is only that an account exists and its random id; nothing of the account is read (its
username and email are encrypted under its own key, and only the gate decrypts them for staff).
"""

from __future__ import annotations

from candor.accounts.models import User, email_index, username_q


def find_account(query: str) -> str | None:
    """The id of the account with this username or this exact (confirmed or not) email, if any."""
    query = query.strip()
    if not query:
        return None
    lookup = {"email_index": email_index(query)} if "@" in query else {}
    rows = User.objects.filter(**lookup) if lookup else User.objects.filter(username_q(query))
    found = rows.values_list("pk", flat=True).first()
    return None if found is None else str(found)
