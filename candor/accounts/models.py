from __future__ import annotations

import secrets
import uuid
from importlib import import_module
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager
from django.contrib.sessions.base_session import AbstractBaseSession
from django.core.validators import validate_email
from django.db import models, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from candor.accounts.validators import validate_username
from candor.kernel import hooks
from candor.privacy.crypto import EncryptedTextField, Unreadable, blind_index, is_encrypted
from candor.privacy.inventory import NotPersonal, Personal, Sweep, declare


def email_index(email: str) -> str:
    """The blind index of an address: what sign-in and "one account per address" compare."""
    return blind_index("email", email)


def username_index(username: str) -> str:
    """The blind index of a username: what every lookup of an account by its name compares (the name
    itself is stored encrypted). Normalised by the hash (trimmed, lower-cased), so "Alice" is "alice"."""
    return blind_index("username", username)


def username_q(name: str, prefix: str = "") -> models.Q:
    """Rows whose account (reached through ``prefix``, such as ``"owner__"``) is named ``name``, in any
    case. The one way to filter on a username: the column is encrypted, so a filter on its value would
    match nothing."""
    return models.Q(**{f"{prefix}username_index": username_index(name)})


def identifier_lookup(identifier: str) -> models.Q:
    """What "username or email" at sign-in matches: a confirmed address by its blind index, a name by
    value. An address signs in only once it is confirmed: otherwise signing in with the address a
    sign-up gave would tell a new address (its account answers) from one another account already has
    (see actions.sign_up)."""
    identifier = identifier.strip()
    if "@" in identifier:
        return models.Q(email_index=email_index(identifier), email_verified=True)
    return username_q(identifier)


# The stand-in for the blind index of an account whose sign-up named an address another account already
# has (actions.sign_up): such an account keeps the address it was given, like any unconfirmed account,
# but neither claims it nor can be found by it, and can never confirm it.
UNCLAIMED = "unclaimed:"


def unclaimed_index() -> str:
    return UNCLAIMED + secrets.token_hex(27)  # 64 characters, as a blind index


class UserManager(BaseUserManager["User"]):
    def create_user(self, username: str, email: str, password: str | None, **extra: object) -> User:
        user = self.model(username=username, email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, username: str, email: str, password: str | None, **extra: object) -> User:
        """What ``candor createsuperuser`` makes: a staff account whose address counts as confirmed (the
        operator typed it at the console)."""
        extra = {"is_staff": True, "email_verified": True, **extra}
        return self.create_user(username, email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        # What Django's auth uses (ModelBackend, createsuperuser's "already taken" check).
        return self.get(username_q(username or ""))

    def named(self, username: str) -> models.QuerySet[User]:
        """The account (none or one) with this username, in any case."""
        return self.filter(username_q(username))

    def by_username(self, username: str) -> User | None:
        return self.named(username).first()


class User(AbstractBaseUser):
    """An account. Sign-up asks for these three things and nothing else (clause C1)."""

    # A random id: it appears in password-reset links, and a sequential number would say how many
    # accounts exist and in what order they were made.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Stored encrypted under the account's data key, as the address is: a backup keeps the row, and once
    # the key is destroyed nothing in it names the person. Found by its blind index, never by value; the
    # index's unique constraint is what makes "Alice" and "alice" one name. unique=True on the column is
    # what Django's auth expects of USERNAME_FIELD (check auth.E003, createsuperuser's "taken" check):
    # every encrypted value differs anyway.
    username = EncryptedTextField(key_owner="pk", unique=True, validators=[validate_username])
    username_index = models.CharField(max_length=64, unique=True, editable=False)
    # Stored encrypted under the account's data key; found by its blind index, never by value.
    email = EncryptedTextField(key_owner="pk", validators=[validate_email])
    email_index = models.CharField(max_length=64, unique=True, editable=False)
    email_verified = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # The profile page /<username>/: shown to others or not, and offered to search engines or not.
    profile_visible = models.BooleanField(default=True)
    profile_indexable = models.BooleanField(default=True)

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = ["email"]

    objects = UserManager()

    def __str__(self) -> str:
        return self.username

    def save(self, *args: Any, **kwargs: Any) -> None:
        update_fields = kwargs.get("update_fields")
        email_changed = update_fields is not None and "email" in update_fields
        # The name's index follows the name whenever a clear one is being saved (one read from the
        # database and never set is still encrypted here, and its index is already right).
        name = self.__dict__.get("username")
        if (
            isinstance(name, str)
            and not is_encrypted(name)
            and not isinstance(name, Unreadable)
            and (update_fields is None or "username" in update_fields)
        ):
            self.username_index = username_index(name)
            if update_fields is not None:
                kwargs["update_fields"] = update_fields = {*update_fields, "username_index"}
        # An unclaimed account keeps its stand-in until its address is changed (and so confirmed).
        # Likewise the address's: one still encrypted as it was read is unchanged, and is not decrypted
        # only to hash it again (saving someone's last sign-in reads nothing of theirs).
        address = self.__dict__.get("email")
        address_read_as_stored = isinstance(address, str) and is_encrypted(address)
        if (email_changed or not self.address_unclaimed) and not address_read_as_stored:
            self.email_index = email_index(self.email)
        if email_changed and update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "email_index"}
        # One transaction, so that a new account's data key (made while its email is encrypted) and
        # the account's row are committed together.
        with transaction.atomic(using=kwargs.get("using")):
            super().save(*args, **kwargs)

    @property
    def address_unclaimed(self) -> bool:
        return self.email_index.startswith(UNCLAIMED)

    @property
    def can_publish(self) -> bool:
        """Publishing anything needs a verified email address."""
        return self.is_active and self.email_verified


def _new_public_id() -> str:
    return secrets.token_urlsafe(16)


class EmailConfirmationQuerySet(models.QuerySet["EmailConfirmation"]):
    def live(self) -> EmailConfirmationQuerySet:
        return self.filter(used_at__isnull=True, expires_at__gt=timezone.now())


class EmailConfirmation(models.Model):
    """A pending proof that a person controls an address: at sign-up, or for a new address.

    The link's token is not stored: it is an HMAC (keyed by SECRET_KEY) of this row's random id, its
    purpose, the address and the account, as Django's password-reset tokens are. A copy of the
    database alone cannot confirm anything, and the task that sends the email can rebuild the link
    from the row's id without a secret passing through the task queue.
    """

    class Purpose(models.TextChoices):
        SIGNUP = "signup", "sign-up"
        CHANGE = "change", "email change"

    public_id = models.CharField(max_length=22, unique=True, default=_new_public_id)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="email_confirmations")
    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    email = EncryptedTextField(key_owner="user_id", validators=[validate_email])
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    objects = EmailConfirmationQuerySet.as_manager()

    class Meta:
        indexes: ClassVar = [models.Index(fields=["user", "purpose"])]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} confirmation"

    def token(self) -> str:
        value = f"{self.public_id}|{self.purpose}|{self.email.lower()}|{self.user_id}"
        return salted_hmac("candor.accounts.email-confirmation", value, algorithm="sha256").hexdigest()[:40]

    def check_token(self, token: str) -> bool:
        return constant_time_compare(self.token(), token)

    @property
    def is_live(self) -> bool:
        return self.used_at is None and self.expires_at > timezone.now()


class UserSession(AbstractBaseSession):
    """Django's database session, plus what the "active sessions" page shows.

    ``public_id`` names a session in forms; the session key itself never leaves the cookie.
    """

    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="sessions")
    public_id = models.CharField(max_length=22, unique=True, default=_new_public_id)
    browser_family = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_active = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["user", "expire_date"])]

    @classmethod
    def get_session_store_class(cls) -> type:
        # The configured engine (candor.accounts.sessions), found as Django finds it: that module
        # imports this one, so this one cannot import it.
        store: type = import_module(settings.SESSION_ENGINE).SessionStore
        return store


class SecurityEvent(models.Model):
    """One entry of the account's security history (clause C9): what happened, when, from where.

    The client address is encrypted under the account's data key; the browser is kept as its family
    only ("Firefox"), never the user-agent string.
    """

    class Kind(models.TextChoices):
        SIGN_IN = "sign_in", "signed in"
        SIGN_IN_FAILED = "sign_in_failed", "failed sign-in"
        PASSWORD_CHANGED = "password_changed", "password changed"
        PASSWORD_RESET = "password_reset", "password reset by email link"
        EMAIL_CHANGE_REQUESTED = "email_change_requested", "email change requested"
        EMAIL_CHANGED = "email_changed", "email address changed"
        TOKEN_CREATED = "token_created", "API token created"
        EXPORT_REQUESTED = "export_requested", "data export requested"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="security_events")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    created_at = models.DateTimeField(default=timezone.now)
    ip_address = EncryptedTextField(key_owner="user_id", blank=True)
    browser_family = models.CharField(max_length=64, blank=True)

    class Meta:
        indexes: ClassVar = [
            models.Index(fields=["user", "-created_at"]),
            models.Index(fields=["created_at"]),
        ]

    def __str__(self) -> str:
        return self.get_kind_display()


ACCOUNT = ("C1", "C10")
SECURITY = ("C9", "C18")
KEEP_WHILE_ACCOUNT = "while the account exists; deleted with it"

declare(
    User,
    belongs_to="self",
    sweeps=(
        Sweep(
            "accounts never confirmed",
            field="date_joined",
            days="UNVERIFIED_ACCOUNT_DAYS",
            where={"email_verified": False},
            before_delete=hooks.accounts_gone,
        ),
    ),
    fields={
        "id": NotPersonal("a random identifier with no meaning outside Candor"),
        "username": Personal(
            "account.username",
            "to name the account and its public profile (stored encrypted)",
            KEEP_WHILE_ACCOUNT,
            ACCOUNT,
        ),
        "username_index": Personal(
            "account.username",
            "to find the account by its name, in any case, without keeping the name in clear (a keyed hash)",
            KEEP_WHILE_ACCOUNT,
            ("C18",),
            export="metadata",
        ),
        "email": Personal(
            "contact.email",
            "to sign in, confirm the account and reach its owner",
            KEEP_WHILE_ACCOUNT,
            (*ACCOUNT, "C16"),
            correctable=True,
        ),
        "password": Personal(
            "account.password",
            "to check the password at sign-in (an Argon2id hash)",
            KEEP_WHILE_ACCOUNT,
            ("C18",),
            export="metadata",
        ),
        "last_login": Personal(
            "account.activity",
            "to show the owner when the account was last used",
            KEEP_WHILE_ACCOUNT,
            SECURITY,
        ),
        "email_index": Personal(
            "contact.email",
            "to find the account by its address without keeping the address in clear (a keyed hash)",
            KEEP_WHILE_ACCOUNT,
            ("C18",),
            export="metadata",
        ),
        "email_verified": Personal(
            "account.state", "to allow publishing only from a confirmed address", KEEP_WHILE_ACCOUNT, ACCOUNT
        ),
        "is_active": NotPersonal(
            "an on/off switch for the account, about the account rather than the person"
        ),
        "is_staff": Personal(
            "account.role", "to give staff tools to staff members only", KEEP_WHILE_ACCOUNT, ("C13",)
        ),
        "date_joined": Personal(
            "account.activity", "to show when the account was made", KEEP_WHILE_ACCOUNT, ACCOUNT
        ),
        "profile_visible": Personal(
            "account.preferences",
            "to show or hide the public profile",
            KEEP_WHILE_ACCOUNT,
            ("C4",),
            correctable=True,
        ),
        "profile_indexable": Personal(
            "account.preferences",
            "to let search engines index the profile or not",
            KEEP_WHILE_ACCOUNT,
            ("C4",),
            correctable=True,
        ),
    },
)

declare(
    EmailConfirmation,
    belongs_to="user",
    sweeps=(
        Sweep("expired confirmation links", field="expires_at"),
        Sweep("used confirmation links", field="used_at"),
    ),
    fields={
        "id": NotPersonal(),
        "public_id": NotPersonal("a random identifier of the link"),
        "user": NotPersonal("the link to the account the row belongs to"),
        "purpose": NotPersonal(),
        "email": Personal(
            "contact.email",
            "to send the confirmation link to the address being confirmed",
            "until used or expired (48 hours by default); deleted with the account",
            ACCOUNT,
        ),
        "created_at": NotPersonal(),
        "expires_at": NotPersonal(),
        "used_at": NotPersonal(),
    },
)

declare(
    UserSession,
    belongs_to="user",
    sweeps=(Sweep("expired sessions", field="expire_date"),),
    fields={
        "session_key": NotPersonal("a random secret kept only in the visitor's cookie and here"),
        "session_data": Personal(
            "network.session",
            "to keep a signed-in visitor signed in",
            "until the session ends or expires (two weeks at most)",
            ("C18", "C19"),
            export="omitted",
        ),
        "expire_date": NotPersonal(),
        "user": NotPersonal("the link to the account the row belongs to"),
        "public_id": NotPersonal("a random identifier of the session, for the sessions page"),
        "browser_family": Personal(
            "device.browser",
            "to let the owner recognise their sessions",
            "until the session ends or expires",
            SECURITY,
        ),
        "created_at": Personal(
            "account.activity", "to show when the session began", "until the session ends", SECURITY
        ),
        "last_active": Personal(
            "account.activity",
            "to show when the session was last used (to five minutes)",
            "until the session ends",
            SECURITY,
        ),
    },
)

declare(
    SecurityEvent,
    belongs_to="user",
    sweeps=(Sweep("security events", field="created_at", days="SECURITY_EVENT_DAYS"),),
    fields={
        "id": NotPersonal(),
        "user": NotPersonal("the link to the account the row belongs to"),
        "kind": Personal(
            "security.event",
            "to show the owner what happened to their account",
            "30 days by default",
            SECURITY,
        ),
        "created_at": Personal("security.event", "to show when it happened", "30 days by default", SECURITY),
        "ip_address": Personal(
            "network.ip",
            "to let the owner spot a sign-in from somewhere unexpected (stored encrypted)",
            "30 days by default",
            SECURITY,
        ),
        "browser_family": Personal(
            "device.browser",
            "to let the owner recognise the browser (its family only)",
            "30 days by default",
            SECURITY,
        ),
    },
)
