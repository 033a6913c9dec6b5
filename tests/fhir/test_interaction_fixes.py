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


def _official_transaction(fhir) -> dict:
    """HL7's Bundle-bundle-transaction, with what its entries assume: Patient/123a at
    version 2 (its If-Match W/"2") and Patient/12334 (its GET)."""
    p123a = {**patient("123a"), "id": "123a"}
    fhir.put("/fhir/Patient/123a", p123a)
    fhir.put("/fhir/Patient/123a", {**p123a, "gender": "male"})
    fhir.put("/fhir/Patient/12334", {**patient("12334"), "id": "12334"})
    return json.loads((EXAMPLES / "Bundle-bundle-transaction.json").read_text())


def test_official_transaction_example_is_refused_whole_for_its_lookup(fhir):
    """The example as it is: its ``POST ValueSet/$lookup`` entry is a terminology operation
    the hub does not run (ValueSet is no type it serves; it has no terminology service).
    A transaction is all or nothing (R4 http.html#transaction: "SHALL either accept all
    actions ... or reject all resources"), so it cannot answer that entry alone: the whole
    transaction is refused before anything runs, with the entry's own status (404, as any
    request naming a type the hub does not serve) and an OperationOutcome naming the entry
    (``Bundle.entry[7].request.url``, not-supported). Nothing is stored."""
    example = _official_transaction(fhir)
    before = fhir.get("/fhir/Patient/_history").get_json()["total"]
    resp = fhir.post("/fhir", example)
    assert resp.status_code == 404, resp.get_data(as_text=True)
    [issue] = resp.get_json()["issue"]
    assert issue["code"] == "not-supported"
    assert issue["expression"] == ["Bundle.entry[7].request.url"]
    assert "Bundle.entry[7] (POST ValueSet/$lookup)" in issue["diagnostics"]
    assert fhir.get("/fhir/Patient/_history").get_json()["total"] == before
    assert fhir.get("/fhir/ValueSet/$lookup?system=http://loinc.org&code=1963-8") \
        .status_code == 404


def test_official_transaction_example_as_a_batch_answers_the_lookup_alone(fhir):
    """The same entries as a batch (each on its own, R4 http.html#batch): the $lookup entry
    is answered 404 with its OperationOutcome, every other entry runs."""
    example = {**_official_transaction(fhir), "type": "batch"}
    resp = fhir.post("/fhir", example)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    entries = resp.get_json()["entry"]
    assert entries[7]["response"]["status"] == "404"
    assert entries[7]["response"]["outcome"]["issue"][0]["code"] == "not-supported"
    statuses = [e["response"]["status"] for i, e in enumerate(entries) if i != 7]
    assert statuses == ["201 Created", "201 Created", "201 Created", "201 Created",
                        "200 OK", "204 No Content", "204 No Content", "200 OK", "200 OK"]


def test_official_transaction_example_runs_as_a_transaction(fhir):
    """HL7's Bundle-bundle-transaction without its ValueSet/$lookup entry (see above):
    deletes of ids that never existed (plain and conditional) are 204s, the conditional
    create, update and If-Match update run, the search and the conditional read
    (If-None-Match W/"4", If-Modified-Since 2015: the client holds neither) answer 200."""
    example = _official_transaction(fhir)
    example["entry"] = [e for e in example["entry"]
                        if e["request"]["url"] != "ValueSet/$lookup"]
    assert len(example["entry"]) == 9
    resp = fhir.post("/fhir", example)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created", "201 Created", "201 Created", "201 Created",
                        "200 OK", "204 No Content", "204 No Content", "200 OK", "200 OK"]
    assert fhir.get("/fhir/Patient/123a").get_json()["meta"]["versionId"] == "3"
    assert fhir.get("/fhir/Patient/234").status_code == 404


def test_conditional_read_in_a_bundle_answers_304(fhir):
    fhir.put("/fhir/Patient/cr", {**patient("cr"), "id": "cr"})

    def get(**conditions) -> dict:
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"request": {"method": "GET", "url": "Patient/cr", **conditions}}]}
        return fhir.post("/fhir", bundle).get_json()["entry"][0]

    assert get(ifNoneMatch='W/"1"')["response"]["status"] == "304 Not Modified"
    assert "resource" not in get(ifNoneMatch='W/"1"')
    assert get(ifNoneMatch='W/"4"')["response"]["status"] == "200 OK"
    assert get(ifModifiedSince="2015-08-31T08:14:33+10:00")["response"]["status"] == "200 OK"
    assert get(ifModifiedSince="2999-01-01T00:00:00Z")["response"]["status"] == \
        "304 Not Modified"
    # If-None-Match decides alone when both are given
    assert get(ifNoneMatch='W/"4"', ifModifiedSince="2999-01-01T00:00:00Z")["response"][
        "status"] == "200 OK"


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
