"""The media folder holds nothing of a model file in clear: not its bytes, not its path, not its hash.

A copy of the folder (what a backup of the media takes) is scanned byte by byte. After the account is
erased its blobs are gone from the folder, and the copy taken before the erasure can no longer be read:
the key that sealed it was destroyed.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from candor.accounts.models import User
from candor.core import objectstore
from candor.hub import actions as hub_actions
from candor.hub import blobs
from candor.hub.models import Blob
from candor.lifecycle import erasure
from candor.privacy import crypto, sealed
from tests.api.conftest import Api, token_for

pytestmark = pytest.mark.django_db

BYTES = b"XV9-DISTINCTIVE-WEIGHTS-" * 20_000  # past the form's in-memory size: the form spools it
PATHS = ("xv9-secret-dir/xv9-weights.bin", "xv9-notes.txt")


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    return Path(settings.MEDIA_ROOT)


def every_byte(folder: Path) -> list[tuple[str, bytes]]:
    return [(str(p.relative_to(folder)), p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()]


def needles(contents: list[bytes], paths: tuple[str, ...]) -> list[bytes]:
    found = [c[i : i + 24] for c in contents for i in (0, len(c) // 2, max(0, len(c) - 24)) if c]
    found += [p.encode() for p in paths] + [p.rsplit("/", 1)[-1].encode() for p in paths]
    found += [hashlib.sha256(c).hexdigest().encode() for c in contents]
    found += [hashlib.sha256(c).digest() for c in contents]
    return found


def assert_nothing_in_clear(folder: Path, contents: list[bytes], paths: tuple[str, ...]) -> None:
    for needle in needles(contents, paths):
        for name, raw in every_byte(folder):
            assert needle not in raw, (needle[:30], name)
            assert needle.decode("latin-1") not in name, name


def test_the_media_folder_and_a_copy_of_it_hold_nothing_in_clear_and_the_copy_dies_with_the_key(
    owner: User, member: User, media: Path, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    model = hub_actions.create_model(acting_user=owner, name="xv9-model", title="Model")
    # Through the API (a PUT, sealed as it arrives) and the website's form (spooled sealed, then stored).
    api = Api(token_for(owner))
    assert api.put(f"/models/alice/xv9-model/files/{PATHS[0]}", BYTES).status_code in (200, 201)
    client = Client()
    client.force_login(owner)
    notes = b"XV9 notes, in a form upload " * 5000
    response = client.post(
        "/alice/xv9-model/upload/", {"file": SimpleUploadedFile("xv9-notes.txt", notes), "path": PATHS[1]}
    )
    assert response.status_code == 302
    # An older revision's bytes, and bob's copy of the same weights (a blob of his own).
    hub_actions.add_file(model, PATHS[1], [b"XV9 an older version of the notes"], acting_user=owner)
    theirs = hub_actions.create_model(acting_user=member, name="theirs", title="Theirs")
    hub_actions.add_file(theirs, "w.bin", [BYTES], acting_user=member)
    contents = [BYTES, notes, b"XV9 an older version of the notes"]

    alices = list(Blob.objects.filter(owner=owner))
    bobs = list(Blob.objects.filter(owner=member))
    assert len(alices) == 3 and len(bobs) == 1
    assert all(b"".join(blobs.read(blob)) in contents for blob in alices)

    assert_nothing_in_clear(media, contents, PATHS)
    copy = tmp_path / "backup-of-media"
    shutil.copytree(media, copy)
    assert_nothing_in_clear(copy, contents, PATHS)
    assert {str(b.stored.name) for b in alices} <= {name for name, _ in every_byte(copy)}

    with django_capture_on_commit_callbacks(execute=True):
        erasure.erase_account(owner.pk, acting_user=owner)

    # Every blob of alice's is gone from the folder; bob's stays, and reads.
    left = set(objectstore.names(blobs.FOLDER))
    assert not any(str(b.stored.name) in left for b in alices)
    assert {str(b.stored.name) for b in bobs} == left
    assert b"".join(blobs.read(bobs[0])) == BYTES
    assert_nothing_in_clear(media, contents, PATHS)

    # The copy taken before the erasure, put back: its objects are there, and none can be opened.
    for blob in alices:
        target = media / str(blob.stored.name)
        shutil.copyfile(copy / str(blob.stored.name), target)
        with pytest.raises(blobs.Damaged):
            blobs.read(blob)
        key_id, _, _ = sealed.parse_header(target.read_bytes()[:300])
        assert crypto.cipher_for_key_id(key_id) is None
