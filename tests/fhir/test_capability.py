"""GET /fhir/metadata: the CapabilityStatement lists exactly what is supported."""

from hub.fhirstore.searchparams import SUPPORTED_TYPES

DOMAIN_PARAMS = {
    "Task": {"owner", "requester", "status", "business-status", "focus", "patient", "subject",
             "code", "modified", "authored-on", "part-of", "based-on"},
    "CarePlan": {"patient", "status", "intent", "category", "care-team", "encounter", "date",
                 "goal"},
    "ServiceRequest": {"patient", "status", "intent", "requester", "performer", "code",
                       "authored"},
    "Encounter": {"patient", "status", "class", "date", "type", "service-provider",
                  "episode-of-care", "based-on"},
    "Coverage": {"beneficiary", "patient", "payor", "status", "subscriber", "type",
                 "identifier"},
    "Goal": {"patient", "lifecycle-status", "achievement-status", "target-date"},
    "CareTeam": {"patient", "status", "participant", "category"},
    "EpisodeOfCare": {"patient", "status", "type", "care-manager", "date", "organization"},
    "Patient": {"identifier", "name", "family", "given", "birthdate", "gender"},
    "Provenance": {"target", "agent"},
}


def test_metadata_without_auth(client, returned_resources):
    resp = client.get("/fhir/metadata")
    assert resp.status_code == 200 and resp.mimetype == "application/fhir+json"
    cs = resp.get_json()
    returned_resources.append(cs)
    assert cs["resourceType"] == "CapabilityStatement"
    assert cs["fhirVersion"] == "4.0.1" and cs["format"] == ["json"]
    rest = cs["rest"][0]
    assert {r["type"] for r in rest["resource"]} == set(SUPPORTED_TYPES) | {"AuditEvent"}
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch",
                                                         "history-system", "search-system"}
    by_type = {r["type"]: r for r in rest["resource"]}
    for rtype, names in DOMAIN_PARAMS.items():
        declared = {p["name"] for p in by_type[rtype]["searchParam"]}
        assert names | {"_id", "_lastUpdated", "identifier"} <= declared, rtype
    assert "Task:focus" in by_type["Task"]["searchInclude"]
    assert "Provenance:target" in by_type["Task"]["searchRevInclude"]
    security = rest["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    uris = security["extension"][0]
    assert uris["extension"][0] == {"url": "token", "valueUri": "http://hub.test/auth/token"}


def test_every_declared_search_param_is_accepted(fhir, fhir_as, client):
    auditor = fhir_as("system/AuditEvent.rs")  # the audit log is for auditors only
    cs = client.get("/fhir/metadata").get_json()
    for res in cs["rest"][0]["resource"]:
        for param in res["searchParam"]:
            value = {"token": "x", "reference": "x", "string": "x", "date": "2024",
                     "number": "1"}[param["type"]]
            caller = auditor if res["type"] == "AuditEvent" else fhir
            resp = caller.get(f"/fhir/{res['type']}?{param['name']}={value}",
                            headers={"Prefer": "handling=strict"})
            assert resp.status_code == 200, (res["type"], param["name"])
