"""Two clients pushing to one model at the same moment, against `candor serve` (gunicorn, two worker
processes, the real database's locking): pushes of other files both land, in two commits; pushes of the
same file: one lands, the other is refused with the conflict's message and exit code, and nothing is
lost (its folder is untouched, and pushing it again lands on the new head).

Each client is ``candor push`` run in a thread of this process; a barrier holds each one's commit
until the other's is ready too, so both commits are sent on the same parent, at once, every time.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from candor_client import commands
from candor_client.api import Api
from candor_client.errors import EXIT_CODES

from tests.analytics.conftest import free_port, last_line, start_candor
from tests.conftest import run_candor, scratch_postgres_database
from tests.test_locks import _wait_for

SEED = """
import json
from candor.accounts.models import User
from candor.api.actions import create_token
owner = User.objects.create_user(
    "zzqpush", "zzq.push@example.net", "a-long-passphrase-77", email_verified=True
)
_, token = create_token(owner, name="test", scopes=["read", "write"], acting_user=owner)
print(json.dumps({"token": token}))
"""


@dataclass
class Served:
    url: str
    token: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp_path = tmp_path_factory.mktemp("pushes")
    with scratch_postgres_database("candor_pushes") as url:
        env = {"DATABASE_URL": url} if url else {}
        assert run_candor(["migrate", "-v0"], tmp_path, env).returncode == 0
        token = json.loads(last_line(run_candor(["shell", "-c", SEED], tmp_path, env)))["token"]
        bind = f"127.0.0.1:{free_port()}"
        server = start_candor(
            ["serve", "--no-migrate", "--bind", bind, "--workers", "2"], tmp_path, env, log=True
        )
        try:
            _wait_for(f"http://{bind}/")
            yield Served(f"http://{bind}", token)
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)


def folder(root: Path, files: dict[str, bytes]) -> Path:
    for path, content in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)
    return root


def push(served: Served, source: Path, model: str) -> int:
    return commands.main(["push", "--server", served.url, str(source), model])


def push_together(
    served: Served, folders: list[Path], model: str, monkeypatch: pytest.MonkeyPatch
) -> list[int]:
    """The pushes at once: each lists the model and uploads its bytes, then waits at the barrier until
    every other is ready to commit too."""
    barrier = threading.Barrier(len(folders), timeout=60)
    real = Api.commit

    def together(self: Api, *args: Any, **kwargs: Any) -> dict[str, Any]:
        barrier.wait()
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Api, "commit", together)
    codes = [-1] * len(folders)

    def run(index: int) -> None:
        codes[index] = push(served, folders[index], model)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(folders))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    monkeypatch.setattr(Api, "commit", real)
    return codes


def state(served: Served, model: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The model's commits (newest first) and main's files with their SHA-256."""
    owner, name = model.split("/")
    with Api(served.url, served.token) as api:
        commits = api.list_commits(owner, name, limit=100)["items"]
        _, files = api.list_revision(owner, name)
    return commits, {f["path"]: f["sha256"] for f in files}


@pytest.fixture
def as_owner(served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANDOR_TOKEN", served.token)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.usefixtures("as_owner")
def test_pushes_of_other_files_at_once_both_land(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = {"shared.txt": b"base"}
    assert push(served, folder(tmp_path / "seed", base), "zzqpush/apart") == 0
    one = folder(tmp_path / "one", {**base, "one.txt": b"from one"})
    two = folder(tmp_path / "two", {**base, "two.txt": b"from two"})
    assert push_together(served, [one, two], "zzqpush/apart", monkeypatch) == [0, 0]
    commits, files = state(served, "zzqpush/apart")
    assert len(commits) == 3, "the seed, then one commit each"
    assert commits[0]["parent"] == commits[1]["oid"], "the later one was rebased onto the other"
    assert files == {"shared.txt": sha(b"base"), "one.txt": sha(b"from one"), "two.txt": sha(b"from two")}


@pytest.mark.usefixtures("as_owner")
def test_pushes_of_the_same_file_at_once_one_lands_one_is_refused_nothing_lost(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model = "zzqpush/same"
    assert push(served, folder(tmp_path / "seed", {"w.bin": b"base"}), model) == 0
    one = folder(tmp_path / "one", {"w.bin": b"version one"})
    two = folder(tmp_path / "two", {"w.bin": b"version two"})
    capsys.readouterr()
    codes = push_together(served, [one, two], model, monkeypatch)
    assert sorted(codes) == [0, EXIT_CODES["conflict"]], codes
    err = capsys.readouterr().err
    assert "candor push: the model changed meanwhile in the same files: pull, then push again" in err
    commits, files = state(served, model)
    assert len(commits) == 2, "the seed and the one that landed"
    winner, loser = (one, two) if codes[0] == 0 else (two, one)
    assert files == {"w.bin": sha((winner / "w.bin").read_bytes())}
    # Nothing lost: the refused folder is as it was, and pushing it again lands on the new head.
    assert (loser / "w.bin").read_bytes() in (b"version one", b"version two")
    assert push(served, loser, model) == 0
    commits, files = state(served, model)
    assert len(commits) == 3 and files == {"w.bin": sha((loser / "w.bin").read_bytes())}
    assert {c["changes"][0]["kind"] for c in commits} == {"added", "modified"}
