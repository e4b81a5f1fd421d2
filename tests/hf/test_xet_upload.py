"""The Xet upload path against the real client: ``huggingface_hub`` with ``hf_xet``, a live Candor.

The commit endpoint is built apart, so the tests drive the client's Xet upload alone
(``_commit_api._upload_xet_files``, what ``upload_file`` and ``create_commit`` call for every large file)
in a fresh interpreter, with its Xet cache in the test's folder, then look for the blob the commit would
find: the owner's, by SHA-256, whose decrypted bytes are the file.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from pytest_django.live_server_helper import LiveServer

from candor.accounts.models import User
from candor.hub import actions, blobs
from candor.hub.models import Blob
from tests.hf.conftest import e2e, run_client
from tests.test_client import new_token

UPLOAD = """
import json, sys
from huggingface_hub import CommitOperationAdd
from huggingface_hub._commit_api import _upload_xet_files
from huggingface_hub.utils import build_hf_headers
import os
paths = json.loads(sys.argv[1]) if len(sys.argv) > 1 else json.loads(os.environ["XET_PATHS"])
ops = [CommitOperationAdd(path_in_repo=os.path.basename(p), path_or_fileobj=p) for p in paths]
try:
    _upload_xet_files(
        additions=ops, repo_type="model", repo_id=os.environ["XET_REPO"],
        headers=build_hf_headers(token=os.environ["HF_TOKEN"]), endpoint=os.environ["HF_ENDPOINT"],
        revision="main",
    )
except Exception as error:
    print("FAILED", type(error).__name__, error)
    sys.exit(3)
print(json.dumps([op.upload_info.sha256.hex() for op in ops]))
"""


def upload(site: LiveServer, token: str, home: Path, repo: str, *files: Path) -> Any:
    return run_client(
        UPLOAD,
        endpoint=site.url,
        token=token,
        home=home,
        XET_REPO=repo,
        XET_PATHS=json.dumps([str(f) for f in files]),
        HF_XET_CACHE=str(home / "xet"),
        RUST_LOG=os.environ.get("RUST_LOG", "warn"),
    )


def stored_bytes(blob: Blob) -> bytes:
    return b"".join(blobs.read(blob))


@pytest.fixture
def model(owner: User) -> Any:
    return actions.create_model(acting_user=owner, name="m", title="M", summary="s", visibility="public")


@e2e
def test_tiny_file(site: LiveServer, owner: User, model: Any, tmp_path: Path) -> None:
    data = b"hello xet\n" * 3
    f = tmp_path / "tiny.txt"
    f.write_bytes(data)
    result = upload(site, new_token(owner), tmp_path, "alice/m", f)
    print(result.stdout, result.stderr[-5000:])
    assert result.returncode == 0
    sha = hashlib.sha256(data).hexdigest()
    blob = blobs.find(owner.pk, sha)
    assert blob is not None
    assert stored_bytes(blob) == data
