"""The personal-data export (clause C5; GDPR articles 15 and 20): everything the inventory ties to a person,
as one ZIP they can read and take elsewhere.

Nothing here names a model or a field: the rows come from :mod:`candor.privacy.subjects`, the fields and
how each appears from the inventory, so a newly declared personal field is exported with no code of its
own. The archive holds

- ``data/<category>.json``, one per data category (``contact.email``, ``content.model`` …): what the
  category is, each field with its purpose and retention, and one record per row with its values;
- ``files/…``, every file the person uploaded;
- ``README.json``, the format; ``index.html``, a summary to open in a browser.

The ZIP is written as the rows are read (querysets are iterated in chunks, files copied through a small
buffer), so neither the rows nor the files are ever held in memory at once. Nothing of it touches the disk
in clear: the ZIP is sealed under the account's data key as it is written into a staging file
(:mod:`candor.kernel.staging`), and the per-category pieces written on the way are sealed under keys that
live only in the building process's memory. The finished file is handed to the storage under a random
name.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import logging
import operator
import os
import re
import shutil
import string
import traceback
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection, models, transaction
from django.http import HttpRequest
from django.tasks import task
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.text import slugify

from candor.core.taskqueue import is_waiting_or_running
from candor.kernel import staging
from candor.privacy import crypto, inventory, sealed, subjects
from candor.privacy.models import ExportArchive, export_storage_name

logger = logging.getLogger("candor.privacy")

FORMAT = "candor-personal-data-export"
FORMAT_VERSION = 1
ROWS_PER_CHUNK = 2000
COPY_BUFFER = 1024 * 1024
SMALL_FILE = 4 * COPY_BUFFER
FILES_LISTED = 500
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode
# What that encoder writes for a string (the C function when there is one).
_encode_string = json.encoder.encode_basestring
# A request still pending after this long lost its worker: it no longer blocks a new one.
STALE_PENDING = dt.timedelta(days=1)
# Sooner, once its build is neither queued nor running (lost with a queue that was emptied, or given up
# after its attempts): past this age, which covers the moment between the request's commit and the
# task's enqueueing.
UNQUEUED_PENDING = dt.timedelta(minutes=5)

FAMILIES = {
    "account": "About your account",
    "contact": "How we reach you",
    "content": "What you published",
    "device": "The devices you used",
    "network": "Your connections to the platform",
    "security": "Your account's security history",
}


class ExportError(Exception):
    """A request for an export that cannot be carried out; ``message`` is safe to show to the person."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def ttl() -> dt.timedelta:
    return dt.timedelta(days=settings.EXPORT_TTL_DAYS)


# --- Requests -------------------------------------------------------------------------------------------


@transaction.atomic
def request_export(user: Any, request: HttpRequest | None = None) -> ExportArchive:
    """Ask for a new export of the person's data, built in the background; they are told when it is ready.

    Refused while one is being prepared. A ready one may be replaced: it stays downloadable until the new
    one is ready, and is deleted then.
    """
    from candor.accounts.models import User

    User.objects.select_for_update().filter(pk=user.pk).first()  # one request at a time per account
    now = timezone.now()
    pending = ExportArchive.objects.filter(user=user, status=ExportArchive.Status.PENDING)
    pending.filter(created_at__lt=now - STALE_PENDING).update(
        status=ExportArchive.Status.FAILED, expires_at=now
    )
    for earlier in pending.filter(created_at__lt=now - UNQUEUED_PENDING).values_list("pk", flat=True):
        if is_waiting_or_running(build_export, [earlier]) is False:
            pending.filter(pk=earlier).update(status=ExportArchive.Status.FAILED, expires_at=now)
    if pending.exists():
        raise ExportError(
            "An export of your data is already being prepared. You will get an email when it is ready.",
            code="export_pending",
        )
    # A request whose build never runs is swept like an expired archive.
    archive = ExportArchive.objects.create(user=user, created_at=now, expires_at=now + ttl())
    _record_request(user, request)
    transaction.on_commit(partial(build_export.enqueue, archive.pk))
    return archive


def _record_request(user: Any, request: HttpRequest | None) -> None:
    from candor.accounts.actions import record_event
    from candor.accounts.models import SecurityEvent

    record_event(user, SecurityEvent.Kind.EXPORT_REQUESTED, request)


def archives_of(user: Any) -> models.QuerySet[ExportArchive]:
    return ExportArchive.objects.filter(user=user).order_by("-created_at", "-pk")


def latest_ready(user: Any) -> ExportArchive | None:
    now = timezone.now()
    return (
        archives_of(user)
        .filter(status=ExportArchive.Status.READY, expires_at__gt=now)
        .exclude(archive="")
        .first()
    )


def download_name(archive: ExportArchive) -> str:
    """The file name a browser saves the archive under: the platform and the day, nothing of the person."""
    platform = slugify(settings.PLATFORM_NAME) or "data"
    day = (archive.ready_at or archive.created_at).date().isoformat()
    return f"{platform}-data-export-{day}.zip"


def seal_context(archive: ExportArchive) -> str:
    """What a stored archive is sealed to: this archive of this account, and no other."""
    return f"privacy.ExportArchive|{archive.public_id}|{archive.user_id}"


def open_archive(archive: ExportArchive) -> ArchivePieces | None:
    """The ZIP of a ready archive, in pieces, opened from its sealed file in storage; None if it cannot
    be given any more: its file is gone, its key is (sealed.KeyDestroyed), or it was damaged at its start
    (sealed.SealError; damage further on raises it while the pieces are read). An archive stored before
    exports were sealed is given as it is.
    """
    try:
        handle = default_storage.open(str(archive.archive.name), "rb")
    except FileNotFoundError:
        return None
    try:
        if not sealed.is_sealed(handle.read(len(sealed.MAGIC))):
            handle.seek(0)
            return ArchivePieces(handle, None)
        handle.seek(0)
        return ArchivePieces(handle, sealed.opened(handle, context=seal_context(archive)))
    except sealed.SealError as error:
        handle.close()
        # The archive id only: nothing of the person.
        logger.error("export archive %s cannot be opened: %s", archive.pk, type(error).__name__)
        return None
    except BaseException:
        handle.close()
        raise


class ArchivePieces:
    """An archive's bytes in pieces, with the file closed when they are all read or when ``close()`` is
    called (as a response does, even when it sends no body: a HEAD)."""

    def __init__(self, handle: Any, pieces: Iterator[bytes] | None) -> None:
        self.handle = handle
        self.pieces = pieces

    def __iter__(self) -> Iterator[bytes]:
        try:
            if self.pieces is None:
                while chunk := self.handle.read(COPY_BUFFER):
                    yield chunk
            else:
                yield from self.pieces
        finally:
            self.close()

    def close(self) -> None:
        self.handle.close()


def find_archive(user: Any, public_id: str) -> ExportArchive | None:
    """The person's archive with this id; None for an unknown id or someone else's (never told apart)."""
    return ExportArchive.objects.filter(user=user, public_id=public_id).first()


# --- Building ---------------------------------------------------------------------------------------------


@task()
def build_export(archive_id: int) -> str:
    """Build a requested export. Carries the archive's id only, never anything of the person."""
    archive = (
        ExportArchive.objects.select_related("user")
        .filter(pk=archive_id, status=ExportArchive.Status.PENDING)
        .first()
    )
    if archive is None:  # built already, given up, or the account is gone
        return "skipped"
    remove_leftovers()
    return build(archive).status


# A stored archive that no row names, older than this, was left by a build whose worker died between
# storing it and recording it (the build runs again, and stores another). Younger ones may belong to a
# build that is recording its archive right now.
LEFTOVER_AGE = dt.timedelta(minutes=30)


def remove_leftovers() -> int:
    """Remove the archives in storage that no export names (see LEFTOVER_AGE); returns how many."""
    folder = str(PurePosixPath(export_storage_name()).parent)
    try:
        _, names = default_storage.listdir(folder)
    except FileNotFoundError:
        return 0
    known = set(ExportArchive.objects.exclude(archive="").values_list("archive", flat=True))
    removed = 0
    for name in names:
        stored = f"{folder}/{name}"
        if stored in known:
            continue
        try:
            age = timezone.now() - default_storage.get_modified_time(stored)
        except (FileNotFoundError, NotImplementedError):
            continue
        if age > LEFTOVER_AGE:
            default_storage.delete(stored)
            removed += 1
    return removed


def build(archive: ExportArchive) -> ExportArchive:
    """Write the archive's ZIP, store it, mark it ready and tell the person; on failure mark it failed."""
    user = archive.user
    # The ZIP is sealed as it is written into a staging file of the account, then moved into storage:
    # no clear copy of the archive reaches the disk, and one a crash leaves is recovered (or removed at
    # once if the account is erased).
    spool = staging.create("export", user.pk, ".zip")
    stored = ""
    try:
        with _reading_everything():
            sealing = sealed.SealingWriter(spool.file, user_id=user.pk, context=seal_context(archive))
            write_zip(cast("IO[bytes]", sealing), user, generated_at=timezone.now())
            sealing.finish()
        size = sealing.size  # the ZIP's own size, as downloaded
        stored = _store(spool.path, export_storage_name())
        if not _mark_ready(archive, stored, size):
            default_storage.delete(stored)  # the request was withdrawn (account deleted) meanwhile
    except Exception as exc:
        # The class and the frames only: an exception's message may quote a value of the person.
        where = "".join(traceback.format_tb(exc.__traceback__))
        logger.error("export archive %s failed: %s\n%s", archive.pk, type(exc).__name__, where)
        if stored:
            default_storage.delete(stored)
        ExportArchive.objects.filter(pk=archive.pk).update(
            status=ExportArchive.Status.FAILED, expires_at=timezone.now() + ttl()
        )
    finally:
        spool.discard()
        crypto.forget_cached_keys()
    archive.refresh_from_db()
    return archive


@contextmanager
def _reading_everything() -> Iterator[None]:
    """On PostgreSQL, one read transaction for the whole export, planned for reading every row.

    The export reads through server-side cursors, which the planner optimises for the first rows by
    default (cursor_tuple_fraction 0.1); for an export that reads all of them, that made each chunk
    slow (42 s instead of 15 s in bench/privacy.py). On SQLite a transaction would take the write lock
    (IMMEDIATE mode) for the whole export, so none is opened there.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL cursor_tuple_fraction = 1.0")
        yield


def _store(path: Path, name: str) -> str:
    from candor.hub.storage import save_path

    return save_path(path, name)


@transaction.atomic
def _mark_ready(archive: ExportArchive, stored: str, size: int) -> bool:
    now = timezone.now()
    changed = ExportArchive.objects.filter(pk=archive.pk, status=ExportArchive.Status.PENDING).update(
        status=ExportArchive.Status.READY, archive=stored, size=size, ready_at=now, expires_at=now + ttl()
    )
    if not changed:
        return False
    # The new archive replaces the person's earlier ones, with their files.
    earlier = ExportArchive.objects.filter(user_id=archive.user_id).exclude(pk=archive.pk)
    earlier = earlier.exclude(status=ExportArchive.Status.PENDING)
    declaration = inventory.declaration_for(ExportArchive)
    assert declaration is not None
    names = list(subjects.stored_names(declaration, earlier))
    earlier.delete()
    if names:
        transaction.on_commit(partial(subjects.delete_stored, names))
    transaction.on_commit(partial(_tell, str(archive.user_id)))
    return True


def _tell(user_id: str) -> None:
    from candor.accounts.tasks import send_account_email

    send_account_email.enqueue("export-ready", user_id)


# --- The archive's contents --------------------------------------------------------------------------------


@dataclass
class Category:
    name: str
    # For each declaration with fields in this category: the fields the export gives, and those it omits.
    given: list[tuple[inventory.Declaration, dict[str, inventory.Personal]]] = field(default_factory=list)
    omitted: list[tuple[inventory.Declaration, str, inventory.Personal]] = field(default_factory=list)
    records: int = 0

    @property
    def file(self) -> str:
        return f"data/{self.name}.json"

    @property
    def purposes(self) -> list[str]:
        seen: dict[str, None] = {}
        for _, fields in self.given:
            seen.update(dict.fromkeys(item.purpose for item in fields.values()))
        return list(seen)

    @property
    def description(self) -> str:
        family, _, kind = self.name.partition(".")
        title = FAMILIES.get(family, family.replace("_", " ").capitalize())
        kind_words = f" ({kind.replace('_', ' ').replace('.', ', ')})" if kind else ""
        return f"{title}{kind_words}. Why we keep it: {'; '.join(self.purposes)}."


@dataclass
class StoredFile:
    path: str
    size: int
    model: str
    id: str
    field: str


def categories() -> list[Category]:
    """The data categories of every personal field the inventory ties to a person."""
    found: dict[str, Category] = {}
    for declaration in subjects.owned_declarations():
        given: dict[str, dict[str, inventory.Personal]] = {}
        for name, item in declaration.personal_fields().items():
            category = found.setdefault(item.category, Category(item.category))
            if item.export == "omitted":
                category.omitted.append((declaration, name, item))
            else:
                given.setdefault(item.category, {})[name] = item
        for name, fields in given.items():
            found[name].given.append((declaration, fields))
    for category in found.values():
        category.given.sort(key=lambda pair: pair[0].label)
    return [found[name] for name in sorted(found)]


class _ForwardOnly:
    """The output file, seen by zipfile as a stream it cannot seek.

    zipfile then writes each entry's sizes after its data (a data descriptor) instead of seeking back
    to its header: three seeks fewer per file, which is most of the cost of an export of many small
    files. The ZIP is as valid; every unzip tool reads it.

    It counts its position itself, so zipfile does not wrap it in its own counting stream (one Python
    call fewer for each of its writes, three per file) and telling costs no system call.
    """

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.position = target.tell()
        self.flush = target.flush

    def write(self, data: Any) -> int:
        written = self.target.write(data)
        self.position += written
        return written

    def tell(self) -> int:
        return self.position

    def close(self) -> None:
        """Nothing: the file is the caller's to close (zipfile never closes a stream it was given)."""


def write_zip(handle: IO[bytes], user: Any, *, generated_at: dt.datetime) -> None:
    """Write the whole export of ``user`` as a ZIP into ``handle`` (a file open for writing)."""
    stamp = _zip_time(generated_at)
    forward = _ForwardOnly(handle)
    with zipfile.ZipFile(forward, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        files, stored_files = _write_files(archive, user, stamp)
        found = categories()
        _write_categories(archive, [c for c in found if c.given], user, files, stamp)
        readme = _readme(found, stored_files, generated_at)
        _write_text(archive, "README.json", _readme_text(readme), stamp)
        page = render_to_string(
            "privacy/export/index.html",
            {
                "platform_name": settings.PLATFORM_NAME,
                "website_url": settings.WEBSITE_URL,
                "contact_email": settings.CONTACT_EMAIL,
                "generated_at": generated_at,
                "categories": [c for c in found if c.given],
                "not_exported": readme["not_exported"],
                # The page lists the first files; the rest are in files/ and README.json's count.
                "files": stored_files[:FILES_LISTED],
                "files_total": len(stored_files),
                "files_more": max(0, len(stored_files) - FILES_LISTED),
                "format_version": FORMAT_VERSION,
            },
        )
        _write_text(archive, "index.html", page, stamp)


def _zip_time(moment: dt.datetime) -> tuple[int, int, int, int, int, int]:
    utc = moment.astimezone(dt.UTC)
    return (max(utc.year, 1980), utc.month, utc.day, utc.hour, utc.minute, utc.second)


# Python 3.13 renamed ZipInfo's level attribute; looked up once, not for each of an export's entries.
_LEVEL_ATTRIBUTE = "compress_level" if hasattr(zipfile.ZipInfo, "compress_level") else "_compresslevel"


def _entry(path: str, stamp: tuple[int, int, int, int, int, int], compress: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(path, stamp)
    info.compress_type = compress
    # Level 1 for the JSON: it still shrinks several times over, at a fraction of the default's time.
    # (ZipInfo's own level wins over the archive's.)
    setattr(info, _LEVEL_ATTRIBUTE, 1)
    info.external_attr = 0o644 << 16
    return info


def _write_text(archive: zipfile.ZipFile, path: str, text: str, stamp: Any) -> None:
    archive.writestr(_entry(path, stamp, zipfile.ZIP_DEFLATED), text.encode("utf-8"))


# Files ---------------------------------------------------------------------------------------------------

FileKey = tuple[str, str, str]  # (model label, row id, field name)


def _write_files(
    archive: zipfile.ZipFile, user: Any, stamp: Any
) -> tuple[dict[FileKey, str], list[StoredFile]]:
    """Copy every file the person uploaded into files/…; return where each went."""
    places: dict[FileKey, str] = {}
    listing: list[StoredFile] = []
    used: set[str] = set()
    location = _storage_folder()  # once: default_storage is a lazy object, slow to ask 50,000 times
    for declaration in subjects.owned_declarations():
        personal = declaration.personal_fields()
        names = [n for n in subjects.file_fields(declaration) if personal[n].export == "value"]
        if not names:
            continue
        columns = [f for _, f, _, _ in string.Formatter().parse(declaration.export_path) if f]
        rows = subjects.rows_of(declaration, user.pk).order_by("pk")
        for values in rows.values("pk", *names, *columns).iterator(chunk_size=ROWS_PER_CHUNK):
            for name in names:
                stored = values[name]
                if not stored:
                    continue
                target = _unique(_file_place(declaration, values, stored), used)
                try:
                    size = _copy_into(archive, stored, target, stamp, location)
                except FileNotFoundError:
                    logger.warning("export: a stored file of %s is missing; left out", declaration.label)
                    continue
                used.add(target)
                places[(declaration.label, str(values["pk"]), name)] = target
                listing.append(StoredFile(target, size, declaration.label, str(values["pk"]), name))
    return places, listing


_ODD = re.compile(r"[\\\\:]")
_UNSAFE = str.maketrans({**{chr(code): "_" for code in range(32)}, "\\": "_", ":": "_"})


def _safe_segment(segment: str) -> str:
    cleaned = segment if segment.isprintable() and not _ODD.search(segment) else segment.translate(_UNSAFE)
    cleaned = cleaned.strip()
    return "_" if cleaned in ("", ".", "..") else cleaned


def _file_place(declaration: inventory.Declaration, values: dict[str, Any], stored: str) -> str:
    if declaration.export_path:
        relative = declaration.export_path.format(**values)
    else:
        relative = f"{declaration.label}/{values['pk']}/{PurePosixPath(stored).name}"
    segments = [_safe_segment(s) for s in relative.split("/") if s]
    return "/".join(["files", *segments])


def _unique(path: str, used: set[str]) -> str:
    if path not in used:
        return path
    stem, dot, extension = path.rpartition(".")
    if not dot or "/" in extension:
        stem, extension = path, ""
    number = 2
    while True:
        candidate = f"{stem} ({number}){'.' + extension if extension else ''}"
        if candidate not in used:
            return candidate
        number += 1


def _storage_folder() -> str | None:
    """The storage's folder when it is a local one, else None (a remote storage)."""
    return getattr(default_storage, "location", None)


def _local_path(stored: str, location: str | None) -> str | None:
    """The file's path on this machine when the storage is the local folder ``location``, else None."""
    if location is None:
        return None  # a remote storage: read through its own file objects
    path = os.path.normpath(os.path.join(location, stored))
    if not path.startswith(os.path.join(location, "")):
        raise FileNotFoundError(stored)  # a name that would leave the storage folder is never read
    return path


def _copy_into(archive: zipfile.ZipFile, stored: str, target: str, stamp: Any, location: str | None) -> int:
    """Put one stored file into the archive (uncompressed: model files rarely shrink); returns its size.

    A small file is read whole and written with its header in one go; a large one is streamed through
    a buffer, so memory stays bounded whatever the file's size.
    """
    entry = _entry(target, stamp, zipfile.ZIP_STORED)
    local = _local_path(stored, location)
    if local is None:
        with default_storage.open(stored, "rb") as source:
            try:
                size = default_storage.size(stored)
            except (OSError, NotImplementedError):
                size = zipfile.ZIP64_LIMIT
            return _copy_stream(archive, entry, source, size)
    # A local file is read through its descriptor: a file object per file made three more system calls
    # (its own fstat calls, a seek) and a measurable share of an export of many small files.
    descriptor = os.open(local, os.O_RDONLY)
    try:
        size = os.fstat(descriptor).st_size
        if size <= SMALL_FILE:
            data = _read_to_end(descriptor, size)
            archive.writestr(entry, data)
            return len(data)
        with open(descriptor, "rb", closefd=False) as source:
            return _copy_stream(archive, entry, source, size)
    finally:
        os.close(descriptor)


def _read_to_end(descriptor: int, size: int) -> bytes:
    """All of a small file's bytes, read to its end as file.read() would, even if it grew meanwhile."""
    chunks = [os.read(descriptor, size)]
    # Then to the end: one more call that finds it, unless the file grew (a short buffer, as os.read
    # allocates the whole of what it is asked for).
    while chunk := os.read(descriptor, 64 * 1024):
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _copy_stream(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, source: IO[bytes], size: int) -> int:
    if size <= SMALL_FILE:
        data = source.read()
        archive.writestr(entry, data)
        return len(data)
    entry.file_size = size  # the size up front lets zipfile choose ZIP64 for large files
    with archive.open(entry, "w") as target_file:
        shutil.copyfileobj(source, target_file, COPY_BUFFER)
    return int(entry.file_size)


# Data ----------------------------------------------------------------------------------------------------


def _write_categories(
    archive: zipfile.ZipFile, found: list[Category], user: Any, files: dict[FileKey, str], stamp: Any
) -> None:
    """Write data/<category>.json for each category.

    Each model's rows are read once, however many categories its fields fall in (a security event is
    in three): its records go to one sealed spill file per category in the staging area, and each
    category's file is then opened and copied into the archive.
    """
    parts: dict[str, list[tuple[Category, dict[str, inventory.Personal]]]] = {}
    declarations: dict[str, inventory.Declaration] = {}
    for category in found:
        for declaration, fields in category.given:
            parts.setdefault(declaration.label, []).append((category, fields))
            declarations[declaration.label] = declaration
    # Each spill is a staging file sealed under a key of its own that only this process holds (in memory,
    # never written): a worker killed mid-export leaves files that nothing can open, which the recovery
    # pass then removes. Spilled in clear, they held the person's addresses for anyone to read.
    spills: dict[str, tuple[staging.StagingFile, Any, sealed.SealingWriter]] = {}
    try:
        for c in found:
            spool = staging.create("export-part", user.pk)
            key = sealed.scratch_key()
            spills[c.name] = (spool, key, sealed.scratch_writer(spool.file, key, context=c.name))
        for label in sorted(parts):
            wanted: dict[str, inventory.Personal] = {}
            for _, fields in parts[label]:
                wanted.update(fields)
            slots, chunks = _records(declarations[label], wanted, user, files)
            layouts = [(category, *_record_layout(slots, fields)) for category, fields in parts[label]]
            for chunk in chunks:
                for category, template, pick in layouts:
                    # A chunk's records at once, through map: no Python-level loop per record.
                    text = _BETWEEN_RECORDS.join(map(template.__mod__, map(pick, chunk)))
                    lead = _BETWEEN_RECORDS if category.records else "\n    "
                    spills[category.name][2].write((lead + text).encode("utf-8"))
                    category.records += len(chunk)
        for category in found:
            spool, key, writer = spills[category.name]
            writer.finish()
            spool.file.seek(0)
            _write_category(
                archive, category, sealed.opened(spool.file, context=category.name, key=key), stamp
            )
    finally:
        for spool, _, _ in spills.values():
            spool.discard()


def _record_layout(
    slots: dict[str, int], fields: dict[str, inventory.Personal]
) -> tuple[str, Callable[[tuple[str, ...]], Any]]:
    """How a category's record is cut from a row's encoded values: a template and what fills it.

    The record is the object {"model", "id", <field>: <value>, ...} as json would write it (same keys in
    the same order, same separators), but filled with values encoded once per row, whichever categories
    they go to: building and encoding a dict per record and category was most of the export's time.
    """
    keys = dict.fromkeys(["model", "id", *fields])  # a field named "model" or "id" keeps its place
    template = ", ".join(f"{_encode_string(key).replace('%', '%%')}: %s" for key in keys)
    # Two keys at least (model, id), so the getter always gives a tuple for the % operator.
    return f"{{{template}}}", operator.itemgetter(*(slots[key] for key in keys))


def _write_category(
    archive: zipfile.ZipFile, category: Category, records: Iterable[bytes], stamp: Any
) -> None:
    header = {
        "category": category.name,
        "description": category.description,
        "fields": [
            {
                "model": declaration.label,
                "field": name,
                "purpose": item.purpose,
                "retention": item.retention,
                "export": item.export,
            }
            for declaration, fields in category.given
            for name, item in fields.items()
        ],
        "not_exported": [
            {"model": declaration.label, "field": name, "purpose": item.purpose}
            for declaration, name, item in category.omitted
        ],
    }
    with archive.open(_entry(category.file, stamp, zipfile.ZIP_DEFLATED), "w") as out:
        out.write(b"{\n")
        for key, value in header.items():
            out.write(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},\n".encode())
        out.write(b'  "records": [')
        for piece in records:
            out.write(piece)
        out.write(b"\n  ]\n}\n" if category.records else b"]\n}\n")


def _records(
    declaration: inventory.Declaration,
    fields: dict[str, inventory.Personal],
    user: Any,
    files: dict[FileKey, str],
) -> tuple[dict[str, int], Iterator[list[tuple[str, ...]]]]:
    """One record per row, read as plain columns (no model instances: an export may hold millions).

    The records come a chunk of rows at a time, each record the tuple of its values already encoded as
    JSON: the model, the id, then the fields. ``slots`` gives where each key's value is in the tuple (a
    field named like "model" or "id" takes its slot, as it would in a dict).
    """
    model = declaration.model
    rows = subjects.rows_of(declaration, user.pk).order_by("pk")
    columns: list[str] = ["pk"]
    slots = {"model": 0, "id": 1}
    # How each field becomes a value, worked out once: (how, column index, extra).
    plan: list[tuple[str, int, Any]] = []
    for name, item in fields.items():
        slots[name] = 2 + len(plan)
        model_field: Any = model._meta.get_field(name)
        if model_field.many_to_many:
            related = _related_names(rows, name)
            plan.append(("many-metadata" if item.export == "metadata" else "many", 0, related))
            continue
        columns.append(model_field.attname)
        index = len(columns) - 1
        if item.export == "metadata":
            # The two possible values, encoded once.
            note = f"not exported; kept {item.purpose}"
            plan.append(("metadata", index, [_ENCODE({"present": p, "note": note}) for p in (False, True)]))
        elif isinstance(model_field, models.FileField):
            plan.append(("file", index, name))
        elif isinstance(model_field, crypto.EncryptedTextField):
            columns.append(model_field.key_owner)
            plan.append(("encrypted", index, (len(columns) - 1, name)))
        elif isinstance(model_field, models.DateTimeField | models.DateField):
            plan.append(("date", index, None))
        elif isinstance(model_field, models.CharField | models.TextField | models.BooleanField):
            plan.append(("as-is", index, None))  # already what JSON holds
        else:
            plan.append(("plain", index, None))
    return slots, _encoded_chunks(declaration.label, rows.values_list(*columns), plan, files)


_BETWEEN_RECORDS = ",\n    "
_NOT_EXPORTED = [_ENCODE({"present": p, "note": "not exported"}) for p in (False, True)]


def _encoded_chunks(
    label: str, rows: models.QuerySet[Any], plan: list[tuple[str, int, Any]], files: dict[FileKey, str]
) -> Iterator[list[tuple[str, ...]]]:
    """The rows' records, encoded a column of a chunk at a time.

    Column by column, each field's way of becoming JSON is chosen once per chunk rather than once per
    value, and most columns are encoded by map, with no Python-level loop per value.
    """
    model = _encode_string(label)
    contexts: dict[tuple[str, Any], str] = {}
    for chunk in itertools.batched(rows.iterator(chunk_size=ROWS_PER_CHUNK), ROWS_PER_CHUNK):
        columns = list(zip(*chunk, strict=True))
        pks = columns[0]
        encoded: list[Iterable[str]] = [itertools.repeat(model), map(_encode_string, map(str, pks))]
        for how, index, extra in plan:
            values = columns[index]
            if how == "as-is":
                encoded.append(map(_json, values))
            elif how == "date":
                # An ISO 8601 date holds nothing JSON escapes.
                encoded.append([f'"{v.isoformat()}"' if v is not None else "null" for v in values])
            elif how == "plain":
                encoded.append([_json(plain(v)) for v in values])
            elif how == "encrypted":
                owner_index, name = extra
                decrypt = partial(_decrypted, label, name, contexts)
                encoded.append(map(_json, map(decrypt, values, columns[owner_index])))
            elif how == "file":
                encoded.append(
                    [
                        _json(files.get((label, str(pk), extra)) if v else None)
                        for pk, v in zip(pks, values, strict=True)
                    ]
                )
            elif how == "metadata":
                encoded.append([extra[bool(v)] for v in values])
            elif how == "many":
                encoded.append([_ENCODE(sorted(extra.get(pk, []))) for pk in pks])
            else:
                encoded.append([_NOT_EXPORTED[bool(extra.get(pk))] for pk in pks])
        yield list(zip(*encoded, strict=False))  # the model's column repeats without end


def _decrypted(label: str, name: str, contexts: dict[tuple[str, Any], str], value: Any, owner: Any) -> Any:
    """An encrypted column's value in clear, checked against its row's associated data as always."""
    if not crypto.is_encrypted(value):
        return value
    # The associated data depends on the field and the owner only: made once per owner, not per row.
    context = contexts.get((name, owner))
    if context is None:
        context = contexts[(name, owner)] = crypto.associated_data(label, name, owner)
    return crypto.decrypt(value, context=context)


def _json(value: Any) -> str:
    """``value`` as json.dumps writes it (ensure_ascii off), the common kinds without the encoder's setup."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _encode_string(value)
    if type(value) is int:
        return repr(value)
    return _ENCODE(value)


def _related_names(rows: models.QuerySet[Any], name: str) -> dict[Any, list[str]]:
    """For a many-to-many field: each row's related objects, as text (tag names …)."""
    # A compact map (row id -> related ids), read in chunks like every other query of the export.
    pairs = list(
        rows.filter(**{f"{name}__isnull": False}).values_list("pk", name).iterator(chunk_size=ROWS_PER_CHUNK)
    )
    related_model: Any = rows.model._meta.get_field(name).related_model
    objects = related_model._default_manager.in_bulk({related for _, related in pairs})
    labels = {pk: str(obj) for pk, obj in objects.items()}
    found: dict[Any, list[str]] = {}
    for pk, related in pairs:
        found.setdefault(pk, []).append(labels[related])
    return found


def plain(value: Any) -> Any:
    """A field's value as JSON: dates in ISO 8601, ids and decimals as strings, bytes in base64."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item) for item in value]
    return str(value)


def _readme_text(readme: dict[str, Any]) -> str:
    """README.json, indented for reading, with one line per file (json's indenting encoder is slow)."""
    listed = readme.pop("files", [])
    head = json.dumps(readme, indent=2, ensure_ascii=False)
    if not listed:
        return json.dumps({**readme, "files": []}, indent=2, ensure_ascii=False) + "\n"
    lines = ",\n".join("    " + _ENCODE(item) for item in listed)
    return f'{head[:-2]},\n  "files": [\n{lines}\n  ]\n}}\n'


def _readme(found: list[Category], files: list[StoredFile], generated_at: dt.datetime) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "platform": settings.PLATFORM_NAME,
        "website": settings.WEBSITE_URL,
        "generated_at": generated_at.isoformat(),
        "about": (
            "A copy of the personal data this platform holds about you (GDPR articles 15 and 20). "
            "index.html summarises it for reading; the JSON files are for programs."
        ),
        "layout": {
            "README.json": "this description",
            "index.html": "a summary to open in a browser",
            "data/<category>.json": (
                'one file per kind of data: {"category", "description", "fields": [{"model", "field", '
                '"purpose", "retention", "export"}], "not_exported": [...], "records": [{"model", "id", '
                "<field>: <value>, ...}]}"
            ),
            "files/": "every file you uploaded; a record's file field gives its path in this archive",
        },
        "values": {
            "dates": "ISO 8601 with the time zone (UTC)",
            "ids": "strings",
            "lists": "many-to-many fields (a model's tags) as lists of strings",
            "files": "the path of the file inside this archive, or null when there is none",
            "described": (
                'fields given as {"present", "note"} are held but not exported (a password hash, a keyed '
                "hash): the note says why they are kept"
            ),
        },
        "categories": [
            {"category": c.name, "file": c.file, "description": c.description, "records": c.records}
            for c in found
            if c.given
        ],
        "files": [
            {"path": f.path, "size": f.size, "model": f.model, "id": f.id, "field": f.field} for f in files
        ],
        "not_exported": [
            {"category": c.name, "model": declaration.label, "field": name, "purpose": item.purpose}
            for c in found
            for declaration, name, item in c.omitted
        ],
    }
