"""Partner compartments: a client bound to an Organization reaches only what concerns it.

Outside the compartment: 404 on read/vread/history/update (a delete answers as for an
absent id), absent from searches,
_include/_revinclude, history and Bundle reads; writes that would land outside: 403.
"""

import pytest
from partner_world import AGENCY_A, AGENCY_B, HUB, INSURER_X, document, patient, ref, visit

NOT_FOUND = 404


@pytest.fixture
def agency_a(fhir_as):
    return fhir_as("system/*.cruds", organization=AGENCY_A)


@pytest.fixture
def agency_b(fhir_as):
    return fhir_as("system/*.cruds", organization=AGENCY_B)


def _ids(bundle: dict, mode: str = "match") -> set[str]:
    return {ref(e["resource"]) for e in bundle.get("entry", [])
            if e.get("search", {}).get("mode") == mode}


def _search(client, query: str) -> dict:
    resp = client.get(f"/fhir/{query}")
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def _not_found(resp) -> None:
    assert resp.status_code == NOT_FOUND, resp.get_data(as_text=True)
    assert resp.get_json()["issue"][0]["code"] == "not-found"


def test_agency_reads_its_referral_and_what_it_references(world, agency_a):
    for name in ("task_a", "sr_a", "patient1", "careplan1", "coverage1", "condition1",
                 "document1", "task_open", "sr_open", "patient3", "agency-a"):
        resp = agency_a.get(f"/fhir/{ref(world[name])}")
        assert resp.status_code == 200, name
        assert resp.get_json() == world[name]
        assert agency_a.get(f"/fhir/{ref(world[name])}/_history/1").status_code == 200


def test_everything_else_is_not_found_not_forbidden(world, agency_a):
    for name in ("task_b", "sr_b", "task_b1", "sr_b1", "patient2", "careplan2",
                 "coverage2", "cer_x", "claim_x", "agency-b", "insurer-x", "hub"):
        url = f"/fhir/{ref(world[name])}"
        _not_found(agency_a.get(url))
        _not_found(agency_a.get(f"{url}/_history/1"))
        _not_found(agency_a.get(f"{url}/_history"))
    # the same answer as for an id that never existed
    _not_found(agency_a.get("/fhir/Task/never-was"))


def test_search_finds_only_the_compartment(world, fhir, agency_a, agency_b):
    tasks = _search(agency_a, "Task")
    assert _ids(tasks) == {ref(world["task_a"]), ref(world["task_open"])}
    assert tasks["total"] == 2
    assert _search(agency_a, f"Task?owner={AGENCY_B}")["total"] == 0
    assert _ids(_search(agency_a, "Task?owner:missing=true&status=requested")) == \
        {ref(world["task_open"])}
    assert _ids(_search(agency_a, "Patient")) == {ref(world["patient1"]),
                                                  ref(world["patient3"])}
    assert _ids(_search(agency_a, "ServiceRequest")) == {ref(world["sr_a"]),
                                                         ref(world["sr_open"])}
    assert _ids(_search(agency_a, "CarePlan")) == {ref(world["careplan1"])}
    assert _search(agency_a, "CoverageEligibilityRequest")["total"] == 0
    assert _ids(_search(agency_b, "Patient")) == {ref(world["patient1"]),
                                                  ref(world["patient2"]),
                                                  ref(world["patient3"])}
    # the hub's own client sees everything its scopes allow
    assert _search(fhir, "Task")["total"] == 4
    # POST _search and _summary=count are restricted the same way
    resp = agency_a.post("/fhir/Task/_search", data="status=requested",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.get_json()["total"] == 2
    assert _search(agency_a, "Task?_summary=count")["total"] == 2


def test_paging_counts_only_the_compartment(world, agency_b):
    page = _search(agency_b, "Task?_count=2")
    assert page["total"] == 3 and len(_ids(page)) == 2
    assert any(link["relation"] == "next" for link in page["link"])
    rest = _search(agency_b, "Task?_count=2&_offset=2")
    assert len(_ids(rest)) == 1 and not any(link["relation"] == "next"
                                            for link in rest["link"])


def test_include_and_revinclude_leave_out_other_compartments(world, agency_a):
    p1 = world["patient1"]["id"]
    body = _search(agency_a, f"Patient?_id={p1}&_revinclude=Task:patient"
                             "&_revinclude=ServiceRequest:patient")
    assert _ids(body, "include") == {ref(world["task_a"]), ref(world["sr_a"])}
    body = _search(agency_a, "Task?_include=Task:focus&_include=Task:requester"
                             "&_include=Task:patient")
    assert _ids(body, "include") == {ref(world["sr_a"]), ref(world["sr_open"]),
                                     ref(world["patient1"]), ref(world["patient3"])}
    body = _search(agency_a, f"Coverage?_include=Coverage:payor&_id={world['coverage1']['id']}")
    assert _ids(body) == {ref(world["coverage1"])} and _ids(body, "include") == set()
    body = _search(agency_a, "ServiceRequest?_include=*")
    assert ref(world["careplan1"]) in _ids(body, "include")
    assert ref(world["careplan2"]) not in _ids(body, "include")


def test_history_shows_only_the_compartment(world, fhir, agency_a):
    t_b = world["task_b"]
    fhir.put(f"/fhir/Task/{t_b['id']}", {**t_b, "priority": "urgent"},
             headers={"If-Match": 'W/"1"'})
    hist = _search(agency_a, "Task/_history")
    assert {ref(e["resource"]) for e in hist["entry"]} == {ref(world["task_a"]),
                                                           ref(world["task_open"])}
    assert hist["total"] == 2
    assert _search(fhir, "Task/_history")["total"] == 5
    _not_found(agency_a.get(f"/fhir/Task/{t_b['id']}/_history"))


def test_cannot_update_or_delete_another_agencys_task(world, fhir, agency_a):
    t_b = world["task_b"]
    url = f"/fhir/Task/{t_b['id']}"
    _not_found(agency_a.put(url, {**t_b, "status": "accepted"},
                            headers={"If-Match": 'W/"1"'}))
    # a wrong If-Match does not reveal the version either
    _not_found(agency_a.put(url, {**t_b, "status": "accepted"},
                            headers={"If-Match": 'W/"7"'}))
    # a delete answers as for an id never stored (204, nothing done): hidden == absent
    hidden = agency_a.delete(url)
    absent = agency_a.delete("/fhir/Task/never-was")
    assert (hidden.status_code, hidden.data) == (absent.status_code, absent.data) == (204, b"")
    assert fhir.get(url).get_json() == t_b


def test_cannot_create_an_encounter_for_another_referral(world, agency_a):
    p1 = ref(world["patient1"])
    resp = agency_a.post("/fhir/Encounter", visit(p1, ref(world["sr_b1"]), AGENCY_A))
    assert resp.status_code == 403
    issue = resp.get_json()["issue"][0]
    assert issue["code"] == "forbidden" and issue["expression"] == ["Encounter.basedOn"]
    resp = agency_a.post("/fhir/Encounter", visit(p1, ref(world["sr_a"]), AGENCY_B))
    assert resp.status_code == 403
    assert resp.get_json()["issue"][0]["expression"] == ["Encounter.serviceProvider"]
    no_basis = visit(p1, ref(world["sr_a"]), AGENCY_A)
    del no_basis["basedOn"]
    assert agency_a.post("/fhir/Encounter", no_basis).status_code == 403
    assert agency_a.post("/fhir/Encounter",
                         visit(p1, ref(world["sr_a"]), AGENCY_A)).status_code == 201


def test_other_creates_must_land_in_the_compartment(world, fhir, agency_a):
    assert agency_a.post("/fhir/Patient", patient("new")).status_code == 403
    assert agency_a.post("/fhir/DocumentReference",
                         document(ref(world["patient2"]))).status_code == 403
    assert agency_a.post("/fhir/DocumentReference",
                         document(ref(world["patient1"]))).status_code == 201
    before = _search(fhir, "Patient?_summary=count")["total"]
    assert before == 3  # nothing of the refused writes was stored


def test_agency_cannot_hand_its_task_to_another(world, agency_a):
    t = world["task_a"]
    resp = agency_a.put(f"/fhir/Task/{t['id']}", {**t, "owner": {"reference": AGENCY_B}},
                        headers={"If-Match": 'W/"1"'})
    assert resp.status_code == 403
    assert agency_a.get(f"/fhir/Task/{t['id']}").get_json()["meta"]["versionId"] == "1"


def test_claiming_an_open_task_takes_it_out_of_other_compartments(world, agency_a,
                                                                   agency_b):
    t = world["task_open"]
    resp = agency_a.put(f"/fhir/Task/{t['id']}",
                        {**t, "status": "accepted", "owner": {"reference": AGENCY_A}},
                        headers={"If-Match": 'W/"1"'})
    assert resp.status_code == 200
    assert agency_a.get(f"/fhir/Task/{t['id']}").status_code == 200
    _not_found(agency_b.get(f"/fhir/Task/{t['id']}"))
    _not_found(agency_b.get(f"/fhir/{ref(world['patient3'])}"))


def test_bundle_reads_are_restricted(world, agency_a):
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": ref(world["task_a"])}},
        {"request": {"method": "GET", "url": ref(world["task_b"])}},
        {"request": {"method": "GET", "url": "Task?status=requested"}}]}
    body = agency_a.post("/fhir", bundle).get_json()
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses[0].startswith("200") and statuses[1].startswith("404")
    assert body["entry"][2]["resource"]["total"] == 2
    transaction = {**bundle, "type": "transaction", "entry": bundle["entry"][1:2]}
    assert agency_a.post("/fhir", transaction).status_code == 404


def test_conditional_create_does_not_match_outside(world, fhir, agency_a):
    theirs = fhir.create(visit(ref(world["patient2"]), ref(world["sr_b"]), AGENCY_B))
    resp = agency_a.post("/fhir/Encounter", visit(ref(world["patient1"]),
                                                  ref(world["sr_a"]), AGENCY_A),
                         headers={"If-None-Exist": f"_id={theirs['id']}"})
    assert resp.status_code == 201 and resp.get_json()["id"] != theirs["id"]


def test_insurer_sees_only_its_requests(world, fhir_as):
    insurer = fhir_as("system/*.cruds", organization=INSURER_X)
    # open referrals are visible to every bound organization (insurer clients are meant
    # to get no Task scope); the agencies' own referrals are not
    assert _ids(_search(insurer, "Task")) == {ref(world["task_open"])}
    assert insurer.get(f"/fhir/{ref(world['careplan1'])}").status_code == NOT_FOUND
    assert insurer.get(f"/fhir/{ref(world['coverage1'])}").status_code == 200
    assert insurer.get(f"/fhir/{HUB}").status_code == 200  # the requests' provider
