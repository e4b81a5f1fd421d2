"""A limit on files sent through the website's forms, applied while the request body is read.

Django parses a multipart body as soon as anything reads ``request.POST`` (the CSRF check does, before
any view runs), and its own handlers keep a file in memory or spool it to a temporary file whole. This
handler sits first in ``FILE_UPLOAD_HANDLERS`` and counts each file's bytes on the way: once a file
passes ``CANDOR_MAX_UPLOAD_MB`` the rest of it is skipped (read from the socket and dropped, never
written), the partial temporary file is closed and removed, and the request is marked so that the view
can say why. Django has a limit for the non-file fields (``DATA_UPLOAD_MAX_MEMORY_SIZE``), none for files.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest

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
