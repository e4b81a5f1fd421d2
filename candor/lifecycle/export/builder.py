"""Building a requested export in the background: the ZIP is written as the rows are read, sealed as it
is written, stored under a random name, and the person is told it is ready."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import PurePosixPath
from typing import IO, Any, cast

from django.conf import settings
from django.db import connection, transaction
from django.tasks import task
from django.utils import timezone

from candor.comms import outbox
from candor.core import objectstore
from candor.kernel import db, staging
from candor.lifecycle.export import files, records, summary, zipwriter
from candor.privacy import crypto, inventory, sealed, subjects
from candor.privacy.models import ExportArchive, export_storage_name
from candor.staff import notices

logger = logging.getLogger("candor.privacy")

# A stored archive that no row names, older than this, was left by a build whose worker died between
# storing it and recording it (the build runs again, and stores another). Younger ones may belong to a
# build that is recording its archive right now.
LEFTOVER_AGE = dt.timedelta(minutes=30)


def ttl() -> dt.timedelta:
    return dt.timedelta(days=settings.EXPORT_TTL_DAYS)


def seal_context(archive: ExportArchive) -> str:
    """What a stored archive is sealed to: this archive of this account, and no other."""
    return f"privacy.ExportArchive|{archive.public_id}|{archive.user_id}"


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


def remove_leftovers() -> int:
    """Remove the archives in storage that no export names (see LEFTOVER_AGE); returns how many."""
    folder = str(PurePosixPath(export_storage_name()).parent)
    known = set(ExportArchive.objects.exclude(archive="").values_list("archive", flat=True))
    storage = objectstore.backend()
    removed = 0
    for stored in objectstore.names(f"{folder}/"):
        if stored in known:
            continue
        try:
            with objectstore.guarded():
                age = timezone.now() - storage.get_modified_time(stored)
        except (FileNotFoundError, NotImplementedError):
            continue
        if age > LEFTOVER_AGE:
            objectstore.delete(stored)
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
        stored = objectstore.save_path(spool.path, export_storage_name())
        if not _mark_ready(archive, stored, size):
            objectstore.delete(stored)  # the request was withdrawn (account deleted) meanwhile
    except objectstore.StoreUnavailable:
        # Not the build's fault: the request stays pending and the worker tries the task again later
        # (the task queue counts this as transient), up to CANDOR_TASK_ATTEMPTS in all.
        logger.warning("export archive %s: the file store is unreachable; to be tried again", archive.pk)
        if stored:
            with contextlib.suppress(objectstore.StoreUnavailable):
                objectstore.delete(stored)
        raise
    except Exception as exc:
        # The class and the frames only: an exception's message may quote a value of the person.
        where = "".join(traceback.format_tb(exc.__traceback__))
        logger.error("export archive %s failed: %s\n%s", archive.pk, type(exc).__name__, where)
        if stored:
            with contextlib.suppress(objectstore.StoreUnavailable):
                objectstore.delete(stored)
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
    if not db.is_postgres():
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL cursor_tuple_fraction = 1.0")
        yield


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
        transaction.on_commit(partial(subjects.delete_stored, names, remove=objectstore.delete))
    # Queued with the archive's new state: a rolled-back export tells nobody.
    outbox.queue("export-ready", archive.user_id)
    return True


def write_zip(handle: IO[bytes], user: Any, *, generated_at: dt.datetime) -> None:
    """Write the whole export of ``user`` as a ZIP into ``handle`` (a file open for writing)."""
    stamp = zipwriter.zip_time(generated_at)
    with zipwriter.opened(handle) as archive:
        places, stored_files = files.write_files(archive, user, stamp)
        found = summary.categories()
        records.write_categories(archive, [c for c in found if c.given], user, places, stamp)
        zipwriter.write_text(archive, summary.ACCESSES_FILE, _accesses_text(user, generated_at), stamp)
        readme = summary.readme(found, stored_files, generated_at)
        zipwriter.write_text(archive, "README.json", summary.readme_text(readme), stamp)
        page = summary.index_page(found, readme, stored_files, generated_at)
        zipwriter.write_text(archive, "index.html", page, stamp)


def _accesses_text(user: Any, generated_at: dt.datetime) -> str:
    """accesses.json: every access by staff to the person's data that may be told at the export's time
    (held-back ones only once their legal order's date has passed), newest first."""
    accesses = [notices.as_record(access) for access in notices.accesses_of(user.pk, generated_at)]
    body = {"about": summary.ACCESSES_ABOUT, "accesses": accesses}
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"
