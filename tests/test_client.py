"""The command-line client (``candor login|push|pull|ls|visibility|rm…``).

Unit tests of its config file, path safety and arguments; then end-to-end tests that run the client as
a subprocess, on a machine-like environment (no data folder, no Django settings), against a live server.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import pty
import random
import re
import shutil
import stat
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import ClassVar

import pytest
from candor_client.api import Api
from candor_client.config import DEFAULT_SERVER, Config, config_path, normalize_server, resolve
from candor_client.errors import EXIT_CODES, ClientError, retry_after
from candor_client.output import Progress, human, number, shown
from candor_client.sync import local_files
from candor_client.syncplan import safe_target
from django.test import Client
from pytest_django.live_server_helper import LiveServer

from candor.accounts.models import User
from candor.api.actions import create_token
from candor.hub import revisions
from candor.hub.models import MLModel, ModelFile, path_index
from tests.conftest import models_named

ROOT = Path(__file__).resolve().parent.parent
SECRET = "cnd_unit-test-secret-0123456789abcdef"
# Variables of the test process that a user's machine would not have.
SERVER_ONLY = (
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "CANDOR_REDIS_URL",
    "CANDOR_DATA_DIR",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "CANDOR_TOKEN",
    "CANDOR_SERVER",
)


def client(
    args: list[str],
    home: Path,
    *,
    server: str | None = None,
    token: str | None = None,
    stdin: str | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m candor ARGS`` as a user would run it: own config folder, no server settings."""
    env = {k: v for k, v in os.environ.items() if k not in SERVER_ONLY}
    env["XDG_CONFIG_HOME"] = str(home / "config")
    env["HOME"] = str(home)
    if server is not None:
        env["CANDOR_SERVER"] = server
    if token is not None:
        env["CANDOR_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "candor", *args],
        env=env,
        cwd=cwd or home,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=120,
    )


def closed_port_url() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- Config ---------------------------------------------------------------------------------------


class TestConfig:
    def test_location_follows_xdg(self, tmp_path: Path) -> None:
        assert config_path({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "candor" / "config.json"
        # A relative XDG_CONFIG_HOME is invalid by the spec, and ignored.
        assert config_path({"XDG_CONFIG_HOME": "rel"}) == Path.home() / ".config" / "candor" / "config.json"

    def test_saved_with_mode_0600_in_a_private_folder(self, tmp_path: Path) -> None:
        path = tmp_path / "cfg" / "candor" / "config.json"
        Config(path, "http://a.example", {"http://a.example": SECRET}).save()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        loaded = Config.load(path)
        assert loaded.server == "http://a.example" and loaded.tokens == {"http://a.example": SECRET}
        assert [p.name for p in path.parent.iterdir()] == ["config.json"], "no temporary file left"

    def test_a_file_readable_by_others_is_fixed_with_a_warning(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = tmp_path / "config.json"
        path.write_text(json.dumps({"server": None, "tokens": {"http://a.example": SECRET}}))
        path.chmod(0o644)
        assert Config.load(path).tokens == {"http://a.example": SECRET}
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        err = capsys.readouterr().err
        assert "readable by others" in err and SECRET not in err

    @pytest.mark.parametrize("content", ["{not json", "[]", '{"tokens": {"a": 1}}', '{"server": 3}'])
    def test_a_damaged_file_is_an_error_not_a_traceback(self, tmp_path: Path, content: str) -> None:
        path = tmp_path / "config.json"
        path.write_text(content)
        path.chmod(0o600)
        with pytest.raises(ClientError, match="damaged"):
            Config.load(path)

    def test_server_precedence(self, tmp_path: Path) -> None:
        config = Config(tmp_path / "c.json", "https://stored.example/", {})
        assert resolve(config, None, {}).server == "https://stored.example"
        assert resolve(config, None, {"CANDOR_SERVER": "http://env.example"}).server == "http://env.example"
        assert resolve(config, "http://opt.example", {"CANDOR_SERVER": "http://env.example"}).server == (
            "http://opt.example"
        )
        assert resolve(Config(tmp_path / "c.json"), None, {}).server == DEFAULT_SERVER

    def test_candor_token_overrides_the_stored_one(self, tmp_path: Path) -> None:
        config = Config(tmp_path / "c.json", "http://a.example", {"http://a.example": "cnd_stored"})
        target = resolve(config, None, {})
        assert (target.token, target.origin) == ("cnd_stored", "config")
        target = resolve(config, None, {"CANDOR_TOKEN": "cnd_from_env"})
        assert (target.token, target.origin) == ("cnd_from_env", "env")

    def test_a_token_is_only_sent_to_the_server_it_was_stored_for(self, tmp_path: Path) -> None:
        config = Config(tmp_path / "c.json", "http://a.example", {"http://a.example": "cnd_stored"})
        assert resolve(config, "http://b.example", {}).token is None

    @pytest.mark.parametrize(
        "raw",
        ["127.0.0.1:8000", "ftp://x.example", "http://", "http://u:p@x.example", "http://x.example/?a=1"],
    )
    def test_bad_server_addresses(self, raw: str) -> None:
        with pytest.raises(ClientError) as error:
            normalize_server(raw)
        assert error.value.exit_code == 2 and "p@" not in str(error.value).replace(raw, "")

    def test_server_address_is_normalized(self) -> None:
        assert normalize_server(" HTTPS://Models.Example.org/candor/ ") == "https://models.example.org/candor"


# --- Paths ----------------------------------------------------------------------------------------


class TestPaths:
    @pytest.mark.parametrize(
        "path",
        [
            "../escape",
            "a/../../escape",
            "/etc/passwd",
            "a//b",
            "./a",
            "a/.",
            "",
            "a\\..\\b",
            "C:/windows",
            "a\x00b",
            "a\nb",
            "\x1b[2Jclear",
            None,
            42,
        ],
    )
    def test_unsafe_server_paths_are_refused(self, tmp_path: Path, path: object) -> None:
        with pytest.raises(ClientError, match="unsafe file path"):
            safe_target(tmp_path, path)

    @pytest.mark.parametrize("path", ["weights.bin", "sub/dir/config.json", ".gitattributes", "a..b/c"])
    def test_safe_paths_stay_inside(self, tmp_path: Path, path: str) -> None:
        assert safe_target(tmp_path, path) == tmp_path.joinpath(*path.split("/"))

    def test_push_skips_git_links_out_and_special_files(self, tmp_path: Path) -> None:
        root = tmp_path / "model"
        (root / "sub").mkdir(parents=True)
        (root / ".git").mkdir()
        (root / ".git" / "HEAD").write_text("ref")
        (root / "a.txt").write_text("a")
        (root / "sub" / "b.txt").write_text("b")
        (tmp_path / "secret.txt").write_text("private key")
        (root / "leak.txt").symlink_to(tmp_path / "secret.txt")
        (root / "same.txt").symlink_to(root / "a.txt")
        (root / "linked-dir").symlink_to(tmp_path)
        os.mkfifo(root / "pipe")
        found, skipped = local_files(root)
        assert [f.path for f in found] == ["a.txt", "same.txt", "sub/b.txt"]
        assert any("leak.txt" in s and "out of the folder" in s for s in skipped)
        assert any("linked-dir" in s for s in skipped) and any("pipe" in s for s in skipped)
        assert not any(".git" in s for s in skipped)


# --- Output ---------------------------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_figures_from_an_odd_server_become_zero_not_a_crash() -> None:
    assert [number(v) for v in (3, 2.5, "12", None, True, float("nan"), float("inf"), [1])] == [
        3.0,
        2.5,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
    ]


def test_sizes_progress_and_safe_text() -> None:
    assert [human(n) for n in (0, 999, 12_400_000, 1_500_000_000)] == ["0 B", "999 B", "12.4 MB", "1.5 GB"]
    quiet = io.StringIO()
    bar = Progress(100, quiet)
    bar.describe("x")
    bar.advance(100)
    bar.close()
    assert quiet.getvalue() == "", "no bar when stderr is not a terminal"
    terminal = FakeTerminal()
    bar = Progress(2_000_000, terminal)
    bar.describe("weights.bin")
    bar.advance(2_000_000)
    bar.close()
    assert "weights.bin" in terminal.getvalue() and "100%" in terminal.getvalue()
    assert shown("evil\x1b]0;title\x07name") == "evil\\x1b]0;title\\x07name"
    assert retry_after("30") == "in 30 seconds" and retry_after(None) == "later"


# --- The command line, without a server ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["push"], "required"),
        (["push", "folder", "no-slash"], "expected owner/name"),
        (["pull", "a/b/c"], "expected owner/name"),
        (["visibility", "alice/m", "secret"], "invalid choice"),
        (["ls", "--limit", "0"], "1 to 100"),
        (["rm"], "required"),
        (["ls", "--sort", "stars"], "invalid choice"),
        (["popular", "--limit", "101"], "1 to 100"),
        (["stats"], "required"),
        (["stats", "alice/m", "--days", "366"], "from 1 to 365"),
        (["ls", "--server", "ftp://x.example"], "http:// or https://"),
        (["push", "missing-folder", "alice/m"], "not a folder"),
    ],
)
def test_bad_arguments_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = client(args, tmp_path, token=SECRET, server=closed_port_url())
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_help_for_every_command_without_settings(tmp_path: Path) -> None:
    overview = client(["--help"], tmp_path)
    assert overview.returncode == 0
    for word in (
        "login",
        "push",
        "pull",
        "ls",
        "popular",
        "stats",
        "visibility",
        "rm",
        "serve",
        "worker",
        "demo",
    ):
        assert word in overview.stdout
    for word in ("login", "logout", "whoami", "push", "pull", "ls", "popular", "stats", "visibility", "rm"):
        result = client([word, "--help"], tmp_path)
        assert result.returncode == 0 and f"usage: candor {word}" in result.stdout
    assert not (tmp_path / "data").exists(), "a client machine gets no data folder"


def test_the_client_never_loads_django(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from candor.cli import main\n"
        "try:\n"
        "    main(['candor', 'ls'])\n"
        "except SystemExit as exit:\n"
        "    print('exit', exit.code)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django' or m == 'candor.settings'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in SERVER_ONLY}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), CANDOR_SERVER=closed_port_url())
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.splitlines() == ["exit 3", "[]"], result.stderr
    assert not (tmp_path / "data").exists()


def test_django_commands_still_answer(tmp_path: Path) -> None:
    env_home = tmp_path / "home"
    env_home.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "candor", "help", "--commands"],
        env={
            **{k: v for k, v in os.environ.items() if k not in SERVER_ONLY},
            "CANDOR_DATA_DIR": str(tmp_path),
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert {"demo", "serve", "worker", "migrate"} <= set(result.stdout.split())


def test_server_down_exits_3_without_leaking_the_token(tmp_path: Path) -> None:
    server = closed_port_url()
    for args in (["whoami"], ["ls"], ["pull", "alice/m"], ["rm", "alice/m", "--yes"]):
        result = client(args, tmp_path, server=server, token=SECRET)
        assert result.returncode == 3, (args, result.stderr)
        assert "cannot reach the server" in result.stderr and server in result.stderr
        assert SECRET not in result.stdout + result.stderr and "Traceback" not in result.stderr
    login = client(["login", "--token-stdin"], tmp_path, server=server, stdin=SECRET + "\n")
    assert login.returncode == 3 and SECRET not in login.stdout + login.stderr
    assert not (tmp_path / "config" / "candor" / "config.json").exists(), "an unchecked token is not stored"


def test_not_logged_in_exits_4_before_any_request(tmp_path: Path) -> None:
    for args in (["whoami"], ["push", str(tmp_path), "alice/m"], ["visibility", "alice/m", "public"]):
        result = client(args, tmp_path, server=closed_port_url())
        assert result.returncode == 4, (args, result.stderr)
        assert "candor login" in result.stderr


def test_logout_forgets_only_this_servers_token(tmp_path: Path) -> None:
    path = tmp_path / "config" / "candor" / "config.json"
    Config(path, "http://a.example", {"http://a.example": "cnd_a", "http://b.example": "cnd_b"}).save()
    result = client(["logout"], tmp_path)
    assert result.returncode == 0 and "Logged out of http://a.example" in result.stdout
    assert Config.load(path).tokens == {"http://b.example": "cnd_b"}
    again = client(["logout"], tmp_path)
    assert again.returncode == 0 and "Not logged in" in again.stdout
    assert "cnd_" not in result.stdout + result.stderr + again.stdout + again.stderr


# --- End to end, against a live server -------------------------------------------------------------


@pytest.fixture
def site(live_server: LiveServer, settings: object, tmp_path: Path) -> LiveServer:
    settings.MEDIA_ROOT = tmp_path / "media"  # type: ignore[attr-defined]
    return live_server


def new_token(user: User, scopes: tuple[str, ...] = ("read", "write")) -> str:
    return create_token(user, name="cli", scopes=scopes, expires_in_days=30, acting_user=user)[1]


@pytest.fixture
def token(owner: User) -> str:
    return new_token(owner)


def make_model_folder(root: Path) -> dict[str, bytes]:
    rng = random.Random(7)
    files = {
        "config.json": b'{"hidden_size": 64}\n',
        "README.md": b"# Tiny\n",
        "weights/model.safetensors": rng.randbytes(1536 * 1024 + 17),  # more than 1 MiB
        "weights/nested/deep/tokenizer.txt": "héllo wörld\n".encode(),
    }
    for path, content in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    return files


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


e2e = pytest.mark.django_db(transaction=True)


@e2e
def test_push_pull_round_trip(site: LiveServer, token: str, owner: User, tmp_path: Path) -> None:
    source = tmp_path / "tiny"
    source.mkdir()
    files = make_model_folder(source)

    pushed = client(["push", str(source), "alice/tiny"], tmp_path, server=site.url, token=token)
    assert pushed.returncode == 0, pushed.stderr
    assert "Created alice/tiny" in pushed.stdout
    assert "Uploaded 4 files (1.6 MB), skipped 0 unchanged." in pushed.stdout
    assert pushed.stderr == "", "no progress bar when stderr is not a terminal"
    model = MLModel.objects.named(owner, "tiny").get()
    assert model.visibility == "private", "new models are private"
    assert sorted(f.path for f in revisions.head_files(model)) == sorted(files)

    copy = tmp_path / "copy"
    pulled = client(["pull", "alice/tiny", str(copy)], tmp_path, server=site.url, token=token)
    assert pulled.returncode == 0, pulled.stderr
    assert f"Downloaded 4 files (1.6 MB) to {copy}, skipped 0 unchanged." in pulled.stdout
    assert tree(copy) == files, "byte for byte, and nothing else (no .git, no temporary files)"

    again = client(["push", str(source), "alice/tiny"], tmp_path, server=site.url, token=token)
    assert again.returncode == 0 and "Uploaded 0 files (0 B), skipped 4 unchanged." in again.stdout

    (source / "config.json").write_bytes(b'{"hidden_size": 128}\n')
    changed = client(["push", str(source), "alice/tiny"], tmp_path, server=site.url, token=token)
    assert changed.returncode == 0 and "Uploaded 1 file (21 B), skipped 3 unchanged." in changed.stdout
    refreshed = client(["pull", "alice/tiny", str(copy)], tmp_path, server=site.url, token=token)
    assert "Downloaded 1 file (21 B)" in refreshed.stdout and "skipped 3 unchanged" in refreshed.stdout
    assert (copy / "config.json").read_bytes() == b'{"hidden_size": 128}\n'

    listing = client(["ls", "alice/tiny"], tmp_path, server=site.url, token=token)
    assert listing.returncode == 0 and "alice/tiny (private): 4 files" in listing.stdout
    digest = hashlib.sha256(files["weights/model.safetensors"]).hexdigest()[:12]
    assert f"1.6 MB  {digest}  weights/model.safetensors" in listing.stdout

    # The default folder is the model's name, in the current directory.
    default = client(["pull", "alice/tiny"], tmp_path, server=site.url, token=token, cwd=copy.parent)
    assert default.returncode == 0 and (tmp_path / "tiny" / "README.md").exists()


@e2e
def test_push_delete_removes_files_gone_from_the_folder(site: LiveServer, token: str, tmp_path: Path) -> None:
    source = tmp_path / "m"
    source.mkdir()
    make_model_folder(source)
    assert client(["push", str(source), "alice/m"], tmp_path, server=site.url, token=token).returncode == 0
    (source / "README.md").unlink()
    kept = client(["push", str(source), "alice/m"], tmp_path, server=site.url, token=token)
    assert kept.returncode == 0 and "1 file on the server is not in" in kept.stderr
    deleted = client(["push", "--delete", str(source), "alice/m"], tmp_path, server=site.url, token=token)
    assert deleted.returncode == 0 and "deleted 1 file" in deleted.stdout
    assert not ModelFile.objects.filter(model__name="m", path="README.md").exists()


@e2e
def test_visibility_listing_and_rm(site: LiveServer, token: str, owner: User, tmp_path: Path) -> None:
    source = tmp_path / "m"
    source.mkdir()
    (source / "w.bin").write_bytes(b"x" * 10)
    assert client(["push", str(source), "alice/vis"], tmp_path, server=site.url, token=token).returncode == 0
    anonymous = Client()
    assert anonymous.get("/api/v1/models/alice/vis").status_code == 404

    public = client(["visibility", "alice/vis", "public"], tmp_path, server=site.url, token=token)
    assert public.returncode == 0 and "alice/vis is now public." in public.stdout
    assert anonymous.get("/api/v1/models/alice/vis").json()["visibility"] == "public"
    listed = client(["ls"], tmp_path, server=site.url)  # anonymous: the public list needs no token
    assert listed.returncode == 0 and "alice/vis" in listed.stdout
    as_json = client(["ls", "--json", "--limit", "5"], tmp_path, server=site.url)
    assert [m["full_name"] for m in json.loads(as_json.stdout)["items"]] == ["alice/vis"]

    unlisted = client(["visibility", "alice/vis", "unlisted"], tmp_path, server=site.url, token=token)
    assert unlisted.returncode == 0 and "now unlisted" in unlisted.stdout
    assert "alice/vis" not in client(["ls"], tmp_path, server=site.url).stdout
    assert anonymous.get("/api/v1/models/alice/vis").status_code == 200

    refused = client(["rm", "alice/vis"], tmp_path, server=site.url, token=token, stdin="wrong\n")
    assert refused.returncode == 1 and "not deleted" in refused.stderr
    assert models_named("vis").exists()
    removed = client(["rm", "alice/vis"], tmp_path, server=site.url, token=token, stdin="vis\n")
    assert removed.returncode == 0 and "Deleted alice/vis." in removed.stdout
    assert not models_named("vis").exists()
    gone = client(["ls", "alice/vis"], tmp_path, server=site.url, token=token)
    assert gone.returncode == 1 and "no model alice/vis, or you cannot see it" in gone.stderr


@e2e
def test_login_whoami_logout(site: LiveServer, token: str, tmp_path: Path) -> None:
    login = client(["login", "--token-stdin"], tmp_path, server=site.url, stdin=token + "\n")
    assert login.returncode == 0, login.stderr
    assert f"Logged in to {site.url} as alice" in login.stdout
    stored = tmp_path / "config" / "candor" / "config.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert json.loads(stored.read_text()) == {"server": site.url, "tokens": {site.url: token}}

    # The stored server and token are used from now on, with no variable set.
    whoami = client(["whoami"], tmp_path)
    assert whoami.returncode == 0 and whoami.stdout.strip() == f"alice on {site.url}"
    # CANDOR_TOKEN wins over the stored token.
    overridden = client(["whoami"], tmp_path, token="cnd_" + "0" * 40)
    assert overridden.returncode == 4 and "CANDOR_TOKEN" in overridden.stderr

    assert client(["logout"], tmp_path).returncode == 0
    assert token not in stored.read_text()
    after = client(["whoami"], tmp_path)
    assert after.returncode == 4 and "candor login" in after.stderr
    for result in (login, whoami, overridden, after):
        assert token not in result.stdout + result.stderr


@e2e
def test_rejected_tokens_exit_4(site: LiveServer, token: str, tmp_path: Path) -> None:
    bad = "cnd_" + "x" * 40
    for args in (["whoami"], ["ls", "alice/m"], ["push", str(tmp_path), "alice/m"]):
        result = client(args, tmp_path, server=site.url, token=bad)
        assert result.returncode == 4, (args, result.stderr)
        assert "candor login" in result.stderr and bad not in result.stdout + result.stderr
    login = client(["login", "--token-stdin"], tmp_path, server=site.url, stdin=bad + "\n")
    assert login.returncode == 4 and "rejected this token" in login.stderr
    assert not (tmp_path / "config" / "candor" / "config.json").exists()


@e2e
def test_unknown_and_hidden_models_look_the_same(
    site: LiveServer, token: str, member: User, tmp_path: Path
) -> None:
    bob_token = new_token(member)
    source = tmp_path / "m"
    source.mkdir()
    (source / "w.bin").write_bytes(b"secret weights")
    assert (
        client(["push", str(source), "bob/private"], tmp_path, server=site.url, token=bob_token).returncode
        == 0
    )
    for command in (["pull", "REF", str(tmp_path / "out")], ["ls", "REF"], ["visibility", "REF", "public"]):
        answers = []
        for ref in ("bob/private", "bob/absent"):
            result = client(
                [ref if a == "REF" else a for a in command], tmp_path, server=site.url, token=token
            )
            assert result.returncode == 1, (command, result.stderr)
            answers.append(result.stderr.replace(ref, "REF"))
        assert answers[0] == answers[1] and "no model REF, or you cannot see it" in answers[0]
    assert not (tmp_path / "out").exists()
    # alice cannot create a model in bob's name either.
    result = client(["push", str(source), "bob/new"], tmp_path, server=site.url, token=token)
    assert result.returncode == 1 and "no model bob/new, or you cannot see it" in result.stderr


@e2e
def test_refusals_403_413_422(
    site: LiveServer, owner: User, member: User, settings: object, tmp_path: Path
) -> None:
    source = tmp_path / "m"
    source.mkdir()
    (source / "small.txt").write_bytes(b"small")
    write_token = new_token(owner)
    read_only = new_token(owner, ("read",))

    refused = client(["push", str(source), "alice/m"], tmp_path, server=site.url, token=read_only)
    assert refused.returncode == 1
    assert "permission denied: This token may only read" in refused.stderr

    assert (
        client(["push", str(source), "alice/m"], tmp_path, server=site.url, token=write_token).returncode == 0
    )
    client(["visibility", "alice/m", "public"], tmp_path, server=site.url, token=write_token)
    not_hers = client(
        ["visibility", "alice/m", "private"], tmp_path, server=site.url, token=new_token(member)
    )
    assert not_hers.returncode == 1 and "permission denied: Only the owner" in not_hers.stderr

    settings.MAX_UPLOAD_BYTES = 1024 * 1024  # type: ignore[attr-defined]
    (source / "big.bin").write_bytes(b"\0" * (1024 * 1024 + 1))
    too_big = client(["push", str(source), "alice/m"], tmp_path, server=site.url, token=write_token)
    assert too_big.returncode == 1, too_big.stderr
    assert "too large for the server: The file is larger than the limit of 1048576 bytes" in too_big.stderr
    (source / "big.bin").unlink()

    (source / "back\\slash.txt").write_bytes(b"x")
    bad_path = client(["push", str(source), "alice/m"], tmp_path, server=site.url, token=write_token)
    assert bad_path.returncode == 1
    assert "the server refused the commit: " in bad_path.stderr
    assert "path of back\\slash.txt: A file path is relative" in bad_path.stderr
    bad_name = client(["push", str(source), "alice/no..dots"], tmp_path, server=site.url, token=write_token)
    assert bad_name.returncode == 1 and "the server refused the request" in bad_name.stderr
    assert "name:" in bad_name.stderr and "Traceback" not in bad_name.stderr


@e2e
def test_a_refusal_end_to_end(site: LiveServer, owner: User, tmp_path: Path) -> None:
    """The server's refusal (its code, message and status) reaches the user as one line on stderr with
    the exit code of the client's table."""
    read_only = new_token(owner, ("read",))
    answer = Client().post(
        "/api/v1/models",
        {"name": "m"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {read_only}",
    )
    error = answer.json()["error"]
    assert answer.status_code == 403 and error["code"] == "insufficient_scope"

    source = tmp_path / "m"
    source.mkdir()
    refused = client(["push", str(source), "alice/m"], tmp_path, server=site.url, token=read_only)
    assert refused.stderr == f"candor push: permission denied: {error['message']}\n"
    assert refused.returncode == EXIT_CODES["insufficient_scope"] == 1 and refused.stdout == ""


@e2e
def test_rate_limit_says_when_to_retry(
    site: LiveServer, token: str, settings: object, tmp_path: Path
) -> None:
    settings.API_RATE_PER_MINUTE = 1  # type: ignore[attr-defined]
    assert client(["whoami"], tmp_path, server=site.url, token=token).returncode == 0
    limited = client(["whoami"], tmp_path, server=site.url, token=token)
    assert limited.returncode == 5, "a limit exits 5 (try again later), apart from other failures"
    assert re.search(r"too many requests: retry in \d+ seconds?$", limited.stderr.strip()), limited.stderr


@e2e
def test_pull_refuses_a_tampered_file(site: LiveServer, token: str, tmp_path: Path) -> None:
    source = tmp_path / "m"
    source.mkdir()
    (source / "w.bin").write_bytes(b"the real weights")
    assert client(["push", str(source), "alice/m"], tmp_path, server=site.url, token=token).returncode == 0
    # A server that says one SHA-256 and sends other bytes (its stored copy cannot be changed unseen:
    # a damaged blob is refused by the server itself).
    blob = ModelFile.objects.get().blob
    blob.sha256 = hashlib.sha256(b"the fake weights").hexdigest()
    blob.save()

    out = tmp_path / "out"
    result = client(["pull", "alice/m", str(out)], tmp_path, server=site.url, token=token)
    assert result.returncode == 1
    assert "w.bin: the SHA-256 of the download" in result.stderr and "discarded" in result.stderr
    assert list(out.iterdir()) == [], "neither the file nor its temporary file is left"


@e2e
def test_pull_refuses_paths_that_leave_the_folder(site: LiveServer, token: str, tmp_path: Path) -> None:
    source = tmp_path / "m"
    source.mkdir()
    (source / "ok.txt").write_bytes(b"fine")
    assert client(["push", str(source), "alice/m"], tmp_path, server=site.url, token=token).returncode == 0
    # A hostile or broken server: the row bypasses the server's own path check.
    good = ModelFile.objects.get()
    ModelFile.objects.create(
        owner=good.owner,
        model=good.model,
        commit=good.commit,
        path="../escaped.txt",
        path_index=path_index(good.model_id, "../escaped.txt"),
        blob=good.blob,
    )

    out = tmp_path / "out"
    result = client(["pull", "alice/m", str(out)], tmp_path, server=site.url, token=token)
    assert result.returncode == 1 and "unsafe file path '../escaped.txt'" in result.stderr
    assert not (tmp_path / "escaped.txt").exists() and not out.exists()


@e2e
def test_a_symlink_in_the_folder_cannot_carry_a_pull_outside(
    site: LiveServer, token: str, tmp_path: Path
) -> None:
    source = tmp_path / "m"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "f.txt").write_bytes(b"x")
    assert client(["push", str(source), "alice/m"], tmp_path, server=site.url, token=token).returncode == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").symlink_to(outside)
    result = client(["pull", "alice/m", str(out)], tmp_path, server=site.url, token=token)
    assert result.returncode == 1 and "a link there leads out of the download folder" in result.stderr
    assert list(outside.iterdir()) == []


@e2e
def test_progress_bar_on_a_terminal(site: LiveServer, token: str, tmp_path: Path) -> None:
    source = tmp_path / "m"
    source.mkdir()
    (source / "w.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    controller, terminal = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in SERVER_ONLY}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), CANDOR_SERVER=site.url, CANDOR_TOKEN=token)
    with subprocess.Popen(
        [sys.executable, "-m", "candor", "push", str(source), "alice/m"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=terminal,
    ) as process:
        os.close(terminal)
        drawn = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            drawn += chunk
        assert process.wait(timeout=60) == 0
    os.close(controller)
    assert b"w.bin" in drawn and b"100%" in drawn and b"3.1 MB" in drawn
    assert token.encode() not in drawn


class CannedAnswers(http.server.BaseHTTPRequestHandler):
    """Answers a real server gives only in races or failures: a conflict, a crash, a redirect, a proxy's
    HTML page."""

    answers: ClassVar[dict[str, tuple[int, dict[str, str], bytes]]] = {
        "/api/v1/models/alice/conflict": (
            409,
            {"Content-Type": "application/json"},
            json.dumps(
                {"error": {"code": "conflict", "message": "You already have it.", "fields": {}}}
            ).encode(),
        ),
        "/api/v1/models/alice/crash": (500, {"Content-Type": "text/html"}, b"<h1>Server Error</h1>"),
        "/api/v1/models/alice/moved": (301, {"Location": "https://elsewhere.example/x"}, b""),
        "/api/v1/models/alice/html": (200, {"Content-Type": "text/html"}, b"<html>a login page</html>"),
        "/api/v1/models/alice/slow": (
            429,
            {"Retry-After": "600", "Content-Type": "application/json"},
            b'{"error": {"code": "rate_limited", "message": "Slow down.", "fields": {}}}',
        ),
    }

    def do_GET(self) -> None:
        status, headers, body = self.answers.get(self.path, (404, {}, b""))
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.parametrize(
    ("name", "message", "exit_code"),
    [
        ("conflict", "conflict: You already have it.", 1),
        ("crash", "the server failed (status 500): try again later", 1),
        ("moved", "the server redirected to https://elsewhere.example/x: give that address with --server", 1),
        ("html", "not JSON): is it a Candor server?", 1),
        ("slow", "too many requests: retry in 10 minutes", 5),
    ],
)
def test_other_answers_become_one_line(name: str, message: str, exit_code: int) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CannedAnswers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        api = Api(f"http://127.0.0.1:{server.server_address[1]}", SECRET, origin="env")
        with pytest.raises(ClientError) as error:
            api.get_model("alice", name)
        assert message in str(error.value) and error.value.exit_code == exit_code
        assert "\n" not in str(error.value) and SECRET not in str(error.value)
    finally:
        server.shutdown()
        server.server_close()


def test_login_without_a_terminal_asks_for_token_stdin(tmp_path: Path) -> None:
    result = client(["login"], tmp_path, server=closed_port_url())
    assert result.returncode == 2 and "--token-stdin" in result.stderr


@e2e
def test_logout_revoke_ends_the_token(site: LiveServer, token: str, owner: User, tmp_path: Path) -> None:
    read_only = new_token(owner, ("read",))
    for secret, revoked in ((token, True), (read_only, False)):
        assert client(["login", "--token-stdin"], tmp_path, server=site.url, stdin=secret).returncode == 0
        result = client(["logout", "--revoke"], tmp_path)
        assert "Logged out of" in result.stdout and secret not in result.stdout + result.stderr
        if revoked:
            assert result.returncode == 0 and "revoked and forgotten" in result.stdout
        else:  # a read-only token may not revoke itself: said so, and forgotten all the same
            assert result.returncode == 1 and "could not revoke the token: permission denied" in result.stderr
        after = client(["whoami"], tmp_path, server=site.url, token=secret)
        assert after.returncode == (4 if revoked else 0)
    assert json.loads((tmp_path / "config" / "candor" / "config.json").read_text())["tokens"] == {}


@e2e
def test_export_downloads_a_copy_of_your_data(
    site: LiveServer, token: str, owner: User, member: User, tmp_path: Path
) -> None:
    source = tmp_path / "tiny"
    source.mkdir()
    files = make_model_folder(source)
    assert client(["push", str(source), "alice/tiny"], tmp_path, server=site.url, token=token).returncode == 0
    target = tmp_path / "mine.zip"
    done = client(["export", "-o", str(target)], tmp_path, server=site.url, token=token)
    assert done.returncode == 0, done.stderr
    assert f"Your data: {target}" in done.stdout
    assert target.stat().st_mode & 0o777 == 0o600
    with zipfile.ZipFile(target) as archive:
        emails = json.loads(archive.read("data/contact.email.json"))["records"]
        assert [r["email"] for r in emails if r["model"] == "accounts.User"] == ["alice@example.org"]
        assert archive.read("files/tiny/weights/model.safetensors") == files["weights/model.safetensors"]
        assert "bob@example.org" not in archive.read("data/contact.email.json").decode()
    # Bad input: an existing file is never overwritten; no token, exit 4 before any request.
    again = client(["export", "-o", str(target)], tmp_path, server=site.url, token=token)
    assert again.returncode == 2 and "already exists" in again.stderr
    anonymous = client(["export", "-o", str(tmp_path / "x.zip")], tmp_path, server=site.url)
    assert anonymous.returncode == 4 and "not logged in" in anonymous.stderr


@e2e
def test_popular_trending_sorted_listing_and_an_owner_s_stats(
    site: LiveServer, token: str, owner: User, member: User, tmp_path: Path
) -> None:
    from candor.hub import actions
    from tests.analytics.test_popularity import add_counts, this_hour

    busy = actions.create_model(acting_user=owner, name="busy", title="Busy", visibility="public")
    quiet = actions.create_model(acting_user=owner, name="quiet", title="Quiet", visibility="public")
    actions.create_model(acting_user=owner, name="aaa-unseen", title="Never counted", visibility="public")
    hidden = actions.create_model(acting_user=owner, name="hidden", title="Hidden", visibility="unlisted")
    add_counts(busy, {this_hour(): (1200, 34)})
    add_counts(quiet, {this_hour(): (15, 5)})
    add_counts(hidden, {this_hour(): (5000, 0)})  # counted while public, say: never shown now

    popular = client(["popular"], tmp_path, server=site.url)  # anonymous
    assert popular.returncode == 0, popular.stderr
    rows = [line.split() for line in popular.stdout.splitlines()[1:]]
    assert rows == [["1", "alice/busy", "1,200", "34", "1,234"], ["2", "alice/quiet", "15", "5", "20"]]
    assert "views + downloads" in popular.stderr  # the server's formula
    trending = client(["popular", "--trending", "--json", "--limit", "1"], tmp_path, server=site.url)
    listed = json.loads(trending.stdout)
    assert [m["full_name"] for m in listed["items"]] == ["alice/busy"] and "0.5^" in listed["formula"]

    by_popularity = client(["ls", "--sort", "popular"], tmp_path, server=site.url)
    names = [line.split()[0] for line in by_popularity.stdout.splitlines()]
    assert names == ["alice/busy", "alice/quiet", "alice/aaa-unseen"]
    by_name = client(["ls", "--sort", "name"], tmp_path, server=site.url)
    assert [line.split()[0] for line in by_name.stdout.splitlines()] == [
        "alice/aaa-unseen",
        "alice/busy",
        "alice/quiet",
    ]

    stats = client(["stats", "alice/busy", "--days", "3"], tmp_path, server=site.url, token=token)
    assert stats.returncode == 0, stats.stderr
    lines = stats.stdout.splitlines()
    assert lines[0] == "alice/busy: 1,200 views and 34 downloads over the last 3 days"
    assert lines[-1].split() == [this_hour().date().isoformat(), "1,200", "34"] and len(lines) == 2 + 3
    someone_else = client(["stats", "alice/busy"], tmp_path, server=site.url, token=new_token(member))
    assert someone_else.returncode == 1 and "only a model's owner sees its counts" in someone_else.stderr
    anonymous = client(["stats", "alice/busy"], tmp_path, server=site.url)
    assert anonymous.returncode == 4 and "not logged in" in anonymous.stderr


# --- The client as a package of its own ---------------------------------------------------------------

NO_SERVER = (
    "import sys\n"
    "import candor_client, candor_client.api, candor_client.cli\n"
    "import candor_client.commands, candor_client.config\n"
    "candor_client.commands.overview()\n"
    "print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'candor')))\n"
)


def test_the_client_imports_nothing_of_the_server(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in SERVER_ONLY}
    result = subprocess.run(
        [sys.executable, "-c", NO_SERVER], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@e2e
def test_the_client_installs_and_works_alone(site: LiveServer, token: str, tmp_path: Path) -> None:
    """`uv pip install ./client` into an empty environment: httpx comes with it, nothing of the server,
    and its `candor` command talks to a server as the repository's does."""
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "this test needs uv (run the suite with `uv run pytest`)"
    venv = tmp_path / "venv"
    made = subprocess.run([uv, "venv", "--quiet", str(venv)], capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    # Offline: everything it needs is in uv's cache since the project's own environment was synced.
    installed = subprocess.run(
        [uv, "pip", "install", "--offline", "--python", str(python), str(ROOT / "client")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    listed = subprocess.run(
        [uv, "pip", "freeze", "--python", str(python)], capture_output=True, text=True, timeout=60
    )
    names = {re.split(r"[=@ ]", line)[0].lower() for line in listed.stdout.splitlines() if line}
    assert "candor-client" in names and "httpx" in names
    assert not names & {"candor", "django", "psycopg", "gunicorn", "pytest"}, names

    env = {k: v for k, v in os.environ.items() if k not in (*SERVER_ONLY, "VIRTUAL_ENV", "PYTHONPATH")}
    env |= {"XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path), "CANDOR_SERVER": site.url}

    def alone(*words: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(venv / "bin" / "candor"), *words],
            env=env,
            cwd=tmp_path,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    overview = alone("--help")
    assert overview.returncode == 0 and "push" in overview.stdout and "server commands" not in overview.stdout
    login = alone("login", "--token-stdin", stdin=token + "\n")
    assert login.returncode == 0, login.stderr
    whoami = alone("whoami")
    assert whoami.returncode == 0 and whoami.stdout.strip() == f"alice on {site.url}"
    server_word = alone("demo")
    assert server_word.returncode == 2 and "Candor server" in server_word.stderr
    assert not (tmp_path / "data").exists()


def test_the_clients_candor_hands_server_words_to_an_installed_server(tmp_path: Path) -> None:
    """Both packages install a `candor` script; whichever is on PATH, the server's words reach it."""
    env = {k: v for k, v in os.environ.items() if k not in SERVER_ONLY}
    env |= {"XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path)}

    def via_client(*words: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "candor_client", *words],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    demo_help = via_client("demo", "--help")
    assert demo_help.returncode == 0 and "--no-serve" in demo_help.stdout, demo_help.stderr
    overview = via_client("--help")
    assert "server commands" in overview.stdout and "push" in overview.stdout
    whoami = via_client("whoami", "--server", closed_port_url())
    assert whoami.returncode == 4 and "candor login" in whoami.stderr
    assert not (tmp_path / "data").exists()


@e2e
def test_emails_lists_what_was_sent_and_turns_product_updates_off_and_on(
    site: LiveServer, token: str, owner: User, member: User, tmp_path: Path
) -> None:
    from candor.comms import outbox
    from candor.comms.models import Email, Preferences

    for user in (owner, member):
        outbox.queue("password-changed", user.pk)  # committed at once: sent by the immediate queue
    assert Email.objects.filter(user=owner, status="sent").count() == 1
    listed = client(["emails"], tmp_path, server=site.url, token=token)
    assert listed.returncode == 0, listed.stderr
    assert "Product updates: on" in listed.stdout
    assert "Your password was changed" in listed.stdout and "handed to the mail server" in listed.stdout
    assert listed.stdout.count("Your password was changed") == 1  # bob's is not hers
    off = client(["emails", "--product-updates", "off"], tmp_path, server=site.url, token=token)
    assert off.returncode == 0 and "Product updates are off" in off.stdout
    assert Preferences.objects.get(user=owner).product_updates is False
    data = json.loads(client(["emails", "--json"], tmp_path, server=site.url, token=token).stdout)
    assert data["preferences"]["changed_via"] == "api" and len(data["emails"]["items"]) == 1
    # Bad input: a wrong word (usage, exit 2), a read-only token (refused, exit 1), no token (exit 4);
    # nothing changes.
    bad = client(["emails", "--product-updates", "maybe"], tmp_path, server=site.url, token=token)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
    reader = new_token(owner, ("read",))
    refused = client(["emails", "--product-updates", "on"], tmp_path, server=site.url, token=reader)
    assert refused.returncode == 1 and "write" in refused.stderr
    anonymous = client(["emails"], tmp_path, server=site.url)
    assert anonymous.returncode == 4 and "not logged in" in anonymous.stderr
    assert Preferences.objects.get(user=owner).product_updates is False
    on = client(["emails", "--product-updates", "on"], tmp_path, server=site.url, token=token)
    assert on.returncode == 0 and "Product updates are on" in on.stdout
