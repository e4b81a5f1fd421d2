"""Adding a notice: the one function every domain calls (inside its own action) to tell a person
something on their dashboard, and the outbox calls when an address is refused.

It lives apart from :mod:`candor.comms.actions` because the outbox, which that module imports, needs it
too.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from candor.comms.choices import NoticeKind
from candor.comms.models import Notice

KEY_LENGTH = 80  # Notice.key's max_length, which SQLite would not enforce


def is_site_path(link: str) -> bool:
    """A path on this site: what a notice may link to (never another site, never a scheme)."""
    return (
        link.startswith("/")
        and not link.startswith("//")
        and "\\" not in link
        and not any(ch.isspace() or ord(ch) < 32 for ch in link)
    )


def notify(
    user: Any,
    kind: str,
    title: str,
    body: str = "",
    *,
    link: str = "",
    key: str = "",
    once: bool | None = None,
) -> Notice:
    """Add a notice for ``user``, inside the caller's action (so it comes and goes with the change it
    tells of). Not an action itself: the caller's audit row covers it.

    ``key`` names what the notice is about ("security:password", "policy:7"): while a notice under that
    key is open, it is returned instead of a second one. With ``once`` (the default for policy
    notices), one the person already dismissed counts too, for as long as it is kept
    (CANDOR_NOTICE_KEEP_DAYS): whoever dismissed the notice of a policy version is not told again.
    """
    kind = NoticeKind(kind)
    if not title.strip():
        raise ValueError("a notice needs a title")
    if link and not is_site_path(link):
        raise ValueError("a notice links to a path on this site only")
    if len(key) > KEY_LENGTH:
        raise ValueError(f"a notice's key is at most {KEY_LENGTH} characters")
    once = kind == NoticeKind.POLICY if once is None else once
    if key:
        existing = Notice.objects.filter(user=user, key=key).order_by("dismissed_at", "-created_at")
        if not once:
            existing = existing.filter(dismissed_at__isnull=True)
        found = existing.first()
        if found is not None:
            return found
    try:
        # A savepoint: two changes of one account at once (two workers, PostgreSQL) may both get here,
        # and the loser of the unique constraint must not take its caller's whole action down with it.
        with transaction.atomic():
            return Notice.objects.create(user=user, kind=kind, key=key, title=title, body=body, link=link)
    except IntegrityError:
        if not key:
            raise
        return Notice.objects.get(user=user, key=key, dismissed_at__isnull=True)
