"""Load: many concurrent clients against `candor serve` and `candor worker`, a mixed workload, then a
consistency check of everything the clients were told was written.

For each worker model asked for (``--threads 1`` is gunicorn's sync workers, more is its threaded
workers with that many threads per process), the script makes a fresh database (SQLite in a temporary
data folder, or the scratch PostgreSQL database of ``--database-url``, dropped and created again), seeds
it through Candor's own actions (members with API tokens, public models with a file each), starts the
server and a worker, and runs ``--clients`` clients for ``--seconds`` seconds on this machine against
127.0.0.1 only. Each client, one connection each, picks its next request at random by weight:

- anonymous: the home page, listing pages, model pages, API reads, search (page and API), downloads;
- signed in (an API token of one of the members): creating models, uploading files to them, changing
  their visibility, and now and then asking for a data export.

A client only changes the models it created itself, one request at a time, so the last answer it got
says what the database must hold. Afterwards every created model is read back as its owner: it must
exist with exactly the files (by SHA-256) and the visibility acknowledged, a write refused with 503
must have changed nothing, and a write that got no answer (an error, a timeout) makes that model
"uncertain" rather than wrong.

    uv run python bench/load.py                                   # SQLite, sync and threaded workers
    uv run python bench/load.py --threads 8 --seconds 30          # one worker model, shorter
    uv run python bench/load.py --hold-lock 30                    # another process holds the lock 30 s
    uv run python bench/load.py --database-url postgres://postgres@127.0.0.1:5432/candor_bench \\
        --redis-url redis://127.0.0.1:6379/13 --record            # PostgreSQL + Redis (both scratch)

Prints a Markdown table per run; ``--record`` appends them to bench/README.md with the machine and date.
The load generator shares the machine's cores with the server: on a small machine both are CPU-bound.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, append_to_readme

HOST = "127.0.0.1"
MEMBERS = 20
SEEDED_MODELS = 200
WORDS = ("vision", "speech", "text", "tiny", "fast", "bert", "audio", "nothing-matches-this")
# Weights of the request kinds (they need not add up to anything).
MIX: dict[str, float] = {
    "home": 8,
    "list": 8,
    "model page": 18,
    "api list": 8,
    "api model": 10,
    "search": 8,
    "download": 10,
    "create": 4,
    "upload": 4,
    "visibility": 4,
    "export": 0.3,
}
WRITES = {"create", "upload", "visibility", "export"}
# Answers that are the right answer to what was asked, though not a success.
REFUSALS = {"export": {409}, "search": set(), "create": {409}}

SEED = """
import json, random
from candor.accounts.models import User
from candor.api.actions import create_token
from candor.hub import actions
rng = random.Random(7)
words = ["vision", "speech", "text", "tiny", "fast", "bert", "audio"]
tokens, models = [], []
for i in range(%(members)d):
    user = User.objects.create_user(f"load{i}", f"load{i}@bench.invalid", "bench-password-not-secret-1",
                                    email_verified=True)
    _, secret = create_token(user, name="load", scopes=["read", "write"], acting_user=user)
    tokens.append([user.username, secret])
for k in range(%(models)d):
    owner = User.objects.named(f"load{k %% %(members)d}").get()
    title = " ".join(rng.sample(words, 3))
    model = actions.create_model(acting_user=owner, name=f"seeded-{k}", visibility="public", title=title,
                                 summary=title)
    actions.add_file(model, "weights/model.bin", [rng.randbytes(16 * 1024)], acting_user=owner)
    models.append([owner.username, model.name])
print(json.dumps({"tokens": tokens, "models": models}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def base_env(data_dir: Path, args: argparse.Namespace, threads: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CANDOR_") and key not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env |= {
        "CANDOR_DATA_DIR": str(data_dir),
        "CANDOR_LOG_LEVEL": "WARNING",
        "CANDOR_WEB_WORKERS": str(args.workers),
        "CANDOR_WEB_THREADS": str(threads),
        # Every client comes from 127.0.0.1: the per-address limits would refuse nearly all of them.
        "CANDOR_API_RATE_PER_MINUTE": "100000000",
        "CANDOR_API_ANON_RATE_PER_MINUTE": "100000000",
        "PYTHONUNBUFFERED": "1",
    }
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    if args.redis_url:
        env["CANDOR_REDIS_URL"] = args.redis_url
    return env


def fresh_databases(args: argparse.Namespace) -> None:
    """Drop and create the scratch PostgreSQL database, and empty the scratch Redis database."""
    if args.database_url:
        import psycopg
        from psycopg import sql

        parts = urlsplit(args.database_url)
        name = parts.path.lstrip("/")
        admin = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    if args.redis_url:
        import redis

        redis.Redis.from_url(args.redis_url).flushdb()


def candor(args: list[str], env: dict[str, str], code: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "candor", *args],
        env=env,
        cwd=code,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"candor {args[0]} failed:\n{result.stderr[-4000:]}")
    return result.stdout


def start(args: list[str], env: dict[str, str], code: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "candor", *args],
            env=env,
            cwd=code,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_ready(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"candor serve exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/-/bare/", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    sys.exit(f"candor serve did not answer:\n{log.read_text()[-3000:]}")


# --- The clients ---------------------------------------------------------------------------------


@dataclass
class Owned:
    """What a client was told about a model it created (the database must hold exactly this)."""

    owner: str
    name: str
    visibility: str = "private"
    files: dict[str, str] = field(default_factory=dict)  # path -> sha256
    uncertain: bool = False


@dataclass
class Tally:
    latencies: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    busy: Counter[str] = field(default_factory=Counter)  # 503: refused while the lock was taken
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    owned: list[Owned] = field(default_factory=list)
    load: tuple[float, float] = (0.0, 0.0)  # the machine's load average before and after the run
    hold: tuple[float, float] = (0.0, 0.0)  # when another process held the write lock (--hold-lock)
    held: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # started then


class Client:
    def __init__(self, index: int, seed: dict[str, Any], tally: Tally, base: str, until: float) -> None:
        self.rng = random.Random(index)
        self.index = index
        self.username, token = seed["tokens"][index % len(seed["tokens"])]
        self.auth = {"Authorization": f"Bearer {token}"}
        self.models = seed["models"]
        self.tally = tally
        self.base = base
        self.until = until
        self.mine: list[Owned] = []
        self.made = 0
        self.kinds = list(MIX)
        self.weights = [MIX[kind] for kind in self.kinds]

    async def run(self) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=self.base, timeout=30, limits=limits) as http:
            self.http = http
            while time.monotonic() < self.until:
                kind = self.rng.choices(self.kinds, self.weights)[0]
                if kind in ("upload", "visibility") and not self.mine:
                    kind = "create"
                await getattr(self, "do_" + kind.replace(" ", "_"))(kind)

    async def request(self, kind: str, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        started = time.monotonic()
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError:
            self.tally.errors[kind] += 1
            self.note(kind, started)
            return None
        self.note(kind, started)
        status = response.status_code
        self.tally.statuses[(kind, status)] += 1
        if status == 503:
            self.tally.busy[kind] += 1
        elif status >= 400 and status not in REFUSALS.get(kind, set()):
            self.tally.errors[kind] += 1
        return response

    def note(self, kind: str, started: float) -> None:
        seconds = time.monotonic() - started
        self.tally.latencies[kind].append(seconds)
        if self.tally.hold[0] <= started < self.tally.hold[1]:
            self.tally.held[kind].append(seconds)

    def seeded(self) -> tuple[str, str]:
        owner, name = self.rng.choice(self.models)
        return owner, name

    async def do_home(self, kind: str) -> None:
        await self.request(kind, "GET", "/")

    async def do_list(self, kind: str) -> None:
        await self.request(kind, "GET", f"/models/?page={self.rng.randint(1, 5)}")

    async def do_model_page(self, kind: str) -> None:
        owner, name = self.seeded()
        await self.request(kind, "GET", f"/{owner}/{name}/")

    async def do_api_list(self, kind: str) -> None:
        await self.request(kind, "GET", "/api/v1/models")

    async def do_api_model(self, kind: str) -> None:
        owner, name = self.seeded()
        await self.request(kind, "GET", f"/api/v1/models/{owner}/{name}")

    async def do_search(self, kind: str) -> None:
        word = self.rng.choice(WORDS)
        path = f"/models/?q={word}" if self.rng.random() < 0.5 else f"/api/v1/models?q={word}"
        await self.request(kind, "GET", path)

    async def do_download(self, kind: str) -> None:
        owner, name = self.seeded()
        await self.request(kind, "GET", f"/{owner}/{name}/files/weights/model.bin")

    async def do_create(self, kind: str) -> None:
        self.made += 1
        name = f"load-{self.index}-{self.made}"
        model = Owned(self.username, name)
        response = await self.request(
            kind, "POST", "/api/v1/models", json={"name": name, "visibility": "private"}, headers=self.auth
        )
        if response is not None and response.status_code == 201:
            self.mine.append(model)
            self.tally.owned.append(model)
        elif response is None or (response.status_code >= 500 and response.status_code != 503):
            model.uncertain = True  # it may exist: no answer says whether
            self.tally.owned.append(model)

    async def do_upload(self, kind: str) -> None:
        model = self.rng.choice(self.mine)
        body = self.rng.randbytes(self.rng.randint(8, 64) * 1024)
        path = f"weights/part-{self.rng.randint(1, 3)}.bin"
        response = await self.request(
            kind,
            "PUT",
            f"/api/v1/models/{model.owner}/{model.name}/files/{path}",
            content=body,
            headers={**self.auth, "Content-Type": "application/octet-stream"},
        )
        if response is not None and response.status_code in (200, 201):
            model.files[path] = hashlib.sha256(body).hexdigest()
        elif response is None or response.status_code != 503:
            model.uncertain = True

    async def do_visibility(self, kind: str) -> None:
        model = self.rng.choice(self.mine)
        wanted = self.rng.choice([v for v in ("public", "unlisted", "private") if v != model.visibility])
        response = await self.request(
            kind,
            "PATCH",
            f"/api/v1/models/{model.owner}/{model.name}",
            json={"visibility": wanted},
            headers=self.auth,
        )
        if response is not None and response.status_code == 200:
            model.visibility = wanted
        elif response is None or response.status_code != 503:
            model.uncertain = True

    async def do_export(self, kind: str) -> None:
        await self.request(kind, "POST", "/api/v1/me/export", headers=self.auth)


HOLDER = """
import sqlite3, sys, time
time.sleep(float(sys.argv[2]))
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
db.execute("BEGIN IMMEDIATE")
time.sleep(float(sys.argv[3]))
db.execute("COMMIT")
"""


async def drive(
    seed: dict[str, Any], base: str, args: argparse.Namespace, database: Path
) -> tuple[Tally, float]:
    tally = Tally()
    started = time.monotonic()
    until = started + args.seconds
    holder = None
    if args.hold_lock:
        # Another process takes SQLite's write lock half-way through, as a long command would.
        delay = (args.seconds - args.hold_lock) / 2
        tally.hold = (started + delay, started + delay + args.hold_lock)
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(database), str(delay), str(args.hold_lock)]
        )
    await asyncio.gather(*(Client(i, seed, tally, base, until).run() for i in range(args.clients)))
    if holder is not None:
        holder.wait()
    return tally, time.monotonic() - started


async def check(tally: Tally, seed: dict[str, Any], base: str) -> dict[str, int]:
    """Read every created model back as its owner: visibility and files as acknowledged."""
    tokens = dict(seed["tokens"])
    result = Counter({"models": 0, "consistent": 0, "wrong": 0, "uncertain": 0, "files": 0})
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        for model in tally.owned:
            result["models"] += 1
            if model.uncertain:
                result["uncertain"] += 1
                continue
            auth = {"Authorization": f"Bearer {tokens[model.owner]}"}
            address = f"/api/v1/models/{model.owner}/{model.name}"
            read = await http.get(address, headers=auth)
            files = await http.get(address + "/files", headers=auth)
            ok = read.status_code == 200 and files.status_code == 200
            if ok:
                held = {item["path"]: item["sha256"] for item in files.json()["items"]}
                ok = read.json()["visibility"] == model.visibility and held == model.files
                for path, sha in model.files.items():
                    body = await http.get(f"{address}/files/{path}", headers=auth)
                    ok = ok and body.status_code == 200 and hashlib.sha256(body.content).hexdigest() == sha
                    result["files"] += 1
            result["consistent" if ok else "wrong"] += 1
    return dict(result)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def run_one(args: argparse.Namespace, threads: int) -> str:
    fresh_databases(args)
    code = Path(args.code).resolve()
    with tempfile.TemporaryDirectory(prefix="candor-load-") as folder:
        data = Path(folder) / "data"
        env = base_env(data, args, threads)
        candor(["migrate", "-v0"], env, code)
        seed = json.loads(
            candor(["shell", "-c", SEED % {"members": MEMBERS, "models": SEEDED_MODELS}], env, code)
            .strip()
            .splitlines()[-1]
        )
        port = free_port()
        base = f"http://{HOST}:{port}"
        server_log, worker_log = Path(folder) / "serve.log", Path(folder) / "worker.log"
        bind = ["--bind", f"{HOST}:{port}", "--workers", str(args.workers)]
        if threads > 1 or (code / "candor" / "core" / "locks.py").exists():
            bind += ["--threads", str(threads)]  # an older checkout has no --threads and runs sync
        server = start(["serve", "--no-migrate", *bind], env, code, server_log)
        worker = start(["worker"], env, code, worker_log)
        try:
            wait_ready(base, server, server_log)
            load_before = os.getloadavg()[0]
            tally, elapsed = asyncio.run(drive(seed, base, args, data / "candor.sqlite3"))
            tally.load = (load_before, os.getloadavg()[0])
            consistency = asyncio.run(check(tally, seed, base))
        finally:
            stop(server)
            stop(worker)
        tracebacks = server_log.read_text(errors="replace").count("Traceback")
    return table(args, threads, tally, elapsed, consistency, tracebacks)


def table(
    args: argparse.Namespace,
    threads: int,
    tally: Tally,
    elapsed: float,
    consistency: dict[str, int],
    tracebacks: int,
) -> str:
    database = (
        "PostgreSQL + Redis"
        if args.database_url and args.redis_url
        else ("PostgreSQL" if args.database_url else "SQLite")
    )
    model = "sync" if threads == 1 else f"gthread, {threads} threads"
    older = Path(args.code).resolve() != ROOT
    total = sum(len(v) for v in tally.latencies.values())
    errors = sum(tally.errors.values())
    busy = sum(tally.busy.values())
    every = [x for v in tally.latencies.values() for x in v]
    lines = [
        f"**{database}, {args.workers} workers x {model}{', older code' if older else ''}** "
        f"({args.clients} clients, {elapsed:.0f} s): {total / elapsed:.1f} requests/s, {errors} errors, "
        f"{busy} answered 503, p50 {percentile(every, 0.5) * 1000:.0f} ms, "
        f"p99 {percentile(every, 0.99) * 1000:.0f} ms; consistency: {consistency['consistent']} of "
        f"{consistency['models']} created models as acknowledged ({consistency['files']} files checked), "
        f"{consistency['wrong']} wrong, {consistency['uncertain']} uncertain; {tracebacks} tracebacks in the "
        f"server log; load average {tally.load[0]:.1f} before, {tally.load[1]:.1f} after.",
        "",
        "| kind | requests | errors | 503 | p50 | p99 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind in MIX:
        values = tally.latencies.get(kind, [])
        lines.append(
            f"| {kind} | {len(values)} | {tally.errors[kind]} | {tally.busy[kind]} | "
            f"{percentile(values, 0.5) * 1000:.0f} ms | {percentile(values, 0.99) * 1000:.0f} ms |"
        )
    if args.hold_lock:
        reads = [x for kind, v in tally.held.items() if kind not in WRITES for x in v]
        writes = [x for kind, v in tally.held.items() if kind in WRITES for x in v]
        lines += [
            "",
            f"Started while another process held the write lock ({args.hold_lock:.0f} s): "
            f"{len(reads)} reads, "
            f"p50 {percentile(reads, 0.5) * 1000:.0f} ms, p99 {percentile(reads, 0.99) * 1000:.0f} ms; "
            f"{len(writes)} writes, p50 {percentile(writes, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(writes, 0.99) * 1000:.0f} ms.",
        ]
    odd = {f"{kind} {status}": n for (kind, status), n in tally.statuses.items() if status >= 400}
    if odd:
        lines += ["", "Answers other than success: " + ", ".join(f"{k}: {n}" for k, n in sorted(odd.items()))]
    return "\n".join(lines) + "\n"


def machine() -> str:
    model, cores = "unknown", str(os.cpu_count())
    try:
        for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=False
        ).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{cores} cores ({model}), Python {sys.version.split()[0]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2, help="web server processes (CANDOR_WEB_WORKERS)")
    parser.add_argument(
        "--threads", default="1,8", help="comma-separated threads per process to compare (1: sync workers)"
    )
    parser.add_argument(
        "--database-url", default="", help="a scratch PostgreSQL database: dropped and made again"
    )
    parser.add_argument("--redis-url", default="", help="a scratch Redis database: emptied")
    parser.add_argument("--code", default=str(ROOT), help="run the server from this checkout (to compare)")
    parser.add_argument(
        "--hold-lock", type=float, default=0, help="SQLite: hold the write lock this long mid-run (seconds)"
    )
    parser.add_argument("--record", action="store_true", help="append the figures to bench/README.md")
    args = parser.parse_args()
    if not 1 <= args.clients <= 500 or not 1 <= args.seconds <= 600:
        parser.error("--clients is 1 to 500 and --seconds 1 to 600: this is a bounded local benchmark")
    if args.hold_lock and (args.database_url or not 0 < args.hold_lock < args.seconds):
        parser.error("--hold-lock is for SQLite, and shorter than --seconds")
    results = []
    for threads in [int(t) for t in args.threads.split(",")]:
        text = run_one(args, threads)
        print(text, flush=True)
        results.append(text)
    if args.record:
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        # The scratch databases' addresses are this machine's business, not the README's.
        shown = [
            "…" if before in ("--database-url", "--redis-url") else word
            for before, word in zip(["", *sys.argv[1:]], sys.argv[1:], strict=False)
        ]
        command = " ".join(["uv run python bench/load.py", *shown])
        append_to_readme(
            f"### Load, {now}\n\nMachine: {machine()}. Command: `{command}`.\n\n" + "\n".join(results)
        )


if __name__ == "__main__":
    main()
