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
