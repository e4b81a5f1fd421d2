"""The model hub under load: listings over 100,000 models, and a 1 GiB file through the API.

    uv run python bench/hub.py [--models 100000] [--file-mib 1024] [--duration 15] [--record]

1. Seeds a fresh SQLite database (or the PostgreSQL named by --database-url) with public models.
2. Starts `candor serve` with two worker processes and measures, with wrk from a second process,
   requests/s and p50/p99 of /models/, GET /api/v1/models and the bare Django view /-/bare/.
3. Uploads a file of --file-mib MiB with `PUT /api/v1/models/…/files/…` (curl, streaming) and downloads
   it again, beside `cp` of the same file on the same disk, sampling the server processes' resident
   memory every 20 ms to report the peak.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from common import ROOT, append_to_readme

PASSWORD = "bench-password-not-secret-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not answer at {url}") from None
            time.sleep(0.3)


def wrk(url: str, duration: int, connections: int) -> dict[str, float]:
    subprocess.run(
        ["wrk", "-t1", f"-c{connections}", "-d2s", url], capture_output=True, check=True
    )  # warm-up
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def percentile(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        raise SystemExit(f"{url}: {non2xx.group(1)} error responses during the run")
    return {"rps": rps, "p50": percentile("50"), "p99": percentile("99")}


def tree_rss_kib(pid: int) -> int:
    """Largest resident set among a process and its children (the gunicorn master and its workers)."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    peak = 0
    for p in pids:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except FileNotFoundError:
            continue
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        if match:
            peak = max(peak, int(match.group(1)))
    return peak


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, tree_rss_kib(self.pid))
            time.sleep(0.02)

    def stop(self) -> int:
        self.running = False
        self.join()
        return self.peak


def api_token(base: str) -> str:
    """Log in through the web form as the first seeded account, then create a token with the API."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{base}/login/").read()
    csrf = next(c.value for c in jar if "csrf" in c.name)
    form = urllib.parse.urlencode({"username": "bench0", "password": PASSWORD, "csrfmiddlewaretoken": csrf})
    opener.open(
        urllib.request.Request(f"{base}/login/", data=form.encode(), headers={"Referer": f"{base}/login/"})
    )
    csrf = next(c.value for c in jar if "csrf" in c.name)
    request = urllib.request.Request(
        f"{base}/api/v1/tokens",
        data=json.dumps({"name": "bench", "scopes": ["read", "write"], "expires_in_days": 1}).encode(),
        headers={"Content-Type": "application/json", "X-CSRFToken": csrf, "Referer": f"{base}/"},
    )
    return str(json.loads(opener.open(request).read())["token"])


def sequential_latencies(url: str, count: int) -> dict[str, float]:
    """Median and worst latency, in ms, of requests made one at a time, each a cache miss."""
    times = []
    joiner = "&" if "?" in url else "?"
    for i in range(count):
        started = time.perf_counter()
        urllib.request.urlopen(f"{url}{joiner}uncached={i}", timeout=30).read()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"p50": times[len(times) // 2], "max": times[-1]}


def timed(command: list[str]) -> float:
    started = time.monotonic()
    subprocess.run(command, check=True, capture_output=True)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=100_000)
    parser.add_argument("--file-mib", type=int, default=1024)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--database-url", default="", help="a PostgreSQL URL (its database is wiped)")
    parser.add_argument("--record", action="store_true", help="append the results to bench/README.md")
    parser.add_argument(
        "--work-dir",
        default="",
        help="where the data folder and the test file go (default: ./data); "
        "/dev/shm shows the server's own limit without the disk",
    )
    args = parser.parse_args()
    if not shutil.which("wrk") or not shutil.which("curl"):
        raise SystemExit("needs wrk and curl (apt-get install wrk curl)")

    base_dir = args.work_dir or (str(ROOT / "data") if (ROOT / "data").is_dir() else None)
    work = Path(tempfile.mkdtemp(prefix="candor-bench-", dir=base_dir))
    env = {
        **os.environ,
        "CANDOR_DATA_DIR": str(work / "data"),
        "CANDOR_API_RATE_PER_MINUTE": "100000000",
        "CANDOR_API_ANON_RATE_PER_MINUTE": "100000000",
        "CANDOR_MAX_UPLOAD_MB": str(args.file_mib + 1),
    }
    env.pop("DATABASE_URL", None)
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    server = None
    try:
        seeded = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "seed.py"), "--models", str(args.models)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        print(seeded.stdout.strip())
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [sys.executable, "-m", "candor", "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(f"{base}/-/bare/")
        rows = {}
        for label, path in (
            ("bare view /-/bare/", "/-/bare/"),
            ("/models/", "/models/"),
            ("GET /api/v1/models", "/api/v1/models"),
        ):
            rows[label] = wrk(base + path, args.duration, args.connections)
            print(label, rows[label])

        # Cache misses: an unknown parameter changes the cache key but not the work, so each request is a
        # first page over every public model, as after a change to any public model.
        uncached = {
            path: sequential_latencies(f"{base}{path}", 60)
            for path in (
                "/models/",
                "/api/v1/models",
                "/models/?q=vision+fast",
                "/models/?tag=medical&sort=name",
                "/api/v1/models?q=tiny&sort=name",
            )
        }
        print("uncached", uncached)

        token = api_token(base)
        big = work / "big.bin"
        with open(big, "wb") as out:
            for _ in range(args.file_mib):
                out.write(os.urandom(1024 * 1024))
        cp_seconds = timed(["cp", str(big), str(work / "copy.bin")])
        (work / "copy.bin").unlink()
        auth = ["-H", f"Authorization: Bearer {token}"]
        subprocess.run(
            [
                "curl",
                "-sf",
                *auth,
                "-H",
                "Content-Type: application/json",
                "-d",
                '{"name": "big"}',
                f"{base}/api/v1/models",
            ],
            check=True,
            capture_output=True,
        )
        sampler = RssSampler(server.pid)
        sampler.start()
        # "Expect:" stops curl from pausing for a "100 Continue" before it sends the body.
        up_seconds = timed(
            [
                "curl",
                "-sf",
                *auth,
                "-H",
                "Expect:",
                "-H",
                "Content-Type: application/octet-stream",
                "-T",
                str(big),
                f"{base}/api/v1/models/bench0/big/files/big.bin",
            ]
        )
        up_rss = sampler.stop()
        sampler = RssSampler(server.pid)
        sampler.start()
        down_seconds = timed(
            [
                "curl",
                "-sf",
                *auth,
                "-o",
                str(work / "down.bin"),
                f"{base}/api/v1/models/bench0/big/files/big.bin",
            ]
        )
        down_rss = sampler.stop()
        same = subprocess.run(["cmp", str(big), str(work / "down.bin")]).returncode == 0
        mib = args.file_mib
        transfer = {
            "cp": mib / cp_seconds,
            "upload": mib / up_seconds,
            "download": mib / down_seconds,
            "upload_rss_mib": up_rss / 1024,
            "download_rss_mib": down_rss / 1024,
            "identical": same,
        }
        print(transfer)
        report(rows, uncached, transfer, args)
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def report(
    rows: dict[str, dict[str, float]],
    uncached: dict[str, dict[str, float]],
    transfer: dict[str, float | bool],
    args: argparse.Namespace,
) -> None:
    bare = rows["bare view /-/bare/"]["rps"]
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    database = "PostgreSQL" if args.database_url else "SQLite"
    lines = [
        f"### Model hub, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {database}, "
        f"{args.models:,} public models, `candor serve` with 2 workers, wrk 1 thread {args.connections} "
        f"connections {args.duration} s. Files in {args.work_dir or './data'}.",
        "",
        "| endpoint | requests/s | p50 (ms) | p99 (ms) | share of bare view |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, row in rows.items():
        lines.append(
            f"| {label} | {row['rps']:.0f} | {row['p50']:.2f} | {row['p99']:.2f} | {row['rps'] / bare:.0%} |"
        )
    lines += [
        "",
        "Cache misses, one request at a time (60 each):",
        "",
        "| endpoint | p50 (ms) | max (ms) |",
        "|---|---:|---:|",
    ]
    for path, row in uncached.items():
        lines.append(f"| {path} | {row['p50']:.1f} | {row['max']:.1f} |")
    lines += [
        "",
        f"{args.file_mib} MiB file (`cp` on the same disk: {transfer['cp']:.0f} MiB/s):",
        "",
        "| transfer | MiB/s | share of cp | server peak RSS (MiB) |",
        "|---|---:|---:|---:|",
        f"| upload (PUT, streamed) | {transfer['upload']:.0f} | "
        f"{float(transfer['upload']) / float(transfer['cp']):.0%} | {transfer['upload_rss_mib']:.0f} |",
        f"| download (GET) | {transfer['download']:.0f} | "
        f"{float(transfer['download']) / float(transfer['cp']):.0%} | {transfer['download_rss_mib']:.0f} |",
        "",
        f"Downloaded bytes identical to the upload: {'yes' if transfer['identical'] else 'NO'}.",
        f"Command: `uv run python bench/hub.py --models {args.models} --file-mib {args.file_mib}"
        f"{' --database-url …' if args.database_url else ''}"
        f"{f' --work-dir {args.work_dir}' if args.work_dir else ''} --record`",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.record:
        append_to_readme(text)


if __name__ == "__main__":
    main()
