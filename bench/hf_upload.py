"""A model of about 1 GiB (one large file and 50 small ones) uploaded through the Hugging Face protocol by
the unmodified `huggingface_hub` client (`upload_folder`), both ways the client sends large files: Xet
(its default, with `hf_xet`) and Git LFS (`HF_HUB_DISABLE_XET=1`), beside `candor push` of the same
folder and `cp -r` of the same files on the same disk.

    uv run python bench/hf_upload.py [--mib 1024] [--small 50] [--work-dir DIR] [--record]

Each upload goes to a fresh `candor serve --workers 2` (bench/harness.py: its own data folder, SQLite),
seeded with an account, a read-and-write token and an empty private model, and runs as a user would run
it: a process of its own with only its settings in the environment (HF_ENDPOINT, HF_TOKEN, a fresh
HF_HOME; CANDOR_SERVER and CANDOR_TOKEN for `candor push`). Each is timed as the whole command,
interpreter start included, while the server's peak resident memory (all its processes) is sampled;
the client's peak is its own rusage. The model's files are then downloaded through the protocol and
compared with the originals byte for byte.

MB are 10^6 bytes. Throughput = the model's size / wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from common import append_to_readme
from harness import CandorServer
from hf_download import SMALL_KIB, make_model, same_files, timed, user_environment

SEED = """
import json
from candor.accounts.models import User
from candor.api.actions import create_token
from candor.hub import actions
owner = User.objects.create_user(
    "benchup", "bench.up@example.net", "bench-password-up-1", email_verified=True
)
actions.create_model(acting_user=owner, name="big", visibility="private")
_, token = create_token(owner, name="bench", scopes=["read", "write"], acting_user=owner)
print(json.dumps({"token": token}))
"""
UPLOAD = (
    "from huggingface_hub import upload_folder\nupload_folder(repo_id='benchup/big', folder_path={folder!r})"
)
SNAPSHOT = "from huggingface_hub import snapshot_download\nprint(snapshot_download('benchup/big'))"


def measured(command: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, float]:
    """Wall seconds and the command's own peak RSS in MiB."""
    started = time.monotonic()
    child = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.monotonic() - started
    err = child.stderr.read().decode() if child.stderr else ""
    if status != 0:
        raise SystemExit(f"{command[:3]} failed:\n{err[-4000:]}")
    return seconds, usage.ru_maxrss / 1024


def one_way(work: Path, original: Path, way: str, workers: int) -> dict[str, float]:
    with CandorServer(work / f"server-{way}", seed=SEED, workers=workers) as server:
        token = server.seeded["token"]
        idle = server.rss_mib()
        home = work / f"user-{way}"
        if way == "push":
            env = user_environment(
                home, CANDOR_SERVER=server.url, CANDOR_TOKEN=token, XDG_CONFIG_HOME=str(home / "config")
            )
            command = [sys.executable, "-m", "candor", "push", str(original), "benchup/big"]
        else:
            env = user_environment(home, HF_ENDPOINT=server.url, HF_TOKEN=token, HF_HOME=str(home / "hf"))
            env["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
            if way == "lfs":
                env["HF_HUB_DISABLE_XET"] = "1"
            command = [sys.executable, "-c", UPLOAD.format(folder=str(original))]
        with server.peak_rss() as peak:
            seconds, client_mib = measured(command, env, cwd=work)
        check_env = user_environment(
            work / f"check-{way}", HF_ENDPOINT=server.url, HF_TOKEN=token, HF_HOME=str(work / f"check-{way}")
        )
        _, printed = timed([sys.executable, "-c", SNAPSHOT], env=check_env)
        if not same_files(original, Path(printed.strip().splitlines()[-1])):
            raise SystemExit(f"the files uploaded by {way} differ from the originals")
    shutil.rmtree(work / f"server-{way}", ignore_errors=True)
    shutil.rmtree(work / f"check-{way}", ignore_errors=True)
    return {
        "seconds": seconds,
        "server_mib": peak.mib,
        "worker_mib": peak.largest_mib,
        "idle_mib": idle,
        "client_mib": client_mib,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=int, default=1024, help="the model's size in MiB (default 1024)")
    parser.add_argument("--small", type=int, default=50, help="how many small files (default 50)")
    parser.add_argument("--workers", type=int, default=2, help="candor serve's worker processes (default 2)")
    parser.add_argument("--work-dir", default="", help="where the servers and the files go (default /tmp)")
    parser.add_argument("--record", action="store_true", help="append the results to bench/README.md")
    parser.add_argument("--note", default="", help="a sentence added to the recorded results")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="candor-bench-hfup-", dir=args.work_dir or None))
    try:
        original = work / "model"
        size = make_model(original, args.mib, args.small)
        subprocess.run(["sync"], check=True)
        cp_seconds, _ = timed(["cp", "-r", str(original), str(work / "cp-copy")])
        shutil.rmtree(work / "cp-copy")
        results = {way: one_way(work, original, way, args.workers) for way in ("xet", "lfs", "push")}
        print(json.dumps({way: {k: round(v, 1) for k, v in r.items()} for way, r in results.items()}))
        text = report(results, size / 1e6 / cp_seconds, size, args, work)
        print(text)
        if args.record:
            append_to_readme(text)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(
    results: dict[str, dict[str, float]], cp: float, size: int, args: argparse.Namespace, work: Path
) -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    names = {
        "xet": "`upload_folder`, Xet (the client's default)",
        "lfs": "`upload_folder`, Git LFS (`HF_HUB_DISABLE_XET=1`)",
        "push": "`candor push`",
    }
    lines = [
        f"### Uploads through the Hugging Face protocol, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, SQLite, "
        f"`candor serve` with {args.workers} workers; a model of {size / 1e6:,.0f} MB (one large file and "
        f"{args.small} of {SMALL_KIB} KiB) in {work.parent}, `cp -r` of it {cp:.0f} MB/s. Load average when "
        f"it ended: {os.getloadavg()[0]:.1f}." + (f" {args.note}" if args.note else ""),
        "",
        "| how | MB/s | share of cp | server RSS, all processes: idle → peak (MiB) "
        "| largest process's peak (MiB) | client peak RSS (MiB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for way, figures in results.items():
        rate = size / 1e6 / figures["seconds"]
        lines.append(
            f"| {names[way]} | {rate:.0f} | {rate / cp:.0%} | {figures['idle_mib']:.0f} → "
            f"{figures['server_mib']:.0f} | {figures['worker_mib']:.0f} | {figures['client_mib']:.0f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
