"""A real Candor for the benchmarks: `candor serve` (gunicorn) on a free port of 127.0.0.1, with a fresh
data folder of its own, seeded through `candor shell`, and the peak resident memory of all its processes
(the gunicorn master and every worker, summed) sampled from /proc while something runs against it.

    with CandorServer(work / "server", seed=SEED, env={"CANDOR_MAX_UPLOAD_MB": "3000"}) as server:
        token = server.seeded["token"]
        with server.peak_rss() as peak:
            ...  # requests to server.url
        print(peak.mib)

Used by bench/files.py and bench/hf_download.py; the upload benchmarks and the large-upload tests can
start their server the same way. No `CANDOR_*`, `DJANGO_*` or `DATABASE_URL` of the calling process is
inherited (each run gets SQLite in its own folder unless ``env`` says otherwise), and the server's whole
process group is stopped on the way out, on error and on Ctrl-C too.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from common import ROOT


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [int(s.getsockname()[1]) for s in sockets]
    for s in sockets:
        s.close()
    return ports


def descendants(pid: int) -> list[int]:
    """The process and every process below it (gunicorn's workers are its master's children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                todo += [int(p) for p in (task / "children").read_text().split()]
    return found


def rss_each_kib(pid: int) -> list[int]:
    """The resident memory of a process and of each of its descendants."""
    found = []
    for p in descendants(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    found.append(int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def rss_kib(pid: int) -> int:
    """The resident memory of a process and all its descendants, summed."""
    return sum(rss_each_kib(pid))


class Sampler(threading.Thread):
    """The highest summed RSS of a process tree, sampled every 20 ms until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.largest, self.running = pid, 0, 0, True

    def run(self) -> None:
        while self.running:
            each = rss_each_kib(self.pid)
            self.peak = max(self.peak, sum(each))
            self.largest = max([self.largest, *each])
            time.sleep(0.02)

    def stop(self) -> int:
        self.running = False
        self.join()
        return self.peak


class Peak:
    """What :meth:`CandorServer.peak_rss` measured, once its block has ended."""

    kib: int = 0
    largest_kib: int = 0  # the one process that grew most (the worker that took the request)

    @property
    def mib(self) -> float:
        return self.kib / 1024

    @property
    def largest_mib(self) -> float:
        return self.largest_kib / 1024


def wait_for(check: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if check():
                return
        except Exception:  # noqa: S110 - not up yet
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not come up within {seconds:.0f} s")
        time.sleep(0.3)


def stop(process: subprocess.Popen[bytes] | None) -> None:
    """Stop a process started in a session of its own, with everything it started."""
    if process is not None and process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def clean_environment(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without its Candor and Django settings, with a data folder of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CANDOR_", "DJANGO_"))}
    env.pop("DATABASE_URL", None)
    env |= {"CANDOR_DATA_DIR": str(data_dir), "CANDOR_API_RATE_PER_MINUTE": "100000"}
    return env | (extra or {})


class CandorServer:
    """`candor serve --workers N` on a fresh data folder in ``folder``; ``seed`` (Python run by `candor
    shell` after the migrations) may print one JSON object on its last line, kept as :attr:`seeded`."""

    def __init__(
        self, folder: Path, *, seed: str = "", workers: int = 2, env: dict[str, str] | None = None
    ) -> None:
        self.folder, self.seed, self.workers = folder, seed, workers
        self.env = clean_environment(folder / "data", {"CANDOR_ANALYTICS": "0", **(env or {})})
        self.process: subprocess.Popen[bytes] | None = None
        self.seeded: dict[str, Any] = {}
        self.url = ""

    def candor(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run ``candor ARGS`` with the server's settings (its database, its data folder)."""
        return subprocess.run(
            [sys.executable, "-m", "candor", *args],
            env=self.env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
            **kwargs,
        )

    def __enter__(self) -> CandorServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.candor("migrate", "-v0")
        if self.seed:
            out = self.candor("shell", "-c", self.seed).stdout.strip().splitlines()
            self.seeded = json.loads(out[-1]) if out else {}
        (port,) = free_ports(1)
        self.url = f"http://127.0.0.1:{port}"
        self.env["CANDOR_WEBSITE_URL"] = self.url  # the address in the Link headers of paged answers
        argv = [sys.executable, "-m", "candor", "serve", "--no-migrate", "--bind", f"127.0.0.1:{port}"]
        argv += ["--workers", str(self.workers)]
        log = (self.folder / "server.log").open("wb")
        self.process = subprocess.Popen(
            argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        try:
            wait_for(
                lambda: urllib.request.urlopen(f"{self.url}/-/bare/", timeout=2).status == 200,
                90,
                "candor serve",
            )
        except BaseException:
            stop(self.process)
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        stop(self.process)

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server is not running"
        return self.process.pid

    def rss_mib(self) -> float:
        """The server's resident memory now (all its processes)."""
        return rss_kib(self.pid) / 1024

    @contextlib.contextmanager
    def peak_rss(self) -> Iterator[Peak]:
        """The highest resident memory of all the server's processes while the block runs."""
        sampler, peak = Sampler(self.pid), Peak()
        sampler.start()
        try:
            yield peak
        finally:
            peak.kib = sampler.stop()
            peak.largest_kib = sampler.largest
