"""Fixtures the privacy tests share."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest


def _admin_url() -> str:
    """The PostgreSQL server of the suite's run (CI's DATABASE_URL), else the local one."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        url = "postgres://postgres@127.0.0.1:5432/postgres"
    return urlunsplit(urlsplit(url)._replace(path="/postgres", query=""))


@pytest.fixture
def scratch_postgres() -> Iterator[str]:
    """A database of its own on the PostgreSQL server, dropped afterwards (whatever the outcome)."""
    import psycopg
    from psycopg import sql

    admin = _admin_url()
    name = f"candor_backup_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(admin)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
