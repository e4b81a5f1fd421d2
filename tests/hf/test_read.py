"""The protocol's reads, through the real ``huggingface_hub`` client against a live Candor: model_info,
trees, paths-info, refs, commits, downloads (hf_hub_download, snapshot_download, offline from the cache),
file metadata, whoami and the public search; public and private models, by branch, tag and commit id,
and the client's own exceptions for what is missing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile, RepoFolder
from pytest_django.live_server_helper import LiveServer

from candor.accounts.models import User
from candor.analytics.buffer import flush
from candor.hub import actions, revisions
from candor.hub.api.hf import read
from candor.hub.models import Commit, MLModel, Ref, ref_index
from tests.analytics.conftest import model_totals
from tests.api.conftest import publish
from tests.hf.conftest import e2e, hf, run_client
from tests.test_client import new_token

pytestmark = e2e

CONFIG = b'{"hidden_size": 64}\n'
WEIGHTS_1 = bytes(range(256)) * 40  # 10,240 bytes
WEIGHTS_2 = b"second weights " * 1000
README = (
    b"---\nlicense: mit\nlibrary_name: pytorch\npipeline_tag: text-classification\ntags:\n- demo\n"
    b"---\n# A tiny model\n"
)


@dataclass
class Shelf:
    """alice/tiny (public): v1 tagged on the second commit, main two commits further; alice/secret
    (private)."""

    model: MLModel
    first: Commit
    tagged: Commit
    head: Commit
    secret: MLModel


def _head(model: MLModel) -> Commit:
    model.refresh_from_db()
    assert model.head is not None
    return model.head


@pytest.fixture
def shelf(owner: User) -> Shelf:
    model = publish(
        owner, "tiny", license="MIT", library="pytorch", task="text-classification", tags=["demo"]
    )
    actions.add_file(model, "config.json", [CONFIG], acting_user=owner, message="Add the config")
    first = _head(model)
    actions.add_file(model, "weights/model.bin", [WEIGHTS_1], acting_user=owner, message="Add weights\n\nv1")
    tagged = _head(model)
    revisions.tag(model, "v1", acting_user=owner)
    actions.add_file(model, "weights/model.bin", [WEIGHTS_2], acting_user=owner, message="Better weights")
    actions.add_file(model, "README.md", [README], acting_user=owner, message="Add a card")
    secret = publish(owner, "secret", visibility="private")
    actions.add_file(secret, "config.json", [b'{"secret": true}'], acting_user=owner)
    return Shelf(model, first, tagged, _head(model), secret)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- model_info ------------------------------------------------------------------------------------------


def test_model_info_at_main_a_tag_and_a_commit_id(site: LiveServer, shelf: Shelf) -> None:
    api = hf(site)
    info = api.model_info("alice/tiny")
    assert info.id == "alice/tiny" and info.author == "alice" and info.sha == shelf.head.oid
    assert info.private is False and info.gated is False and info.disabled is False
    assert info.library_name == "pytorch" and info.pipeline_tag == "text-classification"
    assert info.tags == ["demo"] and info.likes == 0 and info.downloads == 0
    assert info.created_at is not None and info.last_modified == shelf.head.created_at
    assert sorted(s.rfilename for s in info.siblings or []) == [
        "README.md",
        "config.json",
        "weights/model.bin",
    ]
    assert info.card_data is not None and info.card_data.license == "mit"
    assert info.card_data.library_name == "pytorch" and info.card_data.tags == ["demo"]
    assert info.used_storage == len(CONFIG) + len(WEIGHTS_1) + len(WEIGHTS_2) + len(README)

    tagged = api.model_info("alice/tiny", revision="v1")
    assert tagged.sha == shelf.tagged.oid
    assert sorted(s.rfilename for s in tagged.siblings or []) == ["config.json", "weights/model.bin"]
    # The card is the revision's README.md: that revision had none.
    assert tagged.pipeline_tag is None and tagged.library_name is None and not tagged.card_data
    assert api.model_info("alice/tiny", revision=shelf.first.oid).sha == shelf.first.oid
    assert api.model_info("alice/tiny", revision="main").sha == shelf.head.oid

    with pytest.raises(RevisionNotFoundError):
        api.model_info("alice/tiny", revision="v9")
    with pytest.raises(RevisionNotFoundError):
        api.model_info("alice/tiny", revision="0" * 40)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("alice/nothing-here")


def test_model_info_with_files_metadata_gives_sizes_and_the_content_digest(
    site: LiveServer, shelf: Shelf
) -> None:
    info = hf(site).model_info("alice/tiny", revision="v1", files_metadata=True)
    by_name = {s.rfilename: s for s in info.siblings or []}
    weights = by_name["weights/model.bin"]
    assert weights.size == len(WEIGHTS_1)
    assert (
        weights.lfs is not None
        and weights.lfs.sha256 == sha(WEIGHTS_1)
        and weights.lfs.size == len(WEIGHTS_1)
    )
    assert weights.blob_id and len(weights.blob_id) == 40
    assert by_name["config.json"].blob_id != weights.blob_id
    plain = hf(site).model_info("alice/tiny")
    assert all(s.size is None and s.lfs is None for s in plain.siblings or [])


def test_a_private_model_is_found_by_its_owner_only_and_answers_as_a_missing_one(
    site: LiveServer, shelf: Shelf, write_token: str, read_token: str, member: User, tmp_path: Path
) -> None:
    for token in (write_token, read_token):
        info = hf(site, token).model_info("alice/secret")
        assert info.private is True and info.sha == _head(shelf.secret).oid
    others = [hf(site, new_token(member)), hf(site)]
    for api in others:
        with pytest.raises(RepositoryNotFoundError):
            api.model_info("alice/secret")
        with pytest.raises(RepositoryNotFoundError):
            api.list_repo_files("alice/secret")
        with pytest.raises(RepositoryNotFoundError):
            api.list_repo_refs("alice/secret")
        with pytest.raises(RepositoryNotFoundError):
            api.list_repo_commits("alice/secret")
        with pytest.raises(RepositoryNotFoundError):
            api.get_paths_info("alice/secret", ["config.json"])
        with pytest.raises(RepositoryNotFoundError):
            hf_hub_download(
                "alice/secret", "config.json", endpoint=site.url, token=api.token, cache_dir=tmp_path
            )
    # The same answer, byte for byte, as a model that was never there (a revision error would tell).
    missing = httpx.get(f"{site.url}/api/models/alice/secret-not-here/revision/nope")
    hidden = httpx.get(f"{site.url}/api/models/alice/secret/revision/nope")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.headers["X-Error-Code"] == missing.headers["X-Error-Code"] == "RepoNotFound"
    assert hidden.content == missing.content


def test_a_bad_token_is_told_apart_from_a_missing_model(site: LiveServer, shelf: Shelf) -> None:
    with pytest.raises(HfHubHTTPError) as raised:
        hf(site, "cnd_not_a_real_token").model_info("alice/tiny")
    assert raised.value.response.status_code == 401


# --- trees, paths-info, refs and commits ------------------------------------------------------------------


def test_list_repo_files_and_the_tree_recursive_or_not_at_any_revision(
    site: LiveServer, shelf: Shelf
) -> None:
    api = hf(site)
    assert api.list_repo_files("alice/tiny") == ["README.md", "config.json", "weights/model.bin"]
    assert api.list_repo_files("alice/tiny", revision="v1") == ["config.json", "weights/model.bin"]
    assert api.list_repo_files("alice/tiny", revision=shelf.first.oid) == ["config.json"]

    top = list(api.list_repo_tree("alice/tiny"))
    assert [(type(e), e.path) for e in top] == [
        (RepoFile, "README.md"),
        (RepoFile, "config.json"),
        (RepoFolder, "weights"),
    ]
    deep = {e.path: e for e in api.list_repo_tree("alice/tiny", recursive=True)}
    assert set(deep) == {"README.md", "config.json", "weights", "weights/model.bin"}
    weights = deep["weights/model.bin"]
    assert isinstance(weights, RepoFile) and weights.size == len(WEIGHTS_2)
    assert weights.lfs is not None and weights.lfs.sha256 == sha(WEIGHTS_2) and weights.xet_hash is None
    inside = list(api.list_repo_tree("alice/tiny", path_in_repo="weights", revision="v1"))
    assert [e.path for e in inside] == ["weights/model.bin"]
    assert isinstance(inside[0], RepoFile) and inside[0].lfs and inside[0].lfs.sha256 == sha(WEIGHTS_1)
    # A folder's id follows its content: it changed between v1 and main.
    folder_then = next(e for e in api.list_repo_tree("alice/tiny", revision="v1") if e.path == "weights")
    assert isinstance(folder_then, RepoFolder) and isinstance(deep["weights"], RepoFolder)
    assert folder_then.tree_id != deep["weights"].tree_id

    with pytest.raises(EntryNotFoundError):
        list(api.list_repo_tree("alice/tiny", path_in_repo="no-such-folder"))
    with pytest.raises(RevisionNotFoundError):
        list(api.list_repo_tree("alice/tiny", revision="v9"))


def test_a_long_tree_is_paged_and_the_client_follows_every_page(
    site: LiveServer, owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = publish(owner, "many")
    names = [f"shards/part-{number:02}.bin" for number in range(7)] + ["a.txt"]
    actions.commit_changes(
        model,
        [{"op": "put", "path": n, "sha256": actions.store_blob(model, [n.encode()]).sha256} for n in names],
        acting_user=owner,
    )
    monkeypatch.setattr(read, "PAGE_SIZE", 3)
    first = httpx.get(f"{site.url}/api/models/alice/many/tree/main", params={"recursive": "true"})
    assert len(first.json()) == 3 and first.links["next"]["url"].startswith(site.url)
    assert "shards" not in first.links["next"]["url"].split("?", 1)[1], "the cursor names no path"
    listed = [e.path for e in hf(site).list_repo_tree("alice/many", recursive=True)]
    assert listed == sorted(["shards", *names]), "every page once, in path order"
    assert hf(site).list_repo_files("alice/many") == sorted(names)
    forged = httpx.get(f"{site.url}/api/models/alice/many/tree/main", params={"cursor": "3"})
    assert forged.status_code == 400 and "cursor" in forged.json()["error"]
    # A cursor pages only the listing it was given for: not the same tree without recursion, nor a history.
    cursor = httpx.URL(first.links["next"]["url"]).params["cursor"]
    again = {"recursive": "true", "cursor": cursor}
    assert httpx.get(f"{site.url}/api/models/alice/many/tree/main", params=again).status_code == 200
    elsewhere = httpx.get(f"{site.url}/api/models/alice/many/tree/main", params={"cursor": cursor})
    assert elsewhere.status_code == 400
    history = httpx.get(f"{site.url}/api/models/alice/many/commits/main", params={"cursor": cursor})
    assert history.status_code == 400


def test_paths_info_by_form_and_by_json(site: LiveServer, shelf: Shelf) -> None:
    found = hf(site).get_paths_info("alice/tiny", ["config.json", "weights", "nope.txt"], revision="v1")
    assert [(type(e), e.path) for e in found] == [(RepoFile, "config.json"), (RepoFolder, "weights")]
    config = found[0]
    assert isinstance(config, RepoFile) and config.size == len(CONFIG) and config.lfs
    assert config.lfs.sha256 == sha(CONFIG)
    address = f"{site.url}/api/models/alice/tiny/paths-info/{shelf.tagged.oid}"
    as_json = httpx.post(address, json={"paths": ["weights/model.bin"]})
    assert as_json.status_code == 200 and as_json.json()[0]["lfs"]["oid"] == sha(WEIGHTS_1)
    wrong = httpx.post(address, json={"paths": "weights/model.bin"})
    assert wrong.status_code == 400 and wrong.json()["error"]
    broken = httpx.post(address, content=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400
    assert httpx.get(address).status_code == 405
    with pytest.raises(RevisionNotFoundError):
        hf(site).get_paths_info("alice/tiny", ["config.json"], revision="v9")


def test_refs_and_commits_by_branch_tag_and_commit_id(
    site: LiveServer, shelf: Shelf, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = hf(site)
    refs = api.list_repo_refs("alice/tiny")
    assert [(b.name, b.ref, b.target_commit) for b in refs.branches] == [
        ("main", "refs/heads/main", shelf.head.oid)
    ]
    assert [(t.name, t.ref, t.target_commit) for t in refs.tags] == [("v1", "refs/tags/v1", shelf.tagged.oid)]
    assert (
        refs.converts == []
        and api.list_repo_refs("alice/tiny", include_pull_requests=True).pull_requests == []
    )

    history = api.list_repo_commits("alice/tiny")
    assert [c.title for c in history] == ["Add a card", "Better weights", "Add weights", "Add the config"]
    assert history[0].commit_id == shelf.head.oid and history[0].authors == ["alice"]
    assert history[2].message == "v1" and history[0].created_at == shelf.head.created_at
    assert [c.commit_id for c in api.list_repo_commits("alice/tiny", revision="v1")] == [
        shelf.tagged.oid,
        shelf.first.oid,
    ]
    assert len(api.list_repo_commits("alice/tiny", revision=shelf.first.oid)) == 1
    monkeypatch.setattr(read, "PAGE_SIZE", 1)
    assert [c.commit_id for c in api.list_repo_commits("alice/tiny")] == [c.commit_id for c in history]
    with pytest.raises(RevisionNotFoundError):
        api.list_repo_commits("alice/tiny", revision="v9")


def test_a_revision_holding_a_slash_is_found_in_every_address(
    site: LiveServer, shelf: Shelf, owner: User, tmp_path: Path
) -> None:
    # Tags may not hold a slash and branches have no action yet: the branch row is made as one would.
    model = shelf.model
    name = "feature/old"
    Ref.objects.create(
        owner=owner,
        model=model,
        kind=Ref.Kind.BRANCH,
        name=name,
        name_index=ref_index(model.pk, name),
        commit=shelf.tagged,
    )
    api = hf(site)
    assert api.model_info("alice/tiny", revision=name).sha == shelf.tagged.oid
    assert api.list_repo_files("alice/tiny", revision=name) == ["config.json", "weights/model.bin"]
    assert [e.path for e in api.list_repo_tree("alice/tiny", path_in_repo="weights", revision=name)] == [
        "weights/model.bin"
    ]
    assert ("feature/old", "refs/heads/feature/old") in [
        (b.name, b.ref) for b in api.list_repo_refs("alice/tiny").branches
    ]
    assert api.list_repo_commits("alice/tiny", revision=name)[0].commit_id == shelf.tagged.oid
    path = hf_hub_download(
        "alice/tiny", "weights/model.bin", revision=name, endpoint=site.url, cache_dir=tmp_path
    )
    assert Path(path).read_bytes() == WEIGHTS_1


# --- Downloads ---------------------------------------------------------------------------------------------


def test_hf_hub_download_at_any_revision_gives_the_stored_bytes(
    site: LiveServer, shelf: Shelf, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"

    def fetch(filename: str, revision: str | None = None) -> bytes:
        path = hf_hub_download("alice/tiny", filename, revision=revision, endpoint=site.url, cache_dir=cache)
        return Path(path).read_bytes()

    assert fetch("config.json") == CONFIG
    assert fetch("weights/model.bin") == WEIGHTS_2
    assert fetch("weights/model.bin", "v1") == WEIGHTS_1
    assert fetch("weights/model.bin", shelf.tagged.oid) == WEIGHTS_1
    assert fetch("config.json", shelf.first.oid) == CONFIG
    # The cache keys on content: one blob named by its SHA-256 for the same bytes at two revisions.
    blobs = {p.name for p in (cache / "models--alice--tiny" / "blobs").iterdir()}
    assert blobs == {sha(CONFIG), sha(WEIGHTS_1), sha(WEIGHTS_2)}
    with pytest.raises(EntryNotFoundError):
        fetch("README.md", "v1")
    with pytest.raises(EntryNotFoundError):
        fetch("never.bin")
    with pytest.raises(RevisionNotFoundError):
        fetch("config.json", "v9")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("alice/nothing", "config.json", endpoint=site.url, cache_dir=cache)


def test_any_path_downloads_and_an_empty_model_has_no_files(
    site: LiveServer, owner: User, tmp_path: Path
) -> None:
    model = publish(owner, "paths")
    odd = "docs/a file, été #1.txt"
    actions.add_file(model, odd, [b"odd"], acting_user=owner)
    assert hf(site).list_repo_files("alice/paths") == [odd]
    path = hf_hub_download("alice/paths", odd, endpoint=site.url, cache_dir=tmp_path)
    assert Path(path).read_bytes() == b"odd" and path.endswith("a file, été #1.txt")
    publish(owner, "empty")
    info = hf(site).model_info("alice/empty")
    assert info.sha is None and info.siblings == []
    assert (
        hf(site).list_repo_files("alice/empty") == []
        and hf(site).list_repo_refs("alice/empty").branches == []
    )
    assert hf(site).list_repo_commits("alice/empty") == []
    with pytest.raises(EntryNotFoundError):
        hf_hub_download("alice/empty", "config.json", endpoint=site.url, cache_dir=tmp_path)


def test_private_downloads_with_the_owners_token(
    site: LiveServer, shelf: Shelf, read_token: str, tmp_path: Path
) -> None:
    path = hf_hub_download(
        "alice/secret", "config.json", endpoint=site.url, token=read_token, cache_dir=tmp_path
    )
    assert Path(path).read_bytes() == b'{"secret": true}'


def test_resolve_sends_the_headers_the_client_relies_on_and_byte_ranges(
    site: LiveServer, shelf: Shelf
) -> None:
    url = hf_hub_url("alice/tiny", "weights/model.bin", revision="v1", endpoint=site.url)
    head = httpx.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["X-Repo-Commit"] == shelf.tagged.oid
    assert head.headers["ETag"] == head.headers["X-Linked-Etag"] == f'"{sha(WEIGHTS_1)}"'
    assert head.headers["X-Linked-Size"] == head.headers["Content-Length"] == str(len(WEIGHTS_1))
    assert head.headers["Accept-Ranges"] == "bytes"
    assert 'filename="model.bin"' in head.headers["Content-Disposition"]
    assert not any(name.lower().startswith("x-xet") for name in head.headers)

    part = httpx.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == WEIGHTS_1[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(WEIGHTS_1)}"
    assert part.headers["X-Repo-Commit"] == shelf.tagged.oid
    assert httpx.get(url, headers={"Range": f"bytes={len(WEIGHTS_1)}-"}).status_code == 416

    meta = get_hf_file_metadata(url)
    assert (
        meta.commit_hash == shelf.tagged.oid and meta.etag == sha(WEIGHTS_1) and meta.size == len(WEIGHTS_1)
    )
    assert meta.xet_file_data is None

    missing = httpx.head(hf_hub_url("alice/tiny", "README.md", revision="v1", endpoint=site.url))
    assert missing.status_code == 404 and missing.content == b""
    assert (
        missing.headers["X-Error-Code"] == "EntryNotFound"
        and missing.headers["X-Repo-Commit"] == shelf.tagged.oid
    )
    unknown = httpx.get(hf_hub_url("alice/tiny", "config.json", revision="v9", endpoint=site.url))
    assert unknown.status_code == 404 and unknown.headers["X-Error-Code"] == "RevisionNotFound"
    assert unknown.json()["error"]


def test_a_browser_keeps_the_sites_pages_at_the_same_address(site: LiveServer, shelf: Shelf) -> None:
    address = f"{site.url}/alice/tiny/resolve/v9/config.json"
    page = httpx.get(address, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 404 and page.headers["Content-Type"].startswith("text/html")
    assert "This model has no such revision." in page.text and "X-Error-Code" not in page.headers
    protocol = httpx.get(address)
    assert protocol.status_code == 404 and protocol.headers["X-Error-Code"] == "RevisionNotFound"
    assert protocol.headers["Content-Type"] == "application/json"
    both = f"{site.url}/alice/tiny/resolve/v1/config.json"
    assert httpx.get(both, headers={"Accept": "text/html"}).content == httpx.get(both).content == CONFIG


def test_downloads_are_counted_for_public_models_only_and_never_for_a_head(
    site: LiveServer, shelf: Shelf, write_token: str
) -> None:
    url = hf_hub_url("alice/tiny", "config.json", endpoint=site.url)
    assert httpx.head(url).status_code == 200
    flush()
    assert model_totals(shelf.model.pk)["daily"] == (0, 0), "a HEAD is never a download"
    assert httpx.get(url).status_code == 200
    assert httpx.get(url, headers={"Range": "bytes=0-3"}).status_code == 206  # from the first byte
    assert httpx.get(url, headers={"Range": "bytes=4-"}).status_code == 206  # a resumed one: not again
    secret = hf_hub_url("alice/secret", "config.json", endpoint=site.url)
    assert httpx.get(secret, headers={"Authorization": f"Bearer {write_token}"}).status_code == 200
    flush()
    assert model_totals(shelf.model.pk)["daily"] == (0, 2)
    assert model_totals(shelf.secret.pk)["daily"] == (0, 0)


def test_snapshot_download_with_patterns(site: LiveServer, shelf: Shelf, tmp_path: Path) -> None:
    def snapshot(
        revision: str | None = None, allow: list[str] | None = None, ignore: list[str] | None = None
    ) -> set[str]:
        folder = Path(
            snapshot_download(
                "alice/tiny",
                endpoint=site.url,
                cache_dir=tmp_path / "c",
                revision=revision,
                allow_patterns=allow,
                ignore_patterns=ignore,
            )
        )
        return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}

    assert snapshot(allow=["*.json"]) == {"config.json"}
    assert snapshot(ignore=["weights/*"]) == {"config.json", "README.md"}
    assert snapshot(revision="v1") == {"config.json", "weights/model.bin"}
    local = tmp_path / "local"
    snapshot_download("alice/tiny", endpoint=site.url, local_dir=local, allow_patterns="weights/*")
    assert (local / "weights" / "model.bin").read_bytes() == WEIGHTS_2 and not (
        local / "config.json"
    ).exists()


def test_a_users_script_downloads_then_reads_the_snapshot_offline_from_its_cache(
    site: LiveServer, shelf: Shelf, read_token: str, tmp_path: Path
) -> None:
    script = (
        "from huggingface_hub import hf_hub_download\n"
        'print(open(hf_hub_download("alice/tiny", "config.json")).read())'
    )
    done = run_client(script, endpoint=site.url, home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == CONFIG.decode() + "\n"

    snapshot = (
        "import pathlib\nfrom huggingface_hub import snapshot_download\n"
        'folder = pathlib.Path(snapshot_download("alice/secret"))\n'
        'print(sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()))\n'
        'print((folder / "config.json").read_text())'
    )
    online = run_client(snapshot, endpoint=site.url, token=read_token, home=tmp_path)
    assert online.returncode == 0, online.stderr
    assert online.stdout == "['config.json']\n" + '{"secret": true}\n'
    # The server is told nothing now: the endpoint is an address where nothing listens.
    offline = run_client(snapshot, endpoint="http://127.0.0.1:9", home=tmp_path, HF_HUB_OFFLINE="1")
    assert offline.returncode == 0, offline.stderr
    assert offline.stdout == online.stdout
    never = run_client(
        snapshot.replace("alice/secret", "alice/never-fetched"),
        endpoint="http://127.0.0.1:9",
        home=tmp_path,
        HF_HUB_OFFLINE="1",
    )
    assert never.returncode != 0 and "LocalEntryNotFoundError" in never.stderr, "offline, nothing else"


# --- whoami and the search ----------------------------------------------------------------------------------


def test_whoami_names_the_caller_and_the_tokens_role_only(
    site: LiveServer, write_token: str, read_token: str
) -> None:
    me = hf(site, write_token).whoami()
    assert me == {
        "type": "user",
        "name": "alice",
        "auth": {"type": "access_token", "accessToken": {"role": "write"}},
    }
    assert hf(site, read_token).whoami()["auth"]["accessToken"]["role"] == "read"
    anonymous = httpx.get(f"{site.url}/api/whoami-v2")
    assert anonymous.status_code == 401 and anonymous.json()["error"]
    with pytest.raises(HfHubHTTPError) as raised:
        hf(site, "cnd_wrong").whoami()
    assert raised.value.response.status_code == 401


def test_list_models_searches_public_models_only(
    site: LiveServer, owner: User, member: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("bert-small", "bert-large", "gpt-tiny"):
        tags = ["nlp", "small"] if name != "bert-large" else ["nlp"]
        publish(owner, name, task="fill-mask" if name.startswith("bert") else "text-generation", tags=tags)
    publish(member, "bert-bob")
    publish(owner, "bert-hidden", visibility="private")
    publish(owner, "bert-quiet", visibility="unlisted")
    api = hf(site)
    every = [m.id for m in api.list_models()]
    assert sorted(every) == ["alice/bert-large", "alice/bert-small", "alice/gpt-tiny", "bob/bert-bob"]
    assert sorted(m.id for m in api.list_models(search="bert")) == [
        "alice/bert-large",
        "alice/bert-small",
        "bob/bert-bob",
    ]
    assert sorted(m.id for m in api.list_models(search="bert", author="alice")) == [
        "alice/bert-large",
        "alice/bert-small",
    ]
    assert [m.id for m in api.list_models(author="bob")] == ["bob/bert-bob"]
    assert sorted(m.id for m in api.list_models(pipeline_tag="fill-mask")) == [
        "alice/bert-large",
        "alice/bert-small",
    ]
    assert sorted(m.id for m in api.list_models(filter="nlp")) == [
        "alice/bert-large",
        "alice/bert-small",
        "alice/gpt-tiny",
    ]
    assert sorted(m.id for m in api.list_models(filter=["nlp", "small"])) == [
        "alice/bert-small",
        "alice/gpt-tiny",
    ]
    newest = [m.id for m in api.list_models(sort="created_at")]
    assert newest == ["bob/bert-bob", "alice/gpt-tiny", "alice/bert-large", "alice/bert-small"]
    assert [m.id for m in api.list_models(sort="last_modified", limit=2)] == newest[:2]
    oldest = httpx.get(f"{site.url}/api/models", params={"sort": "createdAt", "direction": "1"}).json()
    assert [m["id"] for m in oldest] == newest[::-1]
    assert len(list(api.list_models(sort="downloads"))) == 4
    monkeypatch.setattr(read, "MODELS_PAGE", 1)
    first = httpx.get(f"{site.url}/api/models", params={"sort": "createdAt"})
    assert len(first.json()) == 1 and "next" in first.links
    assert [m.id for m in api.list_models(sort="created_at")] == newest, "the client follows every page"
    assert httpx.get(f"{site.url}/api/models", params={"sort": "nonsense"}).status_code == 400
    assert httpx.get(f"{site.url}/api/models", params={"limit": "many"}).status_code == 400


def test_no_address_of_the_protocol_redirects(site: LiveServer, shelf: Shelf) -> None:
    for path in ("/api/models/alice/tiny/", "/api/models/alice/tiny/refs/", "/api/whoami-v2/"):
        answer = httpx.get(f"{site.url}{path}")
        assert answer.status_code == 404 and "Location" not in answer.headers, path


def test_file_downloads_are_not_held_to_the_apis_request_limits(
    site: LiveServer, shelf: Shelf, settings: Any
) -> None:
    """The client asks twice for every file (HEAD, GET): a model of some hundred files must download
    whole. The other addresses keep their limit, and a refused token is counted everywhere."""
    settings.API_ANON_RATE_PER_MINUTE = 3
    url = hf_hub_url("alice/tiny", "config.json", endpoint=site.url)
    assert [httpx.head(url).status_code for _ in range(6)] == [200] * 6
    info = f"{site.url}/api/models/alice/tiny"
    assert [httpx.get(info).status_code for _ in range(4)] == [200, 200, 200, 429]
    refused = httpx.head(url, headers={"Authorization": "Bearer cnd_not-a-token"})
    assert refused.status_code == 429, "guessing tokens is limited at the download address too"
