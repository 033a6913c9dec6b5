"""Issue 9 item 8: no patient data in logs, tried on the database under test.

Planted values (a family name, an MRN, a member id, a birth date) are sent as hostile input
and through a statement that fails in the database; afterwards every log record written at
any level (what ``hub serve``'s root handler prints) is searched for them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from case_data import minimal
from flask import Blueprint

from hub.fhirstore.tables import resources

FHIR = "application/fhir+json"
FAMILY, MRN, MEMBER, BIRTH = "Zyxwvutsrq", "MRN-7731-PLANT", "MBR-55-PLANT", "1931-07-04"
PLANTED = (FAMILY, MRN, MEMBER, BIRTH)


def _failing_write_app(app):
    """Adds a route that stores planted values through a statement the database refuses
    (a second row with the same primary key), as a buggy write path would."""
    bp = Blueprint("failing_write", __name__)

    @bp.post("/test-only/failing-write")
    def failing_write():
        row = {"res_type": "Patient", "res_id": "dup", "version_id": 1, "deleted": False,
               "last_updated": datetime.now(UTC),
               "content": json.dumps({"name": FAMILY, "mrn": MRN, "member": MEMBER,
                                      "birthDate": BIRTH})}
        with app.extensions["hub.db"].engine.begin() as conn:
            conn.execute(sa.insert(resources), [row, row])
        return "not reached"

    app.register_blueprint(bp)
    return app


def test_a_failing_statement_leaves_no_patient_data_in_the_log(settings, records):
    from hub import create_app

    app = create_app(settings, migrate=False)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    _failing_write_app(app)
    resp = app.test_client().post("/test-only/failing-write")
    assert resp.status_code == 500
    text = records.text()
    assert "IntegrityError" in text  # the failure is logged, with where it happened
    assert "failing_write" in text
    for value in PLANTED:
        assert value not in text, value
        assert value not in resp.get_data(as_text=True)
    app.extensions["hub.db"].dispose()


def test_hostile_input_with_patient_data_leaves_none_in_the_log(client, auth_headers,
                                                                records):
    hdr = auth_headers("system/*.cruds system/Case.cruds")
    patient = {"resourceType": "Patient", "name": [{"family": FAMILY}],
               "birthDate": BIRTH, "identifier": [{"system": "urn:mrn", "value": MRN}]}
    probes = [
        ("POST", "/fhir/Patient", {**patient, "id": "x\u0000"}),
        ("POST", "/fhir/Patient", {**patient, "identifier": [
            {"system": "urn:" + "s" * 300, "value": MRN}]}),
        ("POST", "/fhir/Patient", {**patient, "gender": "alien"}),
        ("POST", "/fhir/Coverage", {"resourceType": "Coverage", "status": "bogus",
                                    "subscriberId": MEMBER}),
        ("GET", f"/fhir/Patient?family={FAMILY}%00", None),
        ("GET", f"/fhir/Patient?birthdate=x{BIRTH}", None),
        ("GET", f"/fhir/Patient?identifier=urn:mrn|{MRN}&_offset=99999999999999999999", None),
        ("POST", "/api/cases", minimal(patient={"name": {"family": FAMILY + "\ud800"},
                                                "birth_date": BIRTH})),
        ("POST", "/api/cases", minimal(patient={"name": {"family": FAMILY},
                                                "birth_date": "not " + BIRTH})),
    ]
    for method, url, body in probes:
        mimetype = "application/json" if url.startswith("/api") else FHIR
        data = json.dumps(body) if body is not None else None
        resp = client.open(url, method=method, data=data,
                           headers={**hdr, "Content-Type": mimetype})
        assert 400 <= resp.status_code < 500, (url, resp.status_code)
    # a wrong secret names the client, never the secret
    client.post("/auth/token", data={"grant_type": "client_credentials",
                                     "client_id": "c-" + MRN, "client_secret": MEMBER})
    text = records.text()
    assert records, "nothing was logged at all"
    for value in PLANTED:
        assert value not in text.replace("c-" + MRN, ""), value


def test_engine_hides_statement_parameters(app):
    engine = app.extensions["hub.db"].engine
    assert engine.hide_parameters is True
    with pytest.raises(sa.exc.DBAPIError) as caught, engine.begin() as conn:
        conn.execute(sa.text("SELECT CAST(:v AS INTEGER) + nosuchcolumn"), {"v": MRN})
    assert MRN not in str(caught.value)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.integration
def test_hub_serve_writes_no_patient_data_to_its_log(settings, auth_headers, tmp_path):
    """`hub serve` as an operator runs it (granian, the root log handler on stderr),
    probed over HTTP with hostile input carrying the planted values."""
    import os
    import subprocess
    import sys
    import time

    import requests

    hdr = auth_headers("system/*.cruds system/Case.cruds")  # migrates and empties the db
    port = _free_port()
    env = {**os.environ, "HUB_DATABASE_URL": settings.database_url,
           "HUB_SECRET_KEY": settings.secret_key, "HUB_BASE_URL": "http://hub.test",
           "HUB_SYNC_WORKER": "false", "HUB_PORT": str(port)}
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log_file:
        hub_command = os.path.join(os.path.dirname(sys.executable), "hub")
        proc = subprocess.Popen([hub_command, "serve"], env=env,
                                stdout=log_file, stderr=subprocess.STDOUT, cwd=tmp_path)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    requests.get(base + "/healthz", timeout=1)
                    break
                except requests.ConnectionError:
                    time.sleep(0.1)
            patient = {"resourceType": "Patient", "name": [{"family": FAMILY}],
                       "birthDate": BIRTH,
                       "identifier": [{"system": "urn:mrn", "value": MRN}]}
            fhir = {**hdr, "Content-Type": FHIR}
            answers = [
                requests.post(base + "/fhir/Patient", json={**patient, "id": "x\u0000"},
                              headers=fhir, timeout=10),
                requests.post(base + "/fhir/Patient", data=json.dumps(patient).replace(
                    FAMILY, FAMILY + "\\ud800"), headers=fhir, timeout=10),
                requests.get(f"{base}/fhir/Patient?family={FAMILY}%00&identifier={MRN}",
                             headers=hdr, timeout=10),
                requests.post(base + "/api/cases", json=minimal(
                    patient={"name": {"family": FAMILY}, "birth_date": "x" + BIRTH}),
                    headers=hdr, timeout=10),
                requests.post(base + "/auth/token", data={
                    "grant_type": "client_credentials", "client_id": "nobody",
                    "client_secret": MEMBER}, timeout=10),
            ]
            assert all(400 <= a.status_code < 500 for a in answers), \
                [a.status_code for a in answers]
        finally:
            proc.terminate()
            proc.wait(10)
    text = log_path.read_text(errors="replace")
    assert "hub serving on" in text and "token request refused" in text
    for value in PLANTED:
        assert value not in text, value
