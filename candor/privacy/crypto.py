"""Envelope encryption of personal fields, and blind indexes for the lookups that need equality.

Each account has a random 256-bit data key (:class:`~candor.privacy.models.DataKey`), stored wrapped by
the operator's current master key (``CANDOR_MASTER_KEYS``). A personal field declared with
:class:`EncryptedTextField` is stored as ``enc:v1:<data key id>:<base64 of nonce + ciphertext>``,
encrypted with AES-256-GCM from the ``cryptography`` package, with the model and field name as
associated data so a value cannot be moved to another column. The key id in each value lets master
keys rotate (``candor privacy rewrap``) without touching a single encrypted value, and lets permanent
deletion make every copy unreadable by deleting one row.

Equality lookups (sign in by email, one account per address, retired usernames) use a blind index: an
HMAC-SHA256 of the normalised value under its own key (``CANDOR_BLIND_INDEX_KEY``), never the value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import request_finished
from django.db import IntegrityError, models, transaction
from django.db.models.query_utils import DeferredAttribute

from candor.privacy.models import DataKey

PREFIX = "enc:v1:"
NONCE_BYTES = 12


class KeyringError(ImproperlyConfigured):
    """A data key cannot be unwrapped: its master key is missing from, or wrong in, the keyring.

    Raised before anything is decrypted or written, so a wrong key never yields wrong data.
    """


_NO_KEYS = "Candor has no keys in this process: it was started only to answer --help or --version."


def current_master_key_id() -> str:
    if not settings.MASTER_KEYS:
        raise KeyringError(_NO_KEYS)
    return next(iter(settings.MASTER_KEYS))


def _master_key(key_id: str) -> bytes:
    key: bytes | None = settings.MASTER_KEYS.get(key_id)
    if key is None:
        raise KeyringError(
            f"A data key is wrapped under the master key {key_id!r}, which is not in CANDOR_MASTER_KEYS. "
            "Add it back (old keys may follow the current one) and start again."
        )
    return key


def wrap(data_key: bytes, key_id: str, master_key_id: str) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(_master_key(master_key_id)).encrypt(nonce, data_key, f"datakey:{key_id}".encode())


def unwrap(wrapped: bytes | memoryview, key_id: str, master_key_id: str) -> bytes:
    sealed = bytes(wrapped)  # a BinaryField reads as a memoryview on PostgreSQL
    try:
        return AESGCM(_master_key(master_key_id)).decrypt(
            sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], f"datakey:{key_id}".encode()
        )
    except InvalidTag:
        raise KeyringError(
            f"The master key {master_key_id!r} in CANDOR_MASTER_KEYS is not the key that wrapped the "
            "data keys: check its value. Nothing was decrypted."
        ) from None


class _KeyCache:
    """Unwrapped data keys for the current request only (cleared when each request finishes).

    Bounded, and forgotten when a key is destroyed, so a process holds no key for longer than it needs.
    """

    SIZE = 256

    def __init__(self) -> None:
        # Ciphers (AESGCM objects holding the unwrapped key), so each is set up once per request.
        self.by_key_id: OrderedDict[str, AESGCM] = OrderedDict()
        self.key_id_by_user: dict[str, str] = {}

    def put(self, user_id: str, key_id: str, key: bytes) -> AESGCM:
        cipher = self.by_key_id[key_id] = AESGCM(key)
        self.key_id_by_user[user_id] = key_id
        while len(self.by_key_id) > self.SIZE:
            self.by_key_id.popitem(last=False)
        return cipher

    def clear(self, **kwargs: Any) -> None:
        self.by_key_id.clear()
        self.key_id_by_user.clear()


_cache = _KeyCache()
request_finished.connect(_cache.clear, dispatch_uid="candor.privacy.crypto.clear")


# The accounts whose values are being decrypted for someone else, inside a grant (candor.staff.gate).
_revealing: ContextVar[frozenset[str]] = ContextVar("candor_revealing", default=frozenset())


@contextmanager
def revealing(owner_id: Any) -> Iterator[None]:
    """The one scope in which a person's values are decrypted for someone else: entered by the staff
    gate (``candor.staff.gate.reveal``) only, once it has checked the grant and logged the access."""
    token = _revealing.set(_revealing.get() | {str(owner_id)})
    try:
        yield
    finally:
        _revealing.reset(token)


def forget_cached_keys() -> None:
    _cache.clear()


def data_key_for(user_id: Any) -> tuple[str, AESGCM]:
    """The account's key id and cipher, the key made on first use."""
    user_id = str(user_id)
    key_id = _cache.key_id_by_user.get(user_id)
    if key_id is not None and key_id in _cache.by_key_id:
        return key_id, _cache.by_key_id[key_id]
    row = DataKey.objects.filter(user_id=user_id).first()
    if row is None:
        key = AESGCM.generate_key(bit_length=256)
        row = DataKey(user_id=user_id, master_key_id=current_master_key_id())
        row.wrapped = wrap(key, row.key_id, row.master_key_id)
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except IntegrityError:  # made a moment ago by a concurrent request
            row = DataKey.objects.get(user_id=user_id)
            key = unwrap(row.wrapped, row.key_id, row.master_key_id)
    else:
        key = unwrap(row.wrapped, row.key_id, row.master_key_id)
    return row.key_id, _cache.put(user_id, row.key_id, key)


def _key_by_id(key_id: str) -> AESGCM | None:
    if key_id in _cache.by_key_id:
        return _cache.by_key_id[key_id]
    row = DataKey.objects.filter(key_id=key_id).first()
    if row is None:
        return None
    key = unwrap(row.wrapped, row.key_id, row.master_key_id)
    return _cache.put(str(row.user_id), row.key_id, key)


def cipher_for_key_id(key_id: str) -> AESGCM | None:
    """The cipher of the data key ``key_id``, or None once that key is destroyed."""
    return _key_by_id(key_id)


def encrypt(plaintext: str, *, user_id: Any, context: str) -> str:
    key_id, cipher = data_key_for(user_id)
    nonce = os.urandom(NONCE_BYTES)
    sealed = cipher.encrypt(nonce, plaintext.encode(), context.encode())
    return f"{PREFIX}{key_id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


class Unreadable(str):
    """What an encrypted value reads as once its data key is gone (a deleted account's leftovers)."""

    __slots__ = ()


UNREADABLE = Unreadable("[unreadable: the key was destroyed]")


def decrypt(stored: str, *, context: str) -> str:
    key_id, _, body = stored[len(PREFIX) :].partition(":")
    cipher = _key_by_id(key_id)
    if cipher is None:
        return UNREADABLE
    raw = base64.urlsafe_b64decode(body)
    try:
        return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()
    except InvalidTag:
        raise KeyringError(
            f"An encrypted value of {context.partition('|')[0]} does not match its data key or its row."
        ) from None


def associated_data(label: str, field: str, owner_id: Any) -> str:
    return f"{label}.{field}|{owner_id}"


def is_encrypted(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def blind_index(purpose: str, value: str, *, exact: bool = False) -> str:
    """A keyed hash of the value, lower-cased and trimmed (unless ``exact``), for equality lookups."""
    normalised = value if exact else value.strip().lower()
    message = f"{purpose}\x00{normalised}".encode()
    if not settings.BLIND_INDEX_KEY:  # an empty key would still hash, into indexes that match nothing
        raise KeyringError(_NO_KEYS)
    return hmac.new(settings.BLIND_INDEX_KEY, message, hashlib.sha256).hexdigest()


def has_data_key(user_id: Any) -> bool:
    return bool(DataKey.objects.filter(user_id=user_id).exists())


def destroy_data_key(user_id: Any) -> int:
    """Delete the account's data key: every value it encrypted, wherever a copy is, becomes unreadable."""
    _cache.clear()
    deleted, _ = DataKey.objects.filter(user_id=user_id).delete()
    return int(deleted)


def rewrap_all(*, batch: int = 500) -> int:
    """Re-wrap every data key not under the current master key. Returns how many were re-wrapped."""
    from django.utils import timezone

    current = current_master_key_id()
    done = 0
    while True:
        with transaction.atomic():
            rows = list(DataKey.objects.exclude(master_key_id=current).select_for_update()[:batch])
            if not rows:
                return done
            for row in rows:
                key = unwrap(row.wrapped, row.key_id, row.master_key_id)
                row.wrapped = wrap(key, row.key_id, current)
                row.master_key_id = current
                row.wrapped_at = timezone.now()
            DataKey.objects.bulk_update(rows, ["wrapped", "master_key_id", "wrapped_at"])
            done += len(rows)


def verify_keyring() -> None:
    """Check that every master key the stored data keys name is present and right (one key each).

    The web server, the worker and the demo run this at start-up, so a missing or wrong key stops them
    with a clear message before any request could fail half-way.
    """
    for master_key_id in DataKey.objects.values_list("master_key_id", flat=True).distinct():
        row = DataKey.objects.filter(master_key_id=master_key_id).first()
        if row is not None:
            unwrap(row.wrapped, row.key_id, row.master_key_id)


class EncryptedAttribute(DeferredAttribute):
    """Reads decrypt (once per instance); writes keep the plain value until the row is saved."""

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        if is_encrypted(value):
            field: EncryptedTextField = self.field  # type: ignore[assignment]
            value = decrypt(value, context=field.context_for(instance))
            instance.__dict__[self.field.attname] = value
        return value

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.field.attname] = value


class EncryptedTextField(models.TextField[str, str]):
    """A text column holding the value encrypted under the data key of the account that owns the row.

    ``key_owner`` names the attribute that holds that account's id: ``"pk"`` on the account itself,
    ``"user_id"`` on a row that belongs to one. The column cannot be searched: add a blind index.
    """

    descriptor_class = EncryptedAttribute
    encrypted_at_rest = True  # read by inventory.encrypted_column

    def __init__(self, *args: Any, key_owner: str = "user_id", **kwargs: Any) -> None:
        self.key_owner = key_owner
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["key_owner"] = self.key_owner
        return name, path, args, kwargs

    def context_for(self, instance: Any) -> str:
        """The associated data: the column and the owning account, so a value moved elsewhere fails."""
        return associated_data(self.model._meta.label, self.name, getattr(instance, self.key_owner))

    def plain_value(self, text: str) -> Any:
        """The attribute's value from the decrypted text (the text itself; parsed JSON in a subclass)."""
        return text

    def pre_save(self, model_instance: Any, add: bool) -> Any:
        if self.attname not in model_instance.__dict__:
            return None
        value = model_instance.__dict__[self.attname]
        if value is None or is_encrypted(value):
            return value  # unchanged since it was loaded: stored as it was
        if isinstance(value, Unreadable):
            raise KeyringError(f"{self.name} cannot be saved: its data key was destroyed.")
        owner = getattr(model_instance, self.key_owner)
        return encrypt(str(value), user_id=owner, context=self.context_for(model_instance))


class EncryptedJSONAttribute(EncryptedAttribute):
    """Reads decrypt and parse (once per instance); what is assigned is kept as given until saved."""

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None:
            return self
        value = DeferredAttribute.__get__(self, instance, cls)
        if isinstance(value, str) and not isinstance(value, Unreadable):
            # As stored: encrypted, or JSON text from before the column was encrypted.
            field: EncryptedJSONField = self.field  # type: ignore[assignment]
            text = decrypt(value, context=field.context_for(instance)) if is_encrypted(value) else value
            value = field.plain_value(text)
            instance.__dict__[self.field.attname] = value
        return value


class EncryptedJSONField(EncryptedTextField):
    """A JSON value (a list of words …) stored as its text, encrypted like :class:`EncryptedTextField`.

    The attribute reads as the parsed value, or :data:`UNREADABLE` once the key is destroyed.
    """

    descriptor_class = EncryptedJSONAttribute

    def plain_value(self, text: str) -> Any:
        return text if isinstance(text, Unreadable) else json.loads(text)

    def pre_save(self, model_instance: Any, add: bool) -> Any:
        if self.attname not in model_instance.__dict__:
            return None
        value = model_instance.__dict__[self.attname]
        if value is None or is_encrypted(value):
            return value
        if isinstance(value, Unreadable):
            raise KeyringError(f"{self.name} cannot be saved: its data key was destroyed.")
        # A str is JSON text as it was read (never parsed); anything else is the value itself.
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        owner = getattr(model_instance, self.key_owner)
        return encrypt(text, user_id=owner, context=self.context_for(model_instance))


def verify_keyring_at_start_up() -> None:
    from django.core.management.base import CommandError

    try:
        verify_keyring()
    except KeyringError as error:
        raise CommandError(f"Candor cannot start: {error}") from None
