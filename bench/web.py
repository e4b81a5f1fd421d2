"""Throughput of the web server: the home page against a bare Django view, measured with wrk.

Starts ``candor serve`` (gunicorn, two worker processes) on a free port of 127.0.0.1 with its own
SQLite database in a temporary data folder, drives it with wrk from a second process, and prints a
Markdown table of requests/s and p50/p99 latency for ``/`` and ``/-/bare/``. The ratio of the two
says how much the home page costs on top of Django and gunicorn themselves.

    uv run python bench/web.py                  # print the table
    uv run python bench/web.py --record         # ... and append it to bench/README.md

Only the standard library and wrk (Debian package ``wrk``) are needed. The server is always stopped
(its whole process group) and the temporary folder removed, also on error and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "bench" / "README.md"
HOST = "127.0.0.1"
WORKERS = 2
WARMUP_SECONDS = 2
STARTUP_SECONDS = 30.0
STOP_SECONDS = 30.0
ENDPOINTS = (("home", "/"), ("bare", "/-/bare/"))

# wrk prints durations as e.g. "812.00us", "4.21ms", "1.02s", "1.50m".
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_PERCENTILE = re.compile(r"^\s*(\d+(?:\.\d+)?)%\s+(\d+(?:\.\d+)?)(us|ms|s|m|h)\s*$", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+(\d+(?:\.\d+)?)\s*$", re.MULTILINE)
_TOTAL = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
_NON_2XX = re.compile(r"^\s*Non-2xx or 3xx responses:\s+(\d+)\s*$", re.MULTILINE)
_SOCKET_ERRORS = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", re.MULTILINE
)


class BenchError(Exception):
    """The benchmark could not run; the message says why."""


@dataclass(frozen=True)
class WrkResult:
    endpoint: str
    path: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    socket_errors: int


def parse_wrk(output: str) -> tuple[float, float, float, int, int, int]:
    """Requests/s, p50 (ms), p99 (ms), total requests, non-2xx/3xx count, socket errors of a wrk run."""
    rps = _RPS.search(output)
    total = _TOTAL.search(output)
    percentiles = {float(p): float(v) * _UNIT_MS[unit] for p, v, unit in _PERCENTILE.findall(output)}
    if rps is None or total is None or 50.0 not in percentiles or 99.0 not in percentiles:
        raise BenchError(f"could not parse wrk output (was --latency given?):\n{output}")
    non_2xx = _NON_2XX.search(output)
    errors = _SOCKET_ERRORS.search(output)
    return (
        float(rps.group(1)),
        percentiles[50.0],
        percentiles[99.0],
        int(total.group(1)),
        int(non_2xx.group(1)) if non_2xx else 0,
        sum(int(n) for n in errors.groups()) if errors else 0,
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(data_dir: Path) -> dict[str, str]:
    """The environment without any inherited Candor or database setting, so runs are comparable."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CANDOR_") and key not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env["CANDOR_DATA_DIR"] = str(data_dir)
    env["CANDOR_LOG_LEVEL"] = "WARNING"
    env["PYTHONUNBUFFERED"] = "1"
    return env


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """wrk does not follow redirects, so neither does the check that a page answers 200."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def get_status(url: str, timeout: float) -> int:
    try:
        with _opener.open(url, timeout=timeout) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until_ready(server: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchError(f"candor serve exited with code {server.returncode}:\n{tail(log)}")
        try:
            if get_status(base_url + "/-/bare/", timeout=2.0) == 200:
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise BenchError(
        f"candor serve did not answer on {base_url} within {STARTUP_SECONDS:.0f} s:\n{tail(log)}"
    )


def stop(server: subprocess.Popen[bytes]) -> None:
    """Terminate the server's whole process group (gunicorn master and workers), killing if need be."""
    if server.poll() is not None:
        return
    try:
        os.killpg(server.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with suppress(subprocess.TimeoutExpired):
        server.wait(timeout=STOP_SECONDS)
    with suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)  # stragglers, or a master that ignored SIGTERM
    server.wait(timeout=5)


@contextmanager
def running_server(python: str) -> Iterator[str]:
    """Run ``candor serve`` in a fresh data folder; yield its base URL; always stop it and clean up."""
    data_dir = Path(tempfile.mkdtemp(prefix="candor-bench-"))
    log_path = data_dir / "server.log"
    server: subprocess.Popen[bytes] | None = None
    try:
        port = free_port()
        base_url = f"http://{HOST}:{port}"
        with log_path.open("wb") as log:
            server = subprocess.Popen(
                [python, "-m", "candor", "serve", "--bind", f"{HOST}:{port}", "--workers", str(WORKERS)],
                cwd=ROOT,
                env=server_env(data_dir),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so stop() reaches every worker
            )
        wait_until_ready(server, base_url, log_path)
        yield base_url
    finally:
        if server is not None:
            stop(server)
        shutil.rmtree(data_dir, ignore_errors=True)


def wrk_argv(url: str, seconds: int, connections: int, threads: int) -> list[str]:
    return [
        "wrk",
        "--threads",
        str(threads),
        "--connections",
        str(connections),
        "--duration",
        f"{seconds}s",
        "--timeout",
        "5s",
        "--latency",
        url,
    ]


def run_wrk(argv: list[str], seconds: int) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk did not finish within {seconds + 30} s: {shlex.join(argv)}") from None
    if done.returncode != 0:
        raise BenchError(f"wrk failed with code {done.returncode}:\n{done.stdout}{done.stderr}")
    return done.stdout


def measure(base_url: str, name: str, path: str, args: argparse.Namespace) -> WrkResult:
    url = base_url + path
    status = get_status(url, timeout=10.0)
    if status != 200:
        raise BenchError(f"GET {path} answered {status}, not 200: refusing to benchmark an error page")
    run_wrk(wrk_argv(url, WARMUP_SECONDS, args.connections, args.threads), WARMUP_SECONDS)
    output = run_wrk(wrk_argv(url, args.duration, args.connections, args.threads), args.duration)
    rps, p50, p99, total, non_2xx, socket_errors = parse_wrk(output)
    if non_2xx:
        raise BenchError(f"{non_2xx} of {total} responses to {path} were not 2xx/3xx:\n{output}")
    if rps <= 0 or total == 0:
        raise BenchError(f"no request to {path} completed:\n{output}")
    return WrkResult(name, path, rps, p50, p99, total, socket_errors)


def table(results: list[WrkResult]) -> str:
    by_name = {result.endpoint: result for result in results}
    lines = [
        "| Endpoint | Requests/s | p50 | p99 |",
        "|---|---:|---:|---:|",
        *(
            f"| `{r.path}` ({r.endpoint}) | {r.requests_per_second:,.0f}"
            f" | {r.p50_ms:.2f} ms | {r.p99_ms:.2f} ms |"
            for r in results
        ),
    ]
    ratio = by_name["home"].requests_per_second / by_name["bare"].requests_per_second
    lines += ["", f"Home/bare requests/s: **{ratio:.2f}**"]
    errors = [f"{r.socket_errors} on `{r.path}`" for r in results if r.socket_errors]
    if errors:
        lines += ["", f"wrk socket errors (connect/read/write/timeout): {', '.join(errors)}."]
    return "\n".join(lines)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def record(markdown: str, command: str, args: argparse.Namespace) -> None:
    now = datetime.datetime.now(datetime.UTC)
    wrk = wrk_argv("http://127.0.0.1:PORT/PATH", args.duration, args.connections, args.threads)
    wrk_template = shlex.join(wrk)
    section = "\n".join(
        [
            "",
            f"### web.py, {now:%Y-%m-%d %H:%M} UTC",
            "",
            f"- Machine: {nproc()} CPUs (`nproc`), {cpu_model()}",
            f"- Python {platform.python_version()}, `candor serve --workers {WORKERS}` (gunicorn), SQLite",
            f"- Command: `{command}`",
            f"- wrk: `{wrk_template}`, after a {WARMUP_SECONDS} s warm-up run that is not counted",
            "",
            markdown,
            "",
        ]
    )
    text = README.read_text() if README.exists() else ""
    if "## Results" not in text:
        raise BenchError(f"{README} has no '## Results' heading to append under")
    README.write_text(text.rstrip("\n") + "\n" + section)


def nproc() -> str:
    try:
        return subprocess.run(["nproc"], capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return str(len(os.sched_getaffinity(0)))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=15, help="seconds of each measured run (default 15)")
    parser.add_argument("--connections", type=int, default=8, help="open connections (default 8)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--record", action="store_true", help="append the results to bench/README.md")
    args = parser.parse_args(argv)
    if not 1 <= args.duration <= 600:
        parser.error("--duration must be between 1 and 600 seconds")
    if args.threads < 1 or args.connections < args.threads:
        parser.error("--threads must be at least 1 and --connections at least --threads")
    return args


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if shutil.which("wrk") is None:
        print("web.py: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    # Ctrl-C and a plain kill both unwind through the clean-up, even if the caller ignored SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    here = Path.cwd()
    python = os.path.relpath(sys.executable) if Path(sys.executable).is_relative_to(here) else sys.executable
    script = os.path.relpath(Path(__file__).resolve(), here)
    command = shlex.join([python, script, *(sys.argv[1:] if argv is None else argv)])
    try:
        with running_server(sys.executable) as base_url:
            results = [measure(base_url, name, path, args) for name, path in ENDPOINTS]
        markdown = table(results)
        print(markdown)
        if args.record:
            record(markdown, command, args)
            print(f"\nRecorded in {os.path.relpath(README, Path.cwd())}.")
    except BenchError as error:
        print(f"web.py: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("web.py: interrupted; server stopped", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
