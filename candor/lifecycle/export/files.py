"""The export's files/: every file the person uploaded, copied from storage into the archive."""

from __future__ import annotations

import logging
import os
import string
import zipfile
from typing import Any

from django.core.files.storage import FileSystemStorage

from candor.core import objectstore
from candor.lifecycle.export import records, zipwriter
from candor.lifecycle.export.paths import file_place, local_path, unique
from candor.lifecycle.export.summary import StoredFile
from candor.privacy import subjects

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
        names = [n for n in subjects.file_fields(declaration) if personal[n].export == "value"]
        if not names:
            continue
        columns = [f for _, f, _, _ in string.Formatter().parse(declaration.export_path) if f]
        rows = subjects.rows_of(declaration, user.pk).order_by("pk")
        for values in rows.values("pk", *names, *columns).iterator(chunk_size=records.ROWS_PER_CHUNK):
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
    return places, listing


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
