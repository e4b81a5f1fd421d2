"""The one staging area (candor.kernel.staging): what a temporary file is called, who may remove it, and what
erasure and the sweep leave of a person there.

Crash tests with real `kill -9` of servers, workers and backups are in test_crash_leftovers.py.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils.html import escape

from candor.accounts.models import User
from candor.hub import actions as hub_actions
from candor.kernel import staging
from candor.lifecycle import backup, erasure, retention
from tests.conftest import ROOT, deliver_on_commit, run_candor

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


def names_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- Names ------------------------------------------------------------------------------------------------


def test_an_upload_is_staged_under_its_purpose_and_account_id_only(owner: User, media: Path) -> None:
    model = hub_actions.create_model(acting_user=owner, name="secret-project", title="T")
    seen: list[str] = []

    def chunks() -> Iterator[bytes]:
        yield b"first half "
        seen.extend(names_in(media / staging.FOLDER))  # while the upload is being received
        yield b"second half"

    hub_actions.add_file(model, "weights-of-alice.bin", chunks(), acting_user=owner)
    assert len(seen) == 1, seen
    name = seen[0]
    assert name.startswith(f"upload.{owner.pk.hex}.")
    for personal in ("alice", "weights", "secret", "example.org"):
        assert personal not in name
    assert (media / staging.FOLDER).stat().st_mode & 0o077 == 0  # owner-only
    assert names_in(media / staging.FOLDER) == []  # moved into storage, nothing left


def test_a_staging_owner_must_be_an_account_id(media: Path) -> None:
    with pytest.raises(staging.StagingError):
        staging.create("upload", "alice")
    with pytest.raises(staging.StagingError):
        staging.create("somewhere", None)


# --- Recovery: what is in use stays, what a dead process left goes ---------------------------------------

HOLD = (
    "import sys, time\n"
    "from candor.kernel import staging\n"
    "held = staging.create('upload', sys.argv[1] if len(sys.argv) > 1 else None)\n"
    "held.file.write(b'half an upload'); held.file.flush()\n"
    "print(held.path, flush=True)\n"
    "time.sleep(600)\n"
)


def hold_in_another_process(media: Path, account: str | None = None) -> tuple[subprocess.Popen[str], Path]:
    """A real process that makes a staging file and keeps it open, as a server receiving an upload does."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CANDOR_REDIS_URL")}
    env |= {"CANDOR_DATA_DIR": str(media.parent / "data"), "DJANGO_SETTINGS_MODULE": "candor.settings"}
    code = "import django; django.setup()\nfrom django.conf import settings\n"
    code += f"settings.MEDIA_ROOT = {str(media)!r}\n" + HOLD
    argv = [sys.executable, "-c", code, *([account] if account else [])]
    process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert line, "the holding process did not start"
    return process, Path(line)


def test_recovery_removes_what_a_killed_process_left_and_keeps_files_in_use(media: Path) -> None:
    killed, left = hold_in_another_process(media)
    alive, held_elsewhere = hold_in_another_process(media)
    try:
        mine = staging.create("export", None, ".zip")  # this process's own file, open
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(timeout=10)
        assert left.exists()

        assert staging.recover() == 1
        assert not left.exists()
        assert held_elsewhere.exists() and mine.path.exists()
        # A second pass finds nothing more; the live files are still there after it.
        assert staging.recover() == 0
        mine.discard()
    finally:
        alive.kill()
        alive.wait(timeout=10)
    assert staging.recover() == 1 and not held_elsewhere.exists()


def test_a_file_made_while_recovery_runs_is_never_removed_under_its_writer(media: Path) -> None:
    """Recovery removes a file while holding its lock; a writer that made it in that instant starts again."""
    made = [staging.create("upload", None) for _ in range(20)]
    for handle in made:
        handle.close()  # as if their writers had died
    kept = staging.create("upload", None)
    assert staging.recover() == 20
    assert [p.name for p in (media / staging.FOLDER).iterdir()] == [kept.path.name]
    kept.file.write(b"still mine")
    kept.file.flush()
    assert kept.path.read_bytes() == b"still mine"
    kept.discard()


# --- Erasure and the sweep ----------------------------------------------------------------------------------


def test_erasure_removes_the_accounts_staging_files_at_once_even_in_use(
    owner: User, member: User, media: Path
) -> None:
    alices_upload = staging.create("upload", owner.pk)
    alices_export = staging.create("export-part", owner.pk)
    bobs_upload = staging.create("upload", member.pk)
    alices_export.close()
    erasure.erase_account(owner.pk)
    deliver_on_commit()
    assert not alices_upload.path.exists() and not alices_export.path.exists()
    assert bobs_upload.path.exists()
    # The writer of the removed upload can no longer store it.
    with pytest.raises(FileNotFoundError):
        os.rename(alices_upload.path, media / "stored")
    alices_upload.close()
    bobs_upload.discard()


def test_the_sweep_removes_files_of_deleted_accounts_and_of_crashes(
    owner: User, member: User, media: Path, capsys: Any
) -> None:
    gone = uuid.uuid4()  # an account deleted since its upload started, held by a hung process
    hung = staging.create("upload", gone)
    crashed = staging.create("form-upload", owner.pk)
    crashed.close()
    working = staging.create("upload", member.pk)
    call_command("privacy", "sweep", "--dry-run")
    assert "deleted accounts: would remove 2" in capsys.readouterr().out
    assert hung.path.exists() and crashed.path.exists()
    call_command("privacy", "sweep")
    assert "deleted accounts: removed 2" in capsys.readouterr().out
    assert not hung.path.exists() and not crashed.path.exists()
    assert working.path.exists()
    hung.close()
    working.discard()


def test_recovery_removes_stale_partial_backups_and_only_those(
    settings: Any, tmp_path: Path, media: Path
) -> None:
    settings.DATA_DIR = tmp_path / "data"
    backups = tmp_path / "data" / "backups"
    backups.mkdir(parents=True)
    finished = backups / "candor-20260101T000000Z.sqlite3"
    finished.write_bytes(b"a finished backup")
    crashed = staging.create("backup", None, ".partial", folder=backups)
    crashed.close()
    running = staging.create("backup", None, ".partial", folder=backups)
    old_style = backups / ".candor-20250101T000000Z.sqlite3.0123456789ab.partial"
    old_style.write_bytes(b"an older version's partial")
    os.utime(old_style, (time.time() - 7200, time.time() - 7200))
    operators = backups / "notes.partial"
    operators.write_bytes(b"not ours")
    assert retention.recover_leftovers() == 2
    assert names_in(backups) == sorted([finished.name, running.path.name, operators.name])
    running.discard()


# --- Backups never copy the data keys --------------------------------------------------------------------


MAKE_ACCOUNTS = (
    "from candor.accounts.models import User\n"
    "from candor.privacy.models import DataKey\n"
    "for name in ('alice', 'bob', 'carol'):\n"
    "    User.objects.create_user(name, name + '@example.org', 'correct-horse-battery-staple-9')\n"
    "for wrapped in DataKey.objects.values_list('wrapped', flat=True):\n"
    "    print('key', bytes(wrapped).hex())\n"
)


def test_a_sqlite_backup_never_writes_a_data_key_even_while_it_is_being_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Any, media: Path
) -> None:
    """The partial file is read at every few steps SQLite takes while copying: no wrapped key may be in it at
    any moment (the finished file had none before; the partial had every one of them until the end)."""
    live_folder = tmp_path / "live"
    made_accounts = run_candor(["migrate", "-v0"], live_folder)
    assert made_accounts.returncode == 0, made_accounts.stderr
    result = run_candor(["shell", "-c", MAKE_ACCOUNTS], live_folder)
    assert result.returncode == 0, result.stderr
    wrapped = [bytes.fromhex(line[4:]) for line in result.stdout.splitlines() if line.startswith("key ")]
    assert len(wrapped) == 3 and all(len(w) >= 32 for w in wrapped)
    live = live_folder / "data" / "candor.sqlite3"
    assert all(w in live.read_bytes() for w in wrapped)  # checkpointed when the shell closed
    looked: list[int] = []
    found: list[str] = []
    original = backup.sqlite_connection

    def watched(target: Any, **options: Any) -> sqlite3.Connection:
        db = original(target, **options)
        if str(target).endswith(".partial"):

            def look() -> int:
                content = Path(target).read_bytes()
                looked.append(len(content))
                found.extend(w.hex() for w in wrapped if w in content)
                return 0

            db.set_progress_handler(look, 200)
            # A page cache this small spills to the file as the copy goes, so the file shows what it holds.
            db.execute("PRAGMA cache_size=2")
        return db

    monkeypatch.setattr(backup, "sqlite_connection", watched)
    monkeypatch.setattr(backup, "vendor", lambda: "sqlite")  # whichever database the suite runs on
    monkeypatch.setattr(backup, "sqlite_path", lambda: live)
    settings.DATA_DIR = tmp_path / "data"
    made = backup.make_backup(tmp_path / "data" / "backups" / "b.sqlite3")
    assert len(looked) > 10 and max(looked) > 0, "the partial file was watched while it was written"
    assert found == []
    assert not any(w in made.read_bytes() for w in wrapped)
    with original(made) as copy:
        assert copy.execute("SELECT count(*) FROM privacy_datakey").fetchone()[0] == 0
        assert copy.execute("SELECT count(*) FROM accounts_user").fetchone()[0] == 3
        assert copy.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    assert names_in(media / staging.FOLDER) == []


def test_the_data_page_declares_the_temporary_files_and_how_long_they_stay(client: Any) -> None:
    page = client.get("/privacy/data/").content.decode()
    assert 'id="temporary-files"' in page
    for held in staging.PURPOSES.values():
        assert escape(held) in page
    assert "at once when the account is deleted" in page and "recovery pass" in page
