# ruff: noqa: E501, S608 - a benchmark script: long table rows and SQL over its own table names
"""Analytics benchmark: capture overhead, ingest rate, and reports over a year of aggregates.

    uv run python bench/analytics.py [--part capture,ingest,report] [--models 100000]
                                     [--hourly-rows 10000000] [--database-url postgres://…]
                                     [--redis-url redis://127.0.0.1:6379/13] [--record]

- capture: a public model page served in-process through Django's WSGI handler, capture on and off in
  alternating rounds of the same run, for 1,000 distinct addresses and a mix of browsers, languages
  and referrers. The added cost is also timed directly around the capture call (the only work capture
  adds to a request), which is the figure held to the 25 µs goal; the whole-request medians are shown
  beside it for scale.
- ingest: events recorded into the per-process buffer and written out (embedded: into the database as
  upserts; Redis mode: into Redis, then the rollup into the database), in events per second on one core.
- report: a year of hourly rows for N public models (at least 10 million rows, skewed so that a few
  hundred models are seen every hour and the rest now and then), with the daily and monthly rows that
  flushes write beside them, built from the hourly rows in SQL. Then, each with a cold cache, the
  one-year GET /api/v1/trends (granularity day and month) and the popular and trending lists.

Each part runs in its own process. With --record the figures are appended to bench/README.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from common import append_to_readme, run_child, setup_django

WEBKIT = "AppleWebKit/605.1.15 (KHTML, like Gecko)"
BROWSERS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    f"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) {WEBKIT} Version/18.1 Safari/605.1.15",
    f"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) {WEBKIT} Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
    "python-httpx/0.28.1",
]
LANGUAGES = ["en-GB,en;q=0.9", "fr-FR,fr;q=0.8", "de", "es-ES", "ja", "pt-BR,pt;q=0.9", ""]
REFERRERS = ["", "", "https://news.example.org/item?id=1", "https://www.search.example/?q=models", ""]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


# --- capture --------------------------------------------------------------------------------------
def measure_capture(rounds: int) -> dict[str, float]:
    setup_django()
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command

    from candor.accounts.models import User
    from candor.analytics import capture
    from candor.analytics.buffer import BUFFER
    from candor.hub import actions

    call_command("migrate", interactive=False, verbosity=0)
    owner = User.objects.create_user(
        "benchowner", "owner@bench.invalid", "bench-password-1", email_verified=True
    )
    model = actions.create_model(
        acting_user=owner, name="capture-bench", visibility="public", card="# A model\n\nText."
    )
    path = model.get_absolute_url()
    handler = WSGIHandler()
    rng = random.Random(7)

    def environ(i: int) -> dict[str, object]:
        return {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "HTTP_HOST": "127.0.0.1",
            "REMOTE_ADDR": f"198.51.100.{i % 250}" if i % 4 else f"2001:db8::{i % 1000:x}",
            "HTTP_USER_AGENT": BROWSERS[i % len(BROWSERS)],
            "HTTP_ACCEPT_LANGUAGE": LANGUAGES[i % len(LANGUAGES)],
            "HTTP_REFERER": REFERRERS[i % len(REFERRERS)],
            "wsgi.input": io.BytesIO(b""),
            "wsgi.url_scheme": "http",
        }

    # Time the capture call itself, inside real requests.
    added: list[float] = []
    original = capture.capture

    def timed(request, response, now=None):  # type: ignore[no-untyped-def]
        started = time.perf_counter_ns()
        result = original(request, response, now)
        added.append((time.perf_counter_ns() - started) / 1000)
        return result

    capture.capture = timed  # type: ignore[assignment]
    whole = {True: [], False: []}  # type: dict[bool, list[float]]
    order = [True, False]
    for _ in range(200):  # warm up: the parsers' caches, the salt, the connection
        handler(environ(rng.randrange(10_000)), lambda *a: None)
    added.clear()
    for round_ in range(rounds):
        for enabled in order if round_ % 2 else reversed(order):
            settings.ANALYTICS_ENABLED = enabled
            for _ in range(100):
                env = environ(rng.randrange(10_000))
                started = time.perf_counter_ns()
                response = handler(env, lambda *a: None)
                b"".join(response)
                whole[enabled].append((time.perf_counter_ns() - started) / 1000)
    capture.capture = original  # type: ignore[assignment]
    BUFFER.take()
    return {
        "capture_median_us": statistics.median(added),
        "capture_p99_us": percentile(added, 0.99),
        "capture_samples": len(added),
        "request_on_median_us": statistics.median(whole[True]),
        "request_on_p99_us": percentile(whole[True], 0.99),
        "request_off_median_us": statistics.median(whole[False]),
        "request_off_p99_us": percentile(whole[False], 0.99),
    }


# --- ingest ---------------------------------------------------------------------------------------
def measure_ingest(events: int, batch: int) -> dict[str, float]:
    setup_django()
    from django.conf import settings
    from django.core.management import call_command

    from candor.analytics.buffer import BUFFER

    call_command("migrate", interactive=False, verbosity=0)
    if settings.REDIS_URL:
        from candor.analytics import redis_store

        redis_store.clear()
    rng = random.Random(11)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    routes = ["hub:model", "api:get_model", "hub:list", "home", "api:download_file", "hub:file"]
    # Skewed like real traffic: a few models take most views.
    models = [int(rng.paretovariate(1.2)) % 5000 + 1 for _ in range(events)]
    started = time.perf_counter()
    flushes = 0
    for i in range(events):
        model = models[i]
        BUFFER.record(
            hour=hour,
            route=routes[i % len(routes)],
            bot=i % 50 == 0,
            model_id=model,
            kind="download" if i % 9 == 0 else "view",
            dimensions=(
                ("browser", ("Firefox", "Chrome", "Safari", "Mobile Safari", "Edge")[i % 5]),
                ("language", ("en", "fr", "de", "es", "ja", "und")[i % 6]),
            ),
            visitor=rng.getrandbits(32),
        )
        if (i + 1) % batch == 0:
            BUFFER.flush()
            flushes += 1
    BUFFER.flush()
    recorded = time.perf_counter() - started
    rollup = 0.0
    if settings.REDIS_URL:
        from candor.analytics import redis_store

        started = time.perf_counter()
        redis_store.rollup()
        rollup = time.perf_counter() - started
    from candor.analytics.models import RouteDaily

    counted = sum(row.views + row.bot_views for row in RouteDaily.objects.all())
    assert counted == events, (counted, events)
    total = recorded + rollup
    return {
        "ingest_events": events,
        "ingest_s": total,
        "ingest_rollup_s": rollup,
        "ingest_per_s": events / total,
        "ingest_flushes": flushes + 1,
    }


# --- report ---------------------------------------------------------------------------------------
def seed_year(models: int, hourly_rows: int) -> dict[str, float]:
    """A year of aggregates for `models` public models, ending yesterday."""
    setup_django()
    from django.core.management import call_command
    from django.db import connection, transaction

    from candor.accounts.models import User
    from candor.analytics.models import (
        DailyUnique,
        DimensionDaily,
        ModelDaily,
        ModelHourly,
        ModelMonthly,
        RouteDaily,
        RouteHourly,
    )
    from candor.hub.models import MLModel

    call_command("migrate", interactive=False, verbosity=0)
    started = time.monotonic()
    owners = [
        User.objects.create_user(f"pub{i}", f"pub{i}@bench.invalid", None, email_verified=True)
        for i in range(100)
    ]
    now = datetime.now(UTC)
    with transaction.atomic():
        MLModel.objects.bulk_create(
            [
                MLModel(
                    owner=owners[i % len(owners)],
                    name=f"model-{i}",
                    title=f"Model {i}",
                    summary="A benchmark model.",
                    visibility="public",
                    published_at=now,
                )
                for i in range(models)
            ],
            batch_size=5000,
        )
    ids = list(MLModel.objects.order_by("pk").values_list("pk", flat=True))
    rng = random.Random(3)
    end = datetime.combine(datetime.now(UTC).date(), datetime.min.time(), UTC)
    hours = [end - timedelta(hours=h) for h in range(24 * 365, 0, -1)]
    per_hour = hourly_rows // len(hours) + 1
    always = ids[:300]
    rest = ids[300:]
    table = ModelHourly._meta.db_table
    ops = connection.ops
    written = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for hour in hours:
            seen = set(always)
            while len(seen) < per_hour:
                seen.add(
                    rest[int(rng.paretovariate(0.6)) % len(rest)] if rng.random() < 0.5 else rng.choice(rest)
                )
            stamp = ops.adapt_datetimefield_value(hour)
            rows = [
                (
                    stamp,
                    mid,
                    rng.randint(1, 40) if mid in always[:300] else rng.randint(1, 5),
                    rng.randint(0, 2),
                )
                for mid in seen
            ]
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(
                    f"COPY {table} (hour, model_id, views, downloads) FROM STDIN"
                ) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor.executemany(
                    f"INSERT INTO {table} (hour, model_id, views, downloads) VALUES (%s, %s, %s, %s)", rows
                )
            written += len(rows)
    hourly_s = time.monotonic() - started
    # The daily and monthly rows every flush writes beside the hourly ones, derived here in SQL, in time
    # order as flushes write them.
    day_sql = "date(hour)" if connection.vendor == "sqlite" else "(hour AT TIME ZONE 'UTC')::date"
    month_sql = (
        "date(hour, 'start of month')"
        if connection.vendor == "sqlite"
        else "date_trunc('month', hour AT TIME ZONE 'UTC')::date"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        for target, bucket, column in (
            (ModelDaily, day_sql, "day"),
            (ModelMonthly, month_sql, "month"),
        ):
            cursor.execute(
                f"INSERT INTO {target._meta.db_table} ({column}, model_id, views, downloads) "
                f"SELECT {bucket}, model_id, SUM(views), SUM(downloads) FROM {table} GROUP BY 1, 2 ORDER BY 1, 2"
            )
        RouteHourly.objects.bulk_create(
            [
                RouteHourly(hour=h, route=r, views=rng.randint(50, 5000), bot_views=rng.randint(0, 500))
                for h in hours
                for r in ("hub:model", "api:get_model", "hub:list", "home", "hub:file")
            ],
            batch_size=5000,
        )
        cursor.execute(
            f"INSERT INTO {RouteDaily._meta.db_table} (day, route, views, bot_views) "
            f"SELECT {day_sql}, route, SUM(views), SUM(bot_views) FROM {RouteHourly._meta.db_table} GROUP BY 1, 2"
        )
        days = sorted({h.date() for h in hours})
        DimensionDaily.objects.bulk_create(
            [
                DimensionDaily(day=d, dimension=dim, value=value, views=rng.randint(1, 20000))
                for d in days
                for dim, values in (
                    ("browser", ["Firefox", "Chrome", "Safari", "Edge", "Mobile Safari", "Opera", "curl"]),
                    ("language", ["en", "fr", "de", "es", "ja", "pt", "zh", "und"]),
                    ("referrer", [f"site{n}.example" for n in range(60)]),
                )
                for value in values
            ],
            batch_size=5000,
        )
        DailyUnique.objects.bulk_create(
            [DailyUnique(day=d, model_id=0, visitors=rng.randint(1000, 90000)) for d in days]
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    counts = {
        "hourly_rows": ModelHourly.objects.count(),
        "daily_rows": ModelDaily.objects.count(),
        "monthly_rows": ModelMonthly.objects.count(),
        "models": len(ids),
    }
    return {**counts, "seed_hourly_s": hourly_s, "seed_s": time.monotonic() - started}


def measure_report(repeats: int) -> dict[str, float]:
    setup_django()
    from django.core.cache import cache
    from django.test import Client

    client = Client()
    today = datetime.now(UTC).date()
    start = today - timedelta(days=365)
    end = today - timedelta(days=1)
    timings: dict[str, list[float]] = {}

    def timed(name: str, url: str) -> None:
        for _ in range(repeats):
            cache.clear()  # cold: nothing from the run before
            started = time.perf_counter()
            response = client.get(url)
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, (url, response.status_code, response.content[:300])
            timings.setdefault(name, []).append(elapsed)

    timed("trends_day_s", f"/api/v1/trends?from={start}&to={end}&granularity=day")
    timed("trends_month_s", f"/api/v1/trends?from={start}&to={end}&granularity=month")
    timed("popular_api_s", "/api/v1/models/popular?limit=20")
    timed("trending_api_s", "/api/v1/models/trending?limit=20")
    timed("popular_page_s", "/models/popular/")
    timed("trends_page_s", f"/trends/?from={start}&to={end}&granularity=week")
    return {name: statistics.median(values) for name, values in timings.items()} | {
        f"{name}_max": max(values) for name, values in timings.items()
    }


# --- driver ---------------------------------------------------------------------------------------
# Each measurement in a process of its own.
child = partial(run_child, __file__)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--part", default="capture,ingest,report")
    parser.add_argument("--rounds", type=int, default=40, help="capture: rounds of 100 requests each way")
    parser.add_argument("--events", type=int, default=200_000, help="ingest: events to record")
    parser.add_argument("--batch", type=int, default=20_000, help="ingest: events between flushes")
    parser.add_argument("--models", type=int, default=100_000)
    parser.add_argument("--hourly-rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--database-url", default="", help="PostgreSQL URL (a scratch database: it is filled)"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13", help="for the Redis-mode ingest")
    parser.add_argument("--work-dir", default="")
    parser.add_argument("--record", action="store_true", help="append the figures to bench/README.md")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        outcome = {
            "capture": lambda: measure_capture(args.rounds),
            "ingest": lambda: measure_ingest(args.events, args.batch),
            "seed": lambda: seed_year(args.models, args.hourly_rows),
            "report": lambda: measure_report(args.repeats),
        }[args.child]()
        print(json.dumps(outcome))
        return
    parts = set(args.part.split(","))
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="candor-bench-analytics-"))
    base = {
        **os.environ,
        "CANDOR_ALLOWED_HOSTS": "testserver,127.0.0.1",
        "DJANGO_SETTINGS_MODULE": "candor.settings",
        "CANDOR_ANALYTICS_FLUSH_SECONDS": "0",  # the benchmark flushes itself
        "CANDOR_ANALYTICS_FLUSH_KEYS": "100000000",
        "CANDOR_API_ANON_RATE_PER_MINUTE": "100000",
    }
    for name in ("DATABASE_URL", "CANDOR_REDIS_URL"):
        base.pop(name, None)
    if args.database_url:
        base["DATABASE_URL"] = args.database_url
    figures: dict[str, float] = {}
    try:
        if "capture" in parts:
            figures |= child(
                "capture", {**base, "CANDOR_DATA_DIR": str(work / "capture")}, "--rounds", str(args.rounds)
            )
        if "ingest" in parts:
            sizes = ["--events", str(args.events), "--batch", str(args.batch)]
            embedded = child("ingest", {**base, "CANDOR_DATA_DIR": str(work / "ingest")}, *sizes)
            figures |= {f"embedded_{k}": v for k, v in embedded.items()}
            redis_env = {
                **base,
                "CANDOR_DATA_DIR": str(work / "ingest-redis"),
                "CANDOR_REDIS_URL": args.redis_url,
            }
            redis_mode = child("ingest", redis_env, *sizes)
            figures |= {f"redis_{k}": v for k, v in redis_mode.items()}
        if "report" in parts:
            env = {**base, "CANDOR_DATA_DIR": str(work / "report")}
            seeded = work / "report" / "seeded.json"
            if seeded.exists():  # --work-dir kept from an earlier run: the same data again
                figures |= json.loads(seeded.read_text())
            else:
                figures |= child(
                    "seed", env, "--models", str(args.models), "--hourly-rows", str(args.hourly_rows)
                )
                seeded.write_text(json.dumps(figures))
            print(
                f"seeded {figures['hourly_rows']:,.0f} hourly rows in {figures['seed_s']:.0f} s", flush=True
            )
            os.sync()
            figures |= child("report", env, "--repeats", str(args.repeats))
        report(figures, args, parts)
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)


def report(f: dict[str, float], args: argparse.Namespace, parts: set[str]) -> None:
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
        f"### Analytics, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {database}.",
        "",
    ]
    if "capture" in parts:
        lines += [
            f"Capture ({f['capture_samples']:,.0f} requests of a public model page through Django's WSGI handler, "
            "capture on and off alternating in one run):",
            "",
            "| | median | p99 |",
            "|---|---:|---:|",
            f"| added by capture (timed around the capture call) | {f['capture_median_us']:.1f} µs | "
            f"{f['capture_p99_us']:.1f} µs |",
            f"| whole request, capture on | {f['request_on_median_us']:.0f} µs | {f['request_on_p99_us']:.0f} µs |",
            f"| whole request, capture off | {f['request_off_median_us']:.0f} µs | "
            f"{f['request_off_p99_us']:.0f} µs |",
            "",
        ]
    if "ingest" in parts:
        lines += [
            f"Ingest ({f['embedded_ingest_events']:,.0f} events over 5,000 models, written every {args.batch:,} "
            "events, one process):",
            "",
            "| mode | events/s | total | of which rollup |",
            "|---|---:|---:|---:|",
            f"| embedded (upserts into the database) | {f['embedded_ingest_per_s']:,.0f} | "
            f"{f['embedded_ingest_s']:.2f} s | |",
            f"| Redis (HINCRBY/PFADD, then the rollup) | {f['redis_ingest_per_s']:,.0f} | {f['redis_ingest_s']:.2f} s | "
            f"{f['redis_ingest_rollup_s']:.2f} s |",
            "",
        ]
    if "report" in parts:
        lines += [
            f"Reports over {f['hourly_rows']:,.0f} hourly rows ({f['daily_rows']:,.0f} daily, "
            f"{f['monthly_rows']:,.0f} monthly) for {f['models']:,.0f} public models, one year; cold cache, "
            f"median (max) of {args.repeats}:",
            "",
            "| request | median | max |",
            "|---|---:|---:|",
        ]
        for key, label in (
            ("trends_day_s", "GET /api/v1/trends, one year by day"),
            ("trends_month_s", "GET /api/v1/trends, one year by month"),
            ("trends_page_s", "/trends/, one year by week (page with six charts)"),
            ("popular_api_s", "GET /api/v1/models/popular"),
            ("popular_page_s", "/models/popular/"),
            ("trending_api_s", "GET /api/v1/models/trending"),
        ):
            lines.append(f"| {label} | {f[key] * 1000:.0f} ms | {f[key + '_max'] * 1000:.0f} ms |")
        lines.append("")
    lines += [
        f"Command: `uv run python bench/analytics.py --part {','.join(sorted(parts))}"
        f"{' --database-url …' if args.database_url else ''} --record`",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.record:
        append_to_readme(text)


if __name__ == "__main__":
    main()
