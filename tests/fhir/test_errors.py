"""Every kind of error answers an OperationOutcome with expression paths; nothing stored."""

import pytest
from fhirapi_helpers import patient, task


def _stored(fhir, rtype: str) -> int:
    return fhir.get(f"/fhir/{rtype}/_history").get_json()["total"]


def _issue(resp) -> dict:
    body = resp.get_json()
    assert resp.mimetype == "application/fhir+json"
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]


def test_malformed_json(fhir):
    resp = fhir.post("/fhir/Patient", data="{not json",
                     headers={"Content-Type": "application/fhir+json"})
    assert resp.status_code == 400 and _issue(resp)["code"] == "structure"
    assert _stored(fhir, "Patient") == 0


def test_wrong_resource_type_for_url(fhir):
    resp = fhir.post("/fhir/Task", patient())
    assert resp.status_code == 400
    assert _issue(resp)["expression"] == ["Patient.resourceType"]
    assert _stored(fhir, "Task") == 0 and _stored(fhir, "Patient") == 0


def test_id_mismatch_on_put(fhir):
    resp = fhir.put("/fhir/Patient/abc", {**patient(), "id": "xyz"})
    assert resp.status_code == 400 and _issue(resp)["expression"] == ["Patient.id"]
    missing = fhir.put("/fhir/Patient/abc", patient())
    assert missing.status_code == 400
    assert _stored(fhir, "Patient") == 0


@pytest.mark.parametrize("url", ["/fhir/Foo", "/fhir/Foo/1", "/fhir/Medication"])
def test_unknown_or_unsupported_type(fhir, url):
    # R4 http.html: an unknown (or unsupported) resource type in the URL is 404 Not Found
    resp = fhir.get(url)
    assert resp.status_code == 404 and _issue(resp)["code"] == "not-supported"


def test_unknown_type_in_body(fhir):
    resp = fhir.post("/fhir/Foo", {"resourceType": "Foo"})
    assert resp.status_code == 404  # the URL names an unknown type
    wrong = fhir.post("/fhir/Patient", {"resourceType": "Foo"})
    assert wrong.status_code == 400 and _issue(wrong)["code"] == "not-supported"


@pytest.mark.parametrize("resource,expression", [
    ({"resourceType": "Encounter", "status": "planned"}, "Encounter.class"),
    ({"resourceType": "Task", "status": "requested", "intent": "order",
      "input": [{"type": {"text": "x"}}]}, "Task.input[0]"),
    ({"resourceType": "Task", "intent": "order"}, "Task.status"),
    ({"resourceType": "Task", "status": "requested", "intent": "order",
      "for": {"reference": 5}}, "Task.for.reference"),
    # R5 element names are not R4
    ({"resourceType": "Encounter", "status": "planned", "class": {"code": "HH"},
      "actualPeriod": {"start": "2024-01-01"}}, "Encounter.actualPeriod"),
])
def test_model_validation_errors_have_expressions(fhir, resource, expression):
    resp = fhir.post(f"/fhir/{resource['resourceType']}", resource)
    assert resp.status_code == 400
    expressions = [e for i in resp.get_json()["issue"] for e in i.get("expression", [])]
    assert expression in expressions
    assert _stored(fhir, resource["resourceType"]) == 0


@pytest.mark.parametrize("resource,expression", [
    ({"resourceType": "Task", "status": "bogus", "intent": "order"}, "Task.status"),
    ({"resourceType": "Encounter", "status": "completed",
      "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH"}},
     "Encounter.status"),
    ({"resourceType": "CarePlan", "status": "active", "intent": "directive",
      "subject": {"reference": "Patient/1"}}, "CarePlan.intent"),
    ({"resourceType": "CarePlan", "status": "cancelled", "intent": "plan",
      "subject": {"reference": "Patient/1"}}, "CarePlan.status"),
    ({"resourceType": "Coverage", "status": "inactive",
      "beneficiary": {"reference": "Patient/1"}, "payor": [{"reference": "Organization/1"}]},
     "Coverage.status"),
])
def test_required_bindings_of_status_elements(fhir, resource, expression):
    resp = fhir.post(f"/fhir/{resource['resourceType']}", resource)
    assert resp.status_code == 422
    issue = _issue(resp)
    assert issue["code"] == "code-invalid" and issue["expression"] == [expression]
    assert _stored(fhir, resource["resourceType"]) == 0


def test_bad_update_stores_nothing(fhir):
    p = fhir.create(patient())
    resp = fhir.put(f"/fhir/Patient/{p['id']}", {**p, "gender": "robot"})
    assert resp.status_code == 422
    assert fhir.get(f"/fhir/Patient/{p['id']}").get_json()["meta"]["versionId"] == "1"


def test_unauthenticated_is_401_operation_outcome(client):
    resp = client.get("/fhir/Patient")
    assert resp.status_code == 401
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    assert client.get("/fhir/metadata").status_code == 200


def test_scopes_per_interaction(fhir, fhir_as):
    p = fhir.create(patient())
    reader = fhir_as("system/Patient.rs")
    assert reader.get(f"/fhir/Patient/{p['id']}").status_code == 200
    assert reader.get("/fhir/Patient").status_code == 200
    assert reader.get(f"/fhir/Patient/{p['id']}/_history").status_code == 200
    for resp in (reader.post("/fhir/Patient", patient()),
                 reader.put(f"/fhir/Patient/{p['id']}", p),
                 reader.delete(f"/fhir/Patient/{p['id']}"),
                 reader.get("/fhir/Task")):
        assert resp.status_code == 403
        assert _issue(resp)["code"] == "forbidden"
    v1 = fhir_as("system/Task.read")
    assert v1.get("/fhir/Task").status_code == 200
    assert v1.post("/fhir/Task", task("Patient/1")).status_code == 403
    search_only = fhir_as("system/Patient.s")
    assert search_only.get(f"/fhir/Patient/{p['id']}").status_code == 403
    assert _stored(fhir, "Patient") == 1


def test_bad_search_values_are_400(fhir):
    assert fhir.get("/fhir/Task?authored-on=yesterday").status_code == 400
    assert fhir.get("/fhir/Task?status:exact=x").status_code == 400
    assert fhir.get("/fhir/Task?_count=many",
                    headers={"Prefer": "handling=strict"}).status_code == 400
    assert fhir.get("/fhir/Task?_include=Task:status").status_code == 400
    assert fhir.get("/fhir/Task?owner:missing=maybe").status_code == 400


def test_bad_etag_is_400(fhir):
    p = fhir.create(patient())
    resp = fhir.put(f"/fhir/Patient/{p['id']}", p, headers={"If-Match": "W/\"abc\""})
    assert resp.status_code == 400
