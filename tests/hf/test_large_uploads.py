"""A 2 GiB file through the unmodified client, both ways it uploads: the default (Xet: xorbs and a shard,
rebuilt by the server into a sealed blob) and with ``HF_HUB_DISABLE_XET=1`` (Git LFS: one streamed PUT),
against a real ``candor serve`` (gunicorn, one worker) on the suite's database engine. The server's peak
resident memory (all its processes, sampled every 20 ms by bench/harness.py) is recorded with the test
(``record_property``, printed with ``-s``) and must stay flat: the upload may not grow the server by more
than a small fraction of the file, whichever way it arrives.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import scratch_postgres_database
from tests.hf.conftest import run_client

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from harness import CandorServer

SIZE = 2 * 1024**3
# What the server may grow by while it receives 2 GiB: buffers of a few MiB, the interpreter's own
# churn; never the file (nor a xorb of 64 MiB held whole, twice).
GROWTH_LIMIT_MIB = 120

SEED = """
import json
from candor.accounts.models import User
from candor.api.actions import create_token
owner = User.objects.create_user(
    "bigfile", "big.file@example.net", "a-long-passphrase-78", email_verified=True
)
_, token = create_token(owner, name="big", scopes=["read", "write"], acting_user=owner)
print(json.dumps({"token": token}))
"""

UPLOAD = """
import os
from huggingface_hub import create_repo, upload_file
create_repo("bigfile/weights", private=True)
info = upload_file(path_or_fileobj=os.environ["BIG_FILE"], path_in_repo="model.safetensors",
                   repo_id="bigfile/weights", commit_message="Two GiB")
print(info.oid)
"""

XORBS = "from candor.hub.models import XetXorb; print(XetXorb.objects.count())"


def _big_file(path: Path) -> str:
    """SIZE random bytes (every chunk new, so Xet sends them all), and their SHA-256."""
    digest = hashlib.sha256()
    block = os.urandom(1024 * 1024)
    with path.open("wb") as out:
        for number in range(SIZE // len(block)):
            # Each MiB differs from the others (a counter in front) without drawing 2 GiB of randomness.
            piece = number.to_bytes(8, "little") + block[8:]
            digest.update(piece)
            out.write(piece)
    return digest.hexdigest()


@pytest.mark.parametrize("way", ["xet", "lfs"])
def test_a_2_gib_file_uploads_with_the_servers_memory_flat(
    way: str, tmp_path: Path, record_property: Any
) -> None:
    big = tmp_path / "big.bin"
    sha256 = _big_file(big)
    with scratch_postgres_database("candor_big") as database_url:
        env = {"CANDOR_MAX_UPLOAD_MB": "4096", **({"DATABASE_URL": database_url} if database_url else {})}
        with CandorServer(tmp_path / "server", seed=SEED, workers=1, env=env) as server:
            idle = server.rss_mib()
            extra = {"BIG_FILE": str(big)} | ({"HF_HUB_DISABLE_XET": "1"} if way == "lfs" else {})
            with server.peak_rss() as peak:
                done = run_client(
                    UPLOAD, endpoint=server.url, token=server.seeded["token"], home=tmp_path, **extra
                )
            assert done.returncode == 0, done.stderr[-3000:]
            big.unlink()
            stored = httpx.head(
                f"{server.url}/bigfile/weights/resolve/main/model.safetensors",
                headers={"Authorization": f"Bearer {server.seeded['token']}"},
                timeout=60,
            ).headers
            # Which way the bytes came: Xet leaves the owner's xorbs, Git LFS none.
            counted = server.candor("shell", "-c", XORBS).stdout.strip().splitlines()[-1]
    record_property("server_rss_idle_mib", round(idle, 1))
    record_property("server_rss_peak_mib", round(peak.mib, 1))
    print(json.dumps({"way": way, "idle_mib": round(idle, 1), "peak_mib": round(peak.mib, 1)}))
    assert stored["X-Linked-Size"] == str(SIZE)
    assert (int(counted) > 0) == (way == "xet"), f"{counted} xorbs after an upload by {way}"
    assert stored["X-Linked-Etag"].strip('"') == sha256, "the stored bytes are the file's"
    assert peak.mib - idle < GROWTH_LIMIT_MIB, f"the server grew from {idle:.0f} to {peak.mib:.0f} MiB"
