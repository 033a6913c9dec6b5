"""The benchmarks' reading of the database server's CPU (``bench._common``): which URLs it is
read for, and that the reading follows the work a PostgreSQL server does."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from bench._common import database_cpu_probe, postgres_cpu_seconds


@pytest.mark.parametrize("url", [
    None,
    "sqlite:////tmp/hub.db",
    "postgresql+psycopg://hub@db.example.org/hub",  # another machine's CPU is not readable
    "postgresql+psycopg://hub@10.0.0.5:5432/hub",
])
def test_no_database_cpu_for_sqlite_or_a_remote_server(url):
    assert database_cpu_probe(url) is None


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://hub@127.0.0.1:5432/hub",
    "postgresql+psycopg://hub@localhost/hub",
    "postgresql+psycopg:///hub",  # the local socket
])
def test_local_postgresql_is_read_from_proc(url):
    assert database_cpu_probe(url) is postgres_cpu_seconds


def test_postgres_cpu_grows_with_the_servers_work(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("the PostgreSQL suite reads its own server's CPU")
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            before = postgres_cpu_seconds()
            # about a second of the backend's CPU, none of this process's
            conn.execute(text("SELECT count(*) FROM generate_series(1, 3000000) a "
                              "JOIN generate_series(1, 3000000) b ON a = b"))
            spent = postgres_cpu_seconds() - before
    finally:
        engine.dispose()
    assert spent > 0.2, spent
