"""The access log's costs: the gate per reveal, `candor audit verify` over a large log, and concurrent
appends on PostgreSQL.

    uv run python bench/access_log.py [--entries 1000000] [--writers 8] [--each 250] [--rounds 300]
                                      [--database-url postgres://…] [--record]

Without --database-url a scratch database is made on the local PostgreSQL server (and dropped after).
Each measurement runs in a fresh process against it:
- gate: `gate.reveal` of one small category (a username) by a ready member of staff with a running
  grant, median of --rounds, beside decrypting the same values directly (the gate's own collection
  inside `crypto.revealing`, no checks and no log entry): the difference is the gate's cost per reveal
  (checks, its transaction, the log append with the head row's lock);
- verify: --entries chained entries inserted with bulk_create (their hashes computed beforehand, not
  timed) and a checkpoint signed; then `verify.verify()` over all of them, wall time and peak RSS;
- writers: --writers processes each appending --each entries, each in its own durable transaction, all
  starting together; appends per second over the whole run, then the chain is verified (positions
  1..N, no fork).
With --record the figures are appended to bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from common import append_to_readme, run_child, setup_django

LOCAL_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def migrate() -> dict[str, float]:
    setup_django()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    return {}


def measure_gate(rounds: int) -> dict[str, float]:
    setup_django()
    import pyotp
    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from candor.accounts.models import User
    from candor.privacy import crypto
    from candor.staff import actions, gate
    from candor.staff.models import LogHead, StaffMember

    tag = secrets.token_hex(3)
    subject = User.objects.create_user(f"subject{tag}", f"s{tag}@bench.invalid", "bench-password-1-x")
    agent = User.objects.create_user(f"agent{tag}", f"a{tag}@bench.invalid", "bench-password-1-x")
    member = actions.add_staff(
        agent,
        acting_user=None,
        roles=["support"],
        employment="employee",
        office_country="DE",
        work_country="PT",
    )
    StaffMember.objects.filter(pk=member.pk).update(
        totp_secret=pyotp.random_base32(), totp_confirmed_at=timezone.now()
    )
    agreement = actions.publish_agreement(f"bench-{tag}", "I keep it confidential.", acting_user=None)
    actions.sign_agreement(acting_user=agent, signed_name="Agent Example", text_sha256=agreement.sha256)
    grant = actions.request_grant(
        acting_user=agent,
        subject=subject,
        role="support",
        purpose="support_case",
        case_reference="CASE-1",
        categories=["account.username"],
    )
    agent = User.objects.get(pk=agent.pk)
    subject_id = str(subject.pk)

    def direct() -> object:
        with crypto.revealing(subject_id):
            return gate._collect(subject_id, {"account.username"})

    def timed(work: object) -> float:
        samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            work()  # type: ignore[operator]
            samples.append(time.perf_counter() - started)
        return statistics.median(samples) * 1000

    for _ in range(20):  # warm both paths: connections, caches, imports
        gate.reveal(grant.public_id, acting_user=agent)
        direct()

    def commit_only() -> None:
        # The floor under any durable write: one transaction that locks the head row and commits.
        with transaction.atomic(durable=True):
            LogHead.objects.filter(pk=1).update(size=F("size"))

    reveal_ms = timed(lambda: gate.reveal(grant.public_id, acting_user=agent))
    direct_ms = timed(direct)
    commit_ms = timed(commit_only)
    return {
        "reveal_ms": reveal_ms,
        "direct_ms": direct_ms,
        "gate_ms": reveal_ms - direct_ms,
        "commit_ms": commit_ms,
    }


def seed_log(entries: int) -> dict[str, float]:
    setup_django()
    from django.db import transaction

    from candor.staff import accesslog, checkpoints
    from candor.staff.models import AccessEntry, LogHead

    started = time.monotonic()
    head = LogHead.objects.filter(pk=1).first()  # the gate's measurement appended some already
    first, previous = (1, accesslog.GENESIS) if head is None else (head.size + 1, head.head_hash)
    last = first + entries - 1
    start = datetime(2026, 1, 1, tzinfo=UTC)
    staff_ids = [uuid.uuid4() for _ in range(20)]
    batch: list[AccessEntry] = []
    for position in range(first, last + 1):
        entry = AccessEntry(
            position=position,
            occurred_at=start + timedelta(seconds=position),
            staff_id=staff_ids[position % 20],
            role="support",
            office_country="DE",
            work_country="PT",
            grant_id=f"g{position % 997:021d}",
            purpose="support_case",
            case_reference=f"CASE-{position % 5000}",
            subject_id=uuid.uuid4(),
            categories=["account.email", "account.username"],
            agreement_sha256="a" * 64,
            tell_after=None,
            previous_hash=previous,
        )
        entry.entry_hash = previous = accesslog.hash_of(accesslog.fields_of(entry))
        batch.append(entry)
        if len(batch) == 10_000 or position == last:
            AccessEntry.objects.bulk_create(batch)
            batch = []
    with transaction.atomic():
        LogHead.objects.update_or_create(pk=1, defaults={"size": last, "head_hash": previous})
    checkpoints.make_checkpoint(acting_user=None)
    return {"seed_s": time.monotonic() - started}


def measure_verify() -> dict[str, float]:
    setup_django()
    from candor.staff import verify

    started, cpu = time.monotonic(), time.process_time()
    outcome = verify.verify()
    seconds, cpu = time.monotonic() - started, time.process_time() - cpu
    if not outcome.ok:
        sys.exit(f"the seeded log does not verify: {outcome.problem}")
    return {
        "verify_s": seconds,
        "verify_cpu_s": cpu,
        "verify_entries": outcome.entries,
        "verify_rss_mib": peak_rss_mib(),
    }


def append_many(each: int, start_at: float) -> dict[str, float]:
    setup_django()
    from django.db import connection, transaction

    from candor.staff import accesslog

    connection.ensure_connection()
    while time.time() < start_at:
        time.sleep(0.002)
    started = time.time()
    for index in range(each):
        with transaction.atomic(durable=True):
            accesslog.append(
                occurred_at=datetime.now(UTC),
                staff_id=uuid.uuid4(),
                role="support",
                office_country="DE",
                work_country="PT",
                grant_id="g" * 22,
                purpose="support_case",
                case_reference=f"CASE-{index}",
                subject_id=uuid.uuid4(),
                categories=["account.username"],
                agreement_sha256="a" * 64,
                tell_after=None,
            )
    return {"started": started, "ended": time.time()}


def measure_writers(env: dict[str, str], writers: int, each: int) -> dict[str, float]:
    start_at = time.time() + 15  # after every writer has loaded Django
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--child", "append", "--each", str(each), "--start-at", str(start_at)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(writers)
    ]
    spans = []
    for child in children:
        out, err = child.communicate()
        if child.returncode != 0:
            sys.exit(f"a writer failed:\n{err[-4000:]}")
        spans.append(json.loads(out.strip().splitlines()[-1]))
    wall = max(s["ended"] for s in spans) - min(s["started"] for s in spans)
    return {"appends_per_s": writers * each / wall, "writers_s": wall}


def check_linear() -> dict[str, float]:
    setup_django()
    from candor.staff import verify

    outcome = verify.verify()
    if not outcome.ok:
        sys.exit(f"after the concurrent writers the log does not verify: {outcome.problem}")
    return {"linear_entries": outcome.entries}


def scratch_database() -> tuple[str, str]:
    import psycopg
    from psycopg import sql

    name = f"candor_bench_log_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(LOCAL_ADMIN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return urlunsplit(urlsplit(LOCAL_ADMIN)._replace(path=f"/{name}")), name


def drop_database(name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(LOCAL_ADMIN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--each", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--database-url", help="a PostgreSQL database of its own (default: a scratch one)")
    parser.add_argument("--record", action="store_true", help="append the figures to bench/README.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        outcome = {
            "migrate": migrate,
            "gate": lambda: measure_gate(args.rounds),
            "seed": lambda: seed_log(args.entries),
            "verify": measure_verify,
            "append": lambda: append_many(args.each, args.start_at),
            "linear": check_linear,
        }[args.child]()
        print(json.dumps(outcome))
        return
    work = Path(tempfile.mkdtemp(prefix="candor-bench-log-"))
    scratch = None
    url = args.database_url
    if not url:
        url, scratch = scratch_database()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CANDOR_", "DJANGO_"))},
        "CANDOR_DATA_DIR": str(work / "data"),
        "DJANGO_SETTINGS_MODULE": "candor.settings",
        "DATABASE_URL": url,
    }

    def child(action: str, *extra: str) -> dict[str, float]:
        return run_child(__file__, action, env, *extra)

    try:
        child("migrate")
        figures: dict[str, float] = {}
        figures |= child("gate", "--rounds", str(args.rounds))

        print(f"gate: {figures['gate_ms']:.3f} ms per reveal beyond the decryption")
        figures |= child("seed", "--entries", str(args.entries))
        print(f"seeded {args.entries:,} entries in {figures['seed_s']:.0f} s")
        os.sync()
        figures |= child("verify")
        print(f"verify: {figures['verify_s']:.1f} s")
        figures |= measure_writers(env, args.writers, args.each)
        figures |= child("linear")
        print(f"writers: {figures['appends_per_s']:.0f} appends/s")
        report(figures, args)
    finally:
        if scratch:
            drop_database(scratch)


def report(f: dict[str, float], args: argparse.Namespace) -> None:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    load = os.getloadavg()[0]
    lines = [
        f"### Access log, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, PostgreSQL "
        f"(local server), load average {load:.1f} when it ended.",
        "",
        "| measurement | figure | goal |",
        "|---|---|---|",
        f"| `gate.reveal` of one username, median of {args.rounds} | {f['reveal_ms']:.2f} ms | |",
        f"| the same values decrypted directly | {f['direct_ms']:.2f} ms | |",
        f"| the gate's own cost per reveal (the difference) | {f['gate_ms']:.2f} ms | under 1 ms |",
        f"| of which at least: one durable commit locking the head row | {f['commit_ms']:.2f} ms | |",
        f"| `verify` over {int(f['verify_entries']):,} entries | {f['verify_s']:.1f} s wall, "
        f"{f['verify_cpu_s']:.1f} s CPU of its own, peak RSS {f['verify_rss_mib']:.0f} MiB | under 10 s |",
        f"| appends, {args.writers} processes x {args.each}, each its own transaction | "
        f"{f['appends_per_s']:.0f} per second ({f['writers_s']:.1f} s) | |",
        f"| the chain afterwards | {int(f['linear_entries']):,} entries, verified, no fork | linear |",
        "",
        f"(`uv run python bench/access_log.py --entries {args.entries} --writers {args.writers} "
        f"--each {args.each} --record`; seeding the log took {f['seed_s']:.0f} s, not counted.)",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.record:
        append_to_readme(text)


if __name__ == "__main__":
    main()
