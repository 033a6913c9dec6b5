"""Search fixes of issue 10: name covers alias, absolute references, chaining, iterate,
_summary/_elements."""

import pytest
from fhirapi_helpers import organization, patient, service_request, task

STRICT = {"Prefer": "handling=strict"}


def _ids(bundle: dict, mode: str = "match") -> set[str]:
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}"
            for e in bundle.get("entry", []) if e["search"]["mode"] == mode}


def test_organization_name_covers_alias(fhir):
    aliased = fhir.create({**organization("Sunrise Home Health"), "alias": ["SHH Nursing"]})
    other = fhir.create(organization("Dawn Care"))
    found = fhir.get("/fhir/Organization?name=shh").get_json()
    assert _ids(found) == {f"Organization/{aliased['id']}"}
    assert _ids(fhir.get("/fhir/Organization?name=dawn").get_json()) == \
        {f"Organization/{other['id']}"}
    exact = fhir.get("/fhir/Organization?name:exact=SHH Nursing").get_json()
    assert _ids(exact) == {f"Organization/{aliased['id']}"}


def _observation(subject: str, code: str = "8867-4") -> dict:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": subject}}


def test_absolute_references_to_other_servers_stay_absolute(fhir):
    fhir.put("/fhir/Patient/example", {**patient(), "id": "example"})
    remote = fhir.create(_observation("http://other.example.org/fhir/Patient/example"))
    local = fhir.create(_observation("Patient/example"))
    own_base = fhir.create(_observation("http://hub.test/fhir/Patient/example"))
    local_ids = {f"Observation/{local['id']}", f"Observation/{own_base['id']}"}
    for query in ("subject=Patient/example", "subject=example", "patient=example",
                  "subject:Patient=example", "subject=http://hub.test/fhir/Patient/example"):
        assert _ids(fhir.get(f"/fhir/Observation?{query}").get_json()) == local_ids, query
    by_url = fhir.get("/fhir/Observation?subject=http://other.example.org/fhir/Patient/example")
    assert _ids(by_url.get_json()) == {f"Observation/{remote['id']}"}
    # _include does not bring the local Patient/example for the remote reference
    inc = fhir.get(f"/fhir/Observation?_id={remote['id']}&_include=Observation:subject")
    assert _ids(inc.get_json(), "include") == set()
    inc = fhir.get(f"/fhir/Observation?_id={own_base['id']}&_include=Observation:subject")
    assert _ids(inc.get_json(), "include") == {"Patient/example"}
    rev = fhir.get("/fhir/Patient?_id=example&_revinclude=Observation:subject").get_json()
    assert _ids(rev, "include") == local_ids
    # the CapabilityStatement says so
    meta = fhir.get("/fhir/metadata").get_json()
    obs = next(r for r in meta["rest"][0]["resource"] if r["type"] == "Observation")
    assert obs["referencePolicy"] == ["literal", "local"]


def test_chained_parameters_one_and_two_levels(fhir):
    fhir.put("/fhir/Organization/acme", {**organization("Acme Care"), "id": "acme"})
    peter = fhir.put("/fhir/Patient/peter", {**patient(family="Peterson", given="Peter"),
                                              "id": "peter",
                                              "managingOrganization": {
                                                  "reference": "Organization/acme"}})
    assert peter.status_code == 201
    fhir.put("/fhir/Patient/anna", {**patient("2"), "id": "anna"})
    of_peter = fhir.create(_observation("Patient/peter"))
    fhir.create(_observation("Patient/anna"))
    fhir.create(_observation("http://other.example.org/fhir/Patient/peter"))
    want = {f"Observation/{of_peter['id']}"}
    for query in ("subject:Patient.name=peter", "subject.name=peter",
                  "patient.family=peterson", "subject:Patient.name:exact=Peterson",
                  "subject:Patient._id=peter", "subject:Patient.identifier=123"):
        got = fhir.get(f"/fhir/Observation?{query}", headers=STRICT)
        assert got.status_code == 200, (query, got.get_data(as_text=True))
        assert _ids(got.get_json()) == want, query
    assert _ids(fhir.get("/fhir/Observation?subject:Patient.name=nobody").get_json()) == set()
    sr = fhir.create(service_request("Patient/peter"))
    revoked = fhir.create({**service_request("Patient/anna"), "status": "revoked"})
    t_active = fhir.create(task("Patient/peter", f"ServiceRequest/{sr['id']}"))
    fhir.create(task("Patient/anna", f"ServiceRequest/{revoked['id']}"))
    got = fhir.get("/fhir/Task?focus:ServiceRequest.status=active").get_json()
    assert _ids(got) == {f"Task/{t_active['id']}"}
    # chained values are ORed, chained parameters ANDed with the others
    both = fhir.get("/fhir/Task?focus:ServiceRequest.status=active,revoked&status=requested")
    assert len(_ids(both.get_json())) == 2
    # two levels: the subject's managing organization's name
    two = fhir.get("/fhir/Observation?subject:Patient.organization.name=acme",
                   headers=STRICT)
    assert two.status_code == 200 and _ids(two.get_json()) == want


@pytest.mark.parametrize("query", ["subject:Foo=example", "subject:Foo.name=peter",
                                   "subject:Patient.foo=peter", "subject.foo=peter",
                                   "status.name=x", "patient:Group.name=x"])
def test_bad_type_modifier_or_chain_is_400_even_when_lenient(fhir, query):
    resp = fhir.get(f"/fhir/Observation?{query}")
    assert resp.status_code == 400, query
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "not-supported"


def test_capability_statement_declares_chaining(fhir):
    meta = fhir.get("/fhir/metadata").get_json()
    obs = next(r for r in meta["rest"][0]["resource"] if r["type"] == "Observation")
    subject = next(p for p in obs["searchParam"] if p["name"] == "subject")
    assert "chain" in subject["documentation"].lower()


def _part_of_chain(fhir, n: int) -> list[str]:
    ids = []
    for i in range(n):
        t = {**task("Patient/p1"), "id": f"chain{i}"}
        if i:
            t["partOf"] = [{"reference": f"Task/chain{i - 1}"}]
        fhir.put(f"/fhir/Task/chain{i}", t)
        ids.append(f"Task/chain{i}")
    return ids


def test_include_iterate_follows_until_nothing_new(fhir):
    fhir.put("/fhir/Patient/p1", {**patient(), "id": "p1"})
    chain = _part_of_chain(fhir, 4)
    plain = fhir.get("/fhir/Task?_id=chain3&_include=Task:part-of").get_json()
    assert _ids(plain, "include") == {"Task/chain2"}
    it = fhir.get("/fhir/Task?_id=chain3&_include:iterate=Task:part-of").get_json()
    assert _ids(it, "include") == set(chain[:3])
    nxt = next(link for link in it["link"] if link["relation"] == "self")["url"]
    assert "_include%3Aiterate=Task%3Apart-of" in nxt
    # a cycle ends: chain0 part of chain3
    fhir.put("/fhir/Task/chain0", {**task("Patient/p1"), "id": "chain0",
                                   "partOf": [{"reference": "Task/chain3"}]})
    cyc = fhir.get("/fhir/Task?_id=chain3&_include:iterate=Task:part-of").get_json()
    assert _ids(cyc, "include") == set(chain[:3])
    # across types: Task -> ServiceRequest (focus) -> Patient (subject, iterate)
    sr = fhir.create(service_request("Patient/p1"))
    t = fhir.create(task("Patient/p1", f"ServiceRequest/{sr['id']}"))
    two = fhir.get(f"/fhir/Task?_id={t['id']}&_include=Task:focus"
                   "&_include:iterate=ServiceRequest:subject").get_json()
    assert _ids(two, "include") == {f"ServiceRequest/{sr['id']}", "Patient/p1"}
    # without :iterate an include must start with the searched type
    bad = fhir.get(f"/fhir/Task?_id={t['id']}&_include=ServiceRequest:subject")
    assert bad.status_code == 400


def test_revinclude_iterate(fhir):
    fhir.put("/fhir/Patient/p1", {**patient(), "id": "p1"})
    sr = fhir.create(service_request("Patient/p1"))
    t = fhir.create(task("Patient/p2-not-stored", f"ServiceRequest/{sr['id']}"))
    once = fhir.get("/fhir/Patient?_id=p1&_revinclude=ServiceRequest:subject"
                    "&_revinclude=Task:focus").get_json()
    assert _ids(once, "include") == {f"ServiceRequest/{sr['id']}"}
    it = fhir.get("/fhir/Patient?_id=p1&_revinclude=ServiceRequest:subject"
                  "&_revinclude:iterate=Task:focus").get_json()
    assert _ids(it, "include") == {f"ServiceRequest/{sr['id']}", f"Task/{t['id']}"}
    assert fhir.get("/fhir/Patient?_revinclude:deep=Task:focus").status_code == 400


SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
             "code": "SUBSETTED"}


def _match(fhir, url: str) -> dict:
    body = fhir.get(url).get_json()
    [entry] = [e for e in body["entry"] if e["search"]["mode"] == "match"]
    return entry["resource"]


def _full_observation() -> dict:
    return {**_observation("Patient/p1"),
            "text": {"status": "generated",
                     "div": '<div xmlns="http://www.w3.org/1999/xhtml">Heart rate 72</div>'},
            "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org",
                              "code": "/min"},
            "note": [{"text": "at rest"}], "method": {"text": "palpation"}}


def test_summary_modes(fhir):
    fhir.put("/fhir/Patient/p1", {**patient(), "id": "p1"})
    obs = fhir.create(_full_observation())
    url = f"/fhir/Observation?_id={obs['id']}"
    full = _match(fhir, url)
    assert full == obs and SUBSETTED not in full["meta"].get("tag", [])
    assert _match(fhir, url + "&_summary=false") == obs
    true = _match(fhir, url + "&_summary=true")
    assert set(true) == {"resourceType", "id", "meta", "status", "code", "subject",
                         "valueQuantity"}
    assert SUBSETTED in true["meta"]["tag"] and true["meta"]["versionId"] == "1"
    text = _match(fhir, url + "&_summary=text")
    assert set(text) == {"resourceType", "id", "meta", "text", "status", "code"}
    assert SUBSETTED in text["meta"]["tag"]
    data = _match(fhir, url + "&_summary=data")
    assert set(data) == set(obs) - {"text"} and SUBSETTED in data["meta"]["tag"]
    count = fhir.get(url + "&_summary=count").get_json()
    assert count["total"] == 1 and "entry" not in count
    assert fhir.get(url + "&_summary=maybe").status_code == 400
    # the subset is in the links, so the next page is subset the same way
    body = fhir.get(url + "&_summary=true").get_json()
    assert "_summary=true" in body["link"][0]["url"]


def test_elements_keeps_mandatory_id_and_meta_and_tags(fhir):
    fhir.put("/fhir/Patient/p1", {**patient(), "id": "p1"})
    obs = fhir.create(_full_observation())
    url = f"/fhir/Observation?_id={obs['id']}"
    got = _match(fhir, url + "&_elements=note,value")
    assert set(got) == {"resourceType", "id", "meta", "status", "code", "note",
                        "valueQuantity"}
    assert got["meta"]["tag"] == [SUBSETTED]
    assert got["meta"]["lastUpdated"] == obs["meta"]["lastUpdated"]
    # included resources are not subset by _elements
    body = fhir.get(url + "&_elements=Observation.note&_include=Observation:subject")
    entries = body.get_json()["entry"]
    assert set(entries[0]["resource"]) == {"resourceType", "id", "meta", "status", "code",
                                           "note"}
    included = [e["resource"] for e in entries if e["search"]["mode"] == "include"]
    assert included and "name" in included[0] and "tag" not in included[0]["meta"]
