"""Privacy core benchmark: permanent deletion, export and sign-in of one heavy account.

    uv run python bench/privacy.py [--models 10000 --files 50000 --events 100000]
                                   [--database-url postgres://…] [--work-dir DIR] [--record]
                                   [--part all|seed|export]

One account gets N models, M small files (1 KiB each, sealed blobs in storage, one commit per model on
main holding its files) and E security
events (each with an encrypted address); the demo's accounts sit beside it. Each measurement runs in a
fresh process, so its peak RSS is its own:
- export: building the ZIP (wall time, peak RSS, archive size);
- deletion: the transaction (key destroyed, every row deleted) and then the removal of the files, as
  the queued task does it (wall time of each, peak RSS);
- sign-in: POST /login/ by email through Django's test client, and the share of it Argon2 takes, beside
  the blind index and one decryption.
With --record the figures are appended to bench/README.md.

To time the export again and again without seeding each time: ``--part seed --work-dir DIR`` once
(the same --database-url each time, if any), then ``--part export --work-dir DIR``, which builds the
export of the already-seeded account and prints its figures (never recorded).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from common import append_to_readme, run_child, setup_django

PASSWORD = "bench-heavy-password-1"
EMAIL = "heavy@bench.invalid"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed(models: int, files: int, events: int) -> dict[str, float]:
    setup_django()
    from django.core.management import call_command
    from django.db import transaction

    from candor.accounts.models import SecurityEvent, User
    from candor.hub.models import MLModel

    call_command("migrate", interactive=False, verbosity=0)
    call_command("demo", "--no-serve", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    started = time.monotonic()
    user = User.objects.create_user("heavy", EMAIL, PASSWORD, email_verified=True)
    with transaction.atomic():
        MLModel.objects.bulk_create(
            [
                MLModel(
                    owner=user,
                    name=f"heavy-model-{i}",
                    title=f"Heavy model {i}",
                    summary="A model of the heavy account.",
                    card="# Heavy\n\nBenchmark data.",
                    visibility="public" if i % 2 else "private",
                )
                for i in range(models)
            ],
            batch_size=2000,
        )
    model_ids = list(MLModel.objects.filter(owner=user).order_by("pk").values_list("pk", flat=True))
    seed_files(user, model_ids, files)
    with transaction.atomic():
        SecurityEvent.objects.bulk_create(
            [
                SecurityEvent(
                    user=user,
                    kind="sign_in",
                    ip_address=f"10.{i % 250}.{i % 200}.{i % 199}",
                    browser_family="Firefox",
                )
                for i in range(events)
            ],
            batch_size=5000,
        )
    return {"seed_s": time.monotonic() - started}


def seed_files(user, model_ids: list[int], files: int) -> None:
    """``files`` blobs of 1 KiB (each its own bytes), sealed under the account's key as an upload is, and
    spread over the models: each model has one commit, on main, holding its files."""
    import hashlib

    from django.conf import settings
    from django.db import transaction

    from candor.hub import blobs
    from candor.hub.models import Blob, Commit, MLModel, ModelFile, path_index
    from candor.privacy import sealed

    folder = Path(settings.MEDIA_ROOT) / blobs.FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    body = os.urandom(1024 - 8)
    context = blobs.context(user.pk)
    made: list[Blob] = []
    for i in range(files):
        data = body + i.to_bytes(8, "big")
        sha = hashlib.sha256(data).hexdigest()
        where = blobs.address(user.pk, sha)
        with open(folder / "sealing", "wb") as handle:
            writer = sealed.SealingWriter(handle, user_id=user.pk, context=context)
            writer.write(data)
            writer.finish()
        name = blobs.stored_name(where, writer.prefix)
        os.replace(folder / "sealing", Path(settings.MEDIA_ROOT) / name)
        made.append(
            Blob(owner=user, address=where, sha256=sha, size=len(data), seal=writer.prefix, stored=name)
        )
    with transaction.atomic():
        Blob.objects.bulk_create(made, batch_size=2000)
        blob_ids = list(Blob.objects.filter(owner=user).order_by("pk").values_list("pk", flat=True))
        held = sorted({model_ids[i % len(model_ids)] for i in range(files)})
        Commit.objects.bulk_create(
            [Commit(owner=user, model_id=pk, author=user, message="Bench files") for pk in held],
            batch_size=2000,
        )
        commits = dict(Commit.objects.filter(owner=user).values_list("model_id", "pk"))
        MLModel.objects.bulk_update(
            [MLModel(pk=pk, head_id=commits[pk]) for pk in held], ["head"], batch_size=2000
        )
        rows = []
        for i, blob_id in enumerate(blob_ids):
            model_id = model_ids[i % len(model_ids)]
            path = f"part-{i}.bin"
            rows.append(
                ModelFile(
                    owner=user,
                    model_id=model_id,
                    commit_id=commits[model_id],
                    path=path,
                    path_index=path_index(model_id, path),
                    blob_id=blob_id,
                )
            )
        ModelFile.objects.bulk_create(rows, batch_size=2000)


def measure_export() -> dict[str, float]:
    setup_django()
    from django.core.files.storage import default_storage

    from candor.accounts.models import User
    from candor.lifecycle import export
    from candor.privacy.models import ExportArchive

    user = User.objects.named("heavy").get()
    archive = ExportArchive.objects.create(user=user)
    started = time.monotonic()
    export.build(archive)
    wall = time.monotonic() - started
    archive.refresh_from_db()
    size = default_storage.size(archive.archive.name)
    return {
        "export_s": wall,
        "export_rss_mib": peak_rss_mib(),
        "export_mib": size / 2**20,
        "status": archive.status,
    }


def measure_delete() -> dict[str, float]:
    setup_django()
    from django.db import connection

    from candor.accounts.models import User
    from candor.lifecycle import erasure
    from candor.privacy.models import DeletionRecord

    user = User.objects.named("heavy").get()
    started = time.monotonic()
    outcome = erasure.erase_account(user.pk, acting_user=user)  # commits: key destroyed, every row deleted
    committed = time.monotonic() - started
    record = DeletionRecord.objects.get(pk=outcome.record_id)
    files = erasure.finish(record)  # what the queued task does: the files, the queue, the checkpoint
    total = time.monotonic() - started
    return {
        "delete_rows_s": committed,
        "delete_total_s": total,
        "delete_rss_mib": peak_rss_mib(),
        "deleted_rows": sum(outcome.rows.values()),
        "deleted_files": files,
        "vendor": connection.vendor,
    }


def measure_sign_in(rounds: int) -> dict[str, float]:
    setup_django()
    from django.test import Client

    from candor.accounts.models import User, email_index
    from candor.privacy import crypto

    def median_ms(action, count: int) -> float:
        times = []
        for _ in range(count):
            started = time.perf_counter()
            action()
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    client = Client()

    def sign_in() -> None:
        response = client.post("/login/", {"username": EMAIL, "password": PASSWORD})
        assert response.status_code == 302, response.status_code
        client.cookies.clear()

    user = User.objects.get(email_index=email_index(EMAIL))
    login = median_ms(sign_in, rounds)
    argon2 = median_ms(lambda: user.check_password(PASSWORD), rounds)
    index = median_ms(lambda: email_index(EMAIL), 200) * 1000  # µs

    def decrypt_fresh() -> None:
        crypto.forget_cached_keys()
        _ = User.objects.get(pk=user.pk).email

    decrypt = median_ms(decrypt_fresh, 200)
    return {"login_ms": login, "argon2_ms": argon2, "index_us": index, "decrypt_ms": decrypt}


# Each measurement in a process of its own.
child = partial(run_child, __file__)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30, help="sign-ins to time")
    parser.add_argument(
        "--database-url", default="", help="PostgreSQL URL (a scratch database: it is filled)"
    )
    parser.add_argument("--work-dir", default="", help="folder for the data (default: a temporary one)")
    parser.add_argument("--record", action="store_true", help="append the figures to bench/README.md")
    parser.add_argument(
        "--part",
        choices=["all", "seed", "export"],
        default="all",
        help="seed only, or export only from a --work-dir seeded before (default: everything)",
    )
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        outcome = {
            "seed": lambda: seed(args.models, args.files, args.events),
            "export": measure_export,
            "delete": measure_delete,
            "sign-in": lambda: measure_sign_in(args.rounds),
        }[args.child]()
        print(json.dumps(outcome))
        return
    if args.part != "all" and not args.work_dir:
        parser.error("--part seed or export needs --work-dir (the seeded data stays there)")
    if args.part != "all" and args.record:
        parser.error("--record needs every measurement: use it without --part")
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="candor-bench-privacy-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "CANDOR_DATA_DIR": str(work / "data"),
        "CANDOR_ALLOWED_HOSTS": "testserver,127.0.0.1",
        "CANDOR_LOGIN_FAILURES_PER_ADDRESS": "100000",
        "DJANGO_SETTINGS_MODULE": "candor.settings",
    }
    env.pop("DATABASE_URL", None)
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    sizes = ["--models", str(args.models), "--files", str(args.files), "--events", str(args.events)]
    if args.part == "seed":
        print(f"seeded in {child('seed', env, *sizes)['seed_s']:.0f} s")
        return
    if args.part == "export":
        os.sync()
        exported = child("export", env)
        print(
            f"export: {exported['export_s']:.2f} s, peak RSS {exported['export_rss_mib']:.0f} MiB, "
            f"archive {exported['export_mib']:.1f} MiB, {exported['status']}"
        )
        return
    try:
        figures: dict[str, float] = {}
        figures |= child("seed", env, *sizes)
        print(f"seeded in {figures['seed_s']:.0f} s")
        # Each measurement starts with the disk idle: the seed's (or the export's) dirty pages are
        # written out first, so a measurement does not pay for the one before it.
        os.sync()
        figures |= child("sign-in", env, "--rounds", str(args.rounds))
        figures |= child("export", env)
        os.sync()
        figures |= child("delete", env)
        report(figures, args)
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)


def report(f: dict[str, float], args: argparse.Namespace) -> None:
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
        f"### Privacy core, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {database}. "
        f"One account with {args.models:,} models, {args.files:,} files of 1 KiB "
        f"and {args.events:,} security events.",
        "",
        "| measurement | wall time | peak RSS (MiB) | notes |",
        "|---|---:|---:|---|",
        f"| permanent deletion, transaction | {f['delete_rows_s']:.2f} s | | key destroyed, "
        f"{f['deleted_rows']:,} rows deleted |",
        f"| permanent deletion, with the files | {f['delete_total_s']:.2f} s | {f['delete_rss_mib']:.0f} | "
        f"{f['deleted_files']:,} files removed from storage |",
        f"| export | {f['export_s']:.2f} s | {f['export_rss_mib']:.0f} | archive {f['export_mib']:.1f} MiB, "
        f"{f['status']} |",
        f"| sign-in by email (POST /login/, median of {args.rounds}) | {f['login_ms']:.0f} ms | | "
        f"Argon2 {f['argon2_ms']:.0f} ms ({f['argon2_ms'] / f['login_ms']:.0%}); blind index "
        f"{f['index_us']:.1f} µs; one decryption with key unwrap {f['decrypt_ms']:.2f} ms |",
        "",
        f"Command: `uv run python bench/privacy.py --models {args.models} --files {args.files} "
        f"--events {args.events}{' --database-url …' if args.database_url else ''} --record`",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.record:
        append_to_readme(text)


if __name__ == "__main__":
    main()
