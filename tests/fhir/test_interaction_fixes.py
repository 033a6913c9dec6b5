"""Interaction details R4 prescribes: 404 for unsupported types, DELETE of an unknown id,
history of PUT-creates, empty transactions, ``_format`` spellings and ``_count`` values."""

import json
from pathlib import Path

import pytest
from fhirapi_helpers import organization, patient

EXAMPLES = Path.home() / ".cache" / "fhir-check" / "node" / "node_modules" / \
    "hl7.fhir.r4.examples"
STRICT = {"Prefer": "handling=strict"}


@pytest.mark.parametrize("url", ["/fhir/Medication", "/fhir/Medication/1",
                                 "/fhir/Medication/_history", "/fhir/Foo?name=x"])
def test_unsupported_types_are_404_operation_outcomes(fhir, url):
    resp = fhir.get(url)
    assert resp.status_code == 404
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    assert fhir.delete("/fhir/Medication/1").status_code == 404


def test_delete_of_an_id_that_never_existed_is_204_and_stores_nothing(fhir):
    assert fhir.delete("/fhir/Patient/never-was").status_code == 204
    assert fhir.get("/fhir/Patient/never-was").status_code == 404
    assert fhir.get("/fhir/Patient/never-was/_history").status_code == 404
    tx = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": "Patient/never-was-either"}}]}
    body = fhir.post("/fhir", tx).get_json()
    assert body["entry"][0]["response"]["status"] == "204 No Content"


def test_history_shows_a_put_create_as_put(fhir):
    fhir.put("/fhir/Organization/org-put", {**organization(), "id": "org-put"})
    fhir.put("/fhir/Organization/org-put", {**organization("Renamed"), "id": "org-put"})
    posted = fhir.create(organization("Posted"))
    hist = fhir.get("/fhir/Organization/_history").get_json()
    requests = {(e["fullUrl"].rsplit("/", 1)[-1], e["resource"]["meta"]["versionId"]):
                (e["request"], e["response"]["status"]) for e in hist["entry"]}
    assert requests[("org-put", "1")] == ({"method": "PUT", "url": "Organization/org-put"},
                                          "201 Created")
    assert requests[("org-put", "2")] == ({"method": "PUT", "url": "Organization/org-put"},
                                          "200 OK")
    assert requests[(posted["id"], "1")] == ({"method": "POST", "url": "Organization"},
                                             "201 Created")
    # a PUT after a delete creates the resource again: 201
    assert fhir.delete("/fhir/Organization/org-put").status_code == 204
    fhir.put("/fhir/Organization/org-put", {**organization("Back"), "id": "org-put"})
    hist = fhir.get("/fhir/Organization/org-put/_history").get_json()
    assert [(e["request"]["method"], e["response"]["status"]) for e in hist["entry"]] == [
        ("PUT", "201 Created"), ("DELETE", "204 No Content"), ("PUT", "200 OK"),
        ("PUT", "201 Created")]


@pytest.mark.parametrize("kind", ["transaction", "batch"])
def test_empty_transaction_answers_no_entry_key(fhir, kind):
    resp = fhir.post("/fhir", {"resourceType": "Bundle", "type": kind})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["type"] == f"{kind}-response" and "entry" not in body
    assert "[]" not in resp.get_data(as_text=True)


def test_official_transaction_example_runs_as_a_transaction(fhir):
    """HL7's Bundle-bundle-transaction: deletes of ids that never existed (plain and
    conditional) are 204s. Its one entry the hub cannot run is ``POST ValueSet/$lookup``
    (a terminology operation; the hub has no terminology service), left out here; the
    example's If-Match W/"2" on Patient/123a needs that patient at version 2 first, and
    its GET of Patient/12334 needs that patient to exist."""
    example = json.loads((EXAMPLES / "Bundle-bundle-transaction.json").read_text())
    example["entry"] = [e for e in example["entry"]
                        if e["request"]["url"] != "ValueSet/$lookup"]
    assert len(example["entry"]) == 9
    p123a = {**patient("123a"), "id": "123a"}
    fhir.put("/fhir/Patient/123a", p123a)
    fhir.put("/fhir/Patient/123a", {**p123a, "gender": "male"})
    fhir.put("/fhir/Patient/12334", {**patient("12334"), "id": "12334"})
    resp = fhir.post("/fhir", example)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created", "201 Created", "201 Created", "201 Created",
                        "200 OK", "204 No Content", "204 No Content", "200 OK", "200 OK"]
    assert fhir.get("/fhir/Patient/123a").get_json()["meta"]["versionId"] == "3"
    assert fhir.get("/fhir/Patient/234").status_code == 404


@pytest.mark.parametrize("query", ["_format=application/fhir+json",
                                   "_format=application%2Ffhir%2Bjson",
                                   "_format=json", "_format=application/json",
                                   "_format=application/fhir%20json"])
def test_format_spellings_of_json(fhir, query):
    resp = fhir.get(f"/fhir/Patient?{query}")
    assert resp.status_code == 200 and resp.get_json()["resourceType"] == "Bundle"


def test_format_xml_is_406(fhir):
    assert fhir.get("/fhir/Patient?_format=application/fhir+xml").status_code == 406
    assert fhir.get("/fhir/Patient?_format=xml").status_code == 406


def _outcomes(bundle: dict) -> list[dict]:
    return [e["resource"] for e in bundle.get("entry", [])
            if e["search"]["mode"] == "outcome"]


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", ""])
def test_invalid_count_is_refused_when_strict_and_ignored_with_a_warning(fhir, value):
    for i in range(3):
        fhir.create(patient(str(i)))
    strict = fhir.get(f"/fhir/Patient?_count={value}", headers=STRICT)
    assert strict.status_code == 400
    issue = strict.get_json()["issue"][0]
    assert issue["expression"] == ["_count"] and repr(value) in issue["diagnostics"]
    lenient = fhir.get(f"/fhir/Patient?_count={value}")
    assert lenient.status_code == 200
    body = lenient.get_json()
    matches = [e for e in body["entry"] if e["search"]["mode"] == "match"]
    assert len(matches) == 3  # the default page size, not an empty page
    [outcome] = _outcomes(body)
    assert outcome["issue"][0]["severity"] == "warning"
    assert "_count" in outcome["issue"][0]["diagnostics"]


def test_count_zero_is_legal_even_when_strict(fhir):
    fhir.create(patient())
    body = fhir.get("/fhir/Patient?_count=0", headers=STRICT).get_json()
    assert body["total"] == 1 and "entry" not in body
