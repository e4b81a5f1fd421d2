from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from candor.privacy.crypto import EncryptedTextField
from candor.privacy.inventory import NotPersonal, Personal, Sweep, declare

READ = "read"
WRITE = "write"
SCOPES = (READ, WRITE)


class ApiToken(models.Model):
    """A personal access token for the API.

    Only the SHA-256 of the token is kept. A token carries 240 random bits, so a slow password hash
    would add nothing against guessing, and a plain digest can be the lookup key itself: finding a row
    by its digest compares no secret byte by byte, so there is no timing to measure.
    """

    # Random, because the id appears in URLs (DELETE /api/v1/tokens/<id>).
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    # What the owner typed to tell their tokens apart: stored encrypted under their data key, like every
    # field a person types in, so that a backup holds nothing readable of it once the account is erased.
    name = EncryptedTextField(key_owner="user_id")
    scopes = models.JSONField(default=list)
    # The first characters of the token, so its owner can tell tokens apart in a list; too few to use.
    prefix = models.CharField(max_length=12)
    secret_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    # The day only: enough to spot a forgotten token, without keeping a trail of when it was used.
    last_used_on = models.DateField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"
        indexes: ClassVar = [models.Index(fields=["user", "revoked_at"], name="api_token_user_revoked")]

    def __str__(self) -> str:
        return f"{self.prefix}…"

    @property
    def can_write(self) -> bool:
        return WRITE in self.scopes


declare(
    ApiToken,
    belongs_to="user",
    sweeps=(Sweep("expired tokens", field="expires_at"), Sweep("revoked tokens", field="revoked_at")),
    fields={
        "id": NotPersonal("a random identifier of the token"),
        "user": NotPersonal("the link to the account the row belongs to"),
        "name": Personal(
            "account.token",
            "to let the owner tell their tokens apart (stored encrypted)",
            "until revoked; deleted with the account",
            ("C6", "C18"),
            correctable=False,
        ),
        "scopes": Personal("account.token", "to limit what the token may do", "until revoked", ("C18",)),
        "prefix": Personal(
            "account.token",
            "to let the owner recognise a token, and scanners a leaked one",
            "until revoked",
            ("C18",),
        ),
        "secret_hash": Personal(
            "account.token",
            "to check a token without storing it",
            "until revoked",
            ("C18",),
            export="omitted",
        ),
        "created_at": Personal("account.token", "to show when the token was made", "until revoked", ("C18",)),
        "expires_at": Personal(
            "account.token", "to end the token when its owner chose", "until revoked", ("C18",)
        ),
        "last_used_on": Personal(
            "account.token",
            "to show the day the token was last used (no time, no address)",
            "until revoked",
            ("C9", "C18"),
        ),
        "revoked_at": Personal(
            "account.token", "to refuse a revoked token", "until deleted with the account", ("C18",)
        ),
    },
)
