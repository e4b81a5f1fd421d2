"""The daily digest: each person is emailed the accesses to their data that became tellable since their
last digest (new entries, and held-back ones whose legal order's date has passed), at most once a day.

Each digest is an email of the outbox (kind ``access-digest``), composed when the worker sends it. The
bookmark (:class:`~candor.staff.models.AccessNotice`) is written after the email is handed to the
mail server (the composer's ``after_sent``): a crash in between sends that digest again (a duplicate),
never loses one. A
second run on the same day sends nothing. The email names categories, never values, and names the
member of staff only when the operator shows staff names (:mod:`candor.staff.notices`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.db.models import Exists, Max, OuterRef, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from candor.accounts.models import User
from candor.comms import outbox
from candor.comms.choices import Category, Status
from candor.comms.models import Email
from candor.kernel.actions import durable
from candor.privacy import audit
from candor.privacy.audit import EventType
from candor.staff import notices
from candor.staff.models import AccessEntry, AccessNotice

logger = logging.getLogger("candor.staff")
SUBJECT = "Accesses to your data by our staff"
KIND = "access-digest"


@dataclass(frozen=True)
class Pending:
    user: User
    entries: list[AccessEntry]  # newest first
    last_position: int  # the person's highest position now, held back or not


def pending_for(user: User, now: datetime) -> Pending | None:
    """What the person's digest at ``now`` would hold, or None: nothing new, or one was sent today."""
    notice = AccessNotice.objects.filter(user=user).first()
    if notice is not None and timezone.localdate(notice.sent_at) >= timezone.localdate(now):
        return None
    entries = notices.entries_of(user.pk, now)
    if notice is not None:
        entries = entries.filter(Q(position__gt=notice.last_position) | Q(tell_after__gt=notice.through))
    found = list(entries)
    if not found:
        return None
    highest = AccessEntry.objects.filter(subject_id=user.pk).aggregate(top=Max("position"))["top"]
    return Pending(user, found, int(highest or 0))


def candidates(now: datetime) -> list[Any]:
    """The accounts with an entry that may be told now and that no digest covered yet: one after the
    last digest's position, or one that was still held back when the last digest was judged."""
    covered = AccessNotice.objects.filter(
        user_id=OuterRef("subject_id"), last_position__gte=OuterRef("position")
    )
    uncovered = Q(tell_after__isnull=True, covered=False) | Q(tell_after__isnull=False, covered_then=False)
    return list(
        AccessEntry.objects.filter(notices.visible(now))
        .alias(
            covered=Exists(covered),
            covered_then=Exists(covered.filter(through__gte=OuterRef("tell_after"))),
        )
        .filter(uncovered)
        .values_list("subject_id", flat=True)
        .distinct()
    )


@outbox.composer(KIND, Category.ACCOUNT, "accesses to your data by our staff")
def compose(row: Email, user: User) -> outbox.Composed | None:
    """The digest as it stands when the worker sends it (what became tellable since the last one), or
    None when nothing is left to tell. The bookmark is written after the mail server took it."""
    now = timezone.now()
    pending = pending_for(user, now)
    if pending is None:
        return None
    context = {
        "user": user,
        "accesses": notices.described(pending.entries),
        "platform_name": settings.PLATFORM_NAME,
        "website_url": settings.WEBSITE_URL,
        "contact_email": settings.CONTACT_EMAIL,
        "accesses_url": f"{settings.WEBSITE_URL}{reverse('staff:accesses')}",
    }
    return outbox.Composed(
        subject=SUBJECT,
        text=render_to_string("staff/email/access-digest.txt", context),
        to=user.email,
        after_sent=partial(
            note_digest,
            user,
            acting_user=None,
            last_position=pending.last_position,
            through=now,
            count=len(pending.entries),
        ),
    )


@durable
def note_digest(
    user: User, *, acting_user: User | None, last_position: int, through: datetime, count: int
) -> AccessNotice:
    """Record that the digest up to ``last_position``, judged at ``through``, was sent."""
    notice, _ = AccessNotice.objects.update_or_create(
        user=user,
        defaults={"last_position": last_position, "through": through, "sent_at": timezone.now()},
    )
    audit.record(
        EventType.ACCESS_DIGEST_SENT, acting_user=acting_user, subject=user, extra={"accesses": count}
    )
    return notice


def send_digests(now: datetime | None = None) -> int:
    """Queue a digest for every person with newly tellable accesses and none waiting to be sent.
    Returns how many were queued. Each is composed when the worker sends it, and its bookmark written
    once the mail server took it: a digest that could not be sent is tried again by the outbox, and a
    lost email is never a lost digest."""
    now = now or timezone.now()
    queued = 0
    waiting = set(
        Email.objects.filter(kind=KIND, status__in=(Status.QUEUED, Status.SENDING)).values_list(
            "user_id", flat=True
        )
    )
    for subject_id in candidates(now):
        if subject_id in waiting:
            continue
        user = User.objects.filter(pk=subject_id, is_active=True).first()
        if user is None:  # the account is gone: its entries stay in the log, nobody to tell
            continue
        if pending_for(user, now) is None:
            continue
        outbox.queue(KIND, user.pk)
        queued += 1
    return queued
