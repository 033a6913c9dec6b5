"""A corpus of invalid R4 variants: each refused with its path, the right status, nothing stored.

Types (no coercion), empty and null, duplicate keys, unknown elements, required bindings
(contained resources included), invariants, reference target types, contained rules; and
decimals served as written.
"""

from __future__ import annotations

import copy
import json

import pytest
from fhirapi_helpers import patient

FHIR_JSON = "application/fhir+json"


def observation() -> dict:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": "Patient/p1"},
            "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org",
                              "code": "/min"}}


def claim() -> dict:
    return {"resourceType": "Claim", "status": "active",
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type",
                                 "code": "professional"}]},
            "use": "preauthorization", "patient": {"reference": "Patient/p1"},
            "created": "2024-03-01", "provider": {"reference": "Organization/o1"},
            "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                               "processpriority", "code": "normal"}]},
            "insurance": [{"sequence": 1, "focal": True,
                           "coverage": {"reference": "Coverage/c1"}}],
            "total": {"value": 135.57, "currency": "USD"}}


def condition() -> dict:
    return {"resourceType": "Condition", "subject": {"reference": "Patient/p1"},
            "code": {"text": "heart failure"},
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": "active"}]}}


BASES = {"Patient": patient, "Observation": observation, "Claim": claim,
         "Condition": condition,
         "Procedure": lambda: {"resourceType": "Procedure", "status": "completed",
                               "subject": {"reference": "Patient/p1"}},
         "DocumentReference": lambda: {"resourceType": "DocumentReference",
                                       "status": "current",
                                       "content": [{"attachment": {"url": "http://x.org/a"}}]},
         "Practitioner": lambda: {"resourceType": "Practitioner", "gender": "male"},
         "RelatedPerson": lambda: {"resourceType": "RelatedPerson", "gender": "male",
                                   "patient": {"reference": "Patient/p1"}},
         "CareTeam": lambda: {"resourceType": "CareTeam", "status": "active",
                              "participant": [{"member": {"reference": "Practitioner/pr1"},
                                               "onBehalfOf": {"reference": "Organization/o1"}},
                                              {"member": {"reference": "Patient/p1"}}]},
         "Encounter": lambda: {"resourceType": "Encounter", "status": "finished",
                               "class": {"system": "http://terminology.hl7.org/CodeSystem/"
                                                   "v3-ActCode", "code": "AMB"}}}


def _set(resource: dict, path: str, value) -> dict:
    """A copy of ``resource`` with ``path`` (dots, [i]) set to ``value`` (DELETE removes)."""
    out = copy.deepcopy(resource)
    node = out
    parts = path.replace("[", ".[").split(".")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        key = int(part[1:-1]) if part.startswith("[") else part
        if last:
            if value is DELETE:
                del node[key]
            else:
                node[key] = value
        else:
            if isinstance(key, str) and key not in node:
                node[key] = [] if parts[i + 1].startswith("[") else {}
            node = node[key]
    return out


DELETE = object()

# (base type, path to set, value, expected status, expected expression)
VARIANTS = [
    # JSON types exactly as R4 JSON defines them
    ("Patient", "active", "true", 400, "Patient.active"),
    ("Patient", "active", 1, 400, "Patient.active"),
    ("Patient", "multipleBirthInteger", "2", 400, "Patient.multipleBirthInteger"),
    ("Patient", "multipleBirthInteger", 2.5, 400, "Patient.multipleBirthInteger"),
    ("Patient", "multipleBirthInteger", 2**31, 400, "Patient.multipleBirthInteger"),
    ("Observation", "valueQuantity.value", "5", 400, "Observation.valueQuantity.value"),
    ("Claim", "total.value", "135.57", 400, "Claim.total.value"),
    ("Claim", "insurance[0].sequence", 0, 400, "Claim.insurance[0].sequence"),
    ("Claim", "insurance[0].focal", "true", 400, "Claim.insurance[0].focal"),
    ("Patient", "birthDate", "not a date", 400, "Patient.birthDate"),
    ("Patient", "birthDate", "2021-02-30", 400, "Patient.birthDate"),
    ("Patient", "birthDate", 1950, 400, "Patient.birthDate"),
    ("Patient", "id", "bad_id", 400, "Patient.id"),
    ("Observation", "effectiveDateTime", "2024-13-01", 400, "Observation.effectiveDateTime"),
    ("Patient", "name", {"family": "X"}, 400, "Patient.name"),
    ("Patient", "gender", ["female"], 400, "Patient.gender"),
    ("Patient", "name[0].given", "Anna", 400, "Patient.name[0].given"),
    # no empty arrays, objects or strings; no nulls
    ("Patient", "name", [], 400, "Patient.name"),
    ("Patient", "name", [{}], 400, "Patient.name[0]"),
    ("Patient", "name[0].given", [""], 400, "Patient.name[0].given[0]"),
    ("Patient", "name[0].given", [None], 400, "Patient.name[0].given[0]"),
    ("Patient", "name[0].family", "Mül\u0000ler", 400, "Patient.name[0].family"),
    ("Patient", "gender", None, 400, "Patient.gender"),
    ("Patient", "meta", {}, 400, "Patient.meta"),
    ("Patient", "name[0]._given", [{"id": "a"}, None], 400, "Patient.name[0].given"),
    # unknown elements and cardinality
    ("Patient", "unknownElement", "x", 400, "Patient.unknownElement"),
    ("Patient", "", "x", 400, "Patient."),
    ("Patient", "fhir_comments", ["x"], 400, "Patient.fhir_comments"),
    ("Patient", "_birthDate", {"foo": 1}, 400, "Patient.birthDate.foo"),
    ("Observation", "code", DELETE, 400, "Observation.code"),
    ("Observation", "valueString", "high", 400, "Observation.valueString"),
    ("Patient", "extension", [{"valueString": "x"}], 400, "Patient.extension[0].url"),
    # required bindings, in every type and datatype
    ("Observation", "status", "bogus", 422, "Observation.status"),
    ("Procedure", "status", "done", 422, "Procedure.status"),
    ("DocumentReference", "status", "final", 422, "DocumentReference.status"),
    ("Condition", "clinicalStatus.coding[0].code", "bogus", 422,
     "Condition.clinicalStatus.coding"),
    ("Condition", "verificationStatus", {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
        "code": "maybe"}]}, 422, "Condition.verificationStatus.coding"),
    ("Practitioner", "gender", "M", 422, "Practitioner.gender"),
    ("RelatedPerson", "gender", "F", 422, "RelatedPerson.gender"),
    ("Patient", "telecom", [{"system": "fax2", "value": "1"}], 422, "Patient.telecom[0].system"),
    ("Patient", "telecom", [{"system": "phone", "use": "cell", "value": "1"}], 422,
     "Patient.telecom[0].use"),
    ("Patient", "identifier[0].use", "bogus", 422, "Patient.identifier[0].use"),
    ("Observation", "valueQuantity.comparator", "~", 422,
     "Observation.valueQuantity.comparator"),
    ("Patient", "text", {"status": "bogus", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">"
                                                   "x</div>"}, 422, "Patient.text.status"),
    ("Encounter", "status", "completed", 422, "Encounter.status"),
    ("Observation", "contained", [{"resourceType": "Patient", "id": "p", "gender": "x"}], 422,
     "Observation.contained[0].gender"),
    # invariants
    ("Patient", "contact", [{"relationship": [{"text": "son"}]}], 422, "Patient.contact[0]"),
    ("Observation", "dataAbsentReason", {"text": "unknown"}, 422,
     "Observation.dataAbsentReason"),
    ("Observation", "component", [{"code": {"coding": [{"system": "http://loinc.org",
                                                        "code": "8867-4"}]},
                                   "valueQuantity": {"value": 1}}], 422,
     "Observation.component[0].code"),
    ("Encounter", "period", {"start": "2024-03-02", "end": "2024-03-01"}, 422,
     "Encounter.period.end"),
    ("Condition", "abatementDateTime", "2024-01-01", 422, "Condition.clinicalStatus"),
    ("Claim", "total.code", "USD", 400, "Claim.total.code"),
    ("Patient", "text", {"status": "generated", "div": "<div>no namespace</div>"}, 400,
     "Patient.text.div"),
    ("Patient", "text", {"status": "generated",
                         "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">&reg;</div>"},
     400, "Patient.text.div"),
    ("Patient", "text", {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/"
                                                       "xhtml\"><script>x</script></div>"},
     400, "Patient.text.div"),
    # ctm-1: onBehalfOf only when the member is a Practitioner (also when contained)
    ("CareTeam", "participant[1].onBehalfOf", {"reference": "Organization/o1"}, 422,
     "CareTeam.participant[1].onBehalfOf"),
    ("CareTeam", "participant[0].member", {"reference": "http://other.example.org/fhir/"
                                                        "PractitionerRole/r1"}, 422,
     "CareTeam.participant[0].onBehalfOf"),
    ("CareTeam", "contained", [{"resourceType": "RelatedPerson", "id": "p",
                                "patient": {"reference": "Patient/p1"}}], 422,
     "CareTeam.participant[0].onBehalfOf"),
    # sqty-1: a SimpleQuantity has no comparator (Range.low/high, referenceRange, quantities)
    ("Observation", "referenceRange", [{"low": {"value": 60, "comparator": ">="}}], 422,
     "Observation.referenceRange[0].low.comparator"),
    ("Observation", "component", [{"code": {"text": "x"}, "valueRange": {
        "high": {"value": 5, "comparator": "<"}}}], 422,
     "Observation.component[0].valueRange.high.comparator"),
    ("Claim", "item", [{"sequence": 1, "productOrService": {"text": "visit"},
                        "quantity": {"value": 2, "comparator": ">"}}], 422,
     "Claim.item[0].quantity.comparator"),
    # reference target types
    ("Observation", "subject", {"reference": "Medication/x"}, 422,
     "Observation.subject.reference"),
    ("Claim", "patient", {"reference": "http://other.example.org/fhir/Organization/1"}, 422,
     "Claim.patient.reference"),
    ("Patient", "managingOrganization", {"reference": "Foo/1"}, 422,
     "Patient.managingOrganization.reference"),
    # contained resources
    ("Observation", "subject", {"reference": "#nothere"}, 422, "Observation.subject.reference"),
    ("Observation", "contained", [{"resourceType": "Patient", "id": "lonely"}], 422,
     "Observation.contained[0]"),
    ("Observation", "contained", [{"resourceType": "Patient", "id": "p",
                                   "meta": {"versionId": "1"}}], 422,
     "Observation.contained[0].meta"),
    ("Observation", "contained", [{"resourceType": "Patient", "id": "p", "contained": [
        {"resourceType": "Organization", "id": "o", "name": "x"}]}], 422,
     "Observation.contained[0].contained[0]"),
    ("Observation", "contained", [{"resourceType": "Patient", "id": "p", "active": "yes"}],
     400, "Observation.contained[0].active"),
    ("Observation", "contained", [{"resourceType": "Patient"}], 400,
     "Observation.contained[0].id"),
    # bound elements of the wrong JSON type: a 400 naming them, not a crash of the binding
    ("Condition", "clinicalStatus.coding", 1, 400, "Condition.clinicalStatus.coding"),
    ("Condition", "clinicalStatus.coding[0].system", ["x"], 400,
     "Condition.clinicalStatus.coding[0].system"),
    ("Encounter", "class.system", {"a": 1}, 400, "Encounter.class.system"),
    ("Observation", "contained", [{"resourceType": {}, "id": "p"}], 400,
     "Observation.contained[0].resourceType"),
]


def _expressions(resp) -> list[str]:
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome", body
    return [e for i in body["issue"] for e in i.get("expression", [])]


@pytest.mark.parametrize("rtype,path,value,status,expression", VARIANTS,
                         ids=[f"{v[0]}.{v[1]}={json.dumps(v[2], default=str)[:30]}"
                              for v in VARIANTS])
def test_invalid_variant_is_refused_with_its_path(fhir, rtype, path, value, status,
                                                  expression):
    base = BASES[rtype]()
    assert fhir.post(f"/fhir/{rtype}", base).status_code == 201  # the base is valid
    variant = _set(base, path, value)
    if path == "contained" and value[0].get("id") == "p":
        # referenced, as dom-3 wants
        if rtype == "CareTeam":
            variant["participant"][0]["member"] = {"reference": "#p"}
        else:
            variant["subject"] = {"reference": "#p"}
    resp = fhir.post(f"/fhir/{rtype}", variant)
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert expression in _expressions(resp), resp.get_data(as_text=True)
    assert fhir.get(f"/fhir/{rtype}/_history").get_json()["total"] == 1  # only the base


def _raw(fhir, url: str, text: str, method: str = "POST"):
    return fhir.request(method, url, data=text, headers={"Content-Type": FHIR_JSON})


@pytest.mark.parametrize("text,expression", [
    ('{"resourceType":"Patient","gender":"male","gender":"female"}', "Patient.gender"),
    ('{"resourceType":"Patient","name":[{"family":"A","given":["B"],"family":"C"}]}',
     "Patient.name[0].family"),
])
def test_duplicate_keys_are_refused(fhir, text, expression):
    resp = _raw(fhir, "/fhir/Patient", text)
    assert resp.status_code == 400
    assert expression in _expressions(resp)
    assert fhir.get("/fhir/Patient/_history").get_json()["total"] == 0


@pytest.mark.parametrize("text,expression", [
    ('{"resourceType":"Patient","multipleBirthInteger":1.0e-400}', "Patient.multipleBirthInteger"),
    ('{"resourceType":"Patient","multipleBirthInteger":2.0}', "Patient.multipleBirthInteger"),
    ('{"resourceType":"Observation","status":"final","code":{"text":"x"},'
     '"valueQuantity":{"value":NaN}}', None),
])
def test_numbers_are_read_as_written(fhir, text, expression):
    resp = _raw(fhir, f"/fhir/{json.loads(text, parse_constant=str)['resourceType']}", text)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    if expression:
        assert expression in _expressions(resp)


def test_deep_nesting_is_a_400_not_a_crash(fhir):
    # 700 levels of extensions: parseable JSON, too deep for the walk -> 400, not a crash
    text = '{"resourceType":"Patient","extension":[' + \
        '{"url":"http://x.org/e","extension":[' * 700 + \
        '{"url":"http://x.org/e","valueString":"x"}' + "]}" * 700 + "]}"
    resp = _raw(fhir, "/fhir/Patient", text)
    assert resp.status_code == 400, resp.get_data(as_text=True)[:300]
    deeper = '{"resourceType":"Patient","extension":' + "[" * 5000 + "]" * 5000 + "}"
    assert _raw(fhir, "/fhir/Patient", deeper).status_code == 400
    assert fhir.get("/fhir/Patient/_history").get_json()["total"] == 0


def test_decimals_are_kept_as_written(fhir):
    assert fhir.put("/fhir/Patient/p1", {**patient(), "id": "p1"}).status_code == 201
    text = json.dumps(claim()).replace("135.57", "105.00")
    text = text.replace('"sequence": 1', '"sequence": 1, "businessArrangement": "x"')
    created = _raw(fhir, "/fhir/Claim", text)
    assert created.status_code == 201, created.get_data(as_text=True)
    assert '"value":105.00' in created.get_data(as_text=True)
    rid = created.get_json()["id"]
    assert '"value":105.00' in fhir.get(f"/fhir/Claim/{rid}").get_data(as_text=True)
    found = fhir.get(f"/fhir/Claim?_id={rid}")
    assert '"value":105.00' in found.get_data(as_text=True)
    for url in (f"/fhir/Claim/{rid}/_history/1", f"/fhir/Claim/{rid}/_history",
                "/fhir/Claim/_history", "/fhir/_history", "/fhir/Patient/p1/$everything",
                f"/fhir/Claim?_id={rid}&_elements=total", f"/fhir/Claim/{rid}?_summary=data"):
        served = fhir.get(url)
        assert served.status_code == 200, (url, served.get_data(as_text=True))
        assert '"value":105.00' in served.get_data(as_text=True), url
    tiny = json.dumps(observation()).replace('"value": 72', '"value": 1.0e-400')
    resp = _raw(fhir, "/fhir/Observation", tiny)
    assert resp.status_code == 201 and '"value":1.0e-400' in resp.get_data(as_text=True)


def test_transaction_entry_errors_name_the_entry(fhir):
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:8f1b7c1e-0000-4000-8000-000000000001",
         "resource": patient(), "request": {"method": "POST", "url": "Patient"}},
        {"resource": {**patient("456"), "active": "true"},
         "request": {"method": "POST", "url": "Patient"}}]}
    resp = fhir.post("/fhir", bundle)
    assert resp.status_code == 400
    assert "Bundle.entry[1].resource.active" in _expressions(resp)
    assert fhir.get("/fhir/Patient/_history").get_json()["total"] == 0


def test_batch_refuses_only_the_bad_entry(fhir):
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
        {"resource": {**observation(), "subject": {"reference": "Medication/x"}},
         "request": {"method": "POST", "url": "Observation"}}]}
    resp = fhir.post("/fhir", bundle)
    assert resp.status_code == 200
    first, second = resp.get_json()["entry"]
    assert first["response"]["status"].startswith("201")
    assert second["response"]["status"] == "422"
    assert second["response"]["outcome"]["issue"][0]["expression"] == \
        ["Observation.subject.reference"]


@pytest.mark.parametrize("change,expression", [
    ({"entry": []}, "Bundle.entry"),
    ({"total": "1"}, "Bundle.total"),
    ({"unknown": True}, "Bundle.unknown"),
])
def test_the_bundle_itself_is_strict(fhir, change, expression):
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": patient(), "request": {"method": "POST", "url": "Patient"}}], **change}
    resp = fhir.post("/fhir", bundle)
    assert resp.status_code == 400
    assert expression in _expressions(resp)
    assert fhir.get("/fhir/Patient/_history").get_json()["total"] == 0


def _tx_entry(**extra) -> dict:
    return {"fullUrl": "urn:uuid:8f1b7c1e-0000-4000-8000-000000000001", "resource": patient(),
            "request": {"method": "POST", "url": "Patient"}, **extra}


@pytest.mark.parametrize("kind,bundle,expression", [
    # bdl-1: total only in a searchset or history
    ("transaction", {"total": 1, "entry": [_tx_entry()]}, "Bundle.total"),
    # bdl-2: entry.search only in a searchset
    ("batch", {"entry": [_tx_entry(search={"mode": "match"})]}, "Bundle.entry[0].search"),
    # bdl-3: every entry of a batch/transaction has a request
    ("transaction", {"entry": [{"fullUrl": "urn:uuid:8f1b7c1e-0000-4000-8000-000000000001",
                                "resource": patient()}]}, "Bundle.entry[0].request"),
    # bdl-4: no response outside a batch-response/transaction-response/history
    ("batch", {"entry": [_tx_entry(response={"status": "201"})]}, "Bundle.entry[0].response"),
    # bdl-7: fullUrl unique (with meta.versionId) unless history
    ("transaction", {"entry": [_tx_entry(), _tx_entry(resource=patient("456"))]},
     "Bundle.entry[1].fullUrl"),
    # bdl-8: fullUrl is no version-specific reference
    ("transaction", {"entry": [_tx_entry(fullUrl="http://hub.example/fhir/Patient/a/_history/1",
                                         request={"method": "PUT", "url": "Patient/a"},
                                         resource={**patient(), "id": "a"})]},
     "Bundle.entry[0].fullUrl"),
])
def test_bundle_invariants_are_checked(fhir, kind, bundle, expression):
    resp = fhir.post("/fhir", {"resourceType": "Bundle", "type": kind, **bundle})
    assert resp.status_code == 422, resp.get_data(as_text=True)
    assert expression in _expressions(resp), resp.get_data(as_text=True)
    assert fhir.get("/fhir/Patient/_history").get_json()["total"] == 0


def test_update_is_strict_too(fhir):
    created = fhir.create(patient())
    resp = fhir.put(f"/fhir/Patient/{created['id']}", {**created, "active": "false"})
    assert resp.status_code == 400 and "Patient.active" in _expressions(resp)
    assert fhir.get(f"/fhir/Patient/{created['id']}").get_json()["meta"]["versionId"] == "1"
