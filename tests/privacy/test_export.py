"""The personal-data export (clause C5; GDPR articles 15 and 20), built from the inventory alone.

The completeness test walks the inventory: it gives every declared personal field of alice (and of bob, who
has rows of every kind too) a value of its own, builds alice's export, opens the ZIP and finds each of hers
in it, and none of his. A newly declared personal field is covered without a line of code here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.core import mail
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import models
from django.test import Client
from django.utils import timezone

from candor.accounts.models import User
from candor.api.actions import create_token
from candor.hub import actions as hub_actions
from candor.hub import blobs, largefiles, revisions
from candor.hub.xet import format as xet_format
from candor.hub.xet import store as xet_store
from candor.kernel.refusal import Refusal
from candor.lifecycle import export, retention
from candor.lifecycle.export import access, builder, encoding, records, zipwriter
from candor.privacy import audit, inventory, subjects
from candor.privacy.crypto import EncryptedJSONField, EncryptedTextField
from candor.privacy.models import AuditEvent, ExportArchive
from candor.staff import actions as staff_actions
from candor.staff import queries as staff_queries
from tests.api.conftest import Api, assert_error, token_for
from tests.conftest import Mailbox, make_user
from tests.testapp.models import Diary

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks: Any) -> Any:
    """Run what a block schedules on commit (the build, then the email), as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def later(**delta: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(**delta)


def built(user: User, run_on_commit: Any) -> ExportArchive:
    with run_on_commit():
        archive = export.request_export(user, acting_user=user)
    archive.refresh_from_db()
    assert archive.status == ExportArchive.Status.READY, archive.status
    return archive


def open_zip(archive: ExportArchive) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(b"".join(export.open_archive(archive))))


def everything(zipped: zipfile.ZipFile) -> bytes:
    """Every entry's name and decompressed bytes, to search for a value wherever it might hide."""
    return b"\n".join(name.encode() + b"\n" + zipped.read(name) for name in zipped.namelist())


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else bytes(response.content)


# --- Filling every declared personal field, generically ----------------------------------------------------


@dataclass
class Expected:
    label: str
    pk: str
    field: str
    category: str
    value: Any  # as the record should give it
    needle: str | None = None  # a distinctive text that must (or, for the other persona, must not) appear
    content: bytes | None = None  # a file's bytes


@dataclass
class Filler:
    """Distinctive values, by field type, all marked with the persona's marker (ZqA…, ZqB…)."""

    marker: str
    year: int
    count: int = 0
    expected: list[Expected] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)  # stored values the export must never contain

    def text(self, limit: int | None = None) -> str:
        self.count += 1
        value = f"{self.marker}{self.count:03d}Z"
        assert limit is None or len(value) <= limit, "a field too short for a distinctive value"
        return value

    def value_for(self, model_field: Any) -> tuple[Any, str | None]:
        """(value, needle): a needle when the value is distinctive enough to search the archive for."""
        self.count += 1
        n = self.count
        if model_field.choices:
            return model_field.choices[-1][0], None
        if isinstance(model_field, models.BooleanField):
            return True, None
        if isinstance(model_field, models.GenericIPAddressField):
            value = f"203.0.113.{n}" if self.year == 2001 else f"198.51.100.{n}"
            return value, value
        if isinstance(model_field, EncryptedJSONField):  # a list of words (a model's tags)
            word = self.text().lower()
            return [word], word
        if isinstance(model_field, EncryptedTextField | models.CharField | models.TextField):
            value = self.text(model_field.max_length)
            return value, value
        if isinstance(model_field, models.DateTimeField):
            value = dt.datetime(self.year, 2, 3, 4, 5, 6, n, tzinfo=dt.UTC)
            return value, value.isoformat()
        if isinstance(model_field, models.DateField):
            value = dt.date(self.year, 1, 1) + dt.timedelta(days=n)
            return value, value.isoformat()
        if isinstance(model_field, models.IntegerField):
            value = (900_000 if self.year == 2001 else 800_000) + n
            return value, str(value)
        if isinstance(model_field, models.DecimalField | models.FloatField):
            value = Decimal(f"{self.year}.{n:03d}")
            return value, None
        if isinstance(model_field, models.UUIDField):
            value = uuid.uuid4()
            return value, str(value)
        if isinstance(model_field, models.JSONField):
            value = [self.text()]
            return value, value[0]
        if isinstance(model_field, models.BinaryField):
            return self.text().encode(), None
        pytest.fail(f"teach this test a value for {type(model_field).__name__}")

    def new_file(self, label: str, name: str) -> tuple[str, bytes]:
        content = f"{self.marker} file of {label}.{name} #{self.text()}".encode()
        return default_storage.save(f"test-uploads/{uuid.uuid4().hex}", ContentFile(content)), content


def make_row(declaration: inventory.Declaration, user: User, filler: Filler) -> None:
    """A row of a declared model that belongs to the user, made from the inventory alone."""
    model = declaration.model
    first, _, rest = (declaration.belongs_to or "").partition("__")
    link = model._meta.get_field(first)
    if rest:
        parent_declaration = inventory.declaration_for(link.related_model)
        assert parent_declaration is not None
        parent = subjects.rows_of(parent_declaration, user.pk).first()
        assert parent is not None, f"no row of {parent_declaration.label} to hang a {declaration.label} on"
    else:
        parent = user
    values: dict[str, Any] = {first: parent}
    for model_field in model._meta.concrete_fields:
        if model_field.primary_key or model_field.name == first or model_field.has_default():
            continue
        if model_field.null or model_field.blank:
            continue
        if model_field.is_relation:
            pytest.fail(f"{declaration.label}.{model_field.name}: a required link the test cannot make")
        values[model_field.name] = filler.value_for(model_field)[0]
    model._default_manager.create(**values)


def fill(user: User, marker: str, year: int) -> Filler:
    """Give the user rows of every kind, then give each declared personal field a value of its own."""
    filler = Filler(marker, year)
    # What the real actions make: a model with two uploaded files, a token, a session.
    model = hub_actions.create_model(acting_user=user, name=f"{marker.lower()}-model", title="A model")
    for path in ("weights/model.bin", "config.json"):
        hub_actions.add_file(model, path, [f"{marker} bytes of {path} ".encode() * 50], acting_user=user)
    revisions.tag(model, f"{marker.lower()}-v1", acting_user=user)
    # A Git LFS upload announced and not yet sent (its grant: the bytes' hash and size, for an hour).
    largefiles.grant_uploads(model, [(hashlib.sha256(marker.encode()).hexdigest(), 1)], acting_user=user)

    # A xorb of the Xet upload path (one uncompressed chunk of the person's own bytes).
    chunk = f"{marker} chunk of a xorb ".encode() * 40
    header = bytes([0]) + len(chunk).to_bytes(3, "little") + bytes([0]) + len(chunk).to_bytes(3, "little")
    digest = xet_format.xorb_hash([(xet_format.chunk_hash(chunk), len(chunk))])
    xet_store.receive_xorb(user, xet_format.to_hex(digest), [header + chunk], acting_user=user)
    _, secret = create_token(user, name="cli", scopes=["read", "write"], acting_user=user)
    filler.hidden.append(secret)
    Client().force_login(user)
    # A staff record and a signature of the confidentiality agreement.
    staff_actions.add_staff(
        user,
        acting_user=None,
        roles=["support"],
        employment="employee",
        office_country="DE",
        work_country="PT",
    )
    agreement = staff_queries.current_agreement() or staff_actions.publish_agreement(
        "1", "Keep it confidential.", acting_user=None
    )
    staff_actions.sign_agreement(
        acting_user=user, signed_name=f"{marker} Signer", text_sha256=agreement.sha256
    )
    # Everything else the inventory ties to a person, made from the declaration alone.
    for declaration in sorted(subjects.owned_declarations(), key=lambda d: subjects._depth(d)):
        exported = [n for n, p in declaration.personal_fields().items() if p.export != "omitted"]
        if exported and not subjects.rows_of(declaration, user.pk).exists():
            make_row(declaration, user, filler)

    for declaration in subjects.owned_declarations():
        personal = declaration.personal_fields()
        if not any(p.export != "omitted" for p in personal.values()):
            continue
        for row in subjects.rows_of(declaration, user.pk):
            _fill_row(declaration, row, personal, filler)
    return filler


def _fill_row(
    declaration: inventory.Declaration, row: Any, personal: dict[str, inventory.Personal], filler: Filler
) -> None:
    later_m2m: list[tuple[str, Any]] = []
    described: list[str] = []  # held but not given: their stored values must not reach the archive
    files: dict[str, bytes] = {}
    # A sealed blob's other fields describe its bytes (their size is checked as they are read): they are
    # expected as they are, and the file in clear, as the blob store gives it.
    sealed_row = any(item.sealed for item in personal.values())
    for name, item in personal.items():
        model_field = declaration.model._meta.get_field(name)
        if item.export != "value":
            described.append(getattr(model_field, "attname", name))
            continue
        if sealed_row:
            if isinstance(model_field, models.FileField):
                files[name] = b"".join(blobs.read(row))
            else:
                current = getattr(row, name)
                needle = current if isinstance(current, str) else None
                filler.expected.append(
                    Expected(declaration.label, "", name, item.category, export.plain(current), needle)
                )
            continue
        if model_field.many_to_many:
            tag = model_field.related_model._default_manager.create(name=filler.text().lower())
            later_m2m.append((name, tag))
            continue
        if isinstance(model_field, models.FileField):
            current = getattr(row, name)
            if current.name:  # an uploaded file: its bytes must reach the archive as they are
                with default_storage.open(current.name, "rb") as handle:
                    files[name] = handle.read()
            else:
                stored, files[name] = filler.new_file(declaration.label, name)
                setattr(row, name, stored)
            continue
        if model_field.is_relation:  # a link (a commit's author): exported as the linked row's id
            linked = export.plain(getattr(row, model_field.attname))
            filler.expected.append(Expected(declaration.label, "", name, item.category, linked, None))
            continue
        value, needle = filler.value_for(model_field)
        setattr(row, name, value)
        filler.expected.append(
            Expected(declaration.label, "", name, item.category, export.plain(value), needle)
        )
    row.save()
    row.refresh_from_db()
    for attname in described:
        stored = row.__dict__.get(attname)
        if stored:
            filler.hidden.append(str(getattr(stored, "name", stored)))
    for name, tag in later_m2m:
        getattr(row, name).set([tag])
        item = personal[name]
        filler.expected.append(Expected(declaration.label, "", name, item.category, [tag.name], tag.name))
    for name, content in files.items():
        item = personal[name]
        filler.expected.append(Expected(declaration.label, "", name, item.category, None, None, content))
    for expected in filler.expected:
        if expected.label == declaration.label and not expected.pk:
            expected.pk = str(row.pk)


def records_by_row(zipped: zipfile.ZipFile) -> dict[tuple[str, str, str], dict[str, Any]]:
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for name in zipped.namelist():
        if name.startswith("data/"):
            document = json.loads(zipped.read(name))
            for record in document["records"]:
                found[(document["category"], record["model"], record["id"])] = record
    return found


@pytest.fixture
def filled(owner: User, member: User) -> tuple[Filler, Filler]:
    return fill(owner, "ZqA", 2001), fill(member, "ZqB", 2002)


def test_the_export_holds_every_personal_value_of_its_owner_and_nothing_of_anyone_else(
    owner: User, member: User, filled: tuple[Filler, Filler], run_on_commit: Any
) -> None:
    alice, bob = filled
    assert Diary.objects.filter(user=owner).exists(), "the test-only model got a row from its declaration"
    zipped = open_zip(built(owner, run_on_commit))
    assert zipped.testzip() is None
    records = records_by_row(zipped)
    blob = everything(zipped)

    declared = {
        (d.label, name)
        for d in subjects.owned_declarations()
        for name, item in d.personal_fields().items()
        if item.export == "value"
    }
    checked = {(e.label, e.field) for e in alice.expected}
    assert declared == checked, "every exported personal field was given a value and is checked"

    for expected in alice.expected:
        record = records.get((expected.category, expected.label, expected.pk))
        assert record is not None, f"no {expected.category} record of {expected.label} {expected.pk}"
        if expected.content is not None:
            assert zipped.read(record[expected.field]) == expected.content, (expected.label, expected.field)
            assert record[expected.field].startswith("files/")
        else:
            assert record[expected.field] == expected.value, (expected.label, expected.field)
        if expected.needle is not None:
            assert expected.needle.encode() in blob, expected

    for expected in bob.expected:
        if expected.needle is not None:
            assert expected.needle.encode() not in blob, f"bob's {expected.label}.{expected.field} leaked"
        if expected.content is not None:
            assert expected.content not in blob, f"bob's file of {expected.label}.{expected.field} leaked"
    assert b"ZqB" not in blob and str(member.pk).encode() not in blob

    # Described, never given: hashes and secrets are nowhere in the archive, tokens' secrets above all.
    for secret in alice.hidden:
        assert secret.encode() not in blob
    owner.refresh_from_db()
    assert owner.password.encode() not in blob and owner.email_index.encode() not in blob
    user_record = next(r for (c, label, _), r in records.items() if c == "account.password")
    assert user_record["password"]["present"] is True and "not exported" in user_record["password"]["note"]
    assert not any("secret_hash" in r or "session_data" in r or "archive" in r for r in records.values())


def test_every_uploaded_model_file_is_in_the_archive_under_a_readable_path(
    owner: User, member: User, run_on_commit: Any
) -> None:
    model = hub_actions.create_model(acting_user=owner, name="tiny-bert", title="Tiny BERT")
    uploads = {"config.json": b'{"layers": 2}', "weights/model.safetensors": bytes(range(256)) * 4000}
    for path, content in uploads.items():
        hub_actions.add_file(model, path, [content], acting_user=owner)
    theirs = hub_actions.create_model(acting_user=member, name="other", title="Other")
    hub_actions.add_file(theirs, "x.bin", [b"bob's weights"], acting_user=member)

    # An older revision's file: listed in the records, its bytes not copied (main no longer holds it).
    hub_actions.add_file(model, "old.txt", [b"Qx7 bytes of an old revision"], acting_user=owner)
    hub_actions.delete_file(model, "old.txt", acting_user=owner)
    # The same bytes at two paths: copied at each.
    hub_actions.add_file(model, "copy.json", [uploads["config.json"]], acting_user=owner)

    zipped = open_zip(built(owner, run_on_commit))
    for path, content in {**uploads, "copy.json": uploads["config.json"]}.items():
        assert zipped.read(f"files/tiny-bert/{path}") == content
    names = zipped.namelist()
    assert not any(name.startswith("files/other") for name in names)
    assert "files/tiny-bert/old.txt" not in names and b"Qx7 bytes" not in everything(zipped)
    files = json.loads(zipped.read("data/content.file.json"))
    stored = {r["stored"] for r in files["records"] if r["model"] == "hub.Blob"}
    # Each blob's record names where its bytes are: the first of its places, or null (older revisions).
    assert stored == {"files/tiny-bert/config.json", "files/tiny-bert/weights/model.safetensors", None}
    paths = [r["path"] for r in files["records"] if r["model"] == "hub.ModelFile"]
    assert set(paths) == {*uploads, "old.txt", "copy.json"}  # every revision's tree is in the records
    readme = json.loads(zipped.read("README.json"))
    assert (
        "older revisions" in readme["layout"]
        and "data/content.revision.json" in readme["layout"]["older revisions"]
    )
    assert "older revisions are listed in the records" in zipped.read("index.html").decode()


def test_a_file_larger_than_one_read_is_streamed_into_the_archive(
    owner: User, monkeypatch: pytest.MonkeyPatch, run_on_commit: Any
) -> None:
    """Small files are read whole through their descriptor; a larger one is streamed, and both arrive."""
    monkeypatch.setattr(zipwriter, "SMALL_FILE", 1000)
    monkeypatch.setattr(zipwriter, "COPY_BUFFER", 700)
    model = hub_actions.create_model(acting_user=owner, name="big", title="Big")
    uploads = {"large.bin": bytes(range(256)) * 20, "small.txt": b"tiny", "empty.txt": b""}
    for path, content in uploads.items():
        hub_actions.add_file(model, path, [content], acting_user=owner)
    zipped = open_zip(built(owner, run_on_commit))
    assert zipped.testzip() is None
    for path, content in uploads.items():
        assert zipped.read(f"files/big/{path}") == content


def test_a_record_is_the_json_of_its_dict() -> None:
    """Records are cut from values encoded once; they read exactly as json.dumps of the record's dict."""
    values = {
        "model": "hub.MLModel",
        "id": "7",
        "name": 'a "quoted" %s value ü\n\u2028',
        "count": 3,
        "flag": False,
        "nothing": None,
        "tags": ["b", "a"],
        "ratio": 0.5,
        "note": {"present": True, "note": "not exported"},
    }
    slots = {key: index for index, key in enumerate(values)}
    record = tuple(encoding.json_value(value) for value in values.values())
    for fields in (["name", "count"], ["flag", "nothing", "tags", "ratio", "note"], []):
        template, pick = encoding.record_layout(slots, dict.fromkeys(fields))  # type: ignore[arg-type]
        expected = {"model": values["model"], "id": values["id"], **{f: values[f] for f in fields}}
        assert template % pick(record) == json.dumps(expected, ensure_ascii=False)
    # A field named like a record's own key takes that key's place, as it would in the dict.
    slots["model"] = slots["name"]
    template, pick = encoding.record_layout(slots, dict.fromkeys(["count", "model"]))  # type: ignore[arg-type]
    assert json.loads(template % pick(record)) == {"model": values["name"], "id": "7", "count": 3}
    assert (template % pick(record)).startswith('{"model": ')


def test_the_archive_is_documented(owner: User, run_on_commit: Any) -> None:
    token, secret = create_token(owner, name="laptop", scopes=["read"], acting_user=owner)
    archive = built(owner, run_on_commit)
    zipped = open_zip(archive)
    names = zipped.namelist()
    readme = json.loads(zipped.read("README.json"))
    assert readme["format_version"] == export.FORMAT_VERSION
    assert dt.datetime.fromisoformat(readme["generated_at"]).tzinfo is not None
    data_files = sorted(n for n in names if n.startswith("data/"))
    assert sorted(c["file"] for c in readme["categories"]) == data_files
    for entry in readme["categories"]:
        document = json.loads(zipped.read(entry["file"]))
        assert document["category"] == entry["category"] and document["description"]
        assert len(document["records"]) == entry["records"]
        for described in document["fields"]:
            assert set(described) >= {"model", "field", "purpose", "retention"}
    assert {"category": "account.export", "model": "privacy.ExportArchive", "field": "archive"} in [
        {k: v for k, v in item.items() if k != "purpose"} for item in readme["not_exported"]
    ]

    email = json.loads(zipped.read("data/contact.email.json"))
    assert {"model": "accounts.User", "id": str(owner.pk), "email": "alice@example.org"}.items() <= next(
        r for r in email["records"] if r["model"] == "accounts.User"
    ).items()
    tokens = json.loads(zipped.read("data/account.token.json"))
    assert [(r["id"], r["name"], r["prefix"]) for r in tokens["records"]] == [
        (str(token.pk), "laptop", token.prefix)
    ]
    assert secret.encode() not in everything(zipped)

    page = zipped.read("index.html").decode()
    assert "<script" not in page.lower() and "<link" not in page.lower()
    for entry in readme["categories"]:
        assert entry["category"] in page and f'href="{entry["file"]}"' in page
    # The size is the ZIP's, as downloaded; the stored file is that, sealed (a header, a tag per segment).
    assert archive.size == len(b"".join(export.open_archive(archive))) > 0
    assert default_storage.size(archive.archive.name) > archive.size


def test_values_are_autoescaped_in_the_summary_page(owner: User, run_on_commit: Any) -> None:
    model = hub_actions.create_model(acting_user=owner, name="m", title="T")
    hub_actions.add_file(model, "<script>alert(1)</script>.txt", [b"x"], acting_user=owner)
    page = open_zip(built(owner, run_on_commit)).read("index.html").decode()
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_the_archive_is_stored_under_a_random_name_and_no_temporary_file_is_left(
    owner: User, media: Path, run_on_commit: Any
) -> None:
    archive = built(owner, run_on_commit)
    assert archive.archive.name.startswith("exports/") and archive.archive.name.endswith(".zip")
    assert "alice" not in archive.archive.name
    assert archive.expires_at is not None and archive.ready_at is not None
    assert archive.expires_at - archive.ready_at == dt.timedelta(days=7)
    staging = media / ".staging"
    assert not staging.exists() or not any(staging.iterdir())


def test_a_failed_build_is_marked_failed_leaves_no_file_and_logs_nothing_personal(
    owner: User, media: Path, run_on_commit: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    def broken(handle: Any, user: User, **kwargs: Any) -> None:
        handle.write(b"partial")
        raise RuntimeError(f"cannot export {user.username} <{user.email}>")

    monkeypatch.setattr(builder, "write_zip", broken)
    with caplog.at_level(logging.INFO), run_on_commit():
        archive = export.request_export(owner, acting_user=owner)
    archive.refresh_from_db()
    assert archive.status == ExportArchive.Status.FAILED and not archive.archive.name
    assert archive.expires_at is not None  # swept like the others
    assert not (media / "exports").exists() or not any((media / "exports").iterdir())
    assert not any((media / ".staging").iterdir())
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "RuntimeError" in logged
    assert "alice" not in logged and "example.org" not in logged
    # A failed one does not block a new request.
    export.request_export(owner, acting_user=owner)


# --- Requests: twice, replaced --------------------------------------------------------------------------


def test_an_export_requested_twice_is_refused_with_a_clear_error(owner: User) -> None:
    # Not committed: its build has not run, it is still pending.
    first = export.request_export(owner, acting_user=owner)
    with pytest.raises(Refusal) as refused:
        export.request_export(owner, acting_user=owner)
    assert refused.value.code == "export_pending" and "already being prepared" in refused.value.message
    assert list(ExportArchive.objects.filter(user=owner)) == [first]


def test_a_pending_request_that_never_ran_stops_blocking_after_a_day(owner: User) -> None:
    stuck = export.request_export(owner, acting_user=owner)
    ExportArchive.objects.filter(pk=stuck.pk).update(created_at=later(days=-2))
    export.request_export(owner, acting_user=owner)
    stuck.refresh_from_db()
    assert stuck.status == ExportArchive.Status.FAILED


def test_a_ready_export_is_replaced_by_a_new_one(owner: User, run_on_commit: Any) -> None:
    first = built(owner, run_on_commit)
    second = built(owner, run_on_commit)
    assert list(ExportArchive.objects.filter(user=owner)) == [second]
    assert not default_storage.exists(first.archive.name) and default_storage.exists(second.archive.name)


def test_the_task_carries_the_archive_id_only(
    owner: User, monkeypatch: pytest.MonkeyPatch, run_on_commit: Any
) -> None:
    sent: list[tuple[Any, ...]] = []
    fake = SimpleNamespace(enqueue=lambda *args, **kwargs: sent.append((*args, *kwargs.values())))
    monkeypatch.setattr(access, "build_export", fake)
    with run_on_commit():
        archive = export.request_export(owner, acting_user=owner)
    assert sent == [(archive.pk,)]


# --- The web pages --------------------------------------------------------------------------------------


def test_the_page_requests_an_export_and_a_second_request_shows_the_error(
    owner: User, owner_client: Client
) -> None:
    page = owner_client.get("/settings/export/")
    assert page.status_code == 200 and b"Prepare an export" in page.content
    first = owner_client.post("/settings/export/", follow=True)
    assert b"Your export is being prepared" in first.content
    assert ExportArchive.objects.filter(user=owner, status="pending").count() == 1
    assert owner.security_events.filter(kind="export_requested").count() == 1  # in the security history
    second = owner_client.post("/settings/export/", follow=True)
    assert b"already being prepared" in second.content
    assert ExportArchive.objects.filter(user=owner).count() == 1


def test_the_page_lists_a_ready_export_and_the_owner_downloads_it(
    owner: User, owner_client: Client, run_on_commit: Any
) -> None:
    archive = built(owner, run_on_commit)
    page = owner_client.get("/settings/export/").content.decode()
    link = f"/settings/export/{archive.public_id}/download/"
    expires = archive.expires_at
    assert link in page and "Ready" in page and f"{expires.day} {expires:%b %Y, %H:%M} UTC" in page
    response = owner_client.get(link)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "alice" not in response["Content-Disposition"]
    assert {"private", "no-store"} <= {p.strip() for p in response["Cache-Control"].split(",")}
    zipped = zipfile.ZipFile(io.BytesIO(body(response)))
    assert "README.json" in zipped.namelist()


def test_someone_elses_or_a_missing_or_unfinished_archive_is_not_found(
    owner: User, member: User, run_on_commit: Any
) -> None:
    archive = built(owner, run_on_commit)
    bob = Client()
    bob.force_login(member)
    assert bob.get(f"/settings/export/{archive.public_id}/download/").status_code == 404
    assert bob.get("/settings/export/").content.count(archive.public_id.encode()) == 0
    alice = Client()
    alice.force_login(owner)
    assert alice.get("/settings/export/no-such-archive/download/").status_code == 404
    pending = ExportArchive.objects.create(user=owner)
    assert alice.get(f"/settings/export/{pending.public_id}/download/").status_code == 404


def test_an_expired_archive_is_gone(owner: User, owner_client: Client, run_on_commit: Any) -> None:
    archive = built(owner, run_on_commit)
    ExportArchive.objects.filter(pk=archive.pk).update(expires_at=later(seconds=-1))
    response = owner_client.get(f"/settings/export/{archive.public_id}/download/")
    assert response.status_code == 410
    assert b"This export has expired" in response.content and b"/settings/export/" in response.content


def test_anonymous_visitors_are_sent_to_log_in(owner: User, run_on_commit: Any) -> None:
    archive = built(owner, run_on_commit)
    for address in ("/settings/export/", f"/settings/export/{archive.public_id}/download/"):
        response = Client().get(address)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert Client().post("/settings/export/").status_code == 302
    assert not ExportArchive.objects.exclude(pk=archive.pk).exists()


def test_the_person_is_emailed_and_the_settings_page_says_so(
    owner: User, owner_client: Client, mailbox: Mailbox, settings: Any
) -> None:
    settings_page = owner_client.get("/settings/").content.decode()
    assert 'href="/settings/export/"' in settings_page and "Download your data" in settings_page
    assert "Your data export is" not in settings_page
    owner_client.post("/settings/export/")
    assert "Your data export is being prepared" in owner_client.get("/settings/").content.decode()
    assert mail.outbox == []  # nothing committed yet, so nothing built nor sent

    message = mailbox.last_to("alice@example.org")  # the request committed: built, then the email
    archive = ExportArchive.objects.get(user=owner)
    assert archive.status == ExportArchive.Status.READY
    assert str(message["Subject"]).endswith("Your data export is ready")
    text = Mailbox.body(message)
    assert f"{settings.WEBSITE_URL}/settings/export/" in text and "7 days" in text
    assert archive.public_id not in text  # the link leads to the signed-in page, not to the file
    settings_page = owner_client.get("/settings/").content.decode()
    assert "Your data export is ready" in settings_page
    assert f"/settings/export/{archive.public_id}/download/" in settings_page


# --- The API --------------------------------------------------------------------------------------------


def test_the_api_requests_lists_and_downloads(owner: User, run_on_commit: Any) -> None:
    alice = Api(token_for(owner))
    with run_on_commit():
        response = alice.post("/me/export")
    assert response.status_code == 202
    answer = response.json()
    assert set(answer) == {"id", "status", "created_at", "expires_at", "size", "download_url"}
    assert answer["status"] == "pending" and answer["download_url"] is None
    listed = alice.get("/me/exports").json()["items"]
    assert [item["id"] for item in listed] == [answer["id"]] and listed[0]["status"] == "ready"
    assert listed[0]["size"] > 0 and listed[0]["expires_at"]
    assert listed[0]["download_url"].endswith(f"/api/v1/me/exports/{answer['id']}/download")
    download = alice.get(f"/me/exports/{answer['id']}/download")
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    assert "no-store" in download["Cache-Control"]
    assert "README.json" in zipfile.ZipFile(io.BytesIO(body(download))).namelist()


def test_the_api_refuses_a_second_request_with_409(owner: User) -> None:
    alice = Api(token_for(owner))
    assert alice.post("/me/export").status_code == 202
    error = assert_error(alice.post("/me/export"), 409, "export_pending")
    assert "already being prepared" in error["message"]


def test_the_api_hides_others_archives_and_says_410_when_expired(
    owner: User, member: User, run_on_commit: Any
) -> None:
    archive = built(owner, run_on_commit)
    bob = Api(token_for(member))
    assert_error(bob.get(f"/me/exports/{archive.public_id}/download"), 404, "not_found")
    assert bob.get("/me/exports").json() == {"items": []}
    alice = Api(token_for(owner))
    assert_error(alice.get("/me/exports/nothing-here/download"), 404, "not_found")
    ExportArchive.objects.filter(pk=archive.pk).update(expires_at=later(seconds=-1))
    assert_error(alice.get(f"/me/exports/{archive.public_id}/download"), 410, "export_expired")


def test_the_api_needs_a_caller_and_a_write_token_to_request(owner: User) -> None:
    anonymous = Api()
    assert_error(anonymous.post("/me/export"), 401)
    assert_error(anonymous.get("/me/exports"), 401)
    assert_error(anonymous.get("/me/exports/x/download"), 401)
    reader = Api(token_for(owner, "read"))
    assert_error(reader.post("/me/export"), 403, "insufficient_scope")
    assert reader.get("/me/exports").status_code == 200
    assert not ExportArchive.objects.exists()


# --- One serving rule, through both interfaces ---------------------------------------------------------


def _unknown(owner: User, member: User, archive: ExportArchive) -> str:
    return "no-such-archive"


def _someone_elses(owner: User, member: User, archive: ExportArchive) -> str:
    return ExportArchive.objects.create(user=member, status=ExportArchive.Status.READY, archive="x").public_id


def _pending(owner: User, member: User, archive: ExportArchive) -> str:
    return ExportArchive.objects.create(user=owner).public_id


def _failed(owner: User, member: User, archive: ExportArchive) -> str:
    return ExportArchive.objects.create(user=owner, status=ExportArchive.Status.FAILED).public_id


def _ready_without_file(owner: User, member: User, archive: ExportArchive) -> str:
    return ExportArchive.objects.create(user=owner, status=ExportArchive.Status.READY).public_id


def _expired(owner: User, member: User, archive: ExportArchive) -> str:
    ExportArchive.objects.filter(pk=archive.pk).update(expires_at=later(seconds=-1))
    return archive.public_id


def _file_gone(owner: User, member: User, archive: ExportArchive) -> str:
    default_storage.delete(archive.archive.name)
    return archive.public_id


REASONS = [
    (_unknown, "not_found"),
    (_someone_elses, "not_found"),
    (_pending, "not_found"),
    (_failed, "not_found"),
    (_ready_without_file, "not_found"),
    (_expired, "export_expired"),
    (_file_gone, "export_expired"),
]


@pytest.mark.parametrize(("make", "code"), REASONS, ids=[make.__name__.strip("_") for make, _ in REASONS])
def test_each_refusal_to_serve_an_archive_is_the_same_on_the_page_and_in_the_api(
    owner: User, member: User, run_on_commit: Any, make: Any, code: str
) -> None:
    archive = built(owner, run_on_commit)
    public_id = make(owner, member, archive)
    with pytest.raises(Refusal) as refused:
        export.download(owner, public_id)
    assert refused.value.code == code
    page = Client()
    page.force_login(owner)
    status = {"not_found": 404, "export_expired": 410}[code]
    assert page.get(f"/settings/export/{public_id}/download/").status_code == status
    error = assert_error(Api(token_for(owner)).get(f"/me/exports/{public_id}/download"), status, code)
    assert error["message"] == refused.value.message


# --- The audit trail ------------------------------------------------------------------------------------


def test_asking_for_an_export_writes_one_audit_row_of_ids_and_a_refused_one_none(owner: User) -> None:
    export.request_export(owner, acting_user=owner)
    with pytest.raises(Refusal):
        export.request_export(owner, acting_user=owner)  # still pending
    rows = list(AuditEvent.objects.all())
    assert len(rows) == 1
    (row,) = rows
    assert row.event_type == audit.EventType.EXPORT_REQUESTED
    assert row.acting_user_id == owner.pk and row.subject_id == owner.pk
    assert row.model_id is None and row.extra == {}


# --- Retention ------------------------------------------------------------------------------------------


def by_rule(outcomes: Any) -> dict[str, int]:
    return {o.rule: o.count for o in outcomes}


def test_the_sweep_deletes_expired_archives_and_their_files(
    owner: User, member: User, run_on_commit: Any
) -> None:
    archive = built(owner, run_on_commit)
    other = built(member, run_on_commit)
    ExportArchive.objects.filter(pk=other.pk).update(expires_at=later(days=30))
    assert by_rule(retention.sweep(now=later(days=6)))["expired export archives"] == 0
    assert default_storage.exists(archive.archive.name)
    with run_on_commit():
        outcome = by_rule(retention.sweep(now=later(days=7, minutes=1)))
    assert outcome["expired export archives"] == 1
    assert not ExportArchive.objects.filter(pk=archive.pk).exists()
    assert not default_storage.exists(archive.archive.name)
    assert default_storage.exists(other.archive.name)


def test_the_sweep_removes_the_files_of_any_declared_file_field(owner: User, run_on_commit: Any) -> None:
    """The step is generic: the test-only Diary's attachments leave storage with their rows."""
    name = default_storage.save("diary/note.txt", ContentFile(b"dear diary"))
    Diary.objects.create(user=owner, mood="fine", secret="s", attachment=name)
    with run_on_commit():
        assert by_rule(retention.sweep(now=later(days=4)))["old diary entries"] == 1
    assert not default_storage.exists(name)


def test_an_unconfirmed_account_swept_takes_the_files_of_all_its_rows(run_on_commit: Any) -> None:
    lazy = make_user("lazy", verified=False)
    name = default_storage.save("diary/lazy.txt", ContentFile(b"lazy"))
    Diary.objects.create(user=lazy, mood="meh", secret="s", attachment=name)
    archive = built(lazy, run_on_commit)
    with run_on_commit():
        assert by_rule(retention.sweep(now=later(days=8)))["accounts never confirmed"] == 1
    assert not default_storage.exists(name) and not default_storage.exists(archive.archive.name)


def test_the_archive_itself_is_declared_but_never_exported() -> None:
    declaration = inventory.declaration_for(ExportArchive)
    assert declaration is not None and declaration.belongs_to == "user"
    item = declaration.personal_fields()["archive"]
    assert (item.category, item.export) == ("account.export", "omitted")
    assert [s.rule for s in declaration.sweeps] == ["expired export archives"]


def test_streaming_reads_rows_in_chunks(
    owner: User, monkeypatch: pytest.MonkeyPatch, run_on_commit: Any
) -> None:
    """While the ZIP is written, rows are read with iterator(chunk_size=...), never loaded all at once."""
    chunk_sizes: list[int | None] = []
    writing = False
    original_iterator, original_write = models.QuerySet.iterator, export.write_zip

    def iterator(self: models.QuerySet[Any], chunk_size: int | None = None) -> Iterator[Any]:
        if writing:
            chunk_sizes.append(chunk_size)
        return original_iterator(self, chunk_size=chunk_size)

    def write_zip(*args: Any, **kwargs: Any) -> None:
        nonlocal writing
        writing = True
        try:
            original_write(*args, **kwargs)
        finally:
            writing = False

    owned = {d.model for d in subjects.owned_declarations()}

    def evaluate(self: models.QuerySet[Any]) -> None:
        assert not (writing and self.model in owned), f"all rows of {self.model._meta.label} were loaded"
        original_fetch(self)

    original_fetch = models.QuerySet._fetch_all
    monkeypatch.setattr(models.QuerySet, "iterator", iterator)
    monkeypatch.setattr(models.QuerySet, "_fetch_all", evaluate)
    monkeypatch.setattr(builder, "write_zip", write_zip)
    monkeypatch.setattr(records, "ROWS_PER_CHUNK", 2)
    model = hub_actions.create_model(acting_user=owner, name="m", title="T", tags="t0, t1, t2")
    for i in range(5):
        hub_actions.add_file(model, f"f{i}.bin", [b"x"], acting_user=owner)
    zipped = open_zip(built(owner, run_on_commit))
    assert chunk_sizes and all(size == 2 for size in chunk_sizes)
    kinds = [r["model"] for r in json.loads(zipped.read("data/content.file.json"))["records"]]
    # Five commits, each with its whole tree (1 + 2 + ... + 5 files), all of one blob (the same bytes).
    assert (kinds.count("hub.ModelFile"), kinds.count("hub.Blob")) == (15, 1)
    assert [n for n in zipped.namelist() if n.startswith("files/")] == [f"files/m/f{i}.bin" for i in range(5)]
    assert json.loads(zipped.read("data/content.model.json"))["records"][0]["tags"] == ["t0", "t1", "t2"]
