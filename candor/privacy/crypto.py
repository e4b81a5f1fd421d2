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
import threading
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
from django.tasks.signals import task_finished, task_started

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
        self.user_by_key_id: dict[str, str] = {}

    def put(self, user_id: str, key_id: str, key: bytes) -> AESGCM:
        cipher = self.by_key_id[key_id] = AESGCM(key)
        self.key_id_by_user[user_id] = key_id
        self.user_by_key_id[key_id] = user_id
        while len(self.by_key_id) > self.SIZE:
            self.by_key_id.popitem(last=False)
        return cipher

    def clear(self, **kwargs: Any) -> None:
        self.by_key_id.clear()
        self.key_id_by_user.clear()
        self.user_by_key_id.clear()


_cache = _KeyCache()
request_finished.connect(_cache.clear, dispatch_uid="candor.privacy.crypto.clear")


# --- Who may decrypt whose values -------------------------------------------------------------------
#
# The viewer is the person a request is answered for: the signed-in account's id, or ANONYMOUS. It is
# set for each web request (candor.privacy.middleware.ViewerMiddleware) and by the bearer-token
# authentications of API v1 and of the Hugging Face protocol. Outside a request (a worker's task, a
# command, a migration, the demo) there is none: the platform processing data for its own work (sending
# a person their own email, building their export), and a task run inline inside a request runs without
# the request's viewer too, as it would in a worker.
#
# When there is a viewer, a value whose owner is someone else is decrypted only (a) inside
# revealing(owner), which only the staff gate enters, or (b) when it is one of the PUBLISHED fields and
# this request was handed, by the visibility helper (candor.hub.visibility), a public or unlisted model
# of that owner (for the model's own content) or anything of theirs it may show (for their username and
# their files' bytes). Anything else raises NotYours: a bug, loud in production as in the tests.

ANONYMOUS = "anonymous"

# Field label -> the attribute of its row naming the model whose publication shows it; None for a
# field shown with anything of its owner's that is published (a username, a blob's hash). SEALED names
# the bytes of sealed files (a model's files), shown the same way.
SEALED = "sealed file"
PUBLISHED: dict[str, str | None] = {
    **{
        f"hub.MLModel.{name}": "pk"
        for name in ("name", "title", "summary", "card", "tags", "languages", "datasets", "base_models")
    },
    "hub.MLModel.card_data": "pk",
    "hub.ModelFile.path": "model_id",
    "hub.Commit.message": "model_id",
    "hub.Ref.name": "model_id",
    "hub.Blob.sha256": None,
    "accounts.User.username": None,
    SEALED: None,
}


class NotYours(RuntimeError):
    """A value of one person was about to be decrypted for someone else outside a grant: a bug.

    Never caught on purpose: the request fails rather than show what is not the viewer's.
    """


_viewer: ContextVar[str | None] = ContextVar("candor_viewer", default=None)
# (owner id, model id or "") pairs this request may show the published fields of; a fresh set each request.
_shown: ContextVar[set[tuple[str, str]] | None] = ContextVar("candor_shown", default=None)


def current_viewer() -> str | None:
    return _viewer.get()


def set_viewer(user_id: Any | None) -> None:
    """Name the request's viewer once a bearer token's owner is known (None: anonymous). Only inside a
    request's :func:`viewing` scope, which ends it; elsewhere (no request) nothing changes."""
    if _shown.get() is not None:
        _viewer.set(ANONYMOUS if user_id is None else str(user_id))


@contextmanager
def viewing(user_id: Any) -> Iterator[None]:
    """The scope of one request answered for ``user_id`` (an account's id or ANONYMOUS)."""
    viewer_token = _viewer.set(str(user_id))
    shown_token = _shown.set(set())
    try:
        yield
    finally:
        _shown.reset(shown_token)
        _viewer.reset(viewer_token)


@contextmanager
def acting_for(user_id: Any) -> Iterator[None]:
    """Within the block, the request acts for ``user_id``: for a check the platform makes of a secret
    that account was sent (a link's token hashes its address), before the visitor is known to hold it."""
    token = _viewer.set(str(user_id)) if _shown.get() is not None else None
    try:
        yield
    finally:
        if token is not None:
            _viewer.reset(token)


@contextmanager
def resumed(state: tuple[str | None, set[tuple[str, str]] | None]) -> Iterator[None]:
    """Back inside a request's scope (``state`` from :func:`viewing_state`), for a streamed body."""
    viewer_token = _viewer.set(state[0])
    shown_token = _shown.set(state[1])
    try:
        yield
    finally:
        _shown.reset(shown_token)
        _viewer.reset(viewer_token)


def viewing_state() -> tuple[str | None, set[tuple[str, str]] | None]:
    return _viewer.get(), _shown.get()


def show_published(owner_id: Any, model_id: Any = None) -> None:
    """Let this request decrypt the published fields of ``owner_id``'s public or unlisted model
    ``model_id`` (and their username and files' bytes); with no model, their username only.

    Called by candor.hub.visibility only, as it hands a published model or a shown profile to a
    viewer who is not its owner. Nothing happens outside a request."""
    shown = _shown.get()
    if shown is not None:
        shown.add((str(owner_id), "" if model_id is None else str(model_id)))


def _may_decrypt(owner: str, field: str, scope: Any) -> bool:
    viewer = _viewer.get()
    if viewer is None or viewer == owner or owner in _revealing.get():
        return True
    if field not in PUBLISHED:
        return False
    shown = _shown.get() or set()
    if PUBLISHED[field] is None:
        return any(who == owner for who, _ in shown)
    return scope is not None and (owner, str(scope)) in shown


def check_decryption(owner: Any, field: str, scope: Any = None) -> None:
    """Raise NotYours unless ``field`` of ``owner`` may be decrypted for the current viewer."""
    if not _may_decrypt(str(owner), field, scope):
        raise NotYours(
            f"{field} of another account was about to be decrypted for the viewer outside a grant and "
            "outside what its owner published. Reveal it through candor.staff.gate, or hand the model "
            "through candor.hub.visibility if it is published."
        )


# The scopes tasks run inline left, one stack per thread (a live server answers in several at once).
_task_scopes = threading.local()


def _task_started(**kwargs: Any) -> None:
    stack = _task_scopes.__dict__.setdefault("stack", [])
    stack.append((_viewer.set(None), _shown.set(None)))


def _task_finished(**kwargs: Any) -> None:
    stack = _task_scopes.__dict__.get("stack")
    if stack:
        viewer_token, shown_token = stack.pop()
        _shown.reset(shown_token)
        _viewer.reset(viewer_token)


task_started.connect(_task_started, dispatch_uid="candor.privacy.crypto.task_started")
task_finished.connect(_task_finished, dispatch_uid="candor.privacy.crypto.task_finished")


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


def _key_by_id(key_id: str, field: str, scope: Any = None) -> AESGCM | None:
    """The cipher of ``key_id``, checked (on a cache hit too) before its key is used or unwrapped."""
    if key_id in _cache.by_key_id:
        check_decryption(_cache.user_by_key_id[key_id], field, scope)
        return _cache.by_key_id[key_id]
    row = DataKey.objects.filter(key_id=key_id).first()
    if row is None:
        return None
    check_decryption(row.user_id, field, scope)
    key = unwrap(row.wrapped, row.key_id, row.master_key_id)
    return _cache.put(str(row.user_id), row.key_id, key)


def cipher_for_key_id(key_id: str) -> AESGCM | None:
    """The cipher of the data key ``key_id`` for decrypting a sealed file, or None once that key is
    destroyed. NotYours if the key is another account's and its files are not shown to the viewer."""
    return _key_by_id(key_id, SEALED)


def encrypt(plaintext: str, *, user_id: Any, context: str) -> str:
    key_id, cipher = data_key_for(user_id)
    nonce = os.urandom(NONCE_BYTES)
    sealed = cipher.encrypt(nonce, plaintext.encode(), context.encode())
    return f"{PREFIX}{key_id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


class Unreadable(str):
    """What an encrypted value reads as once its data key is gone (a deleted account's leftovers)."""

    __slots__ = ()


UNREADABLE = Unreadable("[unreadable: the key was destroyed]")


def decrypt(stored: str, *, context: str, scope: Any = None) -> str:
    """The clear text of ``stored``; ``context`` is its associated data ("<label>.<field>|<owner>") and
    ``scope`` the id of the model a published field belongs to. NotYours if the rule forbids it."""
    field, _, owner = context.partition("|")
    check_decryption(owner, field, scope)
    key_id, _, body = stored[len(PREFIX) :].partition(":")
    cipher = _key_by_id(key_id, field, scope)
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
            value = decrypt(value, context=field.context_for(instance), scope=field.scope_for(instance))
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

    def scope_for(self, instance: Any) -> Any:
        """The id of the model whose publication shows this value (None if none does)."""
        attribute = PUBLISHED.get(f"{self.model._meta.label}.{self.name}")
        return None if attribute is None else getattr(instance, attribute, None)

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
            if is_encrypted(value):
                text = decrypt(value, context=field.context_for(instance), scope=field.scope_for(instance))
            else:
                text = value
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
