"""``/openapi.json``: OpenAPI 3.1 generated from the marshmallow schemas, every endpoint with
an example; ``/docs`` renders it on the server."""

from __future__ import annotations

import json

import pytest
from case_data import river
from openapi_spec_validator import validate

NON_FHIR = {"admin", "cases", "coverage", "auth", "notifications", "health"}


def test_openapi_is_valid_3_1_and_describes_every_json_endpoint(client, app):
    resp = client.get("/openapi.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    spec = resp.get_json()
    assert spec["openapi"] == "3.1.0"
    validate(spec)
    documented = {(m.upper(), p) for p, item in spec["paths"].items() for m in item
                  if m in ("get", "post", "put", "patch", "delete")}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in NON_FHIR or rule.rule.endswith("/"):
            continue
        path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((method, path))
    assert served and served <= documented, served - documented
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            body = op.get("requestBody")
            if body:
                assert all("example" in c for c in body["content"].values()), (method, path)
            ok = [r for s, r in op["responses"].items() if s.startswith("2")]
            assert (ok and any("example" in c for r in ok for c in r.get("content", {}).values()
                              )) or path == "/notifications/pas", (method, path)


def test_examples_are_accepted_by_the_api(client, auth_headers):
    spec = client.get("/openapi.json").get_json()
    h = auth_headers("system/Case.cruds")
    example = spec["paths"]["/api/cases"]["post"]["requestBody"]["content"][
        "application/json"]["example"]
    resp = client.post("/api/cases", json=example, headers=h)
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    # the documented case answer has the same fields as a real one
    documented = spec["paths"]["/api/cases/{case_id}"]["get"]["responses"]["200"][
        "content"]["application/json"]["example"]
    assert set(documented) == set(body)
    patch = spec["paths"]["/api/cases/{case_id}"]["patch"]["requestBody"]["content"][
        "application/merge-patch+json"]["example"]
    resp = client.patch(f"/api/cases/{body['id']}", data=json.dumps(patch), headers={
        **h, "Content-Type": "application/merge-patch+json", "If-Match": resp.headers["ETag"]})
    assert resp.status_code == 200, resp.get_json()
    page = client.get("/api/cases", headers=h).get_json()
    listed = spec["paths"]["/api/cases"]["get"]["responses"]["200"]["content"][
        "application/json"]["example"]
    assert set(listed) == set(page) and set(listed["items"][0]) == set(page["items"][0])


def test_put_documents_the_round_trip(client):
    spec = client.get("/openapi.json").get_json()
    put = spec["paths"]["/api/cases/{case_id}"]["put"]
    assert "422" in put["responses"] and "differs from the stored value" in put["description"]
    assert "If-Match" in [p["name"] for p in put["parameters"]]


def test_docs_page_is_rendered_on_the_server(client):
    resp = client.get("/docs")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    assert "<script" not in html and "http://" not in html.replace("http://hl7", "") \
        .replace("http://snomed", "").replace("http://www.ama", "")
    for needle in ("PATCH", "/api/cases/{case_id}/transitions", "/admin/deliveries/retry",
                   "/api/cases/{case_id}/prior-authorizations", "/openapi.json"):
        assert needle in html
    assert "&lt;token&gt;" in html


@pytest.mark.parametrize("path", ["/openapi.json", "/docs"])
def test_no_token_needed_to_read_the_description(client, path):
    assert client.get(path).status_code == 200


def test_river_is_still_a_valid_case_input(client, auth_headers):
    assert client.post("/api/cases", json=river(),
                       headers=auth_headers("system/Case.cruds")).status_code == 201
