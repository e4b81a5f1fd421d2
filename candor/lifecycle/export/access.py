"""Asking for an export, and getting it: the requests, the person's list, and the one rule that decides
whether an archive may be downloaded (the page and the API both ask :func:`download`)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.text import slugify

from candor.accounts.actions import record_event
from candor.accounts.models import SecurityEvent, User
from candor.core import objectstore
from candor.core.taskqueue import is_waiting_or_running
from candor.kernel.actions import durable
from candor.kernel.refusal import Code, Refusal
from candor.lifecycle.export.builder import build_export, seal_context, ttl
from candor.lifecycle.export.zipwriter import COPY_BUFFER
from candor.privacy import audit, sealed
from candor.privacy.models import ExportArchive

logger = logging.getLogger("candor.privacy")

# A request still pending after this long lost its worker: it no longer blocks a new one.
STALE_PENDING = dt.timedelta(days=1)
# Sooner, once its build is neither queued nor running (lost with a queue that was emptied, or given up
# after its attempts): past this age, which covers the moment between the request's commit and the
# task's enqueueing.
UNQUEUED_PENDING = dt.timedelta(minutes=5)

# What the person is told for each reason an archive cannot be downloaded.
_REFUSALS = {
    Code.NOT_FOUND: "No such export, or it is not ready yet.",
    Code.EXPORT_EXPIRED: "This export has expired. Ask for a new one.",
}


def _refused(code: Code) -> Refusal:
    return Refusal(code, _REFUSALS[code])


# --- Requests -------------------------------------------------------------------------------------------


@durable
def request_export(user: User, request: HttpRequest | None = None, *, acting_user: Any) -> ExportArchive:
    """Ask for a new export of the person's data, built in the background; they are told when it is ready.

    Refused while one is being prepared. A ready one may be replaced: it stays downloadable until the new
    one is ready, and is deleted then.
    """
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
        raise Refusal(
            Code.EXPORT_PENDING,
            "An export of your data is already being prepared. You will get an email when it is ready.",
        )
    # A request whose build never runs is swept like an expired archive.
    archive = ExportArchive.objects.create(user=user, created_at=now, expires_at=now + ttl())
    record_event(user, SecurityEvent.Kind.EXPORT_REQUESTED, request)
    audit.record(audit.EventType.EXPORT_REQUESTED, acting_user=acting_user, subject=user)
    transaction.on_commit(partial(build_export.enqueue, archive.pk))
    return archive


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


def find_archive(user: Any, public_id: str) -> ExportArchive | None:
    """The person's archive with this id; None for an unknown id or someone else's (never told apart)."""
    return ExportArchive.objects.filter(user=user, public_id=public_id).first()


# --- Serving ----------------------------------------------------------------------------------------------


def download_name(archive: ExportArchive) -> str:
    """The file name a browser saves the archive under: the platform and the day, nothing of the person."""
    platform = slugify(settings.PLATFORM_NAME) or "data"
    day = (archive.ready_at or archive.created_at).date().isoformat()
    return f"{platform}-data-export-{day}.zip"


@dataclass
class Download:
    """A ready archive as it is sent: its bytes in pieces, and the headers every interface gives them."""

    archive: ExportArchive
    pieces: ArchivePieces
    content_type = "application/zip"

    def headers(self) -> dict[str, str]:
        return {
            "Content-Disposition": content_disposition_header(True, download_name(self.archive)),
            "Content-Length": str(self.archive.size),
            "Cache-Control": "private, no-store",
        }


def download(user: Any, public_id: str) -> Download:
    """The person's archive ``public_id``, opened for download; or a Refusal saying why not.

    NOT_FOUND for an unknown id, someone else's archive, or one not ready (never told apart);
    EXPORT_EXPIRED for one past its expiry, or whose file or key is gone.
    """
    archive = find_archive(user, public_id)
    if archive is None:
        raise _refused(Code.NOT_FOUND)
    reason = archive.download_refusal()
    if reason is not None:
        raise _refused(reason)
    pieces = open_archive(archive)
    if pieces is None:  # its file or its key is gone: to the person, it has expired
        raise _refused(Code.EXPORT_EXPIRED)
    return Download(archive, pieces)


def open_archive(archive: ExportArchive) -> ArchivePieces | None:
    """The ZIP of a ready archive, in pieces, opened from its sealed file in storage; None if it cannot
    be given any more: its file is gone, its key is (sealed.KeyDestroyed), or it was damaged at its start
    (sealed.SealError; damage further on raises it while the pieces are read). An archive stored before
    exports were sealed is given as it is.
    """
    name = str(archive.archive.name)
    try:
        head = b"".join(objectstore.read(name, 0, len(sealed.MAGIC)))
        handle = objectstore.as_file(objectstore.read(name, chunk=COPY_BUFFER))
    except FileNotFoundError:
        return None
    try:
        if not sealed.is_sealed(head):
            return ArchivePieces(handle, None)
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
