from __future__ import annotations

import secrets
import uuid
from typing import ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from candor.accounts.validators import validate_username


class UserManager(BaseUserManager["User"]):
    def create_user(self, username: str, email: str, password: str | None, **extra: object) -> User:
        user = self.model(username=username, email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(username__iexact=username)


class User(AbstractBaseUser):
    """An account. Sign-up asks for these three things and nothing else (clause C1)."""

    # A random id: it appears in password-reset links, and a sequential number would say how many
    # accounts exist and in what order they were made.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # unique=True for Django's auth checks; the constraint below is what makes "Alice" and "alice" one name.
    username = models.CharField(max_length=39, unique=True, validators=[validate_username])
    email = models.EmailField(max_length=254)
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

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(Lower("username"), name="accounts_user_username_ci_unique"),
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.username

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
    email = models.EmailField(max_length=254)
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
        from candor.accounts.sessions import SessionStore

        return SessionStore
