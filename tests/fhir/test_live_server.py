"""The FHIR API on a real HTTP server on loopback: concurrency and a real FHIR client."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from fhirapi_helpers import patient, task
from werkzeug.serving import make_server

pytestmark = pytest.mark.integration
FHIR_JSON = "application/fhir+json"


@pytest.fixture
def server(app):
    """The hub served by werkzeug (threaded) on 127.0.0.1, an ephemeral port."""
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{srv.server_port}"
    app.extensions["hub.settings"].base_url = base
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield base + "/fhir"
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def _fire(n: int, call):
    barrier = threading.Barrier(n)

    def one(i):
        barrier.wait()
        return call(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_concurrent_conditional_creates_make_one_resource(server, auth_headers,
                                                          returned_resources):
    headers = {**auth_headers(), "Content-Type": FHIR_JSON,
               "If-None-Exist": "identifier=http://hub.example/referral|race-1"}
    body = json.dumps(task("Patient/p1", ident="race-1"))
    n = 16

    def post(_):
        with requests.Session() as s:
            return s.post(f"{server}/Task", data=body, headers=headers, timeout=60)

    responses = _fire(n, post)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * (n - 1) + [201], [r.text for r in responses if r.status_code
                                                 not in (200, 201)]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    found = requests.get(f"{server}/Task?identifier=race-1", headers=auth_headers(),
                         timeout=30).json()
    assert found["total"] == 1
    returned_resources.extend([responses[0].json(), found])


def test_concurrent_updates_with_the_same_if_match_one_wins(server, auth_headers):
    headers = {**auth_headers(), "Content-Type": FHIR_JSON}
    created = requests.post(f"{server}/Patient", data=json.dumps(patient()), headers=headers,
                            timeout=30).json()
    n = 10

    def put(i):
        body = {**created, "name": [{"family": f"Racer{i}"}]}
        with requests.Session() as s:
            return s.put(f"{server}/Patient/{created['id']}", data=json.dumps(body),
                         headers={**headers, "If-Match": 'W/"1"'}, timeout=60)

    statuses = sorted(r.status_code for r in _fire(n, put))
    assert statuses == [200] + [412] * (n - 1)
    hist = requests.get(f"{server}/Patient/{created['id']}/_history", headers=headers,
                        timeout=30).json()
    assert hist["total"] == 2


def test_fhirpy_client_create_read_search_update(server, auth_headers, returned_resources):
    from fhirpy import SyncFHIRClient

    fhir = SyncFHIRClient(server, authorization=auth_headers()["Authorization"],
                          extra_headers={"Accept": FHIR_JSON})
    created = fhir.resource("Patient", **{k: v for k, v in patient("fp-1", "Fhirpy").items()
                                          if k != "resourceType"})
    created.save()
    assert created["id"] and created["meta"]["versionId"] == "1"
    read = fhir.reference("Patient", created["id"]).to_resource()
    assert read["name"][0]["family"] == "Fhirpy"
    for i in range(3):
        fhir.resource("Patient", name=[{"family": f"Fhirpy{i}"}]).save()
    found = fhir.resources("Patient").search(family="fhirpy").limit(2).fetch_all()
    assert len(found) == 4  # followed the next links
    read["gender"] = "other"
    read.save()
    again = fhir.reference("Patient", created["id"]).to_resource()
    assert again["gender"] == "other" and again["meta"]["versionId"] == "2"
    assert fhir.resources("Patient").search(gender="other").count() == 1
    returned_resources.extend([r.serialize() for r in (created, read, again, *found)])
