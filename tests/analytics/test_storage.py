"""Analytics storage (clauses C7, C12): what its tables can hold, salts that die with their day, and counts
that survive concurrency, shutdowns, failures, Redis and the rollup without being lost or doubled.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time as clock
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.db import DataError, IntegrityError, models, transaction
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import resolve

from candor.accounts.models import User
from candor.analytics import buffer, capture, redis_store, salt, sketch, store, tasks
from candor.analytics.buffer import BUFFER, flush
from candor.analytics.models import (
    DailySalt,
    DailyUnique,
    ModelDaily,
    ModelHourly,
    RouteDaily,
    RouteHourly,
)
from candor.hub import actions
from candor.privacy.inventory import Personal, declaration_for
from tests.analytics.conftest import (
    Shelf,
    dimension_totals,
    fetch,
    free_port,
    last_line,
    model_totals,
    route_totals,
    start_candor,
)
from tests.conftest import run_candor

pytestmark = pytest.mark.django_db

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


def analytics_models() -> list[type[models.Model]]:
    return list(apps.get_app_config("analytics").get_models())


def visit(
    path: str = "/", *, address: str = "198.51.100.1", agent: str = CHROME, now: datetime | None = None
) -> bool:
    """Count one request as the middleware would, without the cost of rendering a page."""
    request = RequestFactory().get(
        path, REMOTE_ADDR=address, HTTP_USER_AGENT=agent, HTTP_ACCEPT_LANGUAGE="en"
    )
    request.resolver_match = resolve(path)
    return capture.capture(request, HttpResponse(), now=now)


# --- What the tables can hold (C7) --------------------------------------------------------------------------

NOW = datetime(2026, 3, 14, 15, tzinfo=UTC)
# A valid value for every column of every analytics table, by column name.
VALID: dict[str, Any] = {
    "hour": NOW,
    "day": NOW.date(),
    "month": NOW.date().replace(day=1),
    "released_at": NOW,
    "route": "hub:model",
    "dimension": "browser",
    "value": "Firefox",
    "query": "2026-01-01/2026-06-30/week",
    "model_id": 7,
    "views": 1,
    "bot_views": 1,
    "downloads": 1,
    "visitors": 1,
    "cells": 1,
    "epsilon": 1.0,
    "registers": b"\x00" * 1024,
    "salt": b"\x01" * 32,
    "payload": {"cells": []},
}
# Values a text column must refuse: client addresses, user agents, URLs and queries, account ids.
MUST_REFUSE = [
    "203.0.113.77",
    "10.0.0.1",
    "2001:db8::77",
    "::ffff:192.0.2.1",
    "fe80::1",
    "curl/8.5.0",
    "Wget/1.21.4",
    "Mozilla/5.0",
    "https://example.org/?a=b&c=d",
    "example.org/page?a=b&c=d",
    "?a=b&c=d",
    "a=b&c=d",
    "42",
    "1",
    "c0ffee00-0000-4000-8000-000000000042",  # an account id of this platform (a UUID)
    "c0ffee0000004000800000000000004",  # the same, as hex digits
]
LONG_USER_AGENT = CHROME  # longer than some columns: refused by their length on PostgreSQL
SUSPECT_NAME = (
    "user",
    "account",
    "session",
    "ip",
    "agent",
    "url",
    "query",
    "cookie",
    "address",
    "referer",
    "email",
)


def test_every_column_is_a_time_a_count_a_model_id_a_sketch_or_guarded_text() -> None:
    seen = set()
    for model in analytics_models():
        for field in model._meta.concrete_fields:
            name = f"{model.__name__}.{field.name}"
            assert not field.is_relation, f"{name} refers to another table"
            if field.primary_key:
                assert field.name == "id" and isinstance(field, models.AutoField), name
            elif isinstance(field, models.DateField):  # DateTimeField is a DateField
                assert field.name in ("hour", "day", "month", "released_at"), name
            elif isinstance(field, models.IntegerField):
                assert field.name in ("model_id", "views", "bot_views", "downloads", "visitors", "cells"), (
                    name
                )
            elif isinstance(field, models.FloatField):
                assert name == "TrendsRelease.epsilon", name
            elif isinstance(field, models.BinaryField):
                assert name in ("DailyUnique.registers", "DailySalt.salt"), name
            elif isinstance(field, models.JSONField):
                assert name == "TrendsRelease.payload", name
            elif isinstance(field, models.CharField):
                assert name in GUARDED_TEXT, f"{name}: text with no CHECK constraint proven below"
            else:
                pytest.fail(f"{name} is a {type(field).__name__}, which this test does not know")
            seen.add(name)
    assert set(GUARDED_TEXT) <= seen  # the list below names no column that is gone


def test_no_column_name_suggests_a_person() -> None:
    for model in analytics_models():
        for field in model._meta.concrete_fields:
            words = field.column.lower().split("_")
            found = [word for word in SUSPECT_NAME if word in words]
            # The ledger's key is the trends report's own date range and granularity, a CHECKed pattern.
            if (model.__name__, field.name) == ("TrendsRelease", "query"):
                continue
            assert not found, f"{model.__name__}.{field.column}"


def test_every_analytics_table_is_declared_with_no_personal_data() -> None:
    for model in analytics_models():
        declaration = declaration_for(model)
        assert declaration is not None, model.__name__
        assert declaration.belongs_to is None, model.__name__
        assert not [c for c in declaration.fields.values() if isinstance(c, Personal)], model.__name__
        assert set(declaration.fields) == {f.name for f in model._meta.concrete_fields}, model.__name__


def _valid_row(model: type[models.Model], **changes: Any) -> dict[str, Any]:
    row = {f.name: VALID[f.name] for f in model._meta.concrete_fields if not f.primary_key}
    return {**row, **changes}


class _Undo(Exception):
    pass


def _insert(model: type[models.Model], row: dict[str, Any]) -> None:
    """Insert a row and take it back, so the next attempt starts from the same table."""
    try:
        with transaction.atomic():
            model.objects.create(**row)
            raise _Undo
    except _Undo:
        pass


# Every text column, with the valid rows a probe goes into (a dimension's value is probed in each).
GUARDED_TEXT: dict[str, list[dict[str, Any]]] = {
    "RouteHourly.route": [{}],
    "RouteDaily.route": [{}],
    "DimensionDaily.dimension": [{"value": "en"}, {"value": "Firefox"}, {"value": "example.org"}],
    "DimensionDaily.value": [
        {"dimension": "browser", "value": "Firefox"},
        {"dimension": "language", "value": "en"},
        {"dimension": "referrer", "value": "example.org"},
    ],
    "TrendsRelease.query": [{}],
}


@pytest.mark.parametrize("column", sorted(GUARDED_TEXT))
def test_text_columns_refuse_addresses_user_agents_queries_and_account_ids(column: str) -> None:
    model_name, field_name = column.split(".")
    model = apps.get_model("analytics", model_name)
    max_length = model._meta.get_field(field_name).max_length
    accepted = []
    for context in GUARDED_TEXT[column]:
        _insert(model, _valid_row(model, **context))  # the row is valid without the probe
        for probe in [*MUST_REFUSE, LONG_USER_AGENT]:
            # PostgreSQL refuses a value longer than the column by its length (DataError); any other
            # value only the CHECK constraint can refuse.
            refusals = (IntegrityError, DataError) if len(probe) > max_length else IntegrityError
            try:
                with transaction.atomic():
                    model.objects.create(**_valid_row(model, **{**context, field_name: probe}))
            except refusals:
                continue
            accepted.append((probe, context))
    assert accepted == [], f"{column} accepted these values"


# --- The daily salt -----------------------------------------------------------------------------------------


def _unchanged_rate(registers: bytes, visitors: list[tuple[str, str]], day: date) -> float:
    """The share of visitors whose hash under ``day``'s salt (as the platform gives it now) leaves the
    sketch as it is: 1.0 for everyone counted, under the salt they were counted with."""
    same = 0
    for address, agent in visitors:
        probe = sketch.build([salt.visitor_hash(day, address, agent)], sketch.SITE_PRECISION, registers)
        same += probe.to_bytes() == registers
    return same / len(visitors)


def test_once_its_day_is_over_the_salt_is_gone_and_no_visitor_can_be_tested() -> None:
    today = datetime.now(UTC).date()
    noon = datetime.combine(today, time(12), UTC)
    counted = [(f"198.51.100.{i % 250}", f"{CHROME} #{i}") for i in range(200)]
    uncounted = [(f"192.0.2.{i % 250}", f"{CHROME} #{i}") for i in range(200)]
    for address, agent in counted:
        assert visit(address=address, agent=agent, now=noon)
    flush()
    registers = bytes(DailyUnique.objects.get(day=today, model_id=0).registers)
    old_salt = bytes(DailySalt.objects.get(day=today).salt)
    # During the day, whoever holds the salt can tell who was counted.
    assert _unchanged_rate(registers, counted, today) == 1.0
    assert _unchanged_rate(registers, uncounted, today) < 0.1

    outcome = tasks.run(now=noon + timedelta(days=1))
    assert outcome.salts_destroyed == 1
    assert not DailySalt.objects.filter(day=today).exists()
    for held in (salt._current, salt._keyed):
        assert held is None or held[0] > today, "the process still holds the ended day's salt"
    # After it, any salt one can get is a new one, under which counted and uncounted look alike.
    tomorrow = today + timedelta(days=1)
    after = _unchanged_rate(registers, counted, tomorrow), _unchanged_rate(registers, uncounted, tomorrow)
    assert salt._current is not None and salt._current[0] == tomorrow and salt._current[1] != old_salt
    assert max(after) < 0.1 and abs(after[0] - after[1]) < 0.06, after
    salt.forget_in_memory()
    asked_again = _unchanged_rate(registers, counted, today), _unchanged_rate(registers, uncounted, today)
    assert max(asked_again) < 0.1 and abs(asked_again[0] - asked_again[1]) < 0.06, asked_again
    assert bytes(DailySalt.objects.get(day=today).salt) != old_salt


def test_a_new_day_drops_the_old_salt_from_memory_and_the_database() -> None:
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    DailySalt.objects.create(day=today - timedelta(days=3), salt=b"\x03" * 32)
    old = salt.salt_for(yesterday)
    assert salt._current == (yesterday, old)
    salt.salt_for(today)
    assert salt._current is not None and salt._current[0] == today
    assert list(DailySalt.objects.values_list("day", flat=True)) == [today]


THREAD_FORGETS = """
import time
from datetime import UTC, datetime, timedelta
from candor.analytics import salt
from candor.analytics.buffer import BUFFER
yesterday = datetime.now(UTC).date() - timedelta(days=1)
salt.visitor_hash(yesterday, "198.51.100.1", "an agent")
held = [salt._current is not None, salt._keyed is not None]
BUFFER.record(hour=datetime.now(UTC), route="home", bot=True)  # the first count starts the flush thread
deadline = time.monotonic() + 20
while time.monotonic() < deadline and (salt._current or salt._keyed):
    time.sleep(0.05)
print(held, [salt._current is None, salt._keyed is None], BUFFER.thread is not None)
"""


def test_the_flush_thread_drops_a_salt_whose_day_is_over_from_memory(tmp_path: Path) -> None:
    """A process that serves nothing after midnight must not keep the ended day's salt."""
    env = {"CANDOR_ANALYTICS_FLUSH_SECONDS": "1"}
    assert run_candor(["migrate", "-v0"], tmp_path, env).returncode == 0
    result = last_line(run_candor(["shell", "-c", THREAD_FORGETS], tmp_path, env))
    assert result == "[True, True] [True, True] True"


SALT_DAY = """
import json
from datetime import UTC, datetime
from django.test import Client
from candor.analytics import buffer
from candor.analytics.models import DailySalt, DailyUnique
for address in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
    assert Client().get("/", REMOTE_ADDR=address, HTTP_HOST="127.0.0.1").status_code == 200
buffer.flush()
today = datetime.now(UTC).date()
print(json.dumps({"salt": bytes(DailySalt.objects.get(day=today).salt).hex(),
                  "visitors": DailyUnique.objects.get(day=today, model_id=0).visitors}))
"""
SALT_NEXT_DAY = """
from datetime import UTC, datetime, timedelta
from candor.analytics import tasks
from candor.analytics.models import DailySalt
print(tasks.run(now=datetime.now(UTC) + timedelta(days=1)).salts_destroyed, DailySalt.objects.count())
"""


def test_on_sqlite_the_destroyed_salt_is_in_neither_the_database_file_nor_its_log(tmp_path: Path) -> None:
    assert run_candor(["migrate", "-v0"], tmp_path).returncode == 0
    facts = json.loads(last_line(run_candor(["shell", "-c", SALT_DAY], tmp_path)))
    assert facts["visitors"] == 3
    database = tmp_path / "data" / "candor.sqlite3"
    files = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
    secret = bytes.fromhex(facts["salt"])
    assert secret in b"".join(p.read_bytes() for p in files if p.exists())  # the scan can find it
    assert last_line(run_candor(["shell", "-c", SALT_NEXT_DAY], tmp_path)) == "1 0"
    for path in files:
        if path.exists():
            assert secret not in path.read_bytes(), path.name


# --- Two processes flushing at once -------------------------------------------------------------------------

EVENTS = 300
EVERY = 5  # events a flush: each process writes 60 small batches
CONCURRENT = """
import json, os, sys, time
from datetime import UTC, datetime
from pathlib import Path
from candor.analytics.buffer import BUFFER, flush
import hashlib
which, events, every = int(os.environ["WHICH"]), int(os.environ["EVENTS"]), int(os.environ["EVERY"])
gate = Path(os.environ["GATE"])
hour = datetime(2026, 3, 14, 15, tzinfo=UTC)
first = which * events // 2  # the two processes share half their visitors
def visitor(i):
    return int.from_bytes(hashlib.blake2b(str(i).encode(), digest_size=4).digest(), "little")
(gate / f"ready-{which}").touch()
deadline = time.monotonic() + 120
while not (gate / "go").exists():
    if time.monotonic() > deadline:
        sys.exit("no go")
    time.sleep(0.002)
written = 0
for i in range(events):
    kind = "view" if i % 2 else "download"
    BUFFER.record(hour=hour, route="hub:model", bot=False, model_id=4242, kind=kind,
                  dimensions=(("browser", "Firefox"), ("language", "en")), visitor=visitor(first + i))
    BUFFER.record(hour=hour, route="hub:model", bot=True)
    if (i + 1) % every == 0:
        count = flush()
        assert count > 0, "a flush wrote nothing"
        written += 1
print(json.dumps({"flushes": written, "left": flush()}))
"""
CONCURRENT_TOTALS = """
import json
from datetime import date, datetime, UTC
from candor.analytics.models import *
hour = datetime(2026, 3, 14, 15, tzinfo=UTC)
day = hour.date()
def pair(table, **key):
    row = table.objects.get(**key)
    return [getattr(row, "views"), getattr(row, "bot_views", getattr(row, "downloads", None))]
print(json.dumps({
    "route_hour": pair(RouteHourly, hour=hour, route="hub:model"),
    "route_day": pair(RouteDaily, day=day, route="hub:model"),
    "model_hour": pair(ModelHourly, hour=hour, model_id=4242),
    "model_day": pair(ModelDaily, day=day, model_id=4242),
    "model_month": pair(ModelMonthly, month=day.replace(day=1), model_id=4242),
    "dimensions": sorted(DimensionDaily.objects.values_list("dimension", "value", "views")),
    "unique": {str(r.model_id): [r.visitors, bytes(r.registers).hex()] for r in DailyUnique.objects.all()},
}))
"""


def test_two_processes_flushing_at_once_lose_no_count(
    tmp_path: Path, process_database: dict[str, str]
) -> None:
    import hashlib

    env = {**process_database, "CANDOR_ANALYTICS_FLUSH_SECONDS": "0", "GATE": str(tmp_path)}
    env |= {"EVENTS": str(EVENTS), "EVERY": str(EVERY)}
    migrated = run_candor(["migrate", "-v0"], tmp_path, env)
    assert migrated.returncode == 0, migrated.stderr
    workers = [start_candor(["shell", "-c", CONCURRENT], tmp_path, {**env, "WHICH": str(i)}) for i in (0, 1)]
    try:
        deadline = clock.monotonic() + 120
        while not all((tmp_path / f"ready-{i}").exists() for i in (0, 1)):
            assert clock.monotonic() < deadline and all(w.poll() is None for w in workers), "not ready"
            clock.sleep(0.01)
        (tmp_path / "go").touch()
        outputs = [worker.communicate(timeout=300) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1]) == {"flushes": EVENTS // EVERY, "left": 0}
    totals = json.loads(last_line(run_candor(["shell", "-c", CONCURRENT_TOTALS], tmp_path, env)))
    both = 2 * EVENTS
    assert totals["route_hour"] == totals["route_day"] == [both, both]
    assert totals["model_hour"] == totals["model_day"] == totals["model_month"] == [both // 2, both // 2]
    assert totals["dimensions"] == [["browser", "Firefox", both], ["language", "en", both]]
    # The stored sketches are exactly those of everyone either process counted.
    everyone = [
        int.from_bytes(hashlib.blake2b(str(i).encode(), digest_size=4).digest(), "little")
        for i in range(EVENTS // 2 * 3)
    ]
    for model_id in (0, 4242):
        expected = sketch.build(everyone, sketch.precision_for(model_id))
        visitors, registers = totals["unique"][str(model_id)]
        assert registers == expected.to_bytes().hex()
        assert visitors == sketch.estimate(expected)
        assert abs(visitors - len(everyone)) < 0.1 * len(everyone)


# --- Stopping the server: the last counts are written -------------------------------------------------------

SERVED = """
from candor.accounts.models import User
from candor.hub import actions
owner = User.objects.create_user(
    "zzqserve", "zzq.serve@example.net", "a-long-passphrase-77", email_verified=True
)
print(actions.create_model(acting_user=owner, name="served", visibility="public").pk)
"""
SERVED_COUNTS = """
import json
from django.db.models import Sum
from candor.analytics.models import ModelDaily, RouteDaily
routes = RouteDaily.objects.values("route").annotate(v=Sum("views"))
print(json.dumps({"routes": {r["route"]: r["v"] for r in routes},
                  "model": ModelDaily.objects.aggregate(v=Sum("views"))["v"] or 0}))
"""


def _serve(tmp_path: Path, env: dict[str, str], workers: int) -> tuple[Any, str]:
    migrated = run_candor(["migrate", "-v0"], tmp_path, env)
    assert migrated.returncode == 0, migrated.stderr
    assert last_line(run_candor(["shell", "-c", SERVED], tmp_path, env)).isdigit()
    port = free_port()
    bind = f"127.0.0.1:{port}"
    server = start_candor(["serve", "--bind", bind, "--workers", str(workers)], tmp_path, env, log=True)
    return server, f"http://{bind}"


def _stop(server: Any, tmp_path: Path) -> str:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=60)
    return (tmp_path / "candor.out").read_text()


def _counts(tmp_path: Path, env: dict[str, str]) -> dict[str, Any]:
    return dict(json.loads(last_line(run_candor(["shell", "-c", SERVED_COUNTS], tmp_path, env))))


def test_stopping_the_server_writes_the_counts_it_holds(
    tmp_path: Path, process_database: dict[str, str]
) -> None:
    env = {**process_database, "CANDOR_ANALYTICS_FLUSH_SECONDS": "3600"}  # only the exit can write them
    server, url = _serve(tmp_path, env, workers=2)
    try:
        fetch(f"{url}/")
        for _ in range(3):
            fetch(f"{url}/zzqserve/served/")
        fetch(f"{url}/login/")
        assert _counts(tmp_path, env) == {"routes": {}, "model": 0}, "nothing written while serving"
    finally:
        err = _stop(server, tmp_path)
    assert server.returncode == 0, err
    assert _counts(tmp_path, env) == {"routes": {"home": 1, "hub:model": 3}, "model": 3}


def test_a_running_server_writes_its_counts_every_interval(
    tmp_path: Path, process_database: dict[str, str]
) -> None:
    env = {**process_database, "CANDOR_ANALYTICS_FLUSH_SECONDS": "1"}
    server, url = _serve(tmp_path, env, workers=1)
    try:
        fetch(f"{url}/")
        for _ in range(2):
            fetch(f"{url}/zzqserve/served/")
        expected = {"routes": {"home": 1, "hub:model": 2}, "model": 2}
        deadline = clock.monotonic() + 30
        counts = _counts(tmp_path, env)
        # Until both kinds are in: a flush may be read between writing the models' and the routes' counts.
        while counts != expected and clock.monotonic() < deadline:
            clock.sleep(0.5)
            counts = _counts(tmp_path, env)
        assert server.poll() is None, "the server is still running"
        assert counts == expected
    finally:
        _stop(server, tmp_path)


# --- Redis mode ---------------------------------------------------------------------------------------------


def test_in_redis_mode_flush_writes_to_redis_and_the_rollup_moves_it_once(
    redis_mode: Any, shelf: Shelf
) -> None:
    for address in ("198.51.100.1", "198.51.100.2", "198.51.100.1"):
        assert Client(REMOTE_ADDR=address).get("/alice/public-model/").status_code == 200
    assert Client(HTTP_USER_AGENT="Mozilla/5.0 (compatible; Googlebot/2.1)").get("/").status_code == 200
    assert flush() > 0
    assert not RouteHourly.objects.exists() and not ModelHourly.objects.exists()
    assert not DailyUnique.objects.exists() and not DailySalt.objects.exists()
    assert redis_mode.exists(redis_store.COUNTS)
    today = datetime.now(UTC).date()
    sketches = sorted(k.decode() for k in redis_mode.smembers(redis_store.SKETCHES))
    assert sketches == sorted(f"candor:analytics:hll:{today}:{m}" for m in (0, shelf.public.pk))

    outcome = tasks.run()
    assert outcome.moved > 0 and not redis_mode.exists(redis_store.COUNTS)
    expected = {"hourly": (3, 0), "daily": (3, 0), "monthly": (3, 0)}
    assert model_totals(shelf.public.pk) == expected
    assert route_totals() == {"hub:model": (3, 0), "home": (0, 1)}
    assert dimension_totals()[("language", "und")] == 3
    visitors = dict(DailyUnique.objects.filter(day=today).values_list("model_id", "visitors"))
    assert visitors == {0: 2, shelf.public.pk: 2}
    again = tasks.run()
    assert again.moved == 0
    assert model_totals(shelf.public.pk) == expected and route_totals()["hub:model"] == (3, 0)
    assert dict(DailyUnique.objects.filter(day=today).values_list("model_id", "visitors")) == visitors


def test_increments_that_arrive_during_a_rollup_are_kept_for_the_next(
    redis_mode: Any, shelf: Shelf, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Client().get("/alice/public-model/").status_code == 200
    flush()
    real_write = store.write
    calls = []

    def write_while_others_count(batch: Any, *args: Any, **kwargs: Any) -> None:
        if not calls:
            # Another process flushes after the rollup renamed the counters and before it read them.
            assert Client().get("/alice/public-model/").status_code == 200
            assert Client().get("/").status_code == 200
            assert flush() > 0
        calls.append(batch)
        real_write(batch, *args, **kwargs)

    monkeypatch.setattr(store, "write", write_while_others_count)
    redis_store.rollup()
    assert model_totals(shelf.public.pk)["daily"] == (1, 0)
    assert redis_mode.exists(redis_store.COUNTS)
    redis_store.rollup()
    assert model_totals(shelf.public.pk)["daily"] == (2, 0)
    assert route_totals() == {"hub:model": (2, 0), "home": (1, 0)}


def test_two_rollups_at_once_count_each_increment_once(
    redis_mode: Any, shelf: Shelf, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        assert Client().get("/alice/public-model/").status_code == 200
    flush()
    real_write = store.write
    nested: list[int] = []
    started = []

    def write_while_another_rollup_runs(batch: Any, *args: Any, **kwargs: Any) -> None:
        if not started:
            started.append(True)
            nested.append(redis_store.rollup())  # a second worker's rollup, at this very moment
        real_write(batch, *args, **kwargs)

    monkeypatch.setattr(store, "write", write_while_another_rollup_runs)
    redis_store.rollup()
    monkeypatch.setattr(store, "write", real_write)
    redis_store.rollup()
    assert nested == [0]
    assert model_totals(shelf.public.pk) == {"hourly": (3, 0), "daily": (3, 0), "monthly": (3, 0)}
    assert route_totals() == {"hub:model": (3, 0)}


def test_a_rollup_that_fails_to_write_leaves_the_counts_in_redis(
    redis_mode: Any, shelf: Shelf, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Client().get("/alice/public-model/").status_code == 200
    flush()

    def database_down(batch: Any, *args: Any, **kwargs: Any) -> None:
        raise DataError("the database went away")

    monkeypatch.setattr(store, "write", database_down)
    with pytest.raises(DataError):
        redis_store.rollup()
    monkeypatch.undo()
    redis_store.rollup()
    assert model_totals(shelf.public.pk)["daily"] == (1, 0)
    redis_store.rollup()
    assert model_totals(shelf.public.pk)["daily"] == (1, 0)


def test_in_redis_mode_the_salt_lives_in_redis_until_the_end_of_its_day(redis_mode: Any) -> None:
    today = datetime.now(UTC).date()
    secret = salt.salt_for(today)
    key = f"candor:analytics:salt:{today.isoformat()}"
    assert redis_mode.get(key) == secret and len(secret) == 32
    end = datetime.combine(today + timedelta(days=1), time.min, UTC)
    assert redis_mode.expiretime(key) == int(end.timestamp())
    assert 0 < redis_mode.ttl(key) <= 86_400
    assert not DailySalt.objects.exists()
    # Another process gets the same salt, not one of its own.
    salt.forget_in_memory()
    assert salt.salt_for(today) == secret


# --- The rollup ---------------------------------------------------------------------------------------------


def test_the_rollup_drops_old_hours_and_keeps_the_totals(settings: Any, shelf: Shelf) -> None:
    settings.ANALYTICS_HOURLY_DAYS = 90
    now = datetime(2026, 6, 15, 12, tzinfo=UTC)
    hours = {
        now - timedelta(days=120): 2,
        now - timedelta(days=91): 3,  # its whole day is past the horizon
        now - timedelta(days=89): 4,
        now - timedelta(hours=1): 5,
    }
    for hour, n in hours.items():
        for _ in range(n):
            BUFFER.record(hour=hour, route="hub:model", bot=False, model_id=shelf.public.pk, kind="view")
            BUFFER.record(hour=hour, route="hub:file", bot=False, model_id=shelf.public.pk, kind="download")
    flush()
    before_daily = model_totals(shelf.public.pk)["daily"], route_totals(daily=True)
    before_monthly = model_totals(shelf.public.pk)["monthly"]
    assert ModelHourly.objects.count() == 4 and RouteHourly.objects.count() == 8
    outcome = tasks.run(now=now)
    assert outcome.hourly_rolled_up == 2 + 4  # two model hours, four route hours
    horizon = datetime(2026, 3, 17, tzinfo=UTC)
    assert sorted(ModelHourly.objects.values_list("hour", flat=True)) == [
        h for h in sorted(hours) if h >= horizon
    ]
    assert not RouteHourly.objects.filter(hour__lt=horizon).exists()
    assert (model_totals(shelf.public.pk)["daily"], route_totals(daily=True)) == before_daily
    assert model_totals(shelf.public.pk)["monthly"] == before_monthly == (14, 14)


def test_the_rollup_removes_the_counts_of_deleted_models(shelf: Shelf, owner: User) -> None:
    doomed = actions.create_model(acting_user=owner, name="doomed", visibility="public")
    for model in (shelf.public, doomed):
        assert Client().get(f"/alice/{model.name}/").status_code == 200
    flush()
    assert model_totals(doomed.pk)["daily"] == (1, 0)
    doomed_id = doomed.pk
    actions.delete_model(doomed, acting_user=owner)
    outcome = tasks.run()
    assert outcome.orphans_removed == 4  # hour, day, month and visitors of the deleted model
    assert model_totals(doomed_id) == {"hourly": (0, 0), "daily": (0, 0), "monthly": (0, 0)}
    assert not DailyUnique.objects.filter(model_id=doomed_id).exists()
    assert model_totals(shelf.public.pk)["daily"] == (1, 0)
    assert DailyUnique.objects.filter(model_id=0).get().visitors == 1
    assert route_totals()["hub:model"] == (2, 0)  # route counts name no model: they stay


def test_the_rollup_deletes_the_salts_of_past_days() -> None:
    today = datetime(2026, 6, 15, tzinfo=UTC).date()
    for back in (0, 1, 2, 40):
        DailySalt.objects.create(day=today - timedelta(days=back), salt=bytes([back]) * 32)
    outcome = tasks.run(now=datetime.combine(today, time(0, 5), UTC))
    assert outcome.salts_destroyed == 3
    assert list(DailySalt.objects.values_list("day", flat=True)) == [today]


# --- A flush that fails -------------------------------------------------------------------------------------

SECRET_WORDS = ("203.0.113.77", "ZzqxCanaryBrowser", "QqCanary123")


def _visit_with_secrets(path: str = "/alice/public-model/") -> None:
    response = Client().get(
        path,
        REMOTE_ADDR="203.0.113.77",
        HTTP_USER_AGENT="Mozilla/5.0 ZzqxCanaryBrowser/9.9",
        HTTP_REFERER="https://news.example.org/path?secret=QqCanary123",
    )
    assert response.status_code == 200


def _assert_nothing_personal_logged(caplog: pytest.LogCaptureFixture) -> None:
    warnings = [r for r in caplog.records if r.name == "candor.analytics"]
    assert warnings, "the failure was logged"
    for record in warnings:
        assert record.exc_info is None
        assert not any(word in record.getMessage() for word in SECRET_WORDS), record.getMessage()


def test_a_failed_flush_keeps_its_counts_for_the_next_and_logs_nothing_personal(
    shelf: Shelf, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="candor.analytics")
    _visit_with_secrets()

    def refused(batch: Any, *args: Any, **kwargs: Any) -> None:
        raise IntegrityError(" ".join(SECRET_WORDS))

    monkeypatch.setattr(store, "write", refused)
    assert flush() == 0
    _visit_with_secrets()
    assert flush() == 0
    _assert_nothing_personal_logged(caplog)
    assert not RouteHourly.objects.exists()
    monkeypatch.undo()
    assert flush() > 0
    assert model_totals(shelf.public.pk)["daily"] == (2, 0)
    assert dimension_totals()[("referrer", "example.org")] == 2
    assert DailyUnique.objects.get(model_id=0).visitors == 1
    assert flush() == 0


def test_a_flush_that_fails_half_way_writes_nothing_and_then_everything_once(
    shelf: Shelf, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="candor.analytics")
    for _ in range(3):
        _visit_with_secrets()

    written_first = []

    def sketches_fail(*args: Any, **kwargs: Any) -> None:
        written_first.append(RouteHourly.objects.exists())  # the counters, inside the transaction
        raise RuntimeError(" ".join(SECRET_WORDS))

    monkeypatch.setattr(store, "_merge_sketches", sketches_fail)
    assert flush() == 0
    assert written_first == [True]
    assert not RouteHourly.objects.exists() and not ModelDaily.objects.exists()
    _assert_nothing_personal_logged(caplog)
    monkeypatch.undo()
    assert flush() > 0
    assert model_totals(shelf.public.pk) == {"hourly": (3, 0), "daily": (3, 0), "monthly": (3, 0)}
    assert route_totals() == {"hub:model": (3, 0)}


def test_in_redis_mode_a_failed_flush_keeps_its_counts(
    redis_mode: Any, shelf: Shelf, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="candor.analytics")
    _visit_with_secrets()

    def redis_down(batch: Any) -> None:
        raise ConnectionError(" ".join(SECRET_WORDS))

    monkeypatch.setattr(redis_store, "write", redis_down)
    assert buffer.flush() == 0
    _assert_nothing_personal_logged(caplog)
    monkeypatch.undo()
    assert buffer.flush() > 0
    tasks.run()
    assert model_totals(shelf.public.pk)["daily"] == (1, 0)
    assert not RouteDaily.objects.exclude(route="hub:model").exists()
