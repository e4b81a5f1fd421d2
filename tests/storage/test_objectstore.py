"""candor.core.objectstore on both storages: the data folder and SeaweedFS (a real S3 server)."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from candor.core import objectstore
from tests.storage.conftest import S3

CONTENT = random.Random(12).randbytes(3 * 1024 * 1024 + 777)  # past three 1 MiB chunks, not on a boundary


@pytest.fixture(params=["local", "s3", "other"])
def backend(request: pytest.FixtureRequest, settings: Any, tmp_path: Path) -> Iterator[str]:
    """The data folder, SeaweedFS, and another storage of Django's (in memory), used through the Storage
    API alone."""
    if request.param == "local":
        settings.MEDIA_ROOT = tmp_path / "media"
    elif request.param == "s3":
        request.getfixturevalue("s3")
    else:
        default = {"BACKEND": "django.core.files.storage.InMemoryStorage"}
        settings.STORAGES = {**settings.STORAGES, "default": default}
    yield request.param


def finished_file(folder: Path, content: bytes, name: str = "upload.bin") -> Path:
    path = folder / name
    path.write_bytes(content)
    return path


def test_a_stored_file_is_there_by_its_name_whole_and_in_ranges(backend: str, tmp_path: Path) -> None:
    path = finished_file(tmp_path, CONTENT)
    assert objectstore.save_path(path, "models/abc/one") == "models/abc/one"
    assert not path.exists()  # moved, or uploaded and removed
    assert objectstore.exists("models/abc/one")
    assert not objectstore.exists("models/abc/other")
    assert objectstore.size("models/abc/one") == len(CONTENT)
    whole = list(objectstore.read("models/abc/one"))
    assert b"".join(whole) == CONTENT
    assert max(len(piece) for piece in whole) <= objectstore.CHUNK
    assert len(whole) >= 4
    for start, length in [(0, 1), (1, 10), (1024 * 1024 - 1, 2), (len(CONTENT) - 1, 1), (12345, 2_000_000)]:
        assert b"".join(objectstore.read("models/abc/one", start, length)) == CONTENT[start : start + length]
    # To the end; past the end; a range reaching past the end; nothing.
    assert b"".join(objectstore.read("models/abc/one", 3_000_000)) == CONTENT[3_000_000:]
    assert b"".join(objectstore.read("models/abc/one", len(CONTENT))) == b""
    assert b"".join(objectstore.read("models/abc/one", len(CONTENT) - 5, 100)) == CONTENT[-5:]
    assert b"".join(objectstore.read("models/abc/one", 10, 0)) == b""
    small = list(objectstore.read("models/abc/one", 0, 1000, chunk=64))
    assert b"".join(small) == CONTENT[:1000] and {len(p) for p in small[:-1]} == {64}
    with pytest.raises(ValueError):
        objectstore.read("models/abc/one", -1)


def test_a_name_is_overwritten_not_renamed(backend: str, tmp_path: Path) -> None:
    objectstore.save_path(finished_file(tmp_path, b"first"), "blobs/x")
    assert objectstore.save_path(finished_file(tmp_path, b"second, longer"), "blobs/x") == "blobs/x"
    assert b"".join(objectstore.read("blobs/x")) == b"second, longer"
    assert list(objectstore.names("blobs/")) == ["blobs/x"]


def test_missing_objects_and_deletion(backend: str, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        objectstore.read("nothing/here")
    with pytest.raises(FileNotFoundError):
        objectstore.size("nothing/here")
    with pytest.raises(FileNotFoundError):
        objectstore.read("nothing/here", 0, 0)
    objectstore.delete("nothing/here")  # missing is fine
    objectstore.delete("")
    objectstore.save_path(finished_file(tmp_path, b"bye"), "exports/a.zip")
    objectstore.delete("exports/a.zip")
    assert not objectstore.exists("exports/a.zip")
    with pytest.raises(FileNotFoundError):
        objectstore.read("exports/a.zip")


def test_names_lists_everything_under_a_prefix(backend: str, tmp_path: Path) -> None:
    stored = ["exports/a.zip", "exports/b.zip", "models/m1/f1", "models/m1/f2", "models/m2/f1", "top"]
    for name in stored:
        objectstore.save_path(finished_file(tmp_path, name.encode()), name)
    assert sorted(objectstore.names("")) == stored
    assert sorted(objectstore.names("exports/")) == ["exports/a.zip", "exports/b.zip"]
    assert sorted(objectstore.names("models/")) == ["models/m1/f1", "models/m1/f2", "models/m2/f1"]
    assert sorted(objectstore.names("models/m1")) == ["models/m1/f1", "models/m1/f2"]
    assert list(objectstore.names("nothing/")) == []


def test_an_unstarted_read_is_released_by_close(backend: str, tmp_path: Path) -> None:
    objectstore.save_path(finished_file(tmp_path, CONTENT), "blobs/big")
    pieces = objectstore.read("blobs/big", 10)
    pieces.close()  # type: ignore[attr-defined]  # what a response does after a HEAD
    assert list(pieces) == []


def test_the_file_object_over_a_read(backend: str, tmp_path: Path) -> None:
    objectstore.save_path(finished_file(tmp_path, CONTENT), "blobs/f")
    with objectstore.as_file(objectstore.read("blobs/f", 5)) as handle:
        assert handle.read(3) == CONTENT[5:8]
        assert handle.read() == CONTENT[8:]
        assert handle.read(10) == b""


def test_on_local_disk_the_staging_area_is_no_stored_object(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    staging = Path(settings.MEDIA_ROOT) / ".staging"
    staging.mkdir(parents=True)
    (staging / "upload.1.abc").write_bytes(b"being written")
    objectstore.save_path(finished_file(tmp_path, b"kept"), "models/m/f")
    assert list(objectstore.names("")) == ["models/m/f"]
    with pytest.raises(Exception, match="outside"):
        objectstore.save_path(finished_file(tmp_path, b"x"), "../escaped")


def test_a_large_file_goes_up_in_parts(s3: S3, tmp_path: Path) -> None:
    path = tmp_path / "large.bin"
    size = 65 * 1024 * 1024 + 3  # past the 64 MiB threshold: five 16 MiB parts and a sixth of 1 MiB + 3
    with path.open("wb") as out:
        for block in range(65):
            out.write(random.Random(block).randbytes(1024 * 1024))
        out.write(b"end")
    head_bytes, tail_bytes = path.read_bytes()[16 * 1024 * 1024 - 4 : 16 * 1024 * 1024 + 4], b"end"
    objectstore.save_path(path, "models/big/weights")
    etag = s3.head("models/big/weights")["ETag"].strip('"')
    assert etag.endswith("-5"), etag  # a multipart object's ETag ends with its number of parts
    assert objectstore.size("models/big/weights") == size
    assert b"".join(objectstore.read("models/big/weights", 16 * 1024 * 1024 - 4, 8)) == head_bytes
    assert b"".join(objectstore.read("models/big/weights", size - 3)) == tail_bytes


def test_a_small_file_goes_up_in_one_piece(s3: S3, tmp_path: Path) -> None:
    objectstore.save_path(finished_file(tmp_path, CONTENT), "models/small/weights")
    assert "-" not in s3.head("models/small/weights")["ETag"]
    assert s3.body("models/small/weights") == CONTENT  # stored as the bytes themselves, under the prefix
    assert s3.stored() == ["models/small/weights"]


def test_with_the_store_down_every_operation_says_so_and_the_file_is_not_kept(s3: S3, tmp_path: Path) -> None:
    objectstore.save_path(finished_file(tmp_path, b"before"), "models/m/kept")
    with s3.store.down():
        path = finished_file(tmp_path, CONTENT)
        with pytest.raises(objectstore.StoreUnavailable) as raised:
            objectstore.save_path(path, "models/m/new")
        assert not path.exists()
        assert "unreachable" in str(raised.value) and "127.0.0.1" not in str(raised.value)
        for call in (
            lambda: objectstore.exists("models/m/kept"),
            lambda: objectstore.size("models/m/kept"),
            lambda: objectstore.read("models/m/kept"),
            lambda: objectstore.delete("models/m/kept"),
            lambda: list(objectstore.names("models/")),
        ):
            with pytest.raises(objectstore.StoreUnavailable):
                call()
    assert s3.stored() == ["models/m/kept"]  # nothing half written, nothing lost
    assert b"".join(objectstore.read("models/m/kept")) == b"before"


def test_what_counts_as_the_store_being_unavailable() -> None:
    from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

    def client_error(status: int, code: str) -> ClientError:
        answer: Any = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return ClientError(answer, "GetObject")

    assert objectstore.is_unavailable(EndpointConnectionError(endpoint_url="http://x"))
    assert objectstore.is_unavailable(ReadTimeoutError(endpoint_url="http://x"))
    assert objectstore.is_unavailable(client_error(503, "SlowDown"))
    assert objectstore.is_unavailable(client_error(500, "InternalError"))
    assert not objectstore.is_unavailable(client_error(403, "AccessDenied"))
    assert not objectstore.is_unavailable(client_error(404, "NoSuchKey"))
    assert not objectstore.is_unavailable(ValueError("no"))
    wrapped = RuntimeError("upload failed")
    wrapped.__cause__ = client_error(502, "BadGateway")
    assert objectstore.is_unavailable(wrapped)
    with pytest.raises(ClientError), objectstore.guarded():
        raise client_error(403, "AccessDenied")
    with pytest.raises(objectstore.StoreUnavailable), objectstore.guarded():
        raise client_error(503, "SlowDown")


def test_the_local_move_keeps_the_storage_modes(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FILE_UPLOAD_PERMISSIONS = 0o640
    path = finished_file(tmp_path, b"mode")
    os.chmod(path, 0o600)
    objectstore.save_path(path, "deep/er/name")
    assert (Path(settings.MEDIA_ROOT) / "deep/er/name").stat().st_mode & 0o777 == 0o640


def test_a_file_on_another_file_system_is_copied_in_whole_then_renamed(settings: Any, tmp_path: Path) -> None:
    other = Path("/dev/shm")
    if not other.is_dir() or other.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on a file system of its own (a tmpfs)")  # the rename path is tested above
    settings.MEDIA_ROOT = tmp_path / "media"
    path = other / f"candor-test-{os.getpid()}-{random.randrange(10**9)}"
    path.write_bytes(CONTENT)
    objectstore.save_path(path, "models/m/copied")
    assert not path.exists()
    folder = Path(settings.MEDIA_ROOT) / "models/m"
    assert sorted(p.name for p in folder.iterdir()) == ["copied"]  # no spare copy left beside it
    assert (folder / "copied").read_bytes() == CONTENT
