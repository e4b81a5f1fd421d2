"""The export's pure pieces, without a database or a file: the ZIP writer (on io.BytesIO), the names
inside the archive, the JSON encoding of values, and the rule for serving an archive."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
import zipfile
from decimal import Decimal

import pytest
from django.utils import timezone

from candor.lifecycle.export import encoding, paths, zipwriter
from candor.privacy.models import ExportArchive

STAMP = (2026, 3, 4, 5, 6, 8)  # even seconds: ZIP times have a resolution of two


# --- The ZIP writer ---------------------------------------------------------------------------------------


def test_a_zip_written_forward_only_is_read_back_whole() -> None:
    buffer = io.BytesIO()
    with zipwriter.opened(buffer) as archive:
        zipwriter.write_text(archive, "README.json", '{"é": 1}\n', STAMP)
        small = zipwriter.entry("files/a.bin", STAMP, zipfile.ZIP_STORED)
        assert zipwriter.copy_stream(archive, small, io.BytesIO(b"abc"), 3) == 3
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as back:
        assert back.namelist() == ["README.json", "files/a.bin"]
        assert back.read("README.json").decode() == '{"é": 1}\n'
        assert back.read("files/a.bin") == b"abc"
        info = back.getinfo("README.json")
        assert info.compress_type == zipfile.ZIP_DEFLATED and info.date_time == STAMP
        assert back.getinfo("files/a.bin").compress_type == zipfile.ZIP_STORED
        # Written without seeking back: each entry's sizes follow its data (flag bit 3).
        assert info.flag_bits & 0x08
        assert back.testzip() is None


def test_a_large_file_is_streamed_through_the_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zipwriter, "SMALL_FILE", 10)
    monkeypatch.setattr(zipwriter, "COPY_BUFFER", 7)
    reads: list[int] = []

    class Source(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            reads.append(-1 if size is None else size)
            return super().read(size)

    data = bytes(range(256)) * 3
    buffer = io.BytesIO()
    with zipwriter.opened(buffer) as archive:
        target = zipwriter.entry("files/big.bin", STAMP, zipfile.ZIP_STORED)
        assert zipwriter.copy_stream(archive, target, Source(data), len(data)) == len(data)
    assert reads and max(reads) <= 7  # never the whole file at once
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as back:
        assert back.read("files/big.bin") == data


def test_the_forward_only_stream_counts_its_position_and_cannot_seek() -> None:
    target = io.BytesIO(b"xx")
    target.seek(2)
    forward = zipwriter.ForwardOnly(target)
    assert forward.tell() == 2
    assert forward.write(b"abc") == 3 and forward.tell() == 5
    assert not hasattr(forward, "seek")
    forward.close()
    assert not target.closed and target.getvalue() == b"xxabc"


def test_zip_times_are_utc_and_start_in_1980() -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert zipwriter.zip_time(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=plus_two)) == (2026, 1, 2, 1, 4, 5)
    assert zipwriter.zip_time(dt.datetime(1970, 1, 1, tzinfo=dt.UTC))[0] == 1980


def test_entries_are_readable_files_compressed_fast() -> None:
    info = zipwriter.entry("data/x.json", STAMP, zipfile.ZIP_DEFLATED)
    assert info.external_attr >> 16 == 0o644
    level = getattr(info, "compress_level", None)
    if level is None:
        level = info._compresslevel
    assert level == 1


# --- Names inside the archive ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("segment", "expected"),
    [
        ("model.bin", "model.bin"),
        ("..", "_"),
        (".", "_"),
        ("", "_"),
        ("  ", "_"),
        ("a\\b", "a_b"),
        ("c:d", "c_d"),
        ("line\nbreak", "line_break"),
        ("tab\there", "tab_here"),
        ("naïve", "naïve"),
    ],
)
def test_a_segment_holds_no_separator_drive_or_control_character(segment: str, expected: str) -> None:
    assert paths.safe_segment(segment) == expected


def test_a_file_never_climbs_out_of_files() -> None:
    place = paths.file_place("{owner}/{path}", "hub.ModelFile", {"owner": "..", "path": "../../etc/x"}, "s")
    assert place == "files/_/_/_/etc/x"
    assert ".." not in place.split("/")


def test_the_default_place_is_label_row_and_stored_name() -> None:
    assert (
        paths.file_place("", "testapp.Diary", {"pk": 7}, "uploads/ab/cd.txt")
        == "files/testapp.Diary/7/cd.txt"
    )


def test_two_files_of_one_name_are_told_apart() -> None:
    used = {"files/a.txt", "files/a (2).txt", "files/noext"}
    assert paths.unique("files/a.txt", used) == "files/a (3).txt"
    assert paths.unique("files/noext", used) == "files/noext (2)"
    assert paths.unique("files/dir.d/noext", {"files/dir.d/noext"}) == "files/dir.d/noext (2)"
    assert paths.unique("files/b.txt", used) == "files/b.txt"


def test_a_stored_name_is_read_only_inside_the_storage_folder() -> None:
    assert paths.local_path("models/a.bin", None) is None  # a remote storage
    assert paths.local_path("models/a.bin", "/srv/media") == "/srv/media/models/a.bin"
    with pytest.raises(FileNotFoundError):
        paths.local_path("../secrets", "/srv/media")
    with pytest.raises(FileNotFoundError):
        paths.local_path("/etc/passwd", "/srv/media")
    with pytest.raises(FileNotFoundError):
        paths.local_path("../media-other/x", "/srv/media")  # a sibling sharing the prefix


# --- Values as JSON -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [None, True, False, 0, -12, 3.5, "", 'quote " and \\', "é\n", [1, "a"], {"k": None}]
)
def test_json_value_writes_what_json_dumps_writes(value: object) -> None:
    assert encoding.json_value(value) == json.dumps(value, ensure_ascii=False)


def test_plain_values() -> None:
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    some = uuid.UUID(int=5)
    assert encoding.plain(moment) == "2026-01-02T03:04:05+00:00"
    assert encoding.plain(dt.date(2026, 1, 2)) == "2026-01-02"
    assert encoding.plain(dt.time(3, 4)) == "03:04:00"
    assert encoding.plain(dt.timedelta(minutes=2)) == 120.0
    assert encoding.plain(some) == str(some)
    assert encoding.plain(Decimal("1.50")) == "1.50"
    assert encoding.plain(b"\x00\xff") == "AP8="
    assert encoding.plain(memoryview(b"ab")) == "YWI="
    assert encoding.plain({1: (moment, {2})}) == {"1": ["2026-01-02T03:04:05+00:00", [2]]}
    assert encoding.plain(Decimal) == str(Decimal)  # anything else: as text
    assert encoding.plain(7) == 7 and encoding.plain(None) is None and encoding.plain("x") == "x"


def test_a_record_is_cut_as_json_would_write_the_object() -> None:
    slots = {"model": 0, "id": 1, "a%": 2, "b": 3}
    template, pick = encoding.record_layout(slots, dict.fromkeys(["a%", "b"]))
    values = ('"m"', '"1"', "true", '"x"')
    assert json.loads(template % pick(values)) == {"model": "m", "id": "1", "a%": True, "b": "x"}
    assert template % pick(values) == json.dumps({"model": "m", "id": "1", "a%": True, "b": "x"})


# --- The serving rule -----------------------------------------------------------------------------------


def test_the_serving_rule_is_the_models_own() -> None:
    """ExportArchive.download_refusal decides, without a database: ready, with a file, not expired."""
    now = timezone.now()
    ready = ExportArchive(
        status=ExportArchive.Status.READY, archive="exports/a", expires_at=now + dt.timedelta(days=1)
    )
    assert ready.download_refusal(now) is None and ready.is_downloadable
    assert ready.download_refusal(now + dt.timedelta(days=2)) == "export_expired"
    assert ExportArchive(status=ExportArchive.Status.READY, archive="").download_refusal(now) == "not_found"
    for status in (ExportArchive.Status.PENDING, ExportArchive.Status.FAILED):
        unready = ExportArchive(status=status, archive="exports/a", expires_at=now + dt.timedelta(days=1))
        assert unready.download_refusal(now) == "not_found" and not unready.is_downloadable
    forever = ExportArchive(status=ExportArchive.Status.READY, archive="exports/a", expires_at=None)
    assert forever.download_refusal(now) is None
