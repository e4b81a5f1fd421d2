"""The export's files/: every file the person uploaded, copied from storage into the archive.

A model's files are sealed blobs (:mod:`candor.hub.blobs`): they are decrypted as they are copied, a
segment at a time, straight into the (sealed) archive, so no clear copy ever reaches the disk. They are
placed by the tree of each model's ``main`` branch, at ``files/<model name>/<path>``; older revisions are
listed in the records (commits, their trees' paths, the blobs' sizes and hashes), their bytes not copied.
Other declared file fields are copied as they are stored.
"""

from __future__ import annotations

import logging
import os
import string
import zipfile
from typing import Any

from django.core.files.storage import FileSystemStorage
from django.db.models import F

from candor.core import objectstore
from candor.hub import blobs
from candor.hub.models import Blob, MLModel, ModelFile
from candor.lifecycle.export import records, zipwriter
from candor.lifecycle.export.paths import file_place, local_path, unique
from candor.lifecycle.export.summary import StoredFile
from candor.privacy import crypto, subjects

logger = logging.getLogger("candor.privacy")


def write_files(
    archive: zipfile.ZipFile, user: Any, stamp: zipwriter.Stamp
) -> tuple[dict[records.FileKey, str], list[StoredFile]]:
    """Copy every file the person uploaded into files/…; return where each went."""
    places: dict[records.FileKey, str] = {}
    listing: list[StoredFile] = []
    used: set[str] = set()
    location = storage_folder()  # once: asking the storage for each of 50,000 files is slow
    for declaration in subjects.owned_declarations():
        personal = declaration.personal_fields()
        # Sealed files are not copied as stored (nothing could read them): the model files are written
        # in clear from their trees below, and no other field may be sealed without saying how.
        sealed = [
            n
            for n in subjects.file_fields(declaration)
            if personal[n].sealed and personal[n].export == "value"
        ]
        if sealed and declaration.model is not Blob:
            raise RuntimeError(f"the export cannot copy the sealed files of {declaration.label}")
        names = [
            n for n in subjects.file_fields(declaration) if personal[n].export == "value" and n not in sealed
        ]
        if not names:
            continue
        columns = [f for _, f, _, _ in string.Formatter().parse(declaration.export_path) if f]
        encrypted = {column: _encrypted_lookup(declaration.model, column) for column in columns}
        owners = [owner for _, owner in (e for e in encrypted.values() if e is not None)]
        rows = subjects.rows_of(declaration, user.pk).order_by("pk")
        for values in rows.values("pk", *names, *columns, *owners).iterator(
            chunk_size=records.ROWS_PER_CHUNK
        ):
            _decrypt_columns(values, encrypted)
            for name in names:
                stored = values[name]
                if not stored:
                    continue
                target = unique(file_place(declaration.export_path, declaration.label, values, stored), used)
                try:
                    size = copy_into(archive, stored, target, stamp, location)
                except FileNotFoundError:
                    logger.warning("export: a stored file of %s is missing; left out", declaration.label)
                    continue
                used.add(target)
                places[(declaration.label, str(values["pk"]), name)] = target
                listing.append(StoredFile(target, size, declaration.label, str(values["pk"]), name))
    write_model_files(archive, user, stamp, used, places, listing)
    return places, listing


def _encrypted_lookup(model: Any, column: str) -> tuple[Any, str] | None:
    """For a column of the export path held encrypted (``model__name``): its field, and the lookup of
    the id its key belongs to (``model__owner``); None for a column in clear."""
    *path, last = column.split("__")
    for step in path:
        model = model._meta.get_field(step).related_model
    field = model._meta.get_field(last)
    if not isinstance(field, crypto.EncryptedTextField):
        return None
    owner = "pk" if field.key_owner == "pk" else model._meta.get_field(field.key_owner).name
    return field, "__".join([*path, owner])


def _decrypt_columns(values: dict[str, Any], encrypted: dict[str, tuple[Any, str] | None]) -> None:
    for column, found in encrypted.items():
        if found is not None and crypto.is_encrypted(values[column]):
            field, owner = found
            context = crypto.associated_data(field.model._meta.label, field.name, values[owner])
            values[column] = crypto.decrypt(values[column], context=context)


BLOB_LABEL = "hub.Blob"


def write_model_files(
    archive: zipfile.ZipFile,
    user: Any,
    stamp: zipwriter.Stamp,
    used: set[str],
    places: dict[records.FileKey, str],
    listing: list[StoredFile],
) -> None:
    """Each of the person's models' files on ``main``, decrypted, at files/<model name>/<path>.

    A blob held at several paths is copied at each; its record names the first. A stored copy that is
    missing or fails its check at its start is left out (its record says null); damage found further on
    fails the build, since a ZIP entry already begun cannot be taken back, and bad bytes are never given.
    """
    heads = MLModel.objects.filter(owner_id=user.pk, head__isnull=False)
    # Read through the models, so the encrypted names are decrypted (values_list would give them sealed).
    names = {
        model.pk: model.name
        for model in heads.only("pk", "name", "owner_id").iterator(chunk_size=records.ROWS_PER_CHUNK)
    }
    # One query for every model's tree on main (a query per model took most of an export of many).
    entries = (
        ModelFile.objects.filter(owner_id=user.pk, commit_id=F("model__head_id"))
        .select_related("blob")
        .order_by("model_id", "pk")
    )
    for entry in entries.iterator(chunk_size=records.ROWS_PER_CHUNK):
        blob = entry.blob
        values = {"model": names[entry.model_id], "path": entry.path}
        target = unique(file_place("{model}/{path}", "", values, ""), used)
        try:
            size = copy_blob(archive, blob, target, stamp)
        except (FileNotFoundError, blobs.Damaged):
            logger.warning("export: a stored model file is missing or damaged; left out")
            continue
        used.add(target)
        places.setdefault((BLOB_LABEL, str(blob.pk), "stored"), target)
        listing.append(StoredFile(target, size, BLOB_LABEL, str(blob.pk), "stored"))
    write_xorbs(archive, user, stamp, used, places, listing)


def write_xorbs(
    archive: zipfile.ZipFile,
    user: Any,
    stamp: zipwriter.Stamp,
    used: set[str],
    places: dict[records.FileKey, str],
    listing: list[StoredFile],
) -> None:
    """The chunks the person uploaded through the Xet protocol and still kept (each xorb's clear bytes),
    decrypted, at files/xet-uploads/<blob id>: what a main tree already holds is not copied twice."""
    held = Blob.objects.filter(owner_id=user.pk, xet_xorbs__isnull=False).distinct().order_by("pk")
    for blob in held.iterator(chunk_size=records.ROWS_PER_CHUNK):
        key = (BLOB_LABEL, str(blob.pk), "stored")
        if key in places:
            continue
        target = unique(file_place("xet-uploads/{pk}", "", {"pk": blob.pk}, ""), used)
        try:
            size = copy_blob(archive, blob, target, stamp)
        except (FileNotFoundError, blobs.Damaged):
            logger.warning("export: a stored xorb is missing or damaged; left out")
            continue
        used.add(target)
        places[key] = target
        listing.append(StoredFile(target, size, BLOB_LABEL, str(blob.pk), "stored"))


def copy_blob(archive: zipfile.ZipFile, blob: Blob, target: str, stamp: zipwriter.Stamp) -> int:
    """Decrypt one blob into the archive as ``target`` (uncompressed); returns its size."""
    entry = zipwriter.entry(target, stamp, zipfile.ZIP_STORED)
    size = int(blob.size)
    pieces = blobs.read(blob)  # the header and first segment are checked here, before the entry begins
    if size <= zipwriter.SMALL_FILE:
        data = b"".join(pieces)
        archive.writestr(entry, data)
        return len(data)
    entry.file_size = size  # the size up front lets zipfile choose ZIP64 for large files
    with archive.open(entry, "w") as out:
        for piece in pieces:
            out.write(piece)
    return size


def storage_folder() -> str | None:
    """The storage's folder when it is a local one, else None (a remote storage: an S3 storage's
    ``location`` is its key prefix, not a folder)."""
    storage = objectstore.backend()
    return str(storage.location) if isinstance(storage, FileSystemStorage) else None


def copy_into(
    archive: zipfile.ZipFile, stored: str, target: str, stamp: zipwriter.Stamp, location: str | None
) -> int:
    """Put one stored file into the archive (uncompressed: model files rarely shrink); returns its size.

    A small file is read whole and written with its header in one go; a large one is streamed through
    a buffer, so memory stays bounded whatever the file's size.
    """
    entry = zipwriter.entry(target, stamp, zipfile.ZIP_STORED)
    local = local_path(stored, location)
    if local is None:
        size = objectstore.size(stored)
        with objectstore.as_file(objectstore.read(stored, chunk=zipwriter.COPY_BUFFER)) as source:
            return zipwriter.copy_stream(archive, entry, source, size)
    # A local file is read through its descriptor: a file object per file made three more system calls
    # (its own fstat calls, a seek) and a measurable share of an export of many small files.
    descriptor = os.open(local, os.O_RDONLY)
    try:
        size = os.fstat(descriptor).st_size
        if size <= zipwriter.SMALL_FILE:
            data = read_to_end(descriptor, size)
            archive.writestr(entry, data)
            return len(data)
        with open(descriptor, "rb", closefd=False) as source:
            return zipwriter.copy_stream(archive, entry, source, size)
    finally:
        os.close(descriptor)


def read_to_end(descriptor: int, size: int) -> bytes:
    """All of a small file's bytes, read to its end as file.read() would, even if it grew meanwhile."""
    chunks = [os.read(descriptor, size)]
    # Then to the end: one more call that finds it, unless the file grew (a short buffer, as os.read
    # allocates the whole of what it is asked for).
    while chunk := os.read(descriptor, 64 * 1024):
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
