"""The ``hub`` commands find the database as ``hub serve`` does and never silently create
an empty one; long commands show progress on a terminal and stay quiet when piped."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.store.sync_tables import outbox

HUB = [str(Path(sys.executable).with_name("hub"))]


def _env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(extra)
    return env


def _run(cwd: Path, *args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([*HUB, *args], cwd=cwd, env=env or _env(), capture_output=True,
                          text=True, timeout=120)


def test_a_missing_sqlite_file_is_an_error_naming_it(tmp_path):
    result = _run(tmp_path, "clients", "list")
    assert result.returncode != 0
    assert f"no hub database at {tmp_path / 'hub.db'}" in result.stderr
    assert "hub db upgrade" in result.stderr
    assert not (tmp_path / "hub.db").exists()  # nothing created
    elsewhere = tmp_path / "data" / "hub.db"
    for args in ([f"--database-url=sqlite:///{elsewhere}", "deliveries", "list"],
                 ["deliveries", "retry", "--all-dead"]):
        env = _env(HUB_DATABASE_URL=f"sqlite:///{elsewhere}") if args[0] == "deliveries" \
            else None
        result = _run(tmp_path, *args, env=env)
        assert result.returncode != 0 and str(elsewhere) in result.stderr, result.stderr
    assert not elsewhere.exists() and not (tmp_path / "hub.db").exists()


def test_commands_use_the_database_db_upgrade_made(tmp_path):
    assert _run(tmp_path, "db", "upgrade").returncode == 0
    assert (tmp_path / "hub.db").exists()
    result = _run(tmp_path, "clients", "create", "ui", "--scope", "system/*.read")
    assert result.returncode == 0, result.stderr
    listed = _run(tmp_path, "clients", "list")
    assert listed.returncode == 0 and "ui" in listed.stdout
    # the same file named from another directory, as HUB_DATABASE_URL
    other = tmp_path / "elsewhere"
    other.mkdir()
    env = _env(HUB_DATABASE_URL=f"sqlite:///{tmp_path / 'hub.db'}")
    assert "ui" in _run(other, "clients", "list", env=env).stdout
    assert not (other / "hub.db").exists()


@pytest.fixture
def dead_rows(tmp_path) -> Path:
    """A hub database in tmp_path with 1200 dead deliveries."""
    assert _run(tmp_path, "db", "upgrade").returncode == 0
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(sa.insert(outbox), [
            {"partner_id": "st-marys", "case_id": f"c{i}", "resource_type": "CarePlan",
             "resource_id": f"r{i}", "operation": "update", "status": "dead", "attempts": 10,
             "next_attempt_at": now, "created_at": now} for i in range(1200)])
    engine.dispose()
    return tmp_path


def _pending(path: Path) -> int:
    engine = sa.create_engine(f"sqlite:///{path / 'hub.db'}")
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(outbox)
                             .where(outbox.c.status == "pending")).scalar_one()
    engine.dispose()
    return count


def test_bulk_retry_shows_a_bar_on_a_terminal(dead_rows):
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([*HUB, "deliveries", "retry", "--all-dead"], cwd=dead_rows,
                            env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=secondary)
    os.close(secondary)
    seen = b""
    while True:
        ready, _, _ = select.select([primary], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        seen += chunk
    assert proc.stdout is not None
    with proc.stdout:
        out = proc.stdout.read().decode()
    assert proc.wait(60) == 0
    os.close(primary)
    text = seen.decode(errors="replace")
    assert "replaying" in text and "1200/1200" in text and "100%" in text, text
    assert "replaying 1200 deliveries" in out
    assert _pending(dead_rows) == 1200


def test_bulk_retry_is_quiet_when_piped(dead_rows):
    result = _run(dead_rows, "deliveries", "retry", "--all-dead")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith("replaying 1200 deliveries")
    assert "%" not in result.stdout and "\r" not in result.stdout
    assert _pending(dead_rows) == 1200
