"""Signed checkpoints of the access log: its size and head hash at a time, signed with Ed25519.

The signed statement is the canonical JSON of ``{"log", "size", "head_hash", "signed_at", "kind"}``: a
count, a hash, a time and a word, nothing personal. Anyone who keeps a copy of the published list (the
JSON at ``/transparency/log/checkpoints``, also written to ``<data dir>/transparency/checkpoints.json``)
can later ask ``candor audit verify`` whether the log still holds what was vouched for. A checkpoint of
kind ``restored`` is signed at once after a backup is restored: the log was set back to the backup's
size there, and the list shows it instead of a silent fork.

The key is ``CANDOR_LOG_SIGNING_KEY`` (generated into the data folder when unset); ``key_id`` is the
first 16 hex digits of the SHA-256 of the raw public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone

from candor.accounts.models import User
from candor.kernel.actions import durable
from candor.kernel.refusal import Code, Refusal
from candor.privacy import audit
from candor.privacy.audit import EventType
from candor.staff.accesslog import GENESIS
from candor.staff.models import Checkpoint, LogHead

LOG_NAME = "candor-access-log/1"
PUBLIC_KEY_FORMAT = (
    "an Ed25519 public key: 32 bytes in URL-safe base64, as /transparency/log/checkpoints publishes"
)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes | None:
    text = text.strip()
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        return None


def time_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def statement(size: int, head_hash: str, signed_at: datetime, kind: str) -> bytes:
    """The exact bytes a checkpoint's signature is made over."""
    body = {
        "log": LOG_NAME,
        "size": size,
        "head_hash": head_hash,
        "signed_at": time_text(signed_at),
        "kind": kind,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _private_key() -> Ed25519PrivateKey:
    seed = settings.LOG_SIGNING_KEY
    if len(seed) != 32:
        raise ImproperlyConfigured(
            "No access log signing key is configured (CANDOR_LOG_SIGNING_KEY): nothing was signed."
        )
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key() -> Ed25519PublicKey:
    return _private_key().public_key()


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id_of(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public(key)).hexdigest()[:16]


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A public key given as text, or ValueError saying what was expected."""
    raw = _unb64(text)
    if raw is None or len(raw) != 32:
        raise ValueError(f"expected {PUBLIC_KEY_FORMAT}")
    return Ed25519PublicKey.from_public_bytes(raw)


def signature_holds(checkpoint: Checkpoint, key: Ed25519PublicKey) -> bool:
    raw = _unb64(checkpoint.signature)
    if raw is None or len(raw) != 64:
        return False
    message = statement(checkpoint.size, checkpoint.head_hash, checkpoint.signed_at, checkpoint.kind)
    try:
        key.verify(raw, message)
    except InvalidSignature:
        return False
    return True


def _head() -> tuple[int, str]:
    """The log's size and head hash, with the head row locked (appends wait until this commits)."""
    LogHead.objects.filter(pk=1).update(size=F("size"))
    head = LogHead.objects.filter(pk=1).first()
    return (0, GENESIS) if head is None else (head.size, head.head_hash)


@durable
def make_checkpoint(*, acting_user: User | None, kind: str = Checkpoint.Kind.REGULAR) -> Checkpoint | None:
    """Sign the log's current size and head. A regular checkpoint is not made when the log has not grown
    since the last one (None); a ``restored`` one always is."""
    key = _private_key()
    if kind not in Checkpoint.Kind.values:
        raise Refusal(Code.INVALID, f"A checkpoint's kind is one of {', '.join(Checkpoint.Kind.values)}.")
    size, head_hash = _head()
    last = Checkpoint.objects.order_by("-signed_at", "-pk").first()
    if (
        kind == Checkpoint.Kind.REGULAR
        and last is not None
        and (last.size, last.head_hash) == (size, head_hash)
    ):
        return None
    signed_at = timezone.now()
    if last is not None and signed_at <= last.signed_at:
        signed_at = last.signed_at + timedelta(microseconds=1)  # the list's order is its times'
    signature = key.sign(statement(size, head_hash, signed_at, kind))
    checkpoint = Checkpoint.objects.create(
        size=size,
        head_hash=head_hash,
        signed_at=signed_at,
        kind=kind,
        key_id=key_id_of(key.public_key()),
        signature=_b64(signature),
    )
    audit.record(
        EventType.LOG_CHECKPOINT,
        acting_user=acting_user,
        extra={"size": size, "restored": kind == Checkpoint.Kind.RESTORED},
    )
    transaction.on_commit(write_published)
    return checkpoint


def as_published(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "size": checkpoint.size,
        "head_hash": checkpoint.head_hash,
        "signed_at": time_text(checkpoint.signed_at),
        "kind": checkpoint.kind,
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
    }


def published() -> dict[str, Any]:
    """What is published: the public key, how a statement is formed, and every checkpoint, oldest first."""
    key = public_key()
    return {
        "log": LOG_NAME,
        "algorithm": "Ed25519",
        "public_key": _b64(raw_public(key)),
        "key_id": key_id_of(key),
        "statement": (
            "Each signature is over the JSON object {log, size, head_hash, signed_at, kind} with sorted "
            "keys, no spaces, ASCII only."
        ),
        "checkpoints": [as_published(c) for c in Checkpoint.objects.order_by("signed_at", "pk")],
    }


def published_path() -> Path:
    return Path(settings.DATA_DIR) / "transparency" / "checkpoints.json"


def write_published() -> Path:
    """Rewrite the published file atomically: a reader sees the old list or the new one, whole."""
    path = published_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps(published(), indent=1, sort_keys=True).encode() + b"\n"
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    with open(temporary, "wb") as handle:
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return path


# --- Across a restore ---------------------------------------------------------------------------------


def remember_published() -> list[dict[str, Any]]:
    """Every checkpoint published so far, from the live database and the published file, read before a
    restore replaces the database: the backup's table lacks those signed since it was made."""
    rows: dict[str, dict[str, Any]] = {}
    try:
        for checkpoint in Checkpoint.objects.order_by("signed_at", "pk"):
            rows[checkpoint.signature] = as_published(checkpoint)
    except DatabaseError:  # a new installation being restored: no table yet
        pass
    try:
        listed = json.loads(published_path().read_text()).get("checkpoints", [])
    except (FileNotFoundError, ValueError, AttributeError):
        listed = []
    for row in listed:
        if isinstance(row, dict) and isinstance(row.get("signature"), str):
            rows.setdefault(row["signature"], row)
    return sorted(rows.values(), key=lambda row: str(row["signed_at"]))


def _parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@durable
def put_back(remembered: list[dict[str, Any]], *, acting_user: User | None) -> int:
    """Insert the remembered checkpoints the restored table lacks, as they were signed (a signature
    proves each one; a row that was altered fails `candor audit verify`, it is not dropped here).
    Returns how many were put back."""
    present = set(Checkpoint.objects.values_list("signature", flat=True))
    missing = [row for row in remembered if row["signature"] not in present]
    Checkpoint.objects.bulk_create(
        [
            Checkpoint(
                size=int(row["size"]),
                head_hash=str(row["head_hash"]),
                signed_at=_parse_time(str(row["signed_at"])),
                kind=str(row["kind"]),
                key_id=str(row["key_id"]),
                signature=str(row["signature"]),
            )
            for row in missing
        ]
    )
    return len(missing)
