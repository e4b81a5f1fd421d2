"""The gate: the one function through which one person's personal data reaches anyone else (C2, C13).

:func:`reveal` demands an active member of staff with a second factor and the current confidentiality
agreement in force, and one of their grants that is running (approved where it needed approval, not
expired, not ended) and names the categories asked for. Then, in one transaction, it decrypts the
subject's values of those categories (inside :func:`candor.privacy.crypto.revealing`, the only scope in
which another person's data key is used to decrypt for someone else) and appends the access to the
hash-chained access log. No entry, no reveal.

The staff console, support, the legal disclosure packages and the platform transfer all read another
person's data through this function.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import models
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from candor.accounts.models import User
from candor.kernel.actions import durable
from candor.kernel.refusal import Code, Refusal
from candor.privacy import crypto, subjects
from candor.staff import accesslog
from candor.staff.actions import ready_member
from candor.staff.models import Grant

# Rows shown per kind of record: a grant reveals what its case needs, not a dump.
ROWS_PER_RECORD = 200
WITHHELD = "[kept, never shown: a hash or a secret]"


@dataclass(frozen=True)
class Item:
    category: str
    record: str  # the model's label, such as accounts.SecurityEvent
    field: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Revealed:
    grant: Grant
    subject_id: str
    categories: tuple[str, ...]
    items: tuple[Item, ...]
    position: int  # the access log entry that records this reveal


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, crypto.Unreadable):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, FieldFile):
        return "[a stored file]" if value.name else ""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _collect(subject_id: str, categories: set[str]) -> list[Item]:
    items: list[Item] = []
    for declaration in subjects.owned_declarations():
        wanted = {
            name: item for name, item in declaration.personal_fields().items() if item.category in categories
        }
        if not wanted:
            continue
        rows = list(subjects.rows_of(declaration, subject_id).order_by("pk")[:ROWS_PER_RECORD])
        for name, item in sorted(wanted.items()):
            model_field = declaration.model._meta.get_field(name)
            hidden = (
                item.export != "value"
                or name.endswith("_index")
                or isinstance(model_field, models.BinaryField)
            )
            values = tuple(WITHHELD if hidden else _shown(getattr(row, name)) for row in rows)
            if values:
                items.append(Item(item.category, declaration.label, name, values))
    return items


def usable_grant(grant_id: str, member_pk: int, now: datetime) -> Grant:
    grant = Grant.objects.select_related("requester").filter(public_id=grant_id).first()
    if grant is None or grant.requester_id != member_pk:
        raise Refusal(Code.NOT_FOUND, "You have no grant with this reference.")
    state = grant.state(now)
    if state != "active":
        messages = {
            "pending": "This grant is waiting for a second member of staff's approval.",
            "refused": "This grant was refused.",
            "ended": "This grant was ended.",
            "expired": "This grant has expired: ask for a new one if the case still needs it.",
        }
        raise Refusal(Code.GRANT_INACTIVE, messages[state])
    return grant


@durable
def reveal(grant_id: str, *, acting_user: User, categories: Iterable[str] | None = None) -> Revealed:
    """Reveal the grant's subject's data of ``categories`` (all the grant's when None) to its requester."""
    now = timezone.now()
    member, signature = ready_member(acting_user)
    grant = usable_grant(grant_id, member.pk, now)
    asked = set(grant.categories if categories is None else categories)
    outside = sorted(asked - set(grant.categories))
    if not asked or outside:
        raise Refusal(
            Code.OUTSIDE_GRANT,
            f"The grant does not cover {', '.join(outside) or 'nothing'}: ask for a grant that names it.",
            field="categories",
        )
    subject_id = str(grant.subject_id)
    with crypto.revealing(subject_id):
        items = _collect(subject_id, asked)
    entry = accesslog.append(
        occurred_at=now,
        staff_id=member.user_id,
        role=grant.role,
        office_country=member.office_country,
        work_country=member.work_country,
        grant_id=grant.public_id,
        purpose=grant.purpose,
        case_reference=grant.case_reference,
        subject_id=grant.subject_id,
        categories=sorted(asked),
        agreement_sha256=signature.text_sha256,
        tell_after=grant.tell_after,
    )
    return Revealed(grant, subject_id, tuple(sorted(asked)), tuple(items), entry.position)
