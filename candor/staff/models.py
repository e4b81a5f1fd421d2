"""Staff records, confidentiality agreements, grants, and the access log with its checkpoints.

A :class:`StaffMember` is an account with roles, an employment and two countries (where their office is,
where they work from). Before any access they must have signed the current :class:`Agreement`
(:class:`Signature`: the text's SHA-256, the name they typed, until when it holds) and set up a second
factor. Data is reached only through a :class:`Grant` (one subject, categories of the inventory, a
purpose with its case reference, a time limit, and for sensitive categories a second member's approval)
by :func:`candor.staff.gate.reveal`, which appends an :class:`AccessEntry` to the hash-chained access log.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from candor.privacy.crypto import EncryptedTextField
from candor.privacy.inventory import NotPersonal, Personal, declare
from candor.staff.choices import COUNTRIES, Employment, Purpose, Role

STAFF = ("C13",)


def _public_id() -> str:
    return secrets.token_urlsafe(16)


class StaffMember(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_member"
    )
    roles = models.JSONField(default=list)  # words of choices.Role
    employment = models.CharField(max_length=12, choices=Employment.choices)
    # The affiliated organisation's name, for employment "affiliate": an organisation, not a person.
    organisation = EncryptedTextField(key_owner="user_id", blank=True, default="")
    office_country = models.CharField(max_length=2, choices=COUNTRIES)  # ISO 3166-1 alpha-2
    work_country = models.CharField(max_length=2, choices=COUNTRIES)
    created_at = models.DateTimeField(default=timezone.now)
    created_by_id = models.UUIDField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # The second factor: a TOTP secret (under the member's own key), when it was confirmed, the last
    # time step used (a code is never accepted twice), and the recovery codes' hashes.
    totp_secret = EncryptedTextField(key_owner="user_id", blank=True, default="")
    totp_confirmed_at = models.DateTimeField(null=True, blank=True)
    totp_last_step = models.BigIntegerField(default=0)
    recovery_codes = models.JSONField(default=list, blank=True)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["ended_at"])]

    def __str__(self) -> str:
        return "staff member"

    @property
    def has_second_factor(self) -> bool:
        return self.totp_confirmed_at is not None

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def role_labels(self) -> list[str]:
        return [Role(role).label for role in self.roles if role in Role.values]


declare(
    StaffMember,
    belongs_to="user",
    note="A member of staff's record: kept while they are staff, and with their account.",
    fields={
        "id": NotPersonal(),
        "user": NotPersonal("the link to the account the row belongs to"),
        "roles": Personal(
            "staff.record",
            "to give a member of staff the abilities of their roles",
            "while the account exists",
            STAFF,
        ),
        "employment": Personal(
            "staff.record", "to say whom a member of staff works for", "while the account exists", STAFF
        ),
        "organisation": Personal(
            "staff.record",
            "to name the affiliated organisation they work for",
            "while the account exists",
            STAFF,
        ),
        "office_country": Personal(
            "staff.location",
            "to tell people where staff with access are",
            "while the account exists",
            ("C13", "C23"),
        ),
        "work_country": Personal(
            "staff.location",
            "to tell people where staff with access are",
            "while the account exists",
            ("C13", "C23"),
        ),
        "created_at": Personal(
            "staff.record", "to show since when they are staff", "while the account exists", STAFF
        ),
        "created_by_id": NotPersonal("the random id of the administrator who added the member"),
        "ended_at": Personal(
            "staff.record", "to show when they stopped being staff", "while the account exists", STAFF
        ),
        "totp_secret": Personal(
            "staff.second_factor",
            "to check the member's second factor",
            "while the account exists",
            ("C13", "C18"),
            export="metadata",
        ),
        "totp_confirmed_at": Personal(
            "staff.second_factor",
            "to know the second factor is set up",
            "while the account exists",
            ("C13", "C18"),
        ),
        "totp_last_step": NotPersonal("a counter of 30-second steps, so a code is never used twice"),
        "recovery_codes": Personal(
            "staff.second_factor",
            "to let the member in once if the device is lost",
            "while the account exists",
            ("C13", "C18"),
            export="metadata",
        ),
    },
)


class Agreement(models.Model):
    """A version of the confidentiality agreement: its exact text and that text's SHA-256."""

    version = models.CharField(max_length=32, unique=True)
    text = models.TextField()
    sha256 = models.CharField(max_length=64)
    published_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"agreement {self.version}"


declare(
    Agreement,
    belongs_to=None,
    note="The platform's own text, the same for every member of staff.",
    fields={
        "id": NotPersonal(),
        "version": NotPersonal(),
        "text": NotPersonal("the agreement's text, written by the operator"),
        "sha256": NotPersonal(),
        "published_at": NotPersonal(),
    },
)


class Signature(models.Model):
    """One member's signature of one version: the name they typed, when, and until when it holds."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    member = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="signatures")
    agreement = models.ForeignKey(Agreement, on_delete=models.PROTECT, related_name="signatures")
    text_sha256 = models.CharField(max_length=64)  # what was signed, as shown
    signed_name = EncryptedTextField(key_owner="user_id")
    signed_at = models.DateTimeField(default=timezone.now)
    valid_until = models.DateTimeField()

    class Meta:
        indexes: ClassVar = [models.Index(fields=["member", "valid_until"])]

    def __str__(self) -> str:
        return "signature"

    def in_force(self, now: datetime | None = None) -> bool:
        return self.valid_until > (now or timezone.now())


declare(
    Signature,
    belongs_to="user",
    note="Kept with the member's account: the record that they agreed to confidentiality.",
    fields={
        "id": NotPersonal(),
        "user": NotPersonal("the link to the account the row belongs to (the member's)"),
        "member": NotPersonal("the link to the staff record"),
        "agreement": NotPersonal("the version signed"),
        "text_sha256": NotPersonal("the SHA-256 of the agreement's text"),
        "signed_name": Personal(
            "staff.agreement",
            "to record who signed the confidentiality agreement",
            "while the account exists",
            STAFF,
        ),
        "signed_at": Personal(
            "staff.agreement", "to record when it was signed", "while the account exists", STAFF
        ),
        "valid_until": Personal(
            "staff.agreement", "to know until when it holds", "while the account exists", STAFF
        ),
    },
)


class Grant(models.Model):
    """Leave for one member of staff to see some categories of one person's data, for one purpose."""

    class Decision(models.TextChoices):
        PENDING = "pending", "waiting for approval"
        APPROVED = "approved", "approved"
        REFUSED = "refused", "refused"
        NOT_NEEDED = "not_needed", "no approval needed"

    public_id = models.CharField(max_length=22, unique=True, default=_public_id)
    # SET_NULL: a member's account may be erased; the access log keeps their id in every entry.
    requester = models.ForeignKey(
        StaffMember, on_delete=models.SET_NULL, null=True, blank=True, related_name="grants"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    # No foreign key: a grant (and the log that names it) outlives the subject's account.
    subject_id = models.UUIDField()
    categories = models.JSONField(default=list)
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    case_reference = models.CharField(max_length=64)
    minutes = models.PositiveIntegerField(default=60)
    requested_at = models.DateTimeField(default=timezone.now)
    decision = models.CharField(max_length=12, choices=Decision.choices)
    decided_by = models.ForeignKey(
        StaffMember, on_delete=models.SET_NULL, null=True, blank=True, related_name="decisions"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # A legal order forbids telling the person until then: their accesses under this grant are held back.
    tell_after = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar = [
            models.Index(fields=["decision", "requested_at"]),
            models.Index(fields=["subject_id"]),
        ]

    def __str__(self) -> str:
        return f"grant {self.public_id}"

    def state(self, now: datetime | None = None) -> str:
        """pending, refused, ended, expired or active."""
        now = now or timezone.now()
        if self.decision == self.Decision.PENDING:
            return "pending"
        if self.decision == self.Decision.REFUSED:
            return "refused"
        if self.ended_at is not None:
            return "ended"
        if self.expires_at is None or self.expires_at <= now:
            return "expired"
        return "active"


declare(
    Grant,
    belongs_to=None,
    note=(
        "Ids, categories, a purpose and a case reference in a fixed format: kept for accountability, "
        "like the access log, after either account is gone."
    ),
    fields={
        "id": NotPersonal(),
        "public_id": NotPersonal("a random identifier of the grant"),
        "requester": NotPersonal("the link to the staff record of who asked"),
        "role": NotPersonal("a word from the fixed list of roles"),
        "subject_id": NotPersonal("the random id of the account concerned, with nothing else of it"),
        "categories": NotPersonal("names of categories of the inventory"),
        "purpose": NotPersonal("a word from the fixed list of purposes"),
        "case_reference": NotPersonal("a case's reference, letters, digits and - . / # only"),
        "minutes": NotPersonal(),
        "requested_at": NotPersonal(),
        "decision": NotPersonal(),
        "decided_by": NotPersonal("the link to the staff record of who approved or refused"),
        "decided_at": NotPersonal(),
        "starts_at": NotPersonal(),
        "expires_at": NotPersonal(),
        "ended_at": NotPersonal(),
        "tell_after": NotPersonal("the date a legal order lets the person be told"),
    },
)


class AccessEntry(models.Model):
    """One reveal through the gate, in the hash-chained access log (appended by accesslog.append only).

    ``entry_hash`` is the SHA-256 of the entry's canonical form, which holds ``previous_hash``: changing,
    removing, reordering or inserting any entry breaks every hash after it.
    """

    position = models.BigIntegerField(unique=True)  # 1, 2, 3 … with no gap
    occurred_at = models.DateTimeField()
    staff_id = models.UUIDField()
    role = models.CharField(max_length=20)
    office_country = models.CharField(max_length=2)
    work_country = models.CharField(max_length=2)
    grant_id = models.CharField(max_length=22)
    purpose = models.CharField(max_length=20)
    case_reference = models.CharField(max_length=64)
    subject_id = models.UUIDField()
    categories = models.JSONField(default=list)
    agreement_sha256 = models.CharField(max_length=64)
    tell_after = models.DateTimeField(null=True, blank=True)
    previous_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64, unique=True)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["subject_id", "position"])]

    def __str__(self) -> str:
        return f"access {self.position}"


declare(
    AccessEntry,
    belongs_to=None,
    note=(
        "The access log: append-only and hash-chained, kept for accountability after accounts are gone. "
        "Ids, countries, words from fixed lists and hashes; the person sees their own entries."
    ),
    fields={
        "id": NotPersonal(),
        "position": NotPersonal(),
        "occurred_at": NotPersonal(),
        "staff_id": NotPersonal("the random id of the member of staff"),
        "role": NotPersonal("a word from the fixed list of roles"),
        "office_country": NotPersonal("a country code, shared by everyone in that office"),
        "work_country": NotPersonal("a country code"),
        "grant_id": NotPersonal("a random identifier of the grant"),
        "purpose": NotPersonal("a word from the fixed list of purposes"),
        "case_reference": NotPersonal("a case's reference, in a fixed format"),
        "subject_id": NotPersonal("the random id of the account whose data was seen"),
        "categories": NotPersonal("names of categories of the inventory"),
        "agreement_sha256": NotPersonal(),
        "tell_after": NotPersonal(),
        "previous_hash": NotPersonal(),
        "entry_hash": NotPersonal(),
    },
)


class LogHead(models.Model):
    """The log's one head row: every append updates it first, which queues concurrent appends one
    behind another on SQLite and PostgreSQL alike, so the chain never forks."""

    size = models.BigIntegerField(default=0)
    head_hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return "access log head"


declare(
    LogHead,
    belongs_to=None,
    fields={"id": NotPersonal(), "size": NotPersonal(), "head_hash": NotPersonal()},
)


class Checkpoint(models.Model):
    """A signed statement of the log: its size and head hash at a time (Ed25519), with nothing personal.

    ``kind`` is ``restored`` for the first checkpoint after a backup was restored: the log may then be
    shorter than a checkpoint published before, and the gap is shown rather than hidden.
    """

    class Kind(models.TextChoices):
        REGULAR = "regular", "regular"
        RESTORED = "restored", "after a restore"

    size = models.BigIntegerField()
    head_hash = models.CharField(max_length=64)
    signed_at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.REGULAR)
    key_id = models.CharField(max_length=16)
    signature = models.CharField(max_length=100)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["signed_at"])]

    def __str__(self) -> str:
        return f"checkpoint {self.size}"


declare(
    Checkpoint,
    belongs_to=None,
    note="Published: a size, a hash, a time and a signature.",
    fields={
        "id": NotPersonal(),
        "size": NotPersonal(),
        "head_hash": NotPersonal(),
        "signed_at": NotPersonal(),
        "kind": NotPersonal(),
        "key_id": NotPersonal(),
        "signature": NotPersonal(),
    },
)


class AccessNotice(models.Model):
    """What the person's last daily digest of accesses covered (candor.staff.digest).

    ``last_position`` is the highest log position of the person's entries when it was made, held back or
    not; ``through`` the moment their visibility was judged at. An entry is new to the next digest when
    it is visible then and either came after ``last_position`` or was still held back at ``through``.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_notice"
    )
    last_position = models.BigIntegerField(default=0)
    through = models.DateTimeField()
    sent_at = models.DateTimeField()

    def __str__(self) -> str:
        return "access notice"


declare(
    AccessNotice,
    belongs_to="user",
    note="The bookmark of the person's daily digest of accesses: goes with their account.",
    fields={
        "id": NotPersonal(),
        "user": NotPersonal("the link to the account the row belongs to"),
        "last_position": NotPersonal("a position in the access log"),
        "through": NotPersonal("the moment the last digest judged which accesses could be told"),
        "sent_at": Personal(
            "account.access_digest",
            "to send the digest of accesses to your data at most once a day",
            "while the account exists",
            ("C23",),
        ),
    },
)
