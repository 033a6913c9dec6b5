"""Issue 9 item 10: responses with patient data are never cached, never MIME-sniffed, and
only the configured browser origins may read them (CORS allowlist, empty by default)."""

from __future__ import annotations

import json

from case_data import minimal

FHIR = "application/fhir+json"
EVIL = "https://evil.example"
APP = "https://care.example.org"


def _patient_data_answers(client, hdr):
    created = client.post("/fhir/Patient", data=json.dumps(
        {"resourceType": "Patient", "name": [{"family": "River"}]}),
        headers={**hdr, "Content-Type": FHIR})
    rid = created.get_json()["id"]
    case = client.post("/api/cases", json=minimal(), headers=hdr)
    yield "create", created
    yield "read", client.get(f"/fhir/Patient/{rid}", headers=hdr)
    yield "vread", client.get(f"/fhir/Patient/{rid}/_history/1", headers=hdr)
    yield "search", client.get("/fhir/Patient?family=river", headers=hdr)
    yield "history", client.get("/fhir/Patient/_history", headers=hdr)
    yield "fhir error", client.get("/fhir/Patient/nope", headers=hdr)
    yield "case create", case
    yield "case read", client.get(f"/api/cases/{case.get_json()['id']}", headers=hdr)
    yield "case list", client.get("/api/cases", headers=hdr)
    yield "case error", client.post("/api/cases", json={}, headers=hdr)
    yield "admin", client.get("/admin/deliveries", headers=hdr)
    yield "no token", client.get("/fhir/Patient")


def test_patient_data_is_never_cached_nor_sniffed(client, auth_headers):
    hdr = auth_headers("system/*.cruds system/Case.cruds system/Delivery.rs system/Admin.*")
    seen = []
    for name, resp in _patient_data_answers(client, hdr):
        assert resp.status_code < 500, name
        seen.append(name)
        assert resp.headers.get("Cache-Control") == "no-store", name
        assert resp.headers.get("X-Content-Type-Options") == "nosniff", name
        assert "Access-Control-Allow-Origin" not in resp.headers, name
    assert len(seen) == 12
    public = client.get("/fhir/metadata")
    assert public.headers["X-Content-Type-Options"] == "nosniff"
    token = client.post("/auth/token", data={"grant_type": "client_credentials"})
    assert token.headers["Cache-Control"] == "no-store"


def test_no_origin_is_allowed_by_default(client, auth_headers):
    hdr = auth_headers("system/*.cruds")
    resp = client.get("/fhir/Patient", headers={**hdr, "Origin": EVIL})
    assert resp.status_code == 200
    assert "Access-Control-Allow-Origin" not in resp.headers
    pre = client.options("/fhir/Patient", headers={
        "Origin": EVIL, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert pre.status_code == 204
    assert "Access-Control-Allow-Origin" not in pre.headers
    assert "Access-Control-Allow-Headers" not in pre.headers


def test_the_allowlisted_browser_app_and_only_it_may_read(make_app, auth_headers):
    app = make_app(cors_origins=f"{APP}, https://other.example.org")
    client = app.test_client()
    hdr = auth_headers("system/*.cruds")
    pre = client.options("/fhir/Patient", headers={
        "Origin": APP, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert pre.status_code == 204  # answered without a token
    assert pre.headers["Access-Control-Allow-Origin"] == APP
    assert "Authorization" in pre.headers["Access-Control-Allow-Headers"]
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    resp = client.get("/fhir/Patient", headers={**hdr, "Origin": APP})
    assert resp.headers["Access-Control-Allow-Origin"] == APP
    assert "ETag" in resp.headers["Access-Control-Expose-Headers"]
    assert "Origin" in resp.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in resp.headers
    for origin in (EVIL, APP + ".evil.example", "null", APP.replace("https", "http")):
        resp = client.get("/fhir/Patient", headers={**hdr, "Origin": origin})
        assert "Access-Control-Allow-Origin" not in resp.headers, origin
        pre = client.options("/api/cases", headers={
            "Origin": origin, "Access-Control-Request-Method": "GET"})
        assert "Access-Control-Allow-Origin" not in pre.headers, origin
