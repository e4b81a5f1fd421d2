"""The test suite empties only a Redis database it can prove is its own (tests/conftest.py).

Each test here starts a redis-server of its own to stand for somebody's server, with data in it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REDIS_MARKER, ROOT, RedisNotOurs, claim_redis, empty_redis, redis_server

A_REDIS_TEST = "tests/test_settings_and_cli.py::test_redis_mode_queues_on_rq_and_caches_in_redis"


def test_a_run_pointed_at_somebody_elses_database_deletes_nothing(tmp_path: Path) -> None:
    import redis

    with redis_server(tmp_path) as url:
        theirs = url.removesuffix("/0") + "/5"
        somebody = redis.Redis.from_url(theirs)
        somebody.set("sessions:42", "somebody's data")
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env["CANDOR_TEST_REDIS_URL"] = theirs
        result = subprocess.run(
            [sys.executable, "-m", "pytest", A_REDIS_TEST, "-q", "-p", "no:cacheprovider"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode != 0, result.stdout
        assert "holds 1 key(s) that no test run wrote" in result.stdout, result.stdout
        assert somebody.get("sessions:42") == b"somebody's data" and somebody.dbsize() == 1


def test_an_empty_database_is_claimed_and_emptied_again_later(tmp_path: Path) -> None:
    import redis

    with redis_server(tmp_path) as url:
        claim_redis(url)
        client = redis.Redis.from_url(url)
        assert client.exists(REDIS_MARKER)
        client.set("rq:job:1", "left by a test")
        claim_redis(url)  # a later run: the marker says the other keys are a run's
        empty_redis(url)
        assert client.keys("*") == [REDIS_MARKER.encode()]


def test_keys_without_the_marker_are_never_flushed(tmp_path: Path) -> None:
    import redis

    with redis_server(tmp_path) as url:
        client = redis.Redis.from_url(url)
        client.set("cache:home", "not the tests'")
        with pytest.raises(RedisNotOurs, match="Nothing was deleted"):
            claim_redis(url)
        with pytest.raises(RedisNotOurs):
            empty_redis(url)
        assert client.keys("*") == [b"cache:home"]
