"""Read, vread, create, update, delete, history, ETags, Prefer, conditional writes."""

from fhirapi_helpers import organization, patient, task

FHIR_JSON = "application/fhir+json"


def test_create_read_vread_with_version_headers(fhir):
    resp = fhir.post("/fhir/Patient", patient())
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["meta"]["versionId"] == "1" and body["meta"]["lastUpdated"].endswith("Z")
    assert resp.headers["ETag"] == 'W/"1"'
    assert resp.headers["Location"] == f"http://hub.test/fhir/Patient/{body['id']}/_history/1"
    read = fhir.get(f"/fhir/Patient/{body['id']}")
    assert read.status_code == 200 and read.mimetype == FHIR_JSON
    assert read.headers["ETag"] == 'W/"1"' and read.headers["Last-Modified"].endswith("GMT")
    assert read.get_json() == body
    assert fhir.get(f"/fhir/Patient/{body['id']}/_history/1").get_json() == body
    assert fhir.get(f"/fhir/Patient/{body['id']}/_history/9").status_code == 404
    assert fhir.get("/fhir/Patient/nope").status_code == 404


def test_client_id_in_post_is_replaced_by_server_id(fhir):
    body = fhir.create({**patient(), "id": "mine"})
    assert body["id"] != "mine"


def test_update_with_if_match_and_stale_version(fhir):
    p = fhir.create(patient())
    url = f"/fhir/Patient/{p['id']}"
    changed = {**p, "gender": "other"}
    resp = fhir.put(url, changed, headers={"If-Match": 'W/"1"'})
    assert resp.status_code == 200 and resp.headers["ETag"] == 'W/"2"'
    assert resp.get_json()["meta"]["versionId"] == "2"
    stale = fhir.put(url, {**p, "gender": "male"}, headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert stale.get_json()["resourceType"] == "OperationOutcome"
    assert fhir.get(url).get_json()["gender"] == "other"
    # an update without If-Match is allowed for non-Task types
    assert fhir.put(url, {**p, "gender": "male"}).status_code == 200


def test_put_with_client_id_creates_then_updates(fhir):
    org = {**organization(), "id": "agency-1"}
    first = fhir.put("/fhir/Organization/agency-1", org)
    assert first.status_code == 201 and first.headers["ETag"] == 'W/"1"'
    again = fhir.put("/fhir/Organization/agency-1", {**org, "name": "Renamed"})
    assert again.status_code == 200 and again.headers["ETag"] == 'W/"2"'


def test_delete_then_gone_and_history_keeps_every_version(fhir):
    p = fhir.create(patient())
    url = f"/fhir/Patient/{p['id']}"
    fhir.put(url, {**p, "gender": "other"})
    assert fhir.delete(url).status_code == 204
    gone = fhir.get(url)
    assert gone.status_code == 410
    assert gone.get_json()["issue"][0]["code"] == "deleted"
    assert fhir.delete(url).status_code == 204  # idempotent
    assert fhir.get(f"{url}/_history/1").status_code == 200
    assert fhir.get(f"{url}/_history/3").status_code == 410
    hist = fhir.get(f"{url}/_history").get_json()
    assert hist["type"] == "history" and hist["total"] == 3
    methods = [e["request"]["method"] for e in hist["entry"]]
    assert methods == ["DELETE", "PUT", "POST"]
    assert "resource" not in hist["entry"][0]
    assert fhir.get(f"{url}/_history").status_code == 200
    # searching does not find deleted resources; a PUT brings it back as a new version
    assert fhir.get(f"/fhir/Patient?_id={p['id']}").get_json()["total"] == 0
    back = fhir.put(url, {**p})
    assert back.status_code == 201 and back.get_json()["meta"]["versionId"] == "4"
    # R4: deleting a resource that never existed is not an error (200/204)
    assert fhir.delete("/fhir/Patient/never-was").status_code == 204
    assert fhir.get("/fhir/Patient/never-was").status_code == 404


def test_type_history_and_since(fhir):
    a = fhir.create(patient("1"))
    fhir.create(patient("2"))
    fhir.put(f"/fhir/Patient/{a['id']}", a)
    hist = fhir.get("/fhir/Patient/_history?_count=2").get_json()
    assert hist["total"] == 3 and len(hist["entry"]) == 2
    assert any(link["relation"] == "next" for link in hist["link"])
    since = fhir.get(f"/fhir/Patient/_history?_since={a['meta']['lastUpdated']}").get_json()
    assert since["total"] == 3
    assert fhir.get("/fhir/Patient/unknown/_history").status_code == 404


def test_prefer_return(fhir):
    minimal = fhir.post("/fhir/Patient", patient(), headers={"Prefer": "return=minimal"})
    assert minimal.status_code == 201 and minimal.data == b""
    assert minimal.headers["Location"] and minimal.headers["ETag"] == 'W/"1"'
    oo = fhir.post("/fhir/Patient", patient(), headers={"Prefer": "return=OperationOutcome"})
    assert oo.get_json()["resourceType"] == "OperationOutcome"
    rep = fhir.post("/fhir/Patient", patient(), headers={"Prefer": "return=representation"})
    assert rep.get_json()["resourceType"] == "Patient"


def test_media_types_and_format(fhir):
    ok = fhir.post("/fhir/Patient", patient(), headers={"Content-Type": "application/json"})
    assert ok.status_code == 201
    bad = fhir.post("/fhir/Patient", data="x", headers={"Content-Type": "text/plain"})
    assert bad.status_code == 415 and bad.get_json()["resourceType"] == "OperationOutcome"
    assert fhir.get("/fhir/Patient?_format=xml").status_code == 406
    assert fhir.get("/fhir/Patient?_format=json").status_code == 200
    assert fhir.get("/fhir/Patient", headers={"Accept": "application/fhir+xml"}).status_code \
        == 406


def test_conditional_create_if_none_exist(fhir):
    hdr = {"If-None-Exist": "identifier=http://hospital.example/mrn|777"}
    first = fhir.post("/fhir/Patient", patient("777"), headers=hdr)
    assert first.status_code == 201
    second = fhir.post("/fhir/Patient", patient("777"), headers=hdr)
    assert second.status_code == 200 and second.get_json()["id"] == first.get_json()["id"]
    fhir.create(patient("888"))
    fhir.create(patient("888"))
    many = fhir.post("/fhir/Patient", patient("888"),
                     headers={"If-None-Exist": "identifier=http://hospital.example/mrn|888"})
    assert many.status_code == 412
    bad = fhir.post("/fhir/Patient", patient("9"), headers={"If-None-Exist": "bogus=1"})
    assert bad.status_code == 400


def test_conditional_create_after_the_holder_was_deleted(fhir):
    hdr = {"If-None-Exist": "identifier=http://hospital.example/mrn|555"}
    first = fhir.post("/fhir/Patient", patient("555"), headers=hdr).get_json()
    fhir.delete(f"/fhir/Patient/{first['id']}")
    again = fhir.post("/fhir/Patient", patient("555"), headers=hdr)
    assert again.status_code == 201 and again.get_json()["id"] != first["id"]


def test_conditional_update_by_identifier(fhir):
    url = "/fhir/Task?identifier=http://hub.example/referral|r-1"
    created = fhir.put(url, task("Patient/p1", ident="r-1"))
    assert created.status_code == 201
    tid = created.get_json()["id"]
    no_match = fhir.put(url, {**task("Patient/p1", ident="r-1"), "description": "x"})
    assert no_match.status_code == 428  # an existing Task needs If-Match
    updated = fhir.put(url, {**task("Patient/p1", ident="r-1"), "description": "x"},
                       headers={"If-Match": 'W/"1"'})
    assert updated.status_code == 200 and updated.get_json()["id"] == tid
    fhir.create(task("Patient/p1", ident="dup"))
    fhir.create(task("Patient/p1", ident="dup"))
    many = fhir.put("/fhir/Task?identifier=http://hub.example/referral|dup",
                    task("Patient/p1", ident="dup"), headers={"If-Match": 'W/"1"'})
    assert many.status_code == 412


def test_task_put_requires_if_match(fhir):
    t = fhir.create(task("Patient/p1"))
    url = f"/fhir/Task/{t['id']}"
    resp = fhir.put(url, {**t, "description": "no lock"})
    assert resp.status_code == 428
    assert resp.get_json()["issue"][0]["code"] == "required"
    assert fhir.put(url, {**t, "description": "x"}, headers={"If-Match": 'W/"7"'}) \
        .status_code == 412
    assert fhir.put(url, {**t, "description": "x"}, headers={"If-Match": 'W/"1"'}) \
        .status_code == 200


def test_write_hooks_run_inside_the_transaction(app, fhir):
    from hub.errors import BusinessRuleFailed
    from hub.fhirapi.hooks import register_write_hook

    seen = []

    def hook(uow, event):
        seen.append((event.interaction, event.resource_type, event.version_id))
        assert uow.resources.read(event.resource_type, event.id).version_id == \
            event.version_id  # the new version is visible in the same transaction
        if (event.after or {}).get("gender") == "unknown":
            raise BusinessRuleFailed("refused by a hook", path="Patient.gender")

    register_write_hook(app, hook)
    p = fhir.create(patient())
    refused = fhir.put(f"/fhir/Patient/{p['id']}", {**p, "gender": "unknown"})
    assert refused.status_code == 422
    assert fhir.get(f"/fhir/Patient/{p['id']}").get_json()["meta"]["versionId"] == "1"
    fhir.delete(f"/fhir/Patient/{p['id']}")
    assert seen == [("create", "Patient", 1), ("update", "Patient", 2),
                    ("delete", "Patient", 2)]
