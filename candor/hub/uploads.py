"""A limit on files sent through the website's forms, applied while the request body is read.

Django parses a multipart body as soon as anything reads ``request.POST`` (the CSRF check does, before
any view runs), and its own handlers keep a file in memory or spool it to a temporary file whole. This
handler sits first in ``FILE_UPLOAD_HANDLERS`` and counts each file's bytes on the way: once a file
passes ``CANDOR_MAX_UPLOAD_MB`` the rest of it is skipped (read from the socket and dropped, never
written), the partial temporary file is closed and removed, and the request is marked so that the view
can say why. Django has a limit for the non-file fields (``DATA_UPLOAD_MAX_MEMORY_SIZE``), none for files.

A file past ``FILE_UPLOAD_MAX_MEMORY_SIZE`` is then spooled by :class:`StagingUploadHandler` into the
staging area (:mod:`candor.kernel.staging`) instead of the system's temporary folder, where Django's own
handler puts it: a server killed in the middle of a large upload left a clear partial copy there that no
restart and no sweep removed, and that named nothing to find it by. Here it is locked while the request
lives, carries the account's id in its name, and is removed at the end of the request, by the recovery
pass after a crash, or at once when the account is erased. It is sealed as it is written
(:func:`candor.privacy.sealed.scratch_writer`), under a random key only the request's process holds in
memory: a server killed mid-upload leaves a file nothing can ever open, never the bytes in clear.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest

from candor.kernel import staging
from candor.privacy import sealed

TOO_LARGE = "_candor_upload_too_large"


class SizeLimitUploadHandler(FileUploadHandler):
    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > settings.MAX_UPLOAD_BYTES:
            setattr(self.request, TOO_LARGE, True)
            raise SkipFile
        return raw_data  # passed on to the next handler, which keeps it

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler makes the file


def too_large(request: HttpRequest) -> bool:
    """Whether a file in the request's form went past the limit and was left out."""
    return bool(getattr(request, TOO_LARGE, False))


class StagedUploadedFile(UploadedFile[bytes]):
    """A form's file, spooled sealed into the staging area and read back in clear; removed when closed.

    It has no ``temporary_file_path``: the file on disk is sealed, and only :meth:`chunks` opens it.
    """

    def __init__(self, spool: staging.StagingFile, name: str, content_type: str, charset: str | None) -> None:
        super().__init__(spool.file, name, content_type, 0, charset)
        self.spool = spool
        self._key = sealed.scratch_key()
        self._writer = sealed.scratch_writer(spool.file, self._key, context=_CONTEXT)

    def write(self, data: bytes) -> int:  # type: ignore[override]
        return self._writer.write(data)

    def finish(self, size: int) -> None:
        self._writer.finish()
        self.size = size

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        self.spool.file.seek(0)
        yield from sealed.opened(self.spool.file, context=_CONTEXT, key=self._key)

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks()

    def read(self, size: int = -1) -> bytes:
        if size is not None and size >= 0:
            raise ValueError("A staged upload is read whole or in chunks, from its start.")
        return b"".join(self.chunks())

    def close(self) -> None:
        self.spool.discard()


_CONTEXT = "hub.form-upload"


class StagingUploadHandler(FileUploadHandler):
    """Django's TemporaryFileUploadHandler, writing (sealed) into the staging area under the account's id."""

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        user = getattr(self.request, "user", None)
        account = user.pk if user is not None and user.is_authenticated else None
        spool = staging.create("form-upload", account)
        self.file = StagedUploadedFile(spool, self.file_name or "", self.content_type or "", self.charset)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.file.write(raw_data)

    def file_complete(self, file_size: int) -> UploadedFile[bytes]:
        self.file.finish(file_size)
        return self.file

    def upload_interrupted(self) -> None:
        if hasattr(self, "file"):
            self.file.close()
