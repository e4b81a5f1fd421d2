"""Sealed blob throughput: storing and reading a large file through candor.hub.blobs, against `cp`.

    uv run python bench/blobs.py [--mib 1024] [--work-dir DIR] [--record]

A file of --mib MiB of random bytes is made in the work folder, copied with `cp` on the same disk (the
reference), then stored as a blob (sealed segment by segment under the owner's data key and hashed on
the way, into the staging area, then moved into the object store: what an upload does after the
network) and read back whole (every segment opened and checked: what a download does before the
network), and a 1 MiB range in the middle is read (two segments opened). Store and read each run in a
process of their own, so their peak RSS (ru_maxrss) is their own; the bytes read back are hashed and
compared with the original's SHA-256.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from common import append_to_readme, run_child, setup_django

CHUNK = 1024 * 1024


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def chunks(path: Path):
    with open(path, "rb") as source:
        while piece := source.read(CHUNK):
            yield piece


def prepare() -> dict[str, float]:
    setup_django()
    from django.core.management import call_command

    from candor.accounts.models import User

    call_command("migrate", interactive=False, verbosity=0)
    User.objects.create_user("blobs", "blobs@bench.invalid", "bench-blobs-password-1", email_verified=True)
    return {}


def store(source: str) -> dict[str, float]:
    setup_django()
    from candor.accounts.models import User
    from candor.hub import blobs

    user = User.objects.get(username="blobs")
    started = time.monotonic()
    blob = blobs.store(user.pk, chunks(Path(source)), limit=2**62)
    os.sync()  # the stored object on disk, as cp's copy is below
    wall = time.monotonic() - started
    return {"store_s": wall, "store_rss_mib": peak_rss_mib(), "blob_id": blob.pk}


def read(blob_id: str) -> dict[str, float]:
    setup_django()
    from candor.hub import blobs
    from candor.hub.models import Blob

    blob = Blob.objects.get(pk=int(blob_id))
    digest = hashlib.sha256()
    started = time.monotonic()
    for piece in blobs.read(blob):
        digest.update(piece)
    wall = time.monotonic() - started
    middle = blob.size // 2
    started = time.monotonic()
    ranged = sum(len(p) for p in blobs.read(blob, middle, CHUNK))
    range_ms = (time.monotonic() - started) * 1000
    return {
        "read_s": wall,
        "read_rss_mib": peak_rss_mib(),
        "read_ok": float(digest.hexdigest() == blob.sha256 and ranged == CHUNK),
        "range_ms": range_ms,
    }


child = partial(run_child, __file__)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument(
        "--work-dir", default="", help="folder for the data and the file (default: temporary)"
    )
    parser.add_argument("--record", action="store_true", help="append the figures to bench/README.md")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    parser.add_argument("argument", nargs="?", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        outcome = {
            "prepare": prepare,
            "store": lambda: store(args.argument),
            "read": lambda: read(args.argument),
        }
        print(json.dumps(outcome[args.child]()))
        return
    work = Path(tempfile.mkdtemp(prefix="candor-bench-blobs-", dir=args.work_dir or None))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CANDOR_") and k != "DATABASE_URL"},
        "CANDOR_DATA_DIR": str(work / "data"),
        "DJANGO_SETTINGS_MODULE": "candor.settings",
    }
    try:
        source = work / "source.bin"
        with open(source, "wb") as out:
            for _ in range(args.mib):
                out.write(os.urandom(CHUNK))
        os.sync()
        child("prepare", env)
        started = time.monotonic()
        subprocess.run(["cp", str(source), str(work / "copy.bin")], check=True)
        os.sync()
        cp_s = time.monotonic() - started
        (work / "copy.bin").unlink()
        stored = child("store", env, str(source))
        read_back = child("read", env, str(int(stored["blob_id"])))
        assert read_back["read_ok"] == 1.0, "the blob read back is not the file"
        report(args, cp_s, stored, read_back)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(
    args: argparse.Namespace, cp_s: float, stored: dict[str, float], read_back: dict[str, float]
) -> None:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mib = args.mib

    def rate(seconds: float) -> str:
        return f"{mib / seconds:.0f} MiB/s ({cp_s / seconds:.0%} of cp)"

    text = "\n".join(
        [
            f"### Sealed blobs, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "",
            f"Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}. "
            f"A file of {mib:,} MiB.",
            "",
            "| measurement | wall time | throughput | peak RSS (MiB) |",
            "|---|---:|---:|---:|",
            f"| `cp` on the same disk (then sync) | {cp_s:.2f} s | {mib / cp_s:.0f} MiB/s | |",
            f"| `blobs.store`: seal, hash, move into the store (then sync) | {stored['store_s']:.2f} s | "
            f"{rate(stored['store_s'])} | {stored['store_rss_mib']:.0f} |",
            f"| `blobs.read`: every segment opened and checked | {read_back['read_s']:.2f} s | "
            f"{rate(read_back['read_s'])} | {read_back['read_rss_mib']:.0f} |",
            f"| a 1 MiB range in the middle | {read_back['range_ms']:.1f} ms | | |",
            "",
            f"Command: `uv run python bench/blobs.py --mib {mib}"
            f"{' --work-dir …' if args.work_dir else ''} --record`",
            "",
        ]
    )
    print(text)
    if args.record:
        append_to_readme(text)


if __name__ == "__main__":
    main()
