"""A backup taken before an erasure holds nothing readable of what the erased person put in (C18, C25).

An account types a distinctive value into every field it can; the values are then read back through the
data inventory (every personal field of every row the inventory ties to the account, files included), so
a personal field added later is covered without touching this test, and a text field the seeding does not
reach fails it. A backup is taken (`candor backup`) and the media folder copied; the account is erased.
Then the backup and the media copy are scanned byte by byte for every value (raw UTF-8, as typed and in
any case); then the backup is restored (`candor restore`) and the live database files and media folder are
scanned again. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_candor
from tests.privacy.scan import files_under, found_in, found_in_files
from tests.privacy.test_rewrite import database_files, relation_files

MARK = "qzxv"  # in every value the account types in, so the inventory walk can tell them apart

SEED = f"""
import json
from django.test import RequestFactory
from candor.accounts import actions as accounts
from candor.accounts.models import SecurityEvent, User
from candor.api.actions import create_token
from candor.hub import actions as hub, blobs, revisions
from candor.lifecycle.export import builder
from candor.lifecycle.export.access import request_export
from candor.privacy import inventory, subjects

PASSWORD = "a-long-password-qzxv-1"
u = User.objects.create_user("{MARK}-erin", "{MARK}.erin@example.org", PASSWORD, email_verified=True)
visitor = RequestFactory().get("/", REMOTE_ADDR="198.51.100.77")
accounts.record_event(u, SecurityEvent.Kind.SIGN_IN, visitor)
accounts.request_email_change(u, password=PASSWORD, new_email="{MARK}.erin.new@example.org", acting_user=u)
create_token(u, name="{MARK} laptop token", scopes=["read"], acting_user=u)
from candor.staff import actions as staff
staff.add_staff(u, acting_user=None, roles=["support"], employment="affiliate", organisation="{MARK} Labs",
                office_country="DE", work_country="PT")
agreement = staff.publish_agreement("1", "Keep it confidential.", acting_user=None)
staff.sign_agreement(acting_user=u, signed_name="{MARK.title()} Erin Signer", text_sha256=agreement.sha256)
for visibility in ("public", "private"):
    model = hub.create_model(
        acting_user=u,
        name=f"{MARK}-{{visibility}}-model",
        visibility=visibility,
        title=f"{MARK.title()} {{visibility}} title words",
        summary=f"A {MARK} {{visibility}} summary",
        card=f"# The {MARK} {{visibility}} card\\n\\nTrained on {MARK} data.",
        tags=f"{MARK}-{{visibility}}-tag, {MARK}shared",
    )
    # README.md is the card: its front-matter fills the card's other fields (an unknown licence id
    # becomes one of the card's problems, kept for the owner).
    readme = (
        f"---\\nlicense: {MARK}-licence\\nlanguage: [en-{MARK}]\\ndatasets: [{MARK}-{{visibility}}-data]\\n"
        f"base_model: {MARK}-org/{MARK}-{{visibility}}-base\\n"
        f"tags: [{MARK}-{{visibility}}-tag, {MARK}shared]\\n"
        f"---\\n# The {MARK} {{visibility}} card\\n\\nTrained on {MARK} data."
    )
    hub.add_file(model, "README.md", [readme.encode()], acting_user=u, message=f"{MARK} {{visibility}} card")
    path, content = f"{MARK}-{{visibility}}-dir/{MARK}-weights.bin", f"{MARK} {{visibility}} file bytes"
    hub.add_file(model, path, [content.encode()], acting_user=u, message=f"{MARK} {{visibility}} commit note")
    revisions.tag(model, f"{MARK}-{{visibility}}-release", acting_user=u)
# The export: an archive of all the above (built at once: CANDOR_TASKS_IMMEDIATE), stored encrypted.
builder.build(request_export(u, acting_user=u))
# An email record (its subject as sent) and a notice, both kept under the person's key.
from candor.comms import actions as comms
from candor.comms.models import Email
Email.objects.create(user=u, category="account", kind="password-changed", subject="{MARK} subject as sent")
comms.notify(u, "security", "{MARK} notice title", "{MARK} notice body")
keeper = User.objects.create_user("keeperling", "keeper@example.org", PASSWORD, email_verified=True)
hub.create_model(acting_user=keeper, name="kept-model", visibility="public", title="Kept")

# Every value of every personal field of the account's rows, read through the models (decrypted).
values, covered, present, storage_keys = {{}}, set(), set(), []
def add(label, value):
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str) and "{MARK}" in value.lower():
        values.setdefault(label, set()).add(value)
        covered.add(label)
text_fields = []
for declaration in subjects.owned_declarations():
    for row in subjects.rows_of(declaration, u.pk):
        if hasattr(row, "storage_key"):
            storage_keys.append(row.storage_key)
        for name, item in declaration.personal_fields().items():
            label = f"{{declaration.label}}.{{name}}"
            field = declaration.model._meta.get_field(name)
            value = getattr(row, name)
            if field.many_to_many:
                for other in value.all():
                    add(label, str(other))
            elif field.get_internal_type() == "FileField":
                if value:
                    present.add(label)
                    if declaration.label == "hub.Blob":  # sealed: its clear bytes are what is looked for
                        add(label, b"".join(blobs.read(row)))
                    else:
                        with value.open("rb") as handle:
                            add(label, handle.read())
            elif isinstance(value, (list, tuple)):
                for item_value in value:
                    add(label, item_value)
            elif isinstance(value, dict):
                for item_value in value.values():
                    add(label, item_value)
            else:
                add(label, value)
    for name in declaration.personal_fields():
        field = declaration.model._meta.get_field(name)
        kind = "ManyToManyField" if field.many_to_many else field.get_internal_type()
        if kind in ("CharField", "TextField", "JSONField", "FileField", "ManyToManyField"):
            text_fields.append(f"{{declaration.label}}.{{name}}")
# The address a sign-in came from: typed by no one, but the person's all the same.
values["accounts.SecurityEvent.ip_address"] = {{
    e.ip_address for e in SecurityEvent.objects.filter(user=u) if e.ip_address
}}
assert values["accounts.SecurityEvent.ip_address"] == {{"198.51.100.77"}}
covered.add("accounts.SecurityEvent.ip_address")
print(json.dumps({{
    "user": str(u.pk),
    "values": {{label: sorted(found) for label, found in values.items()}},
    "text_fields": sorted(text_fields),
    "covered": sorted(covered),
    "present": sorted(present),
    "storage_keys": storage_keys,
}}))
"""

ERASE = """
from candor.accounts.models import User
from candor.lifecycle.erasure import erase_account
erase_account(User.objects.by_username("qzxv-erin").pk)
"""

# Personal text fields that hold nothing the person typed: set by Candor, or a hash of what was typed
# (a keyed hash of the name or address; a password hash; a token's digest and prefix; a browser family).
NOT_TYPED = {
    "accounts.EmailConfirmation.purpose",
    "accounts.SecurityEvent.kind",
    "accounts.SecurityEvent.browser_family",
    "accounts.User.email_index",
    "accounts.User.password",
    "accounts.User.username_index",
    "accounts.UserSession.browser_family",
    "accounts.UserSession.session_data",
    "api.ApiToken.prefix",
    "comms.Email.category",
    "comms.Email.kind",
    "comms.Email.reason",
    "comms.Email.refs",
    "comms.Email.status",
    "comms.Notice.kind",
    "comms.Preferences.changed_via",
    "comms.Preferences.undeliverable_index",
    "api.ApiToken.scopes",
    "api.ApiToken.secret_hash",
    "hub.Blob.sha256",
    "hub.LfsUpload.sha256",
    "hub.MLModel.license",
    "hub.MLModel.name_index",
    "hub.MLModel.library",
    "hub.MLModel.task",
    "hub.MLModel.visibility",
    "hub.ModelFile.sha256",
    "privacy.ExportArchive.status",
    "staff.StaffMember.employment",
    "staff.StaffMember.office_country",
    "staff.StaffMember.recovery_codes",
    "staff.StaffMember.roles",
    "staff.StaffMember.totp_secret",
    "staff.StaffMember.work_country",
}

# Files made of the other values (the export archive, a ZIP of everything, stored encrypted): they must
# exist, and the values in them are looked for by the scan of the media folder.
CONTAINERS = {"privacy.ExportArchive.archive"}


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result


def seed(tmp_path: Path, env: dict[str, str]) -> dict[str, object]:
    ok(run_candor(["migrate", "-v0"], tmp_path, env, timeout=180))
    seeded = json.loads(ok(run_candor(["shell", "-c", SEED], tmp_path, env)).stdout.strip().splitlines()[-1])
    missing = set(seeded["text_fields"]) - set(seeded["covered"]) - NOT_TYPED
    missing -= CONTAINERS & set(seeded["present"])
    assert not missing, f"the seeding puts no distinctive value into {sorted(missing)}: extend SEED"
    return seeded


def pieces(values: dict[str, list[str]]) -> dict[str, list[str]]:
    """Each value, and each line of a value of several lines: a dump writes a line break as an escape
    (COPY's ``\\n``), so a card is found by its lines."""
    return {
        label: sorted({v for value in found for v in [value, *value.splitlines()] if len(v.strip()) >= 6})
        for label, found in values.items()
    }


def found_labels(where: dict[str, list[str]], values: dict[str, list[str]]) -> dict[str, list[str]]:
    """For each field, which of its values were found (and where)."""
    return {
        label: sorted(f"{value!r} in {where[value]}" for value in found if value in where)
        for label, found in values.items()
        if any(value in where for value in found)
    }


def names_under(folder: Path) -> bytes:
    """Every file and folder name under ``folder``: a name in storage must say nothing either."""
    return "\n".join(str(p.relative_to(folder)) for p in folder.rglob("*")).encode()


def scan(files: list[Path], folders: list[Path], values: dict[str, list[str]]) -> dict[str, list[str]]:
    everything = [value for found in values.values() for value in found]
    where = found_in_files(files, everything)
    for folder in folders:
        for value in found_in(names_under(folder), everything):
            where.setdefault(value, []).append(f"a file name under {folder.name}")
    return found_labels(where, values)


def backup_and_restore(tmp_path: Path, env: dict[str, str], suffix: str) -> None:
    data = tmp_path / "data"
    seeded = seed(tmp_path, env)
    values = pieces(seeded["values"])  # type: ignore[arg-type]
    storage_keys: list[str] = seeded["storage_keys"]  # type: ignore[assignment]

    backup = tmp_path / "backups" / f"before{suffix}"
    ok(run_candor(["backup", str(backup)], tmp_path, env))
    media_copy = tmp_path / "media-copy"
    shutil.copytree(data / "media", media_copy)
    readable = [backup]
    if suffix == ".pgdump":  # compressed: read it back as SQL, as anyone holding it could
        script = tmp_path / "before.sql"
        ok(subprocess.run(["pg_restore", "-f", str(script), str(backup)], capture_output=True, text=True))
        readable.append(script)
    # The scan finds what is there: the account's models' random storage keys are kept in clear.
    assert set(found_in_files(readable, storage_keys)) == set(storage_keys)

    ok(run_candor(["shell", "-c", ERASE], tmp_path, env))

    in_backup = scan([*readable, *files_under(media_copy)], [media_copy], values)
    # Nothing the account put in is readable in the backup or the media copy: its account fields, its
    # models' words, file paths, commit messages, tags and file contents are all encrypted or sealed
    # under its destroyed key, and the public projection is never in a backup.
    assert {label.split(".")[0] for label in values} >= {"accounts", "api", "hub"}
    assert in_backup == {}, in_backup

    result = ok(run_candor(["restore", str(backup), "--yes"], tmp_path, env))
    assert "erased again: 1" in result.stdout
    if suffix == ".pgdump":
        live = database_files(env["DATABASE_URL"])
    else:
        live = files_under(*data.glob("candor.sqlite3*"))
    restored = scan([*live, *files_under(data / "media")], [data / "media"], values)
    assert restored == {}, restored
    # Gone from the models table's files, not only from its rows (the deletion ledger's own table keeps
    # the random names of the files it removed, which say nothing of anyone).
    models = relation_files(env["DATABASE_URL"], "hub_mlmodel") if suffix == ".pgdump" else live
    assert models and found_in_files(models, storage_keys) == {}


def test_sqlite_backup_and_restore_hold_nothing_readable_of_an_erased_account(tmp_path: Path) -> None:
    backup_and_restore(tmp_path, {"CANDOR_TASKS_IMMEDIATE": "1"}, ".sqlite3")


def test_postgres_backup_and_restore_hold_nothing_readable_of_an_erased_account(
    scratch_postgres: str, tmp_path: Path
) -> None:
    if shutil.which("pg_dump") is None:
        pytest.fail("pg_dump is not installed: apt-get install postgresql-client")
    env = {"DATABASE_URL": scratch_postgres, "CANDOR_TASKS_IMMEDIATE": "1"}
    backup_and_restore(tmp_path, env, ".pgdump")
