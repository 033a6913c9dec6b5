"""Two ``hub worker`` processes share one outbox (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite:
compare-and-set): no delivery is made twice, and a worker killed with SIGKILL in the middle
of a delivery loses nothing: its row is reclaimed when the lease expires."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from hub.sync import outbox
from hub.sync.registry import DEFAULT_IDENTIFIER_SYSTEM

from .partner_server import FhirPartner, PartnerServer

pytestmark = pytest.mark.integration

ROWS = 24
LEASE = 4.0  # > any delivery here even on a loaded machine; reclaim waits this long


def _worker(worker_id: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "hub.commands.deliveries", "--worker-id", worker_id,
         # --batch 2: each worker holds at most the rows it delivers at once, so that both
         # take rows (with the default batch the first to claim may hold all 8 cases)
         "--concurrency", "2", "--batch", "2", "--lease-seconds", str(LEASE),
         "--idle-seconds", "0.05",
         "--backoff-base", "0.01", "--backoff-max", "0.05", "--max-attempts", "20"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_started(proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Until the worker prints its start line (``hub worker ... delivering from``)."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, f"the worker did not start within {timeout}s"
    line = proc.stdout.readline().decode()
    assert "delivering from" in line, (line, proc.stderr.read().decode()[-2000:])


def _rows(db) -> list[outbox.Delivery]:
    """The test's deliveries (the workers also schedule the partner's pulls: not counted)."""
    with db.sessions() as session:
        return [r for r in outbox.list_deliveries(session, limit=1000)
                if r.operation == "create"]


def test_two_worker_processes_and_a_sigkill(db, database_url, tmp_path):
    partner = FhirPartner(delay=0.12)  # each call takes a while: kills land mid-delivery
    server = PartnerServer(partner).start()
    partners_file = tmp_path / "partners.json"
    partners_file.write_text(json.dumps({"partners": [{
        "id": "st-marys", "kind": "hospital", "base_url": server.base_url,
        "timeouts": {"connect": 1, "read": 1}}]}))
    env = dict(os.environ, HUB_DATABASE_URL=database_url, HUB_PARTNERS_FILE=str(partners_file),
               PYTHONWARNINGS="ignore")
    victim, survivor = _worker("victim", env), _worker("survivor", env)
    killed_rows: list[int] = []
    try:
        # both running before there is work: a worker that starts first on a loaded
        # machine could otherwise deliver every row before the other one is up
        for proc in (victim, survivor):
            _wait_started(proc)
        with db.sessions() as session:
            for i in range(ROWS):
                outbox.enqueue(session, partner_id="st-marys", case_id=f"case-{i % 8}",
                               resource_type="CarePlan", resource_id=f"cp-{i}",
                               operation="create",
                               payload={"resourceType": "CarePlan", "status": "active",
                                        "intent": "plan", "subject": {"reference": "Patient/1"},
                                        "identifier": [{"system": "urn:plans",
                                                        "value": str(i)}]})
            session.commit()
        deadline = time.monotonic() + 20
        while not killed_rows:
            assert time.monotonic() < deadline, "the victim never claimed a row"
            assert victim.poll() is None, victim.stderr.read().decode()[-2000:]
            held = [r.id for r in _rows(db) if r.status == "in-flight"
                    and r.claimed_by == "victim"]
            if held and partner.in_progress:
                victim.send_signal(signal.SIGKILL)
                victim.wait(5)
                # what the victim held when it died (it may have claimed more since `held`)
                killed_rows = [r.id for r in _rows(db) if r.status == "in-flight"
                               and r.claimed_by == "victim"]
                assert killed_rows, "the victim finished its rows before the kill landed"
            time.sleep(0.01)
        deadline = time.monotonic() + 30
        while not all(r.status == "done" for r in _rows(db)):
            assert time.monotonic() < deadline, "deliveries did not finish"
            assert survivor.poll() is None, survivor.stderr.read().decode()[-2000:]
            time.sleep(0.05)
    finally:
        for proc in (victim, survivor):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (victim, survivor):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a hung worker
                proc.kill()
                proc.wait(5)
            proc.stderr.close()
            proc.stdout.close()
        server.stop()
    assert survivor.returncode == 0  # SIGTERM ends the loop cleanly

    rows = _rows(db)
    assert {r.status for r in rows} == {"done"}
    # the victim's rows were reclaimed by the survivor after the lease
    for row in rows:
        if row.id in killed_rows:
            assert row.attempts == 2
    assert Counter(r.attempts for r in rows)[1] == ROWS - len(killed_rows)  # nobody else twice
    stored = partner.all("CarePlan")
    values = Counter(i["value"] for r in stored for i in r["identifier"]
                     if i["system"] == DEFAULT_IDENTIFIER_SYSTEM)
    assert values == Counter({f"CarePlan/cp-{i}": 1 for i in range(ROWS)})
    # no delivery was made twice, except the killed ones (whose retry found their copy)
    creates = Counter(cond for _status, cond in partner.creates)
    twice = {cond for cond, n in creates.items() if n > 1}
    assert len(twice) <= len(killed_rows)
    assert all(n <= 2 for n in creates.values())
