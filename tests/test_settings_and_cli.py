"""The settings' strict parsing, and the ``candor`` command: demo, serve, worker, against real services."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from candor.env import Env
from tests.conftest import ROOT, empty_redis, run_candor


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, seconds: float = 30) -> bytes:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
                return bytes(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


class TestEnv:
    @pytest.mark.parametrize("raw", ["maybe", "2", "tru"])
    def test_bad_flag(self, raw: str) -> None:
        with pytest.raises(ImproperlyConfigured, match="CANDOR_DEBUG"):
            Env({"CANDOR_DEBUG": raw}).flag("CANDOR_DEBUG", False)

    @pytest.mark.parametrize(("raw", "value"), [("1", True), ("yes", True), ("OFF", False), ("", False)])
    def test_good_flag(self, raw: str, value: bool) -> None:
        assert Env({"CANDOR_DEBUG": raw}).flag("CANDOR_DEBUG", False) is value

    @pytest.mark.parametrize("raw", ["two", "1.5", "-1", "99999"])
    def test_bad_integer(self, raw: str) -> None:
        with pytest.raises(ImproperlyConfigured, match="CANDOR_WEB_WORKERS"):
            Env({"CANDOR_WEB_WORKERS": raw}).integer("CANDOR_WEB_WORKERS", 2, minimum=1, maximum=64)

    def test_url_errors_never_echo_the_value(self) -> None:
        secret = "postgres://admin:hunter2@db:notaport/candor"
        with pytest.raises(ImproperlyConfigured) as error:
            Env({"DATABASE_URL": secret}).url("DATABASE_URL", None, schemes=("postgres",))
        assert "DATABASE_URL" in str(error.value) and "hunter2" not in str(error.value)
        with pytest.raises(ImproperlyConfigured, match="scheme"):
            Env({"DATABASE_URL": "mysql://db/x"}).url("DATABASE_URL", None, schemes=("postgres",))

    def test_email_and_list(self) -> None:
        with pytest.raises(ImproperlyConfigured, match="CANDOR_CONTACT_EMAIL"):
            Env({"CANDOR_CONTACT_EMAIL": "not an address"}).email("CANDOR_CONTACT_EMAIL", "a@b.org")
        with pytest.raises(ImproperlyConfigured, match="CANDOR_ALLOWED_HOSTS"):
            Env({"CANDOR_ALLOWED_HOSTS": "a.org,,b.org"}).items("CANDOR_ALLOWED_HOSTS", [])
        assert Env({"CANDOR_ALLOWED_HOSTS": "a.org, b.org"}).items("CANDOR_ALLOWED_HOSTS", []) == [
            "a.org",
            "b.org",
        ]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CANDOR_WEB_WORKERS", "lots"),
        ("CANDOR_DEBUG", "sometimes"),
        ("DATABASE_URL", "postgres://admin:hunter2@db:port/candor"),
        ("CANDOR_REDIS_URL", "http://127.0.0.1:6379"),
        ("CANDOR_WEBSITE_URL", "models.example.org"),
        ("CANDOR_CONTACT_EMAIL", "nobody"),
        ("CANDOR_SECRET_KEY", "too-short"),
        ("CANDOR_LOG_LEVEL", "LOUD"),
        ("CANDOR_MASTER_KEYS", "hunter2"),
        ("CANDOR_MASTER_KEYS", "k1:hunter2"),
        ("CANDOR_MASTER_KEYS", f"k1:{'A' * 43},k1:{'B' * 43}"),
        ("CANDOR_MASTER_KEYS", f"bad id!:{'A' * 43}"),
        ("CANDOR_BLIND_INDEX_KEY", "hunter2"),
        ("CANDOR_S3_URL", "ftp://key:hunter2@s3.example.org/bucket"),
        ("CANDOR_S3_URL", "https://key:hunter2@s3.example.org/"),
        ("CANDOR_S3_URL", "https://key:hunter2@s3.example.org/bucket?region=us-east-1&colour=red"),
    ],
)
def test_a_malformed_variable_stops_start_up_and_is_named(tmp_path: Path, name: str, value: str) -> None:
    result = run_candor(["check"], tmp_path, {name: value})
    assert result.returncode == 2
    assert name in result.stderr and "configuration error" in result.stderr
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr


KEYS = {
    "CANDOR_MASTER_KEYS": f"m1:{'A' * 43}",
    "CANDOR_BLIND_INDEX_KEY": "B" * 43,
    "CANDOR_LOG_SIGNING_KEY": "C" * 43,
}


def test_production_needs_https_and_an_email_server(tmp_path: Path) -> None:
    base = {"CANDOR_PRODUCTION": "1", "CANDOR_SECRET_KEY": "s" * 60, **KEYS}
    result = run_candor(["check"], tmp_path, {**base, "CANDOR_WEBSITE_URL": "https://m.example.org"})
    assert result.returncode == 2 and "CANDOR_EMAIL_URL" in result.stderr
    result = run_candor(["check"], tmp_path, {**base, "CANDOR_EMAIL_URL": "smtp://mail.example.org"})
    assert result.returncode == 2 and "CANDOR_WEBSITE_URL" in result.stderr


def test_production_never_generates_keys(tmp_path: Path) -> None:
    base = {
        "CANDOR_PRODUCTION": "1",
        "CANDOR_SECRET_KEY": "s" * 60,
        "CANDOR_WEBSITE_URL": "https://m.example.org",
        "CANDOR_EMAIL_URL": "smtp://mail.example.org",
    }
    for missing in KEYS:
        present = {k: v for k, v in KEYS.items() if k != missing}
        result = run_candor(["check"], tmp_path, {**base, **present})
        assert result.returncode == 2 and f"{missing} is required" in result.stderr
    assert not (tmp_path / "data" / "master_keys").exists()
    assert not (tmp_path / "data" / "log_signing_key").exists()
    assert run_candor(["check"], tmp_path, {**base, **KEYS}).returncode == 0


def test_processes_starting_together_on_a_new_data_folder_share_one_key(tmp_path: Path) -> None:
    script = "from django.conf import settings; print(sorted(settings.MASTER_KEYS.items()))"
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
    env["CANDOR_DATA_DIR"] = str(tmp_path / "data")
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "candor", "shell", "-c", script],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert all(process.returncode == 0 for process in processes), [err for _, err in outputs]
    keys = {out.strip().splitlines()[-1] for out, _ in outputs}
    assert len(keys) == 1
    assert sorted(p.name for p in (tmp_path / "data").iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize(
    ("words", "shown"),
    [
        (["demo", "--help"], "--port"),
        (["--help"], "server commands"),
        (["login", "--help"], "--server"),
        (["--version"], "."),
        (["help", "restore"], "--reapply-ledger"),
        (["serve", "-h"], "--bind"),
    ],
)
def test_asking_for_help_writes_nothing(tmp_path: Path, words: list[str], shown: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
    env.pop("CANDOR_DATA_DIR", None)
    work = tmp_path / "work"
    work.mkdir()
    # Once with the default data folder (./data), once with one named by CANDOR_DATA_DIR.
    for extra in ({}, {"CANDOR_DATA_DIR": str(tmp_path / "named")}):
        result = subprocess.run(
            [sys.executable, "-m", "candor", *words],
            env={**env, **extra},
            cwd=work,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert shown in result.stdout
        assert "generated a key" not in result.stderr
        assert sorted(p.name for p in tmp_path.rglob("*")) == ["work"], words


def test_embedded_default_makes_a_private_secret_and_a_wal_database(tmp_path: Path) -> None:
    result = run_candor(["demo", "--no-serve"], tmp_path)
    assert result.returncode == 0, result.stderr
    data = tmp_path / "data"
    for name in ("secret_key", "master_keys", "blind_index_key", "log_signing_key"):
        assert (data / name).stat().st_mode & 0o777 == 0o600, name
    assert f"generated a key in {data / 'master_keys'}" in result.stderr
    script = (
        "from django.db import connection\n"
        "c = connection.cursor()\n"
        "names = ('journal_mode', 'synchronous', 'secure_delete')\n"
        "print([c.execute(f'PRAGMA {p}').fetchone()[0] for p in names])"
    )
    result = run_candor(["shell", "-c", script], tmp_path)
    assert result.stdout.strip().splitlines()[-1] == "['wal', 1, 1]"


def test_demo_prints_accounts_and_is_idempotent(tmp_path: Path) -> None:
    first = run_candor(["demo", "--no-serve"], tmp_path)
    assert first.returncode == 0, first.stderr
    for name, password in (("alice", "violet-harbour-71"), ("bob", "copper-lantern-52")):
        assert name in first.stdout and password in first.stdout
    # The demo's staff, and the TOTP secret each signs in to the console with (32 base32 letters).
    assert re.search(r"^  dana +[A-Z2-7]{32}$", first.stdout, re.MULTILINE), first.stdout
    second = run_candor(["demo", "--no-serve"], tmp_path)
    assert second.returncode == 0 and "already there" in second.stdout and "[created]" not in second.stdout
    listed = run_candor(
        [
            "shell",
            "-c",
            "from candor.hub.models import MLModel\n"
            "print(sorted((m.name, m.visibility) for m in MLModel.objects.all()))",  # names decrypted
        ],
        tmp_path,
    )
    models = dict(eval(listed.stdout.strip().splitlines()[-1]))  # noqa: S307 - our own output
    assert models["tiny-resnet"] == "public" and models["draft-detector"] == "private"
    assert models["shared-preview"] == "unlisted" and len(models) == 5  # created once, not twice


SEND_RESET = (
    "from candor.accounts.models import User\n"
    "from candor.accounts.forms import PasswordResetForm\n"
    "f = PasswordResetForm({'email': 'alice@demo.candor.localhost'}); assert f.is_valid(); f.save()\n"
)


def test_database_queue_worker_sends_the_email(tmp_path: Path) -> None:
    assert run_candor(["demo", "--no-serve"], tmp_path).returncode == 0
    queued = run_candor(["shell", "-c", SEND_RESET], tmp_path)
    assert queued.returncode == 0, queued.stderr
    assert not list((tmp_path / "data" / "mail").glob("*.log")), "nothing is sent before a worker runs"
    worked = run_candor(["worker", "--burst"], tmp_path)
    assert worked.returncode == 0, worked.stderr
    sent = "".join(p.read_text() for p in (tmp_path / "data" / "mail").glob("*.log"))
    assert "alice@demo.candor.localhost" in sent and "/accounts/password-reset/" in sent


def test_redis_mode_queues_on_rq_and_caches_in_redis(tmp_path: Path, redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    empty_redis(redis_url)
    env = {"CANDOR_REDIS_URL": redis_url}
    assert run_candor(["demo", "--no-serve"], tmp_path, env).returncode == 0
    queued = run_candor(["shell", "-c", SEND_RESET], tmp_path, env)
    assert queued.returncode == 0, queued.stderr
    assert any(b"rq:" in key for key in client.keys("*")), "the task went to RQ"
    worked = run_candor(["worker", "--burst"], tmp_path, env)
    assert worked.returncode == 0, worked.stderr
    sent = "".join(p.read_text() for p in (tmp_path / "data" / "mail").glob("*.log"))
    assert "/accounts/password-reset/" in sent
    cached = run_candor(
        ["shell", "-c", "from django.core.cache import cache; cache.set('probe', 41)"], tmp_path, env
    )
    assert cached.returncode == 0
    assert any(key.endswith(b"probe") for key in client.keys("*"))
    empty_redis(redis_url)


def test_smtp_server_receives_the_email(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    received: list[bytes] = []

    class Collect(Sink):
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope.content)
            return "250 OK"

    port = free_port()
    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        env = {"CANDOR_EMAIL_URL": f"smtp://127.0.0.1:{port}", "CANDOR_TASKS_IMMEDIATE": "1"}
        assert run_candor(["demo", "--no-serve"], tmp_path, env).returncode == 0
        result = run_candor(["shell", "-c", SEND_RESET], tmp_path, env)
        assert result.returncode == 0, result.stderr
    finally:
        controller.stop()
    assert len(received) == 1 and b"/accounts/password-reset/" in received[0]
    assert not (tmp_path / "data" / "mail").exists()


def test_demo_serves_the_site_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "CANDOR_DATA_DIR": str(tmp_path / "data")}
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "candor", "demo", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        body = wait_for(f"http://127.0.0.1:{port}/", 60)
        assert b"Candor" in body
        login = wait_for(f"http://127.0.0.1:{port}/login/")
        assert b"Username or email" in login
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=40)
    assert f"http://127.0.0.1:{port}/" in output
    assert "alice" in output
    # The worker and the web server were stopped with the demo.
    leftover = subprocess.run(["pgrep", "-f", f"127.0.0.1:{port}"], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""


def start_demo(tmp_path: Path, port: int, extra: dict[str, str] | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CANDOR_REDIS_URL")}
    env.pop("CANDOR_WEBSITE_URL", None)
    env |= {"CANDOR_DATA_DIR": str(tmp_path / "data"), **(extra or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "candor", "demo", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop_demo(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=40)


def first_model_url(port: int) -> str:
    import json

    listing = json.loads(wait_for(f"http://127.0.0.1:{port}/api/v1/models", 60))
    assert listing["items"], listing
    return str(listing["items"][0]["url"])


def test_demo_links_follow_its_port_unless_the_website_is_set(tmp_path: Path) -> None:
    import httpx

    port = free_port()
    site = f"http://127.0.0.1:{port}"
    process = start_demo(tmp_path, port)
    try:
        assert first_model_url(port).startswith(f"{site}/")
        portal = wait_for(f"{site}/developers/").decode()
        assert f"{site}/api/v1/models" in portal and ":8000" not in portal
        # A sign-up on the website: the worker sends the confirmation email, its link on the demo's port.
        with httpx.Client(base_url=site, timeout=20) as browser:
            form = browser.get("/signup/").text
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
            assert token, form
            answer = browser.post(
                "/signup/",
                data={
                    "csrfmiddlewaretoken": token.group(1),
                    "username": "erin",
                    "email": "erin@example.org",
                    "password": "plum-orchard-river-93",
                },
                headers={"Referer": f"{site}/signup/"},
            )
            assert answer.status_code in (200, 302), answer.text
        mail = tmp_path / "data" / "mail"
        deadline = time.monotonic() + 60
        sent = ""
        while "erin@example.org" not in sent and time.monotonic() < deadline:
            time.sleep(0.5)
            sent = "".join(p.read_text() for p in mail.glob("*.log")) if mail.exists() else ""
        assert "erin@example.org" in sent, "no confirmation email was sent"
        assert f"{site}/accounts/verify/" in sent and ":8000/" not in sent
    finally:
        stop_demo(process)

    # An address the operator set is kept, whatever the port.
    port = free_port()
    process = start_demo(tmp_path, port, {"CANDOR_WEBSITE_URL": "https://models.example.org"})
    try:
        assert first_model_url(port).startswith("https://models.example.org/")
    finally:
        stop_demo(process)


def test_serve_runs_gunicorn_with_the_environment(tmp_path: Path, scratch_database_url: str | None) -> None:
    port = free_port()
    env = {**os.environ, "CANDOR_DATA_DIR": str(tmp_path / "data"), "CANDOR_PLATFORM_NAME": "Modelhaus"}
    env.pop("DATABASE_URL", None)
    if scratch_database_url:  # on a PostgreSQL run, the server runs on PostgreSQL too
        env["DATABASE_URL"] = scratch_database_url
    process = subprocess.Popen(
        [sys.executable, "-m", "candor", "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert b"Modelhaus" in wait_for(f"http://127.0.0.1:{port}/", 60)
        assert b"Username or email" in wait_for(f"http://127.0.0.1:{port}/login/")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
