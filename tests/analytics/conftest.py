"""Fixtures of the analytics tests: models to count, the totals they reached, Redis mode, and `candor`
processes that run on a database of their own (a SQLite file, or a scratch PostgreSQL database)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db.models import Sum

from candor.accounts.models import User
from candor.analytics import redis_store, salt
from candor.analytics.models import (
    DimensionDaily,
    ModelDaily,
    ModelHourly,
    ModelMonthly,
    RouteDaily,
    RouteHourly,
)
from candor.hub import actions
from candor.hub.models import MLModel
from tests.conftest import ROOT, scratch_postgres_database

FILE_BYTES = bytes(range(256)) * 8  # 2,048 bytes, so a range can start past byte 100
# Variables of the test process that a `candor` process it starts must not inherit.
NOT_INHERITED = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CANDOR_REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


@dataclass
class Shelf:
    """alice's models: one of each visibility, each with the same file."""

    public: MLModel
    unlisted: MLModel
    private: MLModel
    path: str = "weights/model.bin"


@pytest.fixture
def shelf(owner: User, media: Path) -> Shelf:
    made = {}
    for visibility in ("public", "unlisted", "private"):
        model = actions.create_model(acting_user=owner, name=f"{visibility}-model", visibility=visibility)
        actions.add_file(model, "weights/model.bin", [FILE_BYTES], acting_user=owner)
        made[visibility] = model
    return Shelf(**made)


def model_totals(model_id: int) -> dict[str, tuple[int, int]]:
    """(views, downloads) of one model in its hourly, daily and monthly rows."""
    found = {}
    for name, table in (("hourly", ModelHourly), ("daily", ModelDaily), ("monthly", ModelMonthly)):
        sums = table.objects.filter(model_id=model_id).aggregate(v=Sum("views"), d=Sum("downloads"))
        found[name] = (sums["v"] or 0, sums["d"] or 0)
    return found


def all_model_rows() -> int:
    return ModelHourly.objects.count() + ModelDaily.objects.count() + ModelMonthly.objects.count()


def route_totals(*, daily: bool = False) -> dict[str, tuple[int, int]]:
    """(views, bot views) per route, over all hours (or days)."""
    table = RouteDaily if daily else RouteHourly
    rows = table.objects.values("route").annotate(v=Sum("views"), b=Sum("bot_views"))
    return {row["route"]: (row["v"], row["b"]) for row in rows}


def dimension_totals() -> Counter[tuple[str, str]]:
    rows = DimensionDaily.objects.values("dimension", "value").annotate(v=Sum("views"))
    return Counter({(row["dimension"], row["value"]): row["v"] for row in rows})


@pytest.fixture
def redis_mode(settings: Any, redis_url: str) -> Iterator[Any]:
    """Analytics in Redis mode against the test run's Redis database (see tests/conftest.py). The cache
    stays the local-memory one."""
    import redis

    client = redis.Redis.from_url(redis_url)
    settings.REDIS_URL = redis_url
    redis_store.clear()
    salt.forget_in_memory()
    yield client
    redis_store.clear()
    salt.forget_in_memory()


# --- `candor` processes --------------------------------------------------------------------------------


def candor_env(tmp_path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    return {**env, "CANDOR_DATA_DIR": str(tmp_path / "data"), **(extra or {})}


def start_candor(
    args: list[str], tmp_path: Path, env: dict[str, str] | None = None, *, log: bool = False
) -> subprocess.Popen[str]:
    """Start `python -m candor ARGS` in its own process group, as run_candor would run it.

    A long-running one (``log``) writes its output to tmp_path/candor.out, where no pipe can fill up.
    """
    output: Any = subprocess.PIPE
    if log:
        output = (tmp_path / "candor.out").open("w")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "candor", *args],
            env=candor_env(tmp_path, env),
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT if log else subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    finally:
        if log:
            output.close()


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result.stdout.strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def fetch(url: str, seconds: float = 60) -> bytes:
    """GET a loopback URL as a browser would (urllib's own user agent counts as a bot), waiting for the
    server to come up."""
    request = urllib.request.Request(url, headers={"User-Agent": BROWSER})  # noqa: S310 - loopback only
    deadline = time.monotonic() + seconds
    while True:
        try:
            # The whole remaining time to answer: a server that is up but slow (a loaded machine) must
            # not be asked twice, or the request is counted twice. One not up yet refuses at once.
            remaining = max(1.0, deadline - time.monotonic())
            with urllib.request.urlopen(request, timeout=remaining) as response:  # noqa: S310 - loopback only
                return bytes(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.fixture
def process_database() -> Iterator[dict[str, str]]:
    """The environment that points `candor` processes at a database of their own.

    On a PostgreSQL run, a scratch database on the same server (dropped afterwards, whatever happened);
    otherwise nothing, and the processes use the SQLite file in their data folder.
    """
    with scratch_postgres_database("candor_analytics") as url:
        yield {"DATABASE_URL": url} if url else {}
