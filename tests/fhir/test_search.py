"""Search parameter types, modifiers and prefixes, over the search index."""

import pytest
from fhirapi_helpers import organization, patient, service_request, task


def ids(bundle: dict, mode: str = "match") -> set[str]:
    return {e["resource"]["id"] for e in bundle.get("entry", [])
            if e.get("search", {}).get("mode") == mode}


def search(fhir, query: str, **kw) -> dict:
    resp = fhir.get(f"/fhir/{query}", **kw)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["type"] == "searchset"
    return body


@pytest.fixture
def tasks(fhir):
    fhir.put("/fhir/Organization/a1", {**organization(), "id": "a1"})
    p = fhir.put("/fhir/Patient/p1", {**patient(), "id": "p1"}).get_json()
    sr = fhir.create(service_request("Patient/p1", "Organization/a1"))
    t1 = fhir.create(task("Patient/p1", f"ServiceRequest/{sr['id']}", "Organization/a1",
                          ident="t1"))
    t2 = fhir.create({**task("Group/g1", None, None, status="draft", ident="t2"),
                      "authoredOn": "2024-05-20T08:00:00+02:00",
                      "lastModified": "2024-05-21"})
    t3 = fhir.create({**task("Patient/p1", None, "Organization/a2", status="accepted"),
                      "authoredOn": "2023-12-31"})
    return {"p": p, "sr": sr, "t1": t1, "t2": t2, "t3": t3}


def test_token_forms(fhir, tasks):
    t1, t2, t3 = tasks["t1"]["id"], tasks["t2"]["id"], tasks["t3"]["id"]
    assert ids(search(fhir, "Task?status=requested")) == {t1}
    assert ids(search(fhir, "Task?status=requested,draft")) == {t1, t2}
    assert ids(search(fhir, "Task?status:not=requested")) == {t2, t3}
    code = "http://hl7.org/fhir/CodeSystem/task-code|fulfill"
    assert ids(search(fhir, f"Task?code={code}")) == {t1, t2, t3}
    assert ids(search(fhir, "Task?code=fulfill")) == {t1, t2, t3}
    assert ids(search(fhir, "Task?code=|fulfill")) == set()
    assert ids(search(fhir, "Task?code=http://hl7.org/fhir/CodeSystem/task-code|")) == \
        {t1, t2, t3}
    assert ids(search(fhir, "Task?identifier=http://hub.example/referral|t1")) == {t1}
    assert ids(search(fhir, "Task?identifier=t2")) == {t2}
    assert ids(search(fhir, "Patient?gender=|female")) == {"p1"}
    assert ids(search(fhir, "Task?status=requested&code=fulfill")) == {t1}


def test_reference_forms_and_missing(fhir, tasks):
    t1, t2, t3 = tasks["t1"]["id"], tasks["t2"]["id"], tasks["t3"]["id"]
    assert ids(search(fhir, "Task?owner=Organization/a1")) == {t1}
    assert ids(search(fhir, "Task?owner=a1")) == {t1}
    assert ids(search(fhir, "Task?owner=http://hub.test/fhir/Organization/a1")) == {t1}
    assert ids(search(fhir, "Task?patient=Patient/p1")) == {t1, t3}
    assert ids(search(fhir, "Task?patient=p1")) == {t1, t3}
    assert ids(search(fhir, "Task?subject=Group/g1")) == {t2}
    assert ids(search(fhir, "Task?subject:Patient=p1")) == {t1, t3}
    assert ids(search(fhir, f"Task?focus=ServiceRequest/{tasks['sr']['id']}")) == {t1}
    assert ids(search(fhir, "Task?owner:missing=true")) == {t2}
    assert ids(search(fhir, "Task?owner:missing=false")) == {t1, t3}
    assert ids(search(fhir, "Task?owner:missing=true&status=draft")) == {t2}


def test_date_prefixes_and_partial_dates(fhir, tasks):
    t1, t2, t3 = tasks["t1"]["id"], tasks["t2"]["id"], tasks["t3"]["id"]
    assert ids(search(fhir, "Task?authored-on=2024-03")) == {t1}
    assert ids(search(fhir, "Task?authored-on=2024")) == {t1, t2}
    assert ids(search(fhir, "Task?authored-on=eq2024-03-01")) == {t1}
    assert ids(search(fhir, "Task?authored-on=ne2024-03-01")) == {t2, t3}
    assert ids(search(fhir, "Task?authored-on=gt2024-03-01")) == {t2}
    assert ids(search(fhir, "Task?authored-on=lt2024-03-01")) == {t3}
    assert ids(search(fhir, "Task?authored-on=ge2024-03-01")) == {t1, t2}
    assert ids(search(fhir, "Task?authored-on=le2024-03-01")) == {t1, t3}
    assert ids(search(fhir, "Task?authored-on=sa2024-01-01")) == {t1, t2}
    assert ids(search(fhir, "Task?authored-on=eb2024")) == {t3}
    # 08:00+02:00 is 06:00Z
    assert ids(search(fhir, "Task?authored-on=2024-05-20T06:00:00Z")) == {t2}
    assert ids(search(fhir, "Task?authored-on=ge2024-01-01&authored-on=lt2024-04-01")) == {t1}
    assert ids(search(fhir, "Task?modified=2024-05")) == {t2}
    assert ids(search(fhir, "Task?modified:missing=true")) == {t1, t3}


def test_period_dates(fhir):
    enc = {"resourceType": "Encounter", "status": "finished",
           "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                     "code": "IMP"},
           "subject": {"reference": "Patient/p1"},
           "period": {"start": "2024-02-01T10:00:00Z", "end": "2024-02-05T12:00:00Z"}}
    e1 = fhir.create(enc)["id"]
    e2 = fhir.create({**enc, "status": "in-progress", "period": {"start": "2024-03-01"},
                      "class": {**enc["class"], "code": "HH"}})["id"]
    assert ids(search(fhir, "Encounter?date=2024-02")) == {e1}
    assert ids(search(fhir, "Encounter?date=ge2024-02-03")) == {e1, e2}
    assert ids(search(fhir, "Encounter?date=gt2024-06-01")) == {e2}  # open-ended
    assert ids(search(fhir, "Encounter?date=sa2024-02-10")) == {e2}
    assert ids(search(fhir, "Encounter?class=HH")) == {e2}
    assert ids(search(fhir, "Encounter?patient=p1&status=finished")) == {e1}


def test_last_updated(fhir):
    a = fhir.create(patient("1"))
    b = fhir.create(patient("2"))
    stamp = a["meta"]["lastUpdated"]
    assert ids(search(fhir, f"Patient?_lastUpdated=gt{stamp}")) == {b["id"]}
    assert ids(search(fhir, f"Patient?_lastUpdated=le{stamp}")) == {a["id"]}
    assert ids(search(fhir, f"Patient?_lastUpdated=ge{stamp[:10]}")) == {a["id"], b["id"]}


def test_string_modifiers(fhir):
    a = fhir.create(patient("1", "Müller", "Anna"))["id"]
    b = fhir.create(patient("2", "Mullins", "Ben"))["id"]
    c = fhir.create(patient("3", "Smith", "Gallus"))["id"]
    assert ids(search(fhir, "Patient?name=mul")) == {a, b}
    assert ids(search(fhir, "Patient?family=MULLER")) == {a}
    assert ids(search(fhir, "Patient?name:exact=Müller")) == {a}
    assert ids(search(fhir, "Patient?name:exact=muller")) == set()
    assert ids(search(fhir, "Patient?name:contains=ll")) == {a, b, c}
    assert ids(search(fhir, "Patient?given=ben")) == {b}
    assert ids(search(fhir, "Patient?name=100%25")) == set()
    assert ids(search(fhir, "Patient?birthdate=1950")) == {a, b, c}


def test_id_sort_and_summary(fhir):
    made = [fhir.put(f"/fhir/Patient/p{i}", {**patient(str(i), f"Fam{4 - i}"), "id": f"p{i}"})
            .get_json() for i in range(4)]
    assert ids(search(fhir, "Patient?_id=p1,p3")) == {"p1", "p3"}
    order = [e["resource"]["id"] for e in search(fhir, "Patient?_sort=-_lastUpdated")["entry"]]
    assert order == ["p3", "p2", "p1", "p0"]
    order = [e["resource"]["id"] for e in search(fhir, "Patient?_sort=-_id")["entry"]]
    assert order == ["p3", "p2", "p1", "p0"]
    order = [e["resource"]["id"] for e in search(fhir, "Patient?_sort=family")["entry"]]
    assert order == ["p3", "p2", "p1", "p0"]
    count = search(fhir, "Patient?_summary=count")
    assert count["total"] == 4 and "entry" not in count
    no_total = search(fhir, "Patient?_total=none")
    assert "total" not in no_total and len(no_total["entry"]) == len(made)


def test_other_resource_types(fhir):
    ep = fhir.create({"resourceType": "EpisodeOfCare", "status": "active",
                      "patient": {"reference": "Patient/p1"},
                      "managingOrganization": {"reference": "Organization/hub"},
                      "careManager": {"reference": "Practitioner/cm1"},
                      "period": {"start": "2024-01-01"}})
    assert ids(search(fhir, "EpisodeOfCare?care-manager=Practitioner/cm1&date=ge2024")) == \
        {ep["id"]}
    cov = fhir.create({"resourceType": "Coverage", "status": "active",
                       "beneficiary": {"reference": "Patient/p1"},
                       "payor": [{"reference": "Organization/ins"}],
                       "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                            "v3-ActCode", "code": "CHAR"}]}})
    assert ids(search(fhir, "Coverage?patient=p1&payor=Organization/ins&type=CHAR")) == \
        {cov["id"]}
    goal = fhir.create({"resourceType": "Goal", "lifecycleStatus": "active",
                        "description": {"text": "walk"}, "subject": {"reference": "Patient/p1"},
                        "target": [{"dueDate": "2024-06-30"}]})
    assert ids(search(fhir, "Goal?target-date=le2024-07&lifecycle-status=active")) == \
        {goal["id"]}
    team = fhir.create({"resourceType": "CareTeam", "status": "active",
                        "subject": {"reference": "Patient/p1"},
                        "participant": [{"member": {"reference": "Practitioner/cm1"}}]})
    assert ids(search(fhir, "CareTeam?participant=Practitioner/cm1&patient=p1")) == \
        {team["id"]}
    cond = fhir.create({"resourceType": "Condition", "subject": {"reference": "Patient/p1"},
                        "clinicalStatus": {"coding": [{
                            "system": "http://terminology.hl7.org/CodeSystem/"
                                      "condition-clinical", "code": "active"}]},
                        "code": {"text": "stroke"}})
    assert ids(search(fhir, "Condition?clinical-status=active&patient=p1")) == {cond["id"]}
    req = fhir.create({"resourceType": "CoverageEligibilityRequest", "status": "active",
                       "purpose": ["validation"], "patient": {"reference": "Patient/p1"},
                       "created": "2024-03-01", "insurer": {"reference": "Organization/ins"}})
    resp = fhir.create({"resourceType": "CoverageEligibilityResponse", "status": "active",
                        "purpose": ["validation"], "patient": {"reference": "Patient/p1"},
                        "created": "2024-03-01", "outcome": "complete",
                        "request": {"reference": f"CoverageEligibilityRequest/{req['id']}"},
                        "insurer": {"reference": "Organization/ins"}})
    assert ids(search(fhir, f"CoverageEligibilityResponse?request="
                            f"CoverageEligibilityRequest/{req['id']}")) == {resp["id"]}
    # the server's Provenance of the hub's write, and none naming a1 as agent
    (prov,) = search(fhir, f"Provenance?target=Goal/{goal['id']}")["entry"]
    assert prov["resource"]["activity"]["coding"][0]["code"] == "CREATE"
    assert ids(search(fhir, f"Provenance?target=Goal/{goal['id']}&agent=a1")) == set()


def test_unknown_parameters_warn_or_fail_strictly(fhir):
    fhir.create(task("Patient/p1"))
    body = search(fhir, "Task?colour=blue&status=requested")
    outcomes = [e for e in body["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcomes) == 1
    assert "colour" in outcomes[0]["resource"]["issue"][0]["diagnostics"]
    assert "colour" not in body["link"][0]["url"]
    strict = fhir.get("/fhir/Task?colour=blue", headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400
    assert strict.get_json()["issue"][0]["code"] == "not-supported"


def test_post_search_with_form_body(fhir, tasks):
    resp = fhir.post("/fhir/Task/_search", data="status=requested&owner=Organization/a1",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 200
    assert ids(resp.get_json()) == {tasks["t1"]["id"]}
    wrong = fhir.post("/fhir/Task/_search", {"status": "requested"})
    assert wrong.status_code == 415
