"""A large file through the Xet upload path: the real client (huggingface_hub with hf_xet) against
`candor serve`, with the peak resident memory of both sides.

    uv run python bench/xet.py [--mib 2048] [--work-dir DIR] [--record]

A file of --mib MiB of random bytes (incompressible: every chunk is new, every byte is sent) is made in the
work folder; a fresh data folder gets one account, one model and a write token; `candor serve` (gunicorn,
two workers) is started on a free port, and the client, in a process of its own with only HF_ENDPOINT and
HF_TOKEN set (its Xet cache in the work folder), uploads the file the way `upload_file` does for a large
file (`_upload_xet_files`: the token endpoint, the xorbs, the shard, whose files the server rebuilds and
checks before it answers). The server's processes are sampled every 20 ms for their largest resident set;
the client's peak comes from its rusage. The stored blob is then read back in a third process and its
SHA-256 compared with the file's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from common import ROOT, append_to_readme, run_child, setup_django
from hub import RssSampler, free_port, wait_for

UPLOAD = """
import os
from huggingface_hub import CommitOperationAdd
from huggingface_hub._commit_api import _upload_xet_files
from huggingface_hub.utils import build_hf_headers
op = CommitOperationAdd(path_in_repo="big.bin", path_or_fileobj=os.environ["BENCH_FILE"])
headers = build_hf_headers(token=os.environ["HF_TOKEN"])
_upload_xet_files(additions=[op], repo_type="model", repo_id="xetbench/big", headers=headers,
    endpoint=os.environ["HF_ENDPOINT"], revision="main")
print(op.upload_info.sha256.hex())
"""


def prepare() -> dict[str, float]:
    setup_django()
    from django.core.management import call_command

    from candor.accounts.models import User
    from candor.api.actions import create_token
    from candor.hub import actions

    call_command("migrate", interactive=False, verbosity=0)
    user = User.objects.create_user(
        "xetbench", "xet@bench.invalid", "bench-xet-password-1", email_verified=True
    )
    actions.create_model(acting_user=user, name="big", title="Big")
    token = create_token(user, name="bench", scopes=("read", "write"), expires_in_days=1, acting_user=user)[1]
    Path(os.environ["BENCH_TOKEN_FILE"]).write_text(token)
    return {}


def check(sha256: str) -> dict[str, float]:
    setup_django()
    from candor.accounts.models import User
    from candor.hub import blobs

    user = User.objects.get()  # the only account (usernames are encrypted: no lookup by name)
    blob = blobs.find(user.pk, sha256)
    if blob is None:
        raise SystemExit("no blob of the owner has the file's SHA-256")
    digest = hashlib.sha256()
    for piece in blobs.read(blob):
        digest.update(piece)
    return {"same": float(digest.hexdigest() == sha256), "xorbs": float(user.xet_xorbs.count())}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=int, default=2048)
    parser.add_argument("--work-dir", default="")
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--child", default="")
    parser.add_argument("sha", nargs="?", default="")
    args = parser.parse_args()
    if args.child:
        figures = prepare() if args.child == "prepare" else check(args.sha)
        print(json.dumps(figures))
        return

    work = Path(tempfile.mkdtemp(prefix="candor-xet-bench-", dir=args.work_dir or None))
    env = {
        **os.environ,
        "CANDOR_DATA_DIR": str(work / "data"),
        "CANDOR_API_RATE_PER_MINUTE": "100000000",
        "CANDOR_MAX_UPLOAD_MB": str(args.mib + 1),
        "BENCH_TOKEN_FILE": str(work / "token"),
    }
    env.pop("DATABASE_URL", None)
    script = str(Path(__file__).resolve())
    server = None
    try:
        big = work / "big.bin"
        expected = hashlib.sha256()
        with open(big, "wb") as out:
            for _ in range(args.mib):
                piece = os.urandom(1024 * 1024)
                expected.update(piece)
                out.write(piece)
        run_child(script, "prepare", env)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env["CANDOR_WEBSITE_URL"] = base
        server = subprocess.Popen(
            [sys.executable, "-m", "candor", "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(f"{base}/-/bare/")
        client_env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(work),
            "HF_HOME": str(work / "hf"),
            "HF_XET_CACHE": str(work / "xet"),
            "HF_ENDPOINT": base,
            "HF_TOKEN": (work / "token").read_text(),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "BENCH_FILE": str(big),
        }
        sampler = RssSampler(server.pid)
        sampler.start()
        started = time.monotonic()
        client = subprocess.Popen(
            [sys.executable, "-c", UPLOAD], env=client_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        _, status, usage = os.wait4(client.pid, 0)
        seconds = time.monotonic() - started
        server_peak = sampler.stop()
        out = client.stdout.read().decode() if client.stdout else ""
        err = client.stderr.read().decode() if client.stderr else ""
        if status != 0:
            raise SystemExit(f"the upload failed:\n{out}\n{err[-4000:]}")
        sha = out.strip().splitlines()[-1]
        if sha != expected.hexdigest():
            raise SystemExit("the client reported another SHA-256")
        checked = run_child(script, "check", env, sha)
        figures = {
            "mib": args.mib,
            "seconds": round(seconds, 1),
            "mib_per_s": round(args.mib / seconds, 1),
            "server_peak_rss_mib": round(server_peak / 1024),
            "client_peak_rss_mib": round(usage.ru_maxrss / 1024),
            "xorbs": int(checked["xorbs"]),
            "read_back_equal": bool(checked["same"]),
        }
        print(json.dumps(figures))
        if args.record:
            machine = f"{platform.machine()}, {os.cpu_count()} CPUs"
            append_to_readme(
                f"### Xet upload, {datetime.now(UTC):%Y-%m-%d} ({machine})\n\n"
                "| file | seconds | MiB/s | server peak RSS (MiB) | client peak RSS (MiB) | xorbs |\n"
                "|---|---|---|---|---|---|\n"
                f"| {args.mib} MiB | {figures['seconds']} | {figures['mib_per_s']} | "
                f"{figures['server_peak_rss_mib']} | {figures['client_peak_rss_mib']} | "
                f"{figures['xorbs']} |\n"
            )
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        for path in sorted(work.rglob("*"), reverse=True):
            path.unlink() if path.is_file() or path.is_symlink() else path.rmdir()
        work.rmdir()


if __name__ == "__main__":
    main()
