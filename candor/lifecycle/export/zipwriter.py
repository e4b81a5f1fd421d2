"""Writing the export's ZIP: entries, text, and files copied through a bounded buffer.

Pure: it knows nothing of the database or of storage, only of ``zipfile`` and the streams it is given,
so it is tested on ``io.BytesIO``.
"""

from __future__ import annotations

import datetime as dt
import shutil
import zipfile
from typing import IO, Any

COPY_BUFFER = 1024 * 1024
SMALL_FILE = 4 * COPY_BUFFER

Stamp = tuple[int, int, int, int, int, int]


class ForwardOnly:
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


def zip_time(moment: dt.datetime) -> Stamp:
    """A moment as a ZIP entry's time (UTC; the format starts in 1980)."""
    utc = moment.astimezone(dt.UTC)
    return (max(utc.year, 1980), utc.month, utc.day, utc.hour, utc.minute, utc.second)


# Python 3.13 renamed ZipInfo's level attribute; looked up once, not for each of an export's entries.
_LEVEL_ATTRIBUTE = "compress_level" if hasattr(zipfile.ZipInfo, "compress_level") else "_compresslevel"


def entry(path: str, stamp: Stamp, compress: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(path, stamp)
    info.compress_type = compress
    # Level 1 for the JSON: it still shrinks several times over, at a fraction of the default's time.
    # (ZipInfo's own level wins over the archive's.)
    setattr(info, _LEVEL_ATTRIBUTE, 1)
    info.external_attr = 0o644 << 16
    return info


def write_text(archive: zipfile.ZipFile, path: str, text: str, stamp: Stamp) -> None:
    archive.writestr(entry(path, stamp, zipfile.ZIP_DEFLATED), text.encode("utf-8"))


def copy_stream(archive: zipfile.ZipFile, target: zipfile.ZipInfo, source: IO[bytes], size: int) -> int:
    """Copy ``source`` into the archive as ``target``; returns the bytes copied.

    A small file is read whole and written with its header in one go; a large one is streamed through
    a buffer, so memory stays bounded whatever the file's size.
    """
    if size <= SMALL_FILE:
        data = source.read()
        archive.writestr(target, data)
        return len(data)
    target.file_size = size  # the size up front lets zipfile choose ZIP64 for large files
    with archive.open(target, "w") as target_file:
        shutil.copyfileobj(source, target_file, COPY_BUFFER)
    return int(target.file_size)


def opened(handle: IO[bytes]) -> zipfile.ZipFile:
    """A ZIP written forward only into ``handle`` (see :class:`ForwardOnly`)."""
    forward: Any = ForwardOnly(handle)
    return zipfile.ZipFile(forward, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
