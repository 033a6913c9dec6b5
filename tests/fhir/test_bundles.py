"""Transaction and batch Bundles at POST /fhir."""

from fhirapi_helpers import patient, service_request, task

P_URN = "urn:uuid:6f1c9a52-0000-4000-8000-000000000001"
SR_URN = "urn:uuid:6f1c9a52-0000-4000-8000-000000000002"
T_URN = "urn:uuid:6f1c9a52-0000-4000-8000-000000000003"


def _tx(*entries, kind="transaction") -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def _post(resource: dict, full_url: str | None = None, **request) -> dict:
    entry = {"resource": resource,
             "request": {"method": "POST", "url": resource["resourceType"], **request}}
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def _count(fhir, rtype: str) -> int:
    return fhir.get(f"/fhir/{rtype}?_summary=count").get_json()["total"]


def test_referral_transaction_resolves_urn_uuids(fhir):
    bundle = _tx(_post(task(P_URN, SR_URN), T_URN),
                 _post(service_request(P_URN), SR_URN),
                 _post(patient("42"), P_URN))
    resp = fhir.post("/fhir", bundle)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created"] * 3
    t, sr, p = (e["resource"] for e in body["entry"])
    assert body["entry"][0]["response"]["location"] == f"Task/{t['id']}/_history/1"
    assert t["for"]["reference"] == f"Patient/{p['id']}"
    assert t["focus"]["reference"] == f"ServiceRequest/{sr['id']}"
    assert sr["subject"]["reference"] == f"Patient/{p['id']}"
    found = fhir.get(f"/fhir/Task?focus=ServiceRequest/{sr['id']}&patient={p['id']}")
    assert found.get_json()["total"] == 1


def test_transaction_is_atomic(fhir):
    bad_task = {**task(P_URN), "status": "bogus"}
    bundle = _tx(_post(patient("43"), P_URN), _post(bad_task))
    resp = fhir.post("/fhir", bundle)
    assert resp.status_code == 422
    oo = resp.get_json()
    assert oo["resourceType"] == "OperationOutcome"
    assert "Bundle.entry[1]" in oo["issue"][0]["diagnostics"]
    assert _count(fhir, "Patient") == 0 and _count(fhir, "Task") == 0


def test_transaction_unresolved_urn_fails(fhir):
    resp = fhir.post("/fhir", _tx(_post(task("urn:uuid:0000-missing"))))
    assert resp.status_code == 400
    assert _count(fhir, "Task") == 0


def test_conditional_references_and_conditional_create(fhir):
    existing = fhir.create(patient("77"))
    bundle = _tx(
        _post(patient("77"), P_URN,
              ifNoneExist="identifier=http://hospital.example/mrn|77"),
        _post(task("Patient?identifier=http://hospital.example/mrn|77")),
        _post(service_request(P_URN)))
    resp = fhir.post("/fhir", bundle)
    assert resp.status_code == 200, resp.get_json()
    entries = resp.get_json()["entry"]
    assert entries[0]["response"]["status"] == "200 OK"
    assert entries[0]["resource"]["id"] == existing["id"]
    assert entries[1]["resource"]["for"]["reference"] == f"Patient/{existing['id']}"
    assert entries[2]["resource"]["subject"]["reference"] == f"Patient/{existing['id']}"
    assert _count(fhir, "Patient") == 1
    none = fhir.post("/fhir", _tx(_post(task("Patient?identifier=nobody"))))
    assert none.status_code == 412


def test_processing_order_delete_post_put_get(fhir):
    old = fhir.create(patient("1"))
    p = fhir.create(patient("2"))
    bundle = _tx(
        {"request": {"method": "GET", "url": f"Patient/{p['id']}"}},
        {"resource": {**p, "gender": "other"},
         "request": {"method": "PUT", "url": f"Patient/{p['id']}"}},
        _post(patient("3")),
        {"request": {"method": "DELETE", "url": f"Patient/{old['id']}"}},
        {"request": {"method": "GET", "url": "Patient?identifier=3"}},
    )
    body = fhir.post("/fhir", bundle).get_json()
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["200 OK", "200 OK", "201 Created", "204 No Content", "200 OK"]
    # GET runs last: it sees the PUT and the POST of the same transaction
    assert body["entry"][0]["resource"]["gender"] == "other"
    assert body["entry"][4]["resource"]["total"] == 1
    assert fhir.get(f"/fhir/Patient/{old['id']}").status_code == 410


def test_transaction_prefer_minimal_and_duplicate_targets(fhir):
    resp = fhir.post("/fhir", _tx(_post(patient())), headers={"Prefer": "return=minimal"})
    entry = resp.get_json()["entry"][0]
    assert "resource" not in entry and entry["response"]["etag"] == 'W/"1"'
    dup = _tx({"resource": {**patient(), "id": "x"}, "request": {"method": "PUT",
                                                                  "url": "Patient/x"}},
              {"resource": {**patient(), "id": "x"}, "request": {"method": "PUT",
                                                                  "url": "Patient/x"}})
    assert fhir.post("/fhir", dup).status_code == 400


def test_batch_reports_each_entry(fhir):
    bundle = _tx(_post(patient("1")),
                 _post({**task("Patient/1"), "status": "bogus"}),
                 {"request": {"method": "GET", "url": "Patient/missing"}},
                 {"request": {"method": "GET", "url": "Patient?identifier=1"}},
                 kind="batch")
    resp = fhir.post("/fhir", bundle)
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created", "422", "404", "200 OK"]
    outcome = body["entry"][1]["response"]["outcome"]
    assert outcome["issue"][0]["expression"] == ["Task.status"]
    assert _count(fhir, "Patient") == 1 and _count(fhir, "Task") == 0


def test_bundle_errors(fhir, fhir_as):
    assert fhir.post("/fhir", {"resourceType": "Bundle", "type": "collection"}) \
        .status_code == 400
    assert fhir.post("/fhir", patient()).status_code == 400
    no_request = {"resourceType": "Bundle", "type": "transaction",
                  "entry": [{"resource": patient()}]}
    refused = fhir.post("/fhir", no_request)  # bdl-3: an invariant of the Bundle, 422
    assert refused.status_code == 422
    assert refused.get_json()["issue"][0]["expression"] == ["Bundle.entry[0].request"]
    scoped = _tx(_post(patient()))
    assert fhir_as("system/*.rs").post("/fhir", scoped).status_code == 403
