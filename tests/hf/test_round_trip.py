"""The whole way round with the default client, nothing set but HF_ENDPOINT and HF_TOKEN: a folder in
Hugging Face layout goes up with ``upload_folder`` (its large files through Xet, its small text files
inside the commit) and comes back with ``snapshot_download`` unchanged, byte for byte and name for name.
The writes' own tests take the Git LFS path (tests/hf/test_write.py); this one takes the client's default.
"""

from __future__ import annotations

from pathlib import Path

import huggingface_hub
import pytest
from pytest_django.live_server_helper import LiveServer

from candor.accounts.models import User
from candor.hub.models import MLModel, XetXorb
from tests.hf.conftest import e2e, hf, run_client
from tests.hf.test_write import hf_layout

pytestmark = e2e


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".cache" not in p.relative_to(root).parts
    }


def test_a_folder_round_trips_through_the_default_client(
    site: LiveServer, owner: User, write_token: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", False)
    files = hf_layout(tmp_path / "tiny")
    api = hf(site, write_token)
    api.create_repo("alice/tiny", private=True)
    info = api.upload_folder(folder_path=tmp_path / "tiny", repo_id="alice/tiny", commit_message="First")
    model = MLModel.objects.named(owner, "tiny").get()
    assert model.head is not None and model.head.oid == info.oid
    assert XetXorb.objects.filter(owner=owner).exists(), "the large files came through Xet"
    got = api.snapshot_download("alice/tiny", local_dir=tmp_path / "back", cache_dir=tmp_path / "cache")
    assert tree(Path(got)) == files


def test_the_round_trip_as_a_user_runs_it(
    site: LiveServer, owner: User, write_token: str, tmp_path: Path
) -> None:
    files = hf_layout(tmp_path / "tiny")
    code = f"""
from huggingface_hub import create_repo, snapshot_download, upload_folder
create_repo("alice/tiny", private=True, exist_ok=True)
upload_folder(repo_id="alice/tiny", folder_path={str(tmp_path / "tiny")!r})
print(snapshot_download("alice/tiny", revision="main"))
"""
    done = run_client(code, endpoint=site.url, token=write_token, home=tmp_path / "home")
    assert done.returncode == 0, done.stderr[-3000:]
    assert tree(Path(done.stdout.strip().splitlines()[-1])) == files
    assert XetXorb.objects.filter(owner=owner).exists(), "the large files came through Xet"
    # The model is private: the same download without the token is refused as if it did not exist.
    anonymous = run_client(
        "from huggingface_hub import snapshot_download\nsnapshot_download('alice/tiny')\n",
        endpoint=site.url,
        home=tmp_path / "nobody",
    )
    assert anonymous.returncode != 0
    assert "RepositoryNotFoundError" in anonymous.stderr
