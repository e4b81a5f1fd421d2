"""What a person is told of accesses to their data (C23): the entries of the access log about them that
may be told now, for their settings page, the API, the daily digest and their export.

An entry may be told once its ``tell_after`` (a legal order's date, copied from the grant) is null or
has passed. Nothing releases held-back entries: each read compares the date with the clock, so an entry
appears by itself the moment its date passes, and says how long it was held back.

The member of staff is described by their role, the countries of their office and of where they work,
and the purpose of the grant. Their name (the username of their account, which the platform already
shows beside what they publish) is added only when the operator sets ``CANDOR_ACCESS_SHOWS_STAFF_NAME``:
reading it is the platform showing a member of staff's name to the people whose data they saw, by the
operator's decision.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.db.models import Q, QuerySet
from django.utils import timezone

from candor.accounts.models import User
from candor.kernel.refusal import Code, Refusal
from candor.privacy import crypto
from candor.staff.choices import COUNTRIES, Purpose, Role
from candor.staff.models import AccessEntry

COUNTRY_NAMES = dict(COUNTRIES)


@dataclass(frozen=True)
class Category:
    name: str  # the inventory's category, such as contact.email
    label: str  # in words: "contact (email)"


@dataclass(frozen=True)
class Country:
    code: str  # ISO 3166-1 alpha-2
    name: str


@dataclass(frozen=True)
class Access:
    position: int  # the entry's place in the access log
    occurred_at: datetime
    # A legal order's date, for an entry that was held back until then; None if it was never held back.
    shown_from: datetime | None
    role: str
    role_label: str
    office_country: Country
    work_country: Country
    purpose: str
    purpose_label: str
    categories: tuple[Category, ...]
    staff_name: str | None  # only when the operator shows staff names

    @property
    def held_back(self) -> bool:
        return self.shown_from is not None

    @property
    def countries(self) -> tuple[Country, ...]:
        if self.office_country.code == self.work_country.code:
            return (self.office_country,)
        return (self.office_country, self.work_country)


def shows_staff_name() -> bool:
    return bool(settings.ACCESS_SHOWS_STAFF_NAME)


def category_label(name: str) -> str:
    """A category's name in words. The inventory names categories by a dotted family and kind only."""
    family, _, kind = name.partition(".")
    family_words = family.replace("_", " ")
    return f"{family_words} ({kind.replace('_', ' ').replace('.', ', ')})" if kind else family_words


def _label(choices: Any, value: str) -> str:
    return str(choices(value).label) if value in choices.values else value.replace("_", " ")


def _country(code: str) -> Country:
    return Country(code, COUNTRY_NAMES.get(code, code))


def visible(now: datetime | None = None) -> Q:
    """Entries that may be told at ``now``: never held back, or held back until a date that has passed."""
    return Q(tell_after__isnull=True) | Q(tell_after__lte=now or timezone.now())


def entries_of(subject_id: Any, now: datetime | None = None) -> QuerySet[AccessEntry]:
    """The person's entries that may be told now, newest first."""
    return AccessEntry.objects.filter(visible(now), subject_id=subject_id).order_by("-position")


def described(entries: Iterable[AccessEntry]) -> list[Access]:
    """The entries in the words the person reads, with the members' names if the operator shows them."""
    rows = list(entries)
    names: dict[str, str] = {}
    if shows_staff_name() and rows:
        staff_ids = {entry.staff_id for entry in rows}
        for staff_id in staff_ids:
            # The operator chose to name staff to the people whose data they saw: a member's username
            # is then published to those people, as a public profile's is to everyone.
            crypto.show_published(staff_id)
        names = {str(user.pk): user.username for user in User.objects.filter(pk__in=staff_ids)}
    return [
        Access(
            position=entry.position,
            occurred_at=entry.occurred_at,
            shown_from=entry.tell_after,
            role=entry.role,
            role_label=_label(Role, entry.role),
            office_country=_country(entry.office_country),
            work_country=_country(entry.work_country),
            purpose=entry.purpose,
            purpose_label=_label(Purpose, entry.purpose),
            categories=tuple(Category(name, category_label(name)) for name in entry.categories),
            staff_name=(names.get(str(entry.staff_id), "a deleted account") if shows_staff_name() else None),
        )
        for entry in rows
    ]


def accesses_of(subject_id: Any, now: datetime | None = None) -> list[Access]:
    """Every access to the person's data that may be told now, newest first."""
    return described(entries_of(subject_id, now))


def as_record(access: Access) -> dict[str, Any]:
    """One access as plain JSON values: the export's accesses.json."""
    record: dict[str, Any] = {
        "occurred_at": access.occurred_at.isoformat(),
        "held_back_until": access.shown_from.isoformat() if access.shown_from else None,
        "role": access.role_label,
        "office_country": access.office_country.code,
        "work_country": access.work_country.code,
        "purpose": access.purpose_label,
        "categories": [category.name for category in access.categories],
    }
    if access.staff_name is not None:
        record["staff_member"] = access.staff_name
    return record


# Pages for the API: a cursor is the last entry's log position, signed so that only the server's own
# cursors parse.
CURSOR_SALT = "candor.api.accesses-cursor"


@dataclass(frozen=True)
class AccessPage:
    items: list[Access]
    next_cursor: str | None


def page_of(subject_id: Any, *, limit: int, cursor: str | None, now: datetime | None = None) -> AccessPage:
    """The ``limit`` accesses after ``cursor`` (from the newest without one), and the next cursor."""
    entries = entries_of(subject_id, now)
    if cursor:
        try:
            before = signing.loads(cursor, salt=CURSOR_SALT)
        except signing.BadSignature:
            before = None
        if not isinstance(before, int) or isinstance(before, bool):
            raise Refusal(
                Code.INVALID_CURSOR, "There is no page at this cursor: use the 'next' link as given."
            )
        entries = entries.filter(position__lt=before)
    rows = list(entries[: limit + 1])
    following = signing.dumps(rows[limit - 1].position, salt=CURSOR_SALT) if len(rows) > limit else None
    return AccessPage(described(rows[:limit]), following)
