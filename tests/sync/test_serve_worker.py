"""``hub serve`` runs the embedded sync worker beside the app, on each of its servers
(granian runs the app in a worker process it forks: the sync worker is started there,
``hub.serving``), delivers what is queued, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from hub.sync import outbox

from .partner_server import FhirPartner, PartnerServer

pytestmark = pytest.mark.integration

ROWS = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _statuses(db) -> list[str]:
    with db.sessions() as session:
        return sorted(r.status for r in outbox.list_deliveries(session, limit=100)
                      if r.operation == "create")


@pytest.mark.parametrize("server", ["granian", "waitress"])
def test_hub_serve_delivers_with_its_sync_worker(server, db, database_url, tmp_path):
    partner = FhirPartner()
    partner_server = PartnerServer(partner).start()
    partners_file = tmp_path / "partners.json"
    partners_file.write_text(json.dumps({"partners": [{
        "id": "st-marys", "kind": "hospital", "base_url": partner_server.base_url,
        "timeouts": {"connect": 1, "read": 20}}]}))
    port = _free_port()
    env = dict(os.environ, HUB_DATABASE_URL=database_url, HUB_PARTNERS_FILE=str(partners_file),
               HUB_SECRET_KEY="s" * 32, HUB_PORT=str(port), HUB_SYNC_WORKER="true",
               PYTHONWARNINGS="ignore")
    hub_command = os.path.join(os.path.dirname(sys.executable), "hub")
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([hub_command, "serve", "--server", server], env=env,
                                stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log_path.read_text()[-2000:]
            assert time.monotonic() < deadline, "hub serve did not answer"
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        with db.sessions() as session:
            for i in range(ROWS):
                outbox.enqueue(session, partner_id="st-marys", case_id=f"case-{i}",
                               resource_type="CarePlan", resource_id=f"cp-{i}",
                               operation="create",
                               payload={"resourceType": "CarePlan", "status": "active",
                                        "intent": "plan", "subject": {"reference": "Patient/1"}})
            session.commit()
        deadline = time.monotonic() + 30
        while _statuses(db) != ["done"] * ROWS:
            assert time.monotonic() < deadline, (_statuses(db), log_path.read_text()[-2000:])
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, log_path.read_text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        partner_server.stop()
    assert len(partner.all("CarePlan")) == ROWS  # nothing delivered twice
