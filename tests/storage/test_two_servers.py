"""Two `candor serve` processes, as on two machines, sharing the database, Redis and the S3 store: a file
uploaded through one is downloaded byte for byte through the other, and one deleted through one is gone
through the other.

On a PostgreSQL run each server has a data folder of its own (as separate machines would) on a scratch
database; on SQLite they share the one data folder that holds the database file, and the test checks that
no model file lands in it: the files are in the store.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.analytics.conftest import free_port, last_line, start_candor
from tests.conftest import run_candor, scratch_postgres_database
from tests.storage.conftest import S3, Seaweed

SEED = """
import json
from candor.accounts.models import User
from candor.api.actions import create_token
from candor.hub import actions
owner = User.objects.create_user("zzqtwo", "zzq.two@example.net", "a-long-passphrase-78", email_verified=True)
actions.create_model(acting_user=owner, name="shared", visibility="private")
_, token = create_token(owner, name="test", scopes=["read", "write"], acting_user=owner)
print(json.dumps({"token": token}))
"""
FILE = "/api/v1/models/zzqtwo/shared/files/weights/model.bin"


def _key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def _wait_for(url: str, server: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        if server.poll() is not None:
            pytest.fail(f"candor serve stopped: {log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"candor serve did not answer within 90 s: {log.read_text()[-3000:]}")
        time.sleep(0.3)


def _stop(server: subprocess.Popen[str]) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


@pytest.fixture
def two_servers(
    tmp_path: Path, seaweed: Seaweed, redis_url: str
) -> Iterator[tuple[str, str, str, S3, list[Path]]]:
    prefix = f"two-{secrets.token_hex(4)}"
    store = S3(seaweed, prefix, seaweed.url(prefix))
    with scratch_postgres_database("candor_two") as database_url:
        shared = {
            # What every machine of one site must have alike: the keys and the shared services.
            "CANDOR_SECRET_KEY": secrets.token_urlsafe(64),
            "CANDOR_MASTER_KEYS": f"main:{_key()}",
            "CANDOR_BLIND_INDEX_KEY": _key(),
            "CANDOR_S3_URL": store.url,
            "CANDOR_REDIS_URL": redis_url,
            "CANDOR_ANALYTICS": "0",
            **({"DATABASE_URL": database_url} if database_url else {}),
        }
        # On SQLite the database file is in the data folder, so both servers need the same one.
        folders = [tmp_path / "a", tmp_path / "b"] if database_url else [tmp_path / "a"] * 2
        envs = [{**shared, "CANDOR_DATA_DIR": str(folder / "data")} for folder in folders]
        migrated = run_candor(["migrate", "-v0"], folders[0], envs[0])
        assert migrated.returncode == 0, migrated.stderr
        token = json.loads(last_line(run_candor(["shell", "-c", SEED], folders[0], envs[0])))["token"]
        servers, urls = [], []
        try:
            for number, env in enumerate(envs):
                bind = f"127.0.0.1:{free_port()}"
                logs = tmp_path / f"server-{number}"
                logs.mkdir()
                argv = ["serve", "--no-migrate", "--bind", bind, "--workers", "1"]
                servers.append(start_candor(argv, logs, env, log=True))
                urls.append(f"http://{bind}")
                _wait_for(f"http://{bind}/", servers[-1], logs / "candor.out")
            yield urls[0], urls[1], token, store, [Path(env["CANDOR_DATA_DIR"]) for env in envs]
        finally:
            for server in servers:
                _stop(server)


def test_a_file_uploaded_through_one_server_is_served_by_the_other(
    two_servers: tuple[str, str, str, S3, list[Path]],
) -> None:
    first, second, token, store, data_folders = two_servers
    headers = {"Authorization": f"Bearer {token}"}
    content = random.Random(2).randbytes(3 * 1024 * 1024 + 17)
    with httpx.Client(headers=headers, timeout=60) as client:
        uploaded = client.put(first + FILE, content=content)
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json()["sha256"] == hashlib.sha256(content).hexdigest()

        downloaded = client.get(second + FILE)
        assert downloaded.status_code == 200 and downloaded.content == content
        part = client.get(second + FILE, headers={"Range": "bytes=1048575-1048600"})
        assert part.status_code == 206 and part.content == content[1048575:1048601]
        assert httpx.get(second + FILE, timeout=60).status_code == 404  # private: the checks apply

        assert len(store.stored()) == 1  # in the store, and in no server's data folder
        for folder in data_folders:
            media = folder / "media"
            kept = [p for p in media.rglob("*") if p.is_file() and ".staging" not in p.parts]
            assert kept == [], kept

        # Replaced through the second, read through the first.
        assert client.put(second + FILE, content=b"second version").status_code == 200
        assert client.get(first + FILE).content == b"second version"

        deleted = client.delete(second + FILE)
        assert deleted.status_code == 204, deleted.text
        gone = client.get(first + FILE)
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
        # Earlier revisions still hold its versions, in the store both share; removed from history
        # through one server, they are gone from every revision through the other.
        assert len(store.stored()) == 2
        purged = client.delete(first + FILE.replace("/files/", "/history/"))
        assert purged.status_code == 200 and purged.json()["revisions"] == 2, purged.text
        listing = client.get(second + "/api/v1/models/zzqtwo/shared/commits").json()
        assert listing["items"], listing
