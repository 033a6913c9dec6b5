"""Insurer flows over real HTTP on loopback: the hub (werkzeug) and an insurer simulator,
the sync worker delivering through 500 bursts and a 429 with Retry-After, pended answers
resolved by a notification posted to the hub and by polling. At the end every request
reached the insurer once and the cases hold the insurer's decisions."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
import requests
from case_data import river
from werkzeug.serving import make_server

from hub import cases as c
from hub.store.uow import UnitOfWork
from hub.sync.registry import Adapters
from hub.sync.retry import RetryPolicy
from hub.sync.worker import WorkerThread

from .conftest import (
    FUNDING,
    HCPCS,
    ORG,
    PARTNER,
    decisions,
    insurer_partner,
    outbox_rows,
    poll_pended_now,
    run_validator,
)
from .insurer_server import Decision, Fault, InsurerServer, InsurerSimulator, notify

pytestmark = pytest.mark.integration
FAST = RetryPolicy(max_attempts=10, base_delay=0.01, max_delay=0.05)
D = c.DecisionStatus
X12 = {"A1": D.AUTH_APPROVED, "A2": D.AUTH_PARTIAL, "A3": D.AUTH_DENIED, "A4": D.AUTH_PENDED,
       "A6": D.AUTH_MODIFIED}
PERIOD = ("2026-03-02", "2026-04-01")


@pytest.fixture
def insurer_sim():
    sim = InsurerSimulator()
    sim.decisions = {
        "S9500": Decision("A4", final=Decision("A1", "AUTH-IV", PERIOD)),  # pended, then OK
        "G0299": Decision("A1", "AUTH-RN", PERIOD),
        "G0151": Decision("A3", reason="not medically necessary"),
        "G0152": Decision("A6", "AUTH-OT", PERIOD, quantity=6),
    }
    sim.auth_required = {"S9500"}
    server = InsurerServer(sim).start()
    yield sim
    server.stop()


@pytest.fixture
def live_hub(app, insurer_sim):
    registry = Adapters({PARTNER: insurer_partner(insurer_sim.base_url)})
    app.extensions["hub.runtime"].use_adapters(registry)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{srv.server_port}"
    app.extensions["hub.settings"].base_url = base
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield base, registry
    srv.shutdown()
    srv.server_close()
    thread.join(5)
    registry.close()


def _wait(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_insurer_round_trip(app, live_hub, insurer_sim, auth_headers, db, tmp_path):
    base, _registry = live_hub
    http = requests.Session()
    http.headers.update(auth_headers("system/*.cruds"))
    plans = [("S9500", "G0299"), ("G0151", "G0152"), ("S9500", "G0151"), ("G0299",)]
    requests_made = {}  # request id -> (case id, codes)
    case_ids = []
    for codes in plans:
        # one open case per patient and program: the same patient in several programs
        made = http.post(f"{base}/api/cases", json={**river(), "program": f"p{len(case_ids)}"},
                         timeout=10)
        assert made.status_code == 201, made.text
        case = made.json()
        case_ids.append(case["id"])
        elig = http.post(f"{base}/api/cases/{case['id']}/eligibility-requests", timeout=10,
                         headers={"If-Match": made.headers["ETag"]},
                         json={"funding_id": FUNDING, "purposes": ["auth-requirements"],
                               "services": [{"system": HCPCS, "code": x} for x in codes]})
        assert elig.status_code == 202, elig.text
        pa = http.post(f"{base}/api/cases/{case['id']}/prior-authorizations", timeout=10,
                       headers={"If-Match": elig.headers["ETag"]},
                       json={"funding_id": FUNDING, "items": [
                           {"service": {"system": HCPCS, "code": x}, "quantity": 10}
                           for x in codes]})
        assert pa.status_code == 202, pa.text
        requests_made[pa.json()["id"]] = (case["id"], codes)
    # a burst of 500s, then a 429 asking to wait a second
    insurer_sim.inject(Fault(500), Fault(500), Fault(500),
                       Fault(429, {"Retry-After": "1"}))
    runtime = app.extensions["hub.runtime"]
    worker = WorkerThread(runtime.worker(policy=FAST, concurrency=4, lease_seconds=30),
                          idle_seconds=0.05).start()
    try:
        _wait(lambda: all(r["status"] == "done"
                          for r in outbox_rows(db, operation="submit")))
    finally:
        worker.stop()
    statuses = Counter(s for _m, _p, s in insurer_sim.requests)
    assert statuses[500] == 3 and statuses[429] == 1

    # synchronous answers applied: the pended service waits, the others are decided
    for _rid, (case_id, codes) in requests_made.items():
        got = decisions(db, case_id)
        for code in codes:
            d = insurer_sim.decisions[code]
            assert got[code].status == X12[d.code], (code, got[code])
    pended = insurer_sim.pended_claims()
    assert len(pended) == 2

    # one pended request is finalized and notified to the hub (twice: applied once) ...
    token = auth_headers("system/ClaimResponse.c", organization=ORG)["Authorization"][7:]
    final = insurer_sim.finalize(pended[0])
    note = insurer_sim.notification_for(final)
    answers = [notify(base, token, note), notify(base, token, note)]
    assert [a.status_code for a in answers] == [200, 200], answers[0].text
    assert answers[1].json()["issue"][0]["diagnostics"].startswith("already applied")
    # ... the other one is found by polling the insurer's ClaimResponse
    insurer_sim.finalize(pended[1])
    polled = poll_pended_now(runtime)
    polled_codes = [i["productOrService"]["coding"][0]["code"]
                    for i in insurer_sim.claims[pended[1]]["item"]]
    assert [p.result for p in polled] == ["applied"]
    assert polled[0].state == _rollup(polled_codes, insurer_sim)
    assert poll_pended_now(runtime) == []  # nothing pended any more

    # every request reached the insurer once; the cases hold the insurer's decisions
    claims = Counter(b["entry"][0]["resource"]["identifier"][0]["value"]
                     for b in insurer_sim.submits("Claim"))
    assert sorted(claims) == sorted(f"{cid}/{rid}" for rid, (cid, _) in
                                    requests_made.items())
    assert set(claims.values()) == {1}
    eligibility = Counter(r["identifier"][0]["value"]
                          for r in insurer_sim.submits("CoverageEligibilityRequest"))
    assert len(eligibility) == len(plans) and set(eligibility.values()) == {1}
    for _rid, (case_id, codes) in requests_made.items():
        got = decisions(db, case_id)
        assert len(got) == len(codes)  # one decision per service, nothing duplicated
        for code in codes:
            d = insurer_sim.decisions[code]
            d = d.final or d
            assert got[code].status == X12[d.code]
            assert got[code].authorization_number == d.number
        listed = http.get(f"{base}/api/cases/{case_id}/coverage-requests", timeout=10).json()
        assert {r["kind"]: r["state"] for r in listed["items"]} == {
            "eligibility": "complete", "prior-authorization": _rollup(codes, insurer_sim)}
        assert all(r["delivery"]["status"] == "done" for r in listed["items"])

    # everything the hub emitted is valid FHIR R4
    emitted = [body for _op, body in insurer_sim.received] + [a.json() for a in answers]
    with UnitOfWork(db) as uow:
        for rtype in ("Claim", "ClaimResponse", "CoverageEligibilityRequest",
                      "CoverageEligibilityResponse", "Coverage", "Organization",
                      "Practitioner"):
            from hub.fhirstore.query import parse_search
            q = parse_search(rtype, [("_count", "500")], max_count=500)
            emitted += [s.content for s in uow.resources.search(q)]
    assert not run_validator(emitted, tmp_path)


def _rollup(codes, sim) -> str:
    finals = {(sim.decisions[x].final or sim.decisions[x]).code for x in codes}
    if finals == {"A1"}:
        return "approved"
    if finals == {"A3"}:
        return "denied"
    if finals == {"A6"}:
        return "modified"
    return "partially-approved"
