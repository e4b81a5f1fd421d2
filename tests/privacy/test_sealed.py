"""Sealed files: exports stored encrypted under the account's data key (clauses C4, C18)."""

from __future__ import annotations

import io
import logging
import random
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client

from candor.accounts.models import User
from candor.core import objectstore
from candor.lifecycle import export
from candor.privacy import crypto, sealed
from candor.privacy.models import ExportArchive
from tests.api.conftest import Api, assert_error, token_for
from tests.api.test_files import wsgi

pytestmark = pytest.mark.django_db
CONTEXT = "privacy.ExportArchive|abc|1"


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def small_segments(monkeypatch: pytest.MonkeyPatch) -> int:
    """Segments of 64 bytes, so that many-segment files stay small."""
    monkeypatch.setattr(sealed, "SEGMENT", 64)
    return 64


def seal(owner: User, data: bytes, pieces: int = 7, context: str = CONTEXT) -> bytes:
    out = io.BytesIO()
    writer = sealed.SealingWriter(out, user_id=owner.pk, context=context)
    rng = random.Random(len(data))
    position = 0
    while position < len(data):  # written in pieces of odd sizes, as zipfile writes
        step = rng.randint(1, max(1, len(data) // pieces + 1))
        writer.write(data[position : position + step])
        position += step
    writer.finish()
    assert writer.size == writer.tell() == len(data)
    return out.getvalue()


def unseal(blob: bytes, context: str = CONTEXT) -> bytes:
    return b"".join(sealed.opened(io.BytesIO(blob), context=context))


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 128, 129, 64 * 5 + 17])
def test_a_sealed_file_opens_to_exactly_what_was_written(owner: User, small_segments: int, size: int) -> None:
    data = random.Random(size).randbytes(size)
    blob = seal(owner, data)
    assert unseal(blob) == data
    segments = max(1, -(-size // small_segments))  # a last segment always, empty for an empty file
    header = len(sealed.MAGIC) + 1 + len(crypto.data_key_for(owner.pk)[0]) + sealed.PREFIX_BYTES
    assert len(blob) == header + size + segments * sealed.TAG_BYTES
    if size >= 16:
        assert data[:16] not in blob  # nothing in clear


def test_any_change_to_a_sealed_file_is_refused(owner: User, small_segments: int) -> None:
    data = random.Random(3).randbytes(64 * 4 + 10)
    blob = seal(owner, data)
    header = len(blob) - len(data) - 5 * sealed.TAG_BYTES
    sealed_segment = 64 + sealed.TAG_BYTES
    for position in (len(sealed.MAGIC) + 3, header - 1, header, header + sealed_segment + 5, len(blob) - 1):
        damaged = bytearray(blob)
        damaged[position] ^= 0x01
        with pytest.raises(sealed.SealError):
            unseal(bytes(damaged))
    segments = [
        blob[header + i : header + i + sealed_segment] for i in range(0, len(blob) - header, sealed_segment)
    ]
    cut_at_a_segment = blob[:header] + b"".join(segments[:-1])  # the last segment dropped
    dropped = blob[:header] + segments[0] + b"".join(segments[2:])  # one from the middle dropped
    swapped = blob[:header] + segments[1] + segments[0] + b"".join(segments[2:])
    repeated = blob[:header] + segments[0] + b"".join(segments)
    for bad in (cut_at_a_segment, dropped, swapped, repeated, blob[:-1], blob + b"\0", blob[:header]):
        with pytest.raises(sealed.SealError):
            unseal(bad)
    with pytest.raises(sealed.SealError):
        unseal(blob, context="privacy.ExportArchive|another|1")  # not this archive's file
    with pytest.raises(sealed.SealError, match="Not a sealed file"):
        unseal(b"PK\x03\x04" + data)


def test_a_destroyed_key_makes_the_file_unreadable(owner: User, member: User) -> None:
    mine, theirs = seal(owner, b"alice's data"), seal(member, b"bob's data")
    crypto.destroy_data_key(owner.pk)
    with pytest.raises(sealed.KeyDestroyed):
        sealed.opened(io.BytesIO(mine), context=CONTEXT)  # at once, before any byte is given
    assert unseal(theirs) == b"bob's data"


def built(user: User, django_capture_on_commit_callbacks: Any) -> ExportArchive:
    with django_capture_on_commit_callbacks(execute=True):
        archive = export.request_export(user, acting_user=user)
    archive.refresh_from_db()
    assert archive.status == ExportArchive.Status.READY
    return archive


def test_the_stored_export_holds_nothing_in_clear_and_downloads_as_a_zip(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    archive = built(owner, django_capture_on_commit_callbacks)
    stored = default_storage.open(archive.archive.name, "rb").read()
    assert stored.startswith(sealed.MAGIC)
    for clear in (b"PK\x03\x04", owner.email.encode(), owner.username.encode(), b"README.json"):
        assert clear not in stored, clear
    client = Client()
    client.force_login(owner)
    response = client.get(f"/settings/export/{archive.public_id}/download/")
    assert response.status_code == 200 and response["Content-Length"] == str(archive.size)
    content = b"".join(response.streaming_content)
    assert len(content) == archive.size
    zipped = zipfile.ZipFile(io.BytesIO(content))
    assert zipped.testzip() is None and "README.json" in zipped.namelist()
    assert owner.email.encode() in b"".join(zipped.read(name) for name in zipped.namelist())


def test_an_export_whose_key_is_gone_or_that_was_tampered_with_is_not_served(
    owner: User, django_capture_on_commit_callbacks: Any, caplog: pytest.LogCaptureFixture
) -> None:
    archive = built(owner, django_capture_on_commit_callbacks)
    client = Client()
    client.force_login(owner)
    api = Api(token_for(owner))
    page = f"/settings/export/{archive.public_id}/download/"
    stored = default_storage.open(archive.archive.name, "rb").read()

    damaged = bytearray(stored)
    header = len(sealed.MAGIC) + 1 + stored[len(sealed.MAGIC)] + sealed.PREFIX_BYTES
    damaged[header - 1] ^= 0x01  # the nonce prefix: found before the download starts
    default_storage.delete(archive.archive.name)
    default_storage.save(archive.archive.name, ContentFile(bytes(damaged)))
    with caplog.at_level(logging.ERROR, logger="candor.privacy"):
        assert client.get(page).status_code == 410
    assert f"export archive {archive.pk} cannot be opened: SealError" in caplog.text
    assert owner.email not in caplog.text

    default_storage.delete(archive.archive.name)
    default_storage.save(archive.archive.name, ContentFile(stored))
    assert client.get(page).status_code == 200
    crypto.destroy_data_key(owner.pk)
    assert client.get(page).status_code == 410
    assert_error(api.get(f"/me/exports/{archive.public_id}/download"), 410, "export_expired")


def test_an_archive_stored_before_sealing_still_downloads(owner: User) -> None:
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as zipped:
        zipped.writestr("README.json", "{}")
    name = default_storage.save("exports/older.zip", ContentFile(plain.getvalue()))
    archive = ExportArchive.objects.create(
        user=owner, status=ExportArchive.Status.READY, archive=name, size=len(plain.getvalue())
    )
    archive.expires_at = archive.created_at + export.ttl()
    archive.save()
    client = Client()
    client.force_login(owner)
    response = client.get(f"/settings/export/{archive.public_id}/download/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == plain.getvalue()


def test_the_archive_file_is_closed_after_a_download_and_after_a_head(
    owner: User, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = built(owner, django_capture_on_commit_callbacks)
    opened: list[Any] = []  # the file objects the object store's reads opened
    read = objectstore.read

    def recording_read(*args: Any, **options: Any) -> Any:
        pieces = read(*args, **options)
        opened.append(pieces._source)
        return pieces

    monkeypatch.setattr(objectstore, "read", recording_read)
    client = Client()
    client.force_login(owner)
    cookie = {
        "Cookie": f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    }
    page = f"/settings/export/{archive.public_id}/download/"
    # Through the WSGI application, which is closed once answered, as a server closes it.
    status, headers, content = wsgi("HEAD", page, cookie)
    assert (status, content) == (200, b"") and headers["Content-Length"] == str(archive.size)
    # Its first bytes read (sealed or not?), then the whole opened and closed, never read.
    assert len(opened) == 2 and all(handle.closed for handle in opened)
    status, headers, content = wsgi("GET", page, cookie)
    assert status == 200 and len(content) == archive.size
    assert len(opened) == 4 and all(handle.closed for handle in opened)
