"""A product update to many accounts through a real worker and a real SMTP server.

    uv run python bench/outbox.py [--accounts 100000] [--rate-accounts 300] [--low-rate 1200]
                                  [--database-url postgres://…] [--record]

Two runs, each on a fresh data folder (SQLite, or the PostgreSQL database given, emptied first) with no
inherited CANDOR_* or DATABASE_URL setting:
- throughput: --accounts accounts (bulk inserts, encrypted as the account's fields do, the way
  bench/seed.py makes models) and an update written; the update started and every row made by the
  pump's own fan-out (tasks.fan_out, batch by batch) in a process of its own, timed: the time to queue;
  then `candor worker` with CANDOR_PRODUCT_EMAILS_PER_MINUTE at its maximum (600,000) sends them to an
  aiosmtpd server in this process that counts what it accepts. It reports emails per second at the SMTP
  server (first to last message), the whole run, and the worker's resident memory sampled every 0.2 s:
  the peak of its processes summed (a supervisor and the loop it runs), the peak of the largest one, and
  the summed peak of the first and the last tenth of the sending, which show whether it stays flat;
- rate: --rate-accounts accounts at CANDOR_PRODUCT_EMAILS_PER_MINUTE=--low-rate; the rate measured at
  the SMTP server against the setting.
The worker is stopped (its whole process group) on the way out, on error and on Ctrl-C too.
With --record the figures are appended to bench/README.md.
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
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import ROOT, append_to_readme, run_child, setup_django
from harness import clean_environment, free_ports, rss_each_kib, stop

SUBJECT = "Benchmark news"
MAX_RATE = 600_000


def seed(accounts: int) -> dict[str, float]:
    """Accounts in bulk (one transaction per batch: each row's data key is made as its values are
    encrypted, before the account row itself), then the update, started."""
    setup_django()
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import transaction

    from candor.accounts.models import User, email_index, username_index
    from candor.comms import actions

    call_command("migrate", interactive=False, verbosity=0)
    started = time.monotonic()
    password = make_password("bench-password-not-secret-1")
    batch = 2_000
    for first in range(0, accounts, batch):
        with transaction.atomic():
            User.objects.bulk_create(
                [
                    User(
                        username=f"reader{i}",
                        email=f"reader{i}@bench.invalid",
                        email_index=email_index(f"reader{i}@bench.invalid"),
                        username_index=username_index(f"reader{i}"),
                        password=password,
                        email_verified=True,
                    )
                    for i in range(first, min(first + batch, accounts))
                ],
                batch_size=1_000,
            )
    seeded = time.monotonic() - started
    writer = User.objects.create_user("writer", "writer@bench.invalid", None, email_verified=True)
    actions.save_update(None, subject=SUBJECT, body="What is **new**.", acting_user=writer)
    return {"seed_s": seeded, "accounts": float(accounts + 1)}


def queue() -> dict[str, float]:
    """Start the update and make every row, as the worker's pump does first (tasks.fan_out, batch by
    batch from the cursor), timed on its own: the worker then finds them made and only sends."""
    setup_django()
    from candor.comms import actions, tasks
    from candor.comms.models import Update

    update = Update.objects.get()
    started = time.monotonic()
    actions.start_sending(update, acting_user=None)
    while tasks.fan_out(update):
        pass
    return {"queue_s": time.monotonic() - started}


def state() -> dict[str, float]:
    setup_django()
    from candor.comms.models import Email, Update

    update = Update.objects.get()
    return {
        "rows": float(Email.objects.filter(update=update).count()),
        "sent_rows": float(Email.objects.filter(update=update, status="sent").count()),
        "finished": float(update.status == "sent"),
    }


class Sink:
    """aiosmtpd's DATA handler: counts the update's messages and notes when the first and last came."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.first = self.last = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if SUBJECT.encode() in envelope.content:
            now = time.monotonic()
            with self.lock:
                self.count += len(envelope.rcpt_tos)
                self.first = self.first or now
                self.last = now
        return "250 OK"


class Memory(threading.Thread):
    """(messages received so far, the worker's summed RSS in KiB), every 0.2 s until stopped, and the
    largest RSS of any one of its processes (the worker is a supervisor and the loop it runs)."""

    def __init__(self, pid: int, sink: Sink) -> None:
        super().__init__(daemon=True)
        self.pid, self.sink, self.running, self.largest = pid, sink, True, 0
        self.samples: list[tuple[int, int]] = []

    def run(self) -> None:
        while self.running:
            each = rss_each_kib(self.pid)
            self.samples.append((self.sink.count, sum(each)))
            self.largest = max([self.largest, *each])
            time.sleep(0.2)

    def stop(self) -> None:
        self.running = False
        self.join()


def run_update(
    folder: Path, accounts: int, rate: int, database_url: str | None, timeout: float
) -> dict[str, float]:
    """Seed, then send the update with a real worker; the figures of that one run."""
    from aiosmtpd.controller import Controller

    folder.mkdir(parents=True, exist_ok=True)
    (port,) = free_ports(1)
    extra = {
        "CANDOR_EMAIL_URL": f"smtp://127.0.0.1:{port}",
        "CANDOR_PRODUCT_EMAILS_PER_MINUTE": str(rate),
        "DJANGO_SETTINGS_MODULE": "candor.settings",
    }
    if database_url:
        extra["DATABASE_URL"] = database_url
    env = clean_environment(folder / "data", extra)
    if database_url:
        empty_database(database_url)
    figures = run_child(__file__, "seed", env, "--accounts", str(accounts))
    figures |= run_child(__file__, "queue", env)
    expected = int(figures["accounts"])
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    log = (folder / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "candor", "worker"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    memory = Memory(worker.pid, sink)
    memory.start()
    started = time.monotonic()
    try:
        while sink.count < expected:
            if worker.poll() is not None:
                sys.exit(f"the worker stopped ({worker.returncode}); see {folder / 'worker.log'}")
            if time.monotonic() - started > timeout:
                sys.exit(f"only {sink.count} of {expected} emails arrived in {timeout:.0f} s")
            time.sleep(0.2)
        whole = time.monotonic() - started
    finally:
        memory.stop()
        stop(worker)
        controller.stop()
    figures |= run_child(__file__, "state", env)
    if figures["sent_rows"] != expected or sink.count != expected:
        sys.exit(f"{sink.count} received, {figures['sent_rows']:.0f} rows sent, of {expected}")
    span = sink.last - sink.first
    sending = [kib for count, kib in memory.samples if 0 < count < expected]
    tenth = max(1, len(sending) // 10)
    figures |= {
        "whole_s": whole,
        "per_s": (expected - 1) / span if span > 0 else float("inf"),
        "per_min": 60 * (expected - 1) / span if span > 0 else float("inf"),
        "peak_mib": max(kib for _, kib in memory.samples) / 1024,
        "largest_mib": memory.largest / 1024,
        "early_mib": max(sending[:tenth], default=0) / 1024,
        "late_mib": max(sending[-tenth:], default=0) / 1024,
    }
    return figures


def empty_database(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--rate-accounts", type=int, default=300)
    parser.add_argument("--low-rate", type=int, default=1_200, help="emails a minute for the rate run")
    parser.add_argument("--database-url", help="a PostgreSQL database this may empty (default: SQLite)")
    parser.add_argument("--timeout", type=float, default=3 * 3600)
    parser.add_argument("--record", action="store_true", help="append the figures to bench/README.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        outcome = {"seed": lambda: seed(args.accounts), "queue": queue, "state": state}[args.child]()
        print(json.dumps(outcome))
        return
    work = Path(tempfile.mkdtemp(prefix="candor-bench-outbox-"))
    try:
        big = run_update(work / "throughput", args.accounts, MAX_RATE, args.database_url, args.timeout)
        print(
            f"throughput: queued in {big['queue_s']:.1f} s, {big['per_s']:.0f} emails/s, "
            f"worker peak {big['peak_mib']:.0f} MiB summed, {big['largest_mib']:.0f} MiB its largest process"
        )
        paced = run_update(work / "rate", args.rate_accounts, args.low_rate, args.database_url, args.timeout)
        print(f"rate: {paced['per_min']:.0f} a minute measured for {args.low_rate} set")
        report(big, paced, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(big: dict[str, float], paced: dict[str, float], args: argparse.Namespace) -> None:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    database = "PostgreSQL (local server)" if args.database_url else "SQLite"
    lines = [
        f"### Outbox, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {database}, "
        f"load average {os.getloadavg()[0]:.1f} when it ended.",
        "",
        "| measurement | figure | goal |",
        "|---|---|---|",
        f"| time to queue {int(big['accounts']):,} emails (the fan-out) | {big['queue_s']:.1f} s | |",
        f"| emails sent, at the SMTP server | {big['per_s']:.0f} per second "
        f"({big['whole_s']:.0f} s in all, worker start included) | |",
        f"| worker's peak RSS, its processes summed | {big['peak_mib']:.0f} MiB; first tenth "
        f"{big['early_mib']:.0f}, last tenth {big['late_mib']:.0f} | flat |",
        f"| the largest one process of it (the loop that sends) | {big['largest_mib']:.0f} MiB | "
        "under 200 MB |",
        f"| rate set to {args.low_rate} a minute, {int(paced['accounts'])} emails | "
        f"{paced['per_min']:.0f} a minute measured | the setting |",
        "",
        f"(`uv run python bench/outbox.py --accounts {args.accounts} --rate-accounts {args.rate_accounts} "
        f"--low-rate {args.low_rate} --record`; seeding took {big['seed_s']:.0f} s, not counted.)",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.record:
        append_to_readme(text)


if __name__ == "__main__":
    main()
