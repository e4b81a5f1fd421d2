"""Crash tests: a real `kill -9` of the server in the middle of a large upload (API PUT and web form), of a
worker in the middle of an export, and of `candor backup` in the middle of writing; then a restart.

Each checks what the crash left on disk (nothing of the person in clear, never a data key) and that the
restart's recovery pass removes it, with nothing partial stored or served. Every process is a real
`python -m candor …` with its own data folder, on SQLite.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, empty_redis, run_candor
from tests.test_settings_and_cli import free_port, wait_for

IP = "203.0.113.77"  # the person's address, in every security event
UPLOAD_MARK = b"PARTIAL-UPLOAD-BYTES-"
SETUP = """
import secrets
from django.test import Client
from candor.accounts.models import SecurityEvent, User
from candor.api.actions import create_token
from candor.hub import actions
user = User.objects.create_user('alice', 'alice@example.org', 'correct-horse-battery-staple-9',
                                email_verified=True)
actions.create_model(acting_user=user, name='big-model', title='Big model')
_, token = create_token(user, name='crash', scopes=['read', 'write'], acting_user=user)
client = Client()
client.force_login(user)
print('account', user.pk.hex)
print('token', token)
print('session', client.cookies['candor_session'].value)
SecurityEvent.objects.bulk_create(
    [SecurityEvent(user=user, kind='sign_in', ip_address='{ip}') for _ in range({events})], batch_size=2000
)
"""


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result


def set_up(tmp_path: Path, events: int = 0) -> dict[str, str]:
    ok(run_candor(["migrate", "-v0"], tmp_path, timeout=180))
    result = ok(run_candor(["shell", "-c", SETUP.format(ip=IP, events=events)], tmp_path, timeout=300))
    return dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)


def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def staged(tmp_path: Path) -> list[Path]:
    folder = data_dir(tmp_path) / "media" / ".staging"
    return sorted(folder.iterdir()) if folder.exists() else []


def every_file(folder: Path) -> Iterator[Path]:
    for path in folder.rglob("*"):
        if path.is_file():
            yield path


def holding(folder: Path, needle: bytes) -> list[str]:
    return [str(p.relative_to(folder)) for p in every_file(folder) if needle in p.read_bytes()]


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def candor_process(args: list[str], tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
    env |= {"CANDOR_DATA_DIR": str(data_dir(tmp_path))}
    env.pop("CANDOR_REDIS_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "candor", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill_nine(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the process and everything it started (gunicorn's master and its workers)."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def serve(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = candor_process(["serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"], tmp_path)
    wait_for(f"http://127.0.0.1:{port}/", 90)
    return process, port


# --- Uploads ----------------------------------------------------------------------------------------------

TOTAL = 150 * 1024 * 1024  # announced; a fifth of it is sent before the server is killed
SENT = 30 * 1024 * 1024


def start_upload(port: int, head: bytes, first_part: bytes) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port))
    connection.sendall(head + first_part)
    block = UPLOAD_MARK * (1024 * 1024 // len(UPLOAD_MARK))
    sent = len(first_part)
    while sent < SENT:
        connection.sendall(block)
        sent += len(block)
    return connection


def api_put(port: int, site: dict[str, str]) -> socket.socket:
    head = (
        f"PUT /api/v1/models/alice/big-model/files/weights.bin HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {site['token']}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {TOTAL}\r\n\r\n"
    ).encode()
    return start_upload(port, head, b"")


def form_post(port: int, site: dict[str, str]) -> socket.socket:
    boundary = secrets.token_hex(16)
    csrf = secrets.token_hex(16)  # 32 characters: a valid CSRF secret, sent as cookie and header alike
    first = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="path"\r\n\r\nweights.bin\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="alices-weights.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    head = (
        f"POST /alice/big-model/upload/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Cookie: candor_session={site['session']}; candor_csrf={csrf}\r\nX-CSRFToken: {csrf}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {TOTAL}\r\n\r\n"
    ).encode()
    return start_upload(port, head, first)


@pytest.mark.parametrize(("send", "purpose"), [(api_put, "upload"), (form_post, "form-upload")])
def test_a_server_killed_mid_upload_leaves_a_named_partial_that_the_restart_removes(
    tmp_path: Path, send: Callable[[int, dict[str, str]], socket.socket], purpose: str
) -> None:
    site = set_up(tmp_path)
    server, port = serve(tmp_path)
    try:
        connection = send(port, site)

        def partial_written() -> bool:
            return any(p.stat().st_size >= SENT // 2 for p in staged(tmp_path))

        wait_until(partial_written, 60, "the upload to reach the staging area")
        # While the upload is in flight: the bytes are nowhere in clear, the staged file is sealed.
        assert holding(data_dir(tmp_path), UPLOAD_MARK * 4) == []
        assert all(p.read_bytes()[:8] == b"CNDSEAL1" for p in staged(tmp_path))
    finally:
        kill_nine(server)
    connection.close()

    # What the crash left: one partial file in the staging area, named by purpose and account id only,
    # sealed (its key was in the killed process's memory, or is the account's data key).
    left = staged(tmp_path)
    assert len(left) == 1, left
    assert re.fullmatch(rf"{purpose}\.{site['account']}\.[0-9a-f]{{16}}", left[0].name), left[0].name
    content = left[0].read_bytes()
    assert len(content) >= SENT // 2 and content.startswith(b"CNDSEAL1") and UPLOAD_MARK not in content
    assert holding(data_dir(tmp_path), UPLOAD_MARK * 4) == []
    # Nowhere else: not in the system's temporary folder, not among the stored files.
    stored = data_dir(tmp_path) / "media" / "blobs"
    assert not stored.exists() or not list(every_file(stored))

    server, port = serve(tmp_path)  # the restart: its recovery pass runs before it serves
    try:
        assert staged(tmp_path) == []
        assert holding(data_dir(tmp_path), UPLOAD_MARK * 4) == []
        request = (
            f"GET /api/v1/models/alice/big-model/files/weights.bin HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {site['token']}\r\nConnection: close\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", port)) as probe:
            probe.sendall(request)
            answer = b""
            while chunk := probe.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 404"), answer[:200]
    finally:
        kill_nine(server)


# --- Exports ----------------------------------------------------------------------------------------------


def test_a_worker_killed_mid_export_leaves_nothing_readable_of_the_person(tmp_path: Path) -> None:
    site = set_up(tmp_path, events=40_000)
    ok(
        run_candor(
            [
                "shell",
                "-c",
                "from candor.accounts.models import User\nfrom candor.lifecycle import export\n"
                "alice = User.objects.named('alice').get()\n"
                "export.request_export(alice, acting_user=alice)",
            ],
            tmp_path,
        )
    )
    data = data_dir(tmp_path)
    assert holding(data, IP.encode()) == []  # the database holds the address encrypted only

    worker = candor_process(["worker"], tmp_path)
    try:

        def building_pieces() -> bool:
            # The per-category pieces (or, in a version that wrote them in clear, their folder).
            return any(p.name.startswith("export-part.") or p.is_dir() for p in staged(tmp_path))

        wait_until(building_pieces, 120, "the export to write its pieces")
    finally:
        kill_nine(worker)

    left = staged(tmp_path)
    assert any(p.name.startswith(f"export-part.{site['account']}.") for p in left), left
    assert holding(data, IP.encode()) == []
    assert holding(data, b"alice@example.org") == []
    # Not even the pieces' structure is readable (the database's schema names the column, so only here).
    assert holding(data / "media" / ".staging", b'"ip_address"') == []

    ok(run_candor(["worker", "--burst"], tmp_path, timeout=300))  # the restart: its recovery pass
    assert not [p for p in staged(tmp_path) if p.name.startswith("export-part.")]
    assert holding(data, IP.encode()) == []


# --- Backups ----------------------------------------------------------------------------------------------

WRAPPED_KEYS = (
    "from candor.privacy.models import DataKey\n"
    "for wrapped in DataKey.objects.values_list('wrapped', flat=True):\n"
    "    print('key', bytes(wrapped).hex())\n"
)


def test_a_backup_killed_mid_write_leaves_no_data_key_and_its_partial_is_recovered(tmp_path: Path) -> None:
    set_up(tmp_path, events=30_000)
    ok(
        run_candor(
            [
                "shell",
                "-c",
                "from candor.accounts.models import User\n"
                "for n in range(300):\n"
                "    User.objects.create_user(f'member{n}', f'member{n}@example.org', None)",
            ],
            tmp_path,
            timeout=300,
        )
    )
    keys = ok(run_candor(["shell", "-c", WRAPPED_KEYS], tmp_path))
    wrapped = [bytes.fromhex(line[4:]) for line in keys.stdout.splitlines() if line.startswith("key ")]
    assert len(wrapped) == 301
    data = data_dir(tmp_path)
    backups = data / "backups"

    def partials() -> list[Path]:
        found = [p for p in staged(tmp_path) if p.name.startswith("backup.")]
        return found + (sorted(backups.glob(".*.partial")) if backups.exists() else [])

    backup = candor_process(["backup"], tmp_path)
    try:
        wait_until(lambda: any(p.stat().st_size > 0 for p in partials()), 120, "the backup to be written")
        time.sleep(0.05)  # into the middle of it
    finally:
        kill_nine(backup)
    left = partials()
    assert left, "the backup was killed before it finished"
    assert not backups.exists() or not [p for p in backups.iterdir() if not p.name.endswith(".partial")]
    for path in left:
        content = path.read_bytes()
        assert not [w for w in wrapped if w in content], f"{path.name} holds data keys"

    ok(run_candor(["worker", "--burst"], tmp_path, timeout=300))  # the restart: its recovery pass
    assert partials() == []
    finished = ok(run_candor(["backup"], tmp_path))
    written = re.search(r"^Backup written: (\S+)", finished.stdout, re.MULTILINE)
    assert written, finished.stdout
    path = Path(written.group(1))
    assert not [w for w in wrapped if w in path.read_bytes()]


# --- Logs -------------------------------------------------------------------------------------------------

ENQUEUE = (
    "from candor.accounts.models import User\n"
    "from candor.comms.models import Email\n"
    "from candor.comms.tasks import deliver_email\n"
    "user = User.objects.create_user('alice', 'alice@example.org', None, email_verified=True)\n"
    "row = Email.objects.create(user=user, category='account', kind='export-ready')\n"
    "result = deliver_email.enqueue(str(row.pk))\n"
    "print('account', user.pk)\n"
    "print('job', result.id)\n"
    "print('email', row.pk)\n"
)


def test_the_rq_worker_logs_job_ids_and_never_their_arguments(tmp_path: Path, redis_url: str) -> None:
    empty_redis(redis_url)
    env = {"CANDOR_REDIS_URL": redis_url}
    try:
        ok(run_candor(["migrate", "-v0"], tmp_path, env, timeout=180))
        queued = ok(run_candor(["shell", "-c", ENQUEUE], tmp_path, env))
        found = dict(line.split(" ", 1) for line in queued.stdout.splitlines() if " " in line)
        worked = ok(run_candor(["worker", "--burst"], tmp_path, env, timeout=180))
    finally:
        empty_redis(redis_url)
    logged = worked.stdout + worked.stderr
    assert found["job"] in logged  # the worker did log the job, by its id
    assert "Successfully completed" in logged
    account = found["account"]
    for form in (account, account.replace("-", ""), found["email"]):
        assert form not in logged  # neither the account nor the argument (the email's id)
    sent = "".join(p.read_text() for p in (data_dir(tmp_path) / "mail").glob("*.log"))
    assert "alice@example.org" in sent  # and the task ran
