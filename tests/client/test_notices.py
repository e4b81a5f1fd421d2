"""The client and notices, against a live server: printed once on stderr after a signed-in command,
remembered by id only; ``candor notices`` lists them and ``candor notices dismiss ID`` dismisses one."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from candor_client import api as client_api
from candor_client.notices import announce, load_seen, save_seen
from pytest_django.live_server_helper import LiveServer

from candor.accounts.models import User
from candor.comms import actions
from candor.comms.models import Notice
from tests.conftest import make_user
from tests.test_client import client, closed_port_url, new_token

e2e = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live_server(live_server: LiveServer, settings: object) -> LiveServer:
    settings.WEBSITE_URL = live_server.url  # type: ignore[attr-defined]  # the notices' links
    return live_server


def seen_file(home: Path) -> Path:
    return home / "config" / "candor" / "notices-seen.json"


@e2e
def test_new_notices_are_printed_once_on_stderr(live_server: LiveServer, owner: User, tmp_path: Path) -> None:
    token = new_token(owner)
    older = actions.notify(
        owner, "security", "Your password was changed", "If it was not you…", link="/settings/"
    )
    newer = actions.notify(owner, "policy", "Our privacy policy changes", key="policy:2")
    first = client(["whoami"], tmp_path, server=live_server.url, token=token)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"alice on {live_server.url} (token from CANDOR_TOKEN)", "stdout unharmed"
    assert "candor: notice: Your password was changed (security" in first.stderr
    assert f"candor notices dismiss {older.public_id}" in first.stderr
    assert f"More: {live_server.url}/settings/" in first.stderr
    assert first.stderr.index("password was changed") < first.stderr.index("policy changes"), "oldest first"
    # Remembered by id only, in a file only its owner reads.
    path = seen_file(tmp_path)
    assert json.loads(path.read_text()) == {
        "servers": {live_server.url: sorted([older.public_id, newer.public_id])}
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "alice" not in path.read_text() and "password" not in path.read_text()

    again = client(["ls", "--limit", "1"], tmp_path, server=live_server.url, token=token)
    assert again.returncode == 0 and "notice" not in again.stderr
    added = actions.notify(owner, "account", "A third thing")
    third = client(["whoami"], tmp_path, server=live_server.url, token=token)
    assert third.stderr.count("candor: notice:") == 1 and "A third thing" in third.stderr
    assert added.public_id in third.stderr


@e2e
def test_list_and_dismiss(live_server: LiveServer, owner: User, tmp_path: Path) -> None:
    token = new_token(owner)
    notice = actions.notify(owner, "security", "Your email address was changed", "Check it.")
    listed = client(["notices"], tmp_path, server=live_server.url, token=token)
    assert listed.returncode == 0 and listed.stderr == ""
    assert "Your email address was changed (security" in listed.stdout and notice.public_id in listed.stdout
    after = client(["whoami"], tmp_path, server=live_server.url, token=token)
    assert "notice" not in after.stderr, "listed, so not printed again"

    done = client(["notices", "dismiss", notice.public_id], tmp_path, server=live_server.url, token=token)
    assert done.returncode == 0 and done.stdout.strip() == "Dismissed: Your email address was changed"
    notice.refresh_from_db()
    assert notice.dismissed_at is not None
    twice = client(["notices", "dismiss", notice.public_id], tmp_path, server=live_server.url, token=token)
    assert twice.returncode == 0, "dismissing again is not an error"
    assert (
        client(["notices"], tmp_path, server=live_server.url, token=token).stdout.strip()
        == "No open notices."
    )
    everything = client(["notices", "--all", "--json"], tmp_path, server=live_server.url, token=token)
    (item,) = json.loads(everything.stdout)["items"]
    assert item["id"] == notice.public_id and item["dismissed_at"]
    # The dismissed id is forgotten by the next run that finds it gone.
    client(["whoami"], tmp_path, server=live_server.url, token=token)
    assert load_seen(seen_file(tmp_path)).get(live_server.url, []) == []


@e2e
def test_bad_unknown_and_foreign_ids(live_server: LiveServer, owner: User, tmp_path: Path) -> None:
    token = new_token(owner)
    theirs = actions.notify(make_user("bob"), "account", "Bob's notice")
    malformed = client(["notices", "dismiss", "not an id!"], tmp_path, server=live_server.url, token=token)
    assert malformed.returncode == 2 and "is not a notice id" in malformed.stderr
    for wrong in ("no-such-notice", theirs.public_id):
        result = client(["notices", "dismiss", wrong], tmp_path, server=live_server.url, token=token)
        assert result.returncode == 1, result.stderr
        assert f"candor notices: you have no notice {wrong} (see `candor notices`)" in result.stderr
    theirs.refresh_from_db()
    assert theirs.dismissed_at is None and "Bob" not in malformed.stderr + result.stderr
    reader = new_token(owner, scopes=("read",))
    mine = actions.notify(owner, "account", "Mine")
    refused = client(["notices", "dismiss", mine.public_id], tmp_path, server=live_server.url, token=reader)
    assert refused.returncode == 1 and "permission denied" in refused.stderr
    assert Notice.objects.get(pk=mine.pk).dismissed_at is None


@e2e
def test_nothing_is_asked_without_a_token_or_printed_for_a_rejected_one(
    live_server: LiveServer, owner: User, tmp_path: Path
) -> None:
    actions.notify(owner, "account", "Never printed to a visitor")
    anonymous = client(["ls", "--limit", "1"], tmp_path, server=live_server.url)
    assert anonymous.returncode == 0 and "notice" not in anonymous.stderr
    rejected = client(["whoami"], tmp_path, server=live_server.url, token="cnd_not-a-real-token-000")
    assert rejected.returncode == 4 and "notice" not in rejected.stderr
    needs_login = client(["notices"], tmp_path, server=live_server.url)
    assert needs_login.returncode == 4 and "not logged in" in needs_login.stderr
    assert not seen_file(tmp_path).exists()


def test_announcing_never_fails_a_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A server that went away after the command (or an older one with no notices): nothing printed.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setattr(client_api, "_signed_in", [client_api.Target(closed_port_url(), "cnd_x", "env")])
    announce()
    assert capsys.readouterr().err == "" and not (tmp_path / "candor" / "notices-seen.json").exists()


def test_a_damaged_memory_counts_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "notices-seen.json"
    for content in (
        "{not json",
        "[]",
        '{"servers": {"http://a": "x"}}',
        '{"servers": {"http://a": ["bad id", 3]}}',
    ):
        path.write_text(content)
        assert load_seen(path) in ({}, {"http://a": []})
    save_seen(path, {"http://a": ["abc", "def"], "http://b": []})
    assert load_seen(path) == {"http://a": ["abc", "def"]}
