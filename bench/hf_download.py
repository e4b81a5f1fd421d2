"""A model of about 1 GiB (one large file and 50 small ones) downloaded through the Hugging Face protocol
by the unmodified `huggingface_hub` client (`snapshot_download`), beside `candor pull` of the same model
and `cp -r` of the same files on the same disk.

    uv run python bench/hf_download.py [--mib 1024] [--small 50] [--work-dir DIR] [--record]

A fresh `candor serve --workers 2` (bench/harness.py: its own data folder, SQLite) is seeded through
`candor shell` with an account, a read-and-write token and a private model holding the files (stored
with the hub's own action, streamed from disk). Each download then runs as a user would run it, in a
process of its own with only its settings in the environment: `snapshot_download("…")` with HF_ENDPOINT
and HF_TOKEN and a fresh HF_HOME (the client's default of 8 files at a time), and `candor pull` with
CANDOR_SERVER and CANDOR_TOKEN. Each is timed as the whole command, interpreter start included, while
the server's peak resident memory (all its processes) is sampled; the downloaded files are compared
with the originals byte for byte.

MB are 10^6 bytes. Throughput = the model's size / wall time.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from common import append_to_readme
from harness import CandorServer

SMALL_KIB = 64
SEED = """
import json, pathlib
from candor.accounts.models import User
from candor.api.actions import create_token
from candor.hub import actions
owner = User.objects.create_user(
    "benchhf", "bench.hf@example.net", "bench-password-hf-1", email_verified=True
)
model = actions.create_model(acting_user=owner, name="big", visibility="private")
_, token = create_token(owner, name="bench", scopes=["read", "write"], acting_user=owner)
root = pathlib.Path({root!r})

def chunks(path):
    with path.open("rb") as source:
        while block := source.read(1024 * 1024):
            yield block

changes = []
for path in sorted(p for p in root.rglob("*") if p.is_file()):
    blob = actions.store_blob(model, chunks(path))
    changes.append({{"op": "put", "path": str(path.relative_to(root)), "sha256": blob.sha256}})
actions.commit_changes(model, changes, acting_user=owner, message="The benchmark's model")
print(json.dumps({{"token": token}}))
"""
SNAPSHOT = "from huggingface_hub import snapshot_download\nprint(snapshot_download('benchhf/big'))"


def make_model(root: Path, mib: int, small: int) -> int:
    """One large file and ``small`` small ones (config-like files and shards of a tokenizer) of random
    bytes, ``mib`` MiB in all; returns the total size in bytes."""
    root.mkdir(parents=True)
    small_size = SMALL_KIB * 1024
    large = mib * 1024 * 1024 - small * small_size
    if large <= 0:
        raise SystemExit(f"--mib {mib} is too small for {small} files of {SMALL_KIB} KiB and a large one")
    with (root / "model.safetensors").open("wb") as out:
        left = large
        while left:
            block = min(left, 1024 * 1024)
            out.write(secrets.token_bytes(block))
            left -= block
    (root / "extra").mkdir()
    for number in range(small):
        folder = root if number % 2 else root / "extra"
        (folder / f"part-{number:02}.json").write_bytes(secrets.token_bytes(small_size))
    return large + small * small_size


def same_files(original: Path, copy: Path) -> bool:
    """Every file of ``original`` is in ``copy`` with the same bytes, and nothing else is."""
    wanted = sorted(str(p.relative_to(original)) for p in original.rglob("*") if p.is_file())
    got = sorted(str(p.relative_to(copy)) for p in copy.rglob("*") if p.is_file() and ".cache" not in p.parts)
    if wanted != got:
        return False
    return all(filecmp.cmp(original / name, copy / name, shallow=False) for name in wanted)


def user_environment(home: Path, **settings: str) -> dict[str, str]:
    """What a user's shell holds: a PATH and a home, and the settings of the one client being run."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        **settings,
    }


def timed(
    command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{command[:3]} failed:\n{done.stderr[-4000:]}")
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=int, default=1024, help="the model's size in MiB (default 1024)")
    parser.add_argument("--small", type=int, default=50, help="how many small files (default 50)")
    parser.add_argument("--workers", type=int, default=2, help="candor serve's worker processes (default 2)")
    parser.add_argument(
        "--work-dir", default="", help="where the data folders and the files go (default /tmp)"
    )
    parser.add_argument("--record", action="store_true", help="append the results to bench/README.md")
    parser.add_argument("--note", default="", help="a sentence added to the recorded results")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="candor-bench-hf-", dir=args.work_dir or None))
    try:
        original = work / "model"
        size = make_model(original, args.mib, args.small)
        subprocess.run(["sync"], check=True)
        cp_seconds, _ = timed(["cp", "-r", str(original), str(work / "cp-copy")])
        shutil.rmtree(work / "cp-copy")
        seed = SEED.format(root=str(original))
        with CandorServer(work / "server", seed=seed, workers=args.workers) as server:
            token = server.seeded["token"]
            idle = server.rss_mib()
            hf_env = user_environment(
                work / "hf-user", HF_ENDPOINT=server.url, HF_TOKEN=token, HF_HOME=str(work / "hf-user" / "hf")
            )
            hf_env["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
            with server.peak_rss() as hf_peak:
                hf_seconds, printed = timed([sys.executable, "-c", SNAPSHOT], env=hf_env)
            hf_same = same_files(original, Path(printed.strip().splitlines()[-1]))
            pull_env = user_environment(
                work / "pull-user",
                CANDOR_SERVER=server.url,
                CANDOR_TOKEN=token,
                XDG_CONFIG_HOME=str(work / "pull-user" / "config"),
            )
            pulled = work / "pulled"
            with server.peak_rss() as pull_peak:
                pull_seconds, _ = timed(
                    [sys.executable, "-m", "candor", "pull", "benchhf/big", str(pulled)],
                    env=pull_env,
                    cwd=work,
                )
            pull_same = same_files(original, pulled)
            # The server's side alone: the large file by curl (C, no Python on the receiving end).
            large = original / "model.safetensors"
            curl_seconds, _ = timed(
                [
                    "curl",
                    "-sf",
                    "-o",
                    str(work / "curl-copy"),
                    "-H",
                    f"Authorization: Bearer {token}",
                    f"{server.url}/benchhf/big/resolve/main/model.safetensors",
                ]
            )
            curl_same = filecmp.cmp(large, work / "curl-copy", shallow=False)
        if not (hf_same and pull_same and curl_same):
            raise SystemExit(
                "the downloaded files differ from the originals "
                f"(hf: {hf_same}, pull: {pull_same}, curl: {curl_same})"
            )
        mb = size / 1e6
        figures = {
            "cp_mb_s": mb / cp_seconds,
            "hf_mb_s": mb / hf_seconds,
            "pull_mb_s": mb / pull_seconds,
            "curl_mb_s": large.stat().st_size / 1e6 / curl_seconds,
            "idle_rss_mib": idle,
            "hf_rss_mib": hf_peak.mib,
            "pull_rss_mib": pull_peak.mib,
        }
        print(json.dumps({k: round(v, 1) for k, v in figures.items()}))
        text = report(figures, size, args, work)
        print(text)
        if args.record:
            append_to_readme(text)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(figures: dict[str, float], size: int, args: argparse.Namespace, work: Path) -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    cp = figures["cp_mb_s"]
    lines = [
        f"### Downloads through the Hugging Face protocol, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, SQLite, "
        f"`candor serve` with {args.workers} workers; a model of {size / 1e6:,.0f} MB (one large file and "
        f"{args.small} of {SMALL_KIB} KiB) in {work.parent}. Load average when it ended: "
        f"{os.getloadavg()[0]:.1f} (other work on the machine shares its cores and disk)."
        + (f" {args.note}" if args.note else ""),
        "",
        f"| how | MB/s | share of cp | server RSS peak (MiB; idle {figures['idle_rss_mib']:.0f}) |",
        "|---|---:|---:|---:|",
        f"| `cp -r` | {cp:.0f} | 100% | — |",
        f"| `snapshot_download` (huggingface_hub) | {figures['hf_mb_s']:.0f} | {figures['hf_mb_s'] / cp:.0%} "
        f"| {figures['hf_rss_mib']:.0f} |",
        f"| `candor pull` | {figures['pull_mb_s']:.0f} | {figures['pull_mb_s'] / cp:.0%} "
        f"| {figures['pull_rss_mib']:.0f} |",
        f"| `curl` of the large file alone (the server's side) | {figures['curl_mb_s']:.0f} "
        f"| {figures['curl_mb_s'] / cp:.0%} | — |",
        "",
        f"The client's throughput is {figures['hf_mb_s'] / figures['pull_mb_s']:.0%} of `candor pull`'s.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
