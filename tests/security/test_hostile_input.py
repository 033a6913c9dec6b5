"""Issue 9 item 7: hostile input, tried as a partner client with a valid token would.

Every probe of the issue is answered 413/400/404 with an OperationOutcome (FHIR) or a JSON
problem (case API) before the work is done, and nothing is stored; none is a 500.
"""

from __future__ import annotations

import json
import socket

import pytest
from case_data import minimal
from loopback import LoopbackServer
from sqlalchemy import func, select

from hub.fhirstore.tables import resources
from hub.store.case_tables import cases

FHIR = "application/fhir+json"


def _count(app, table) -> int:
    with app.extensions["hub.db"].engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _deep(depth: int) -> str:
    return '{"resourceType":"Patient","extension":' + "[" * depth + "]" * depth + "}"


def _outcome(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)[:300]
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome", body
    return body


def _problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)[:300]
    body = resp.get_json()
    assert body["status"] == status and body["message"], body
    return body


@pytest.fixture
def hdr(auth_headers):
    return auth_headers("system/*.cruds system/Case.cruds")


def test_body_over_the_limit_is_refused_before_it_is_read(client, hdr, app):
    # a client announces 100 MB; the hub answers from the headers without reading them
    resp = client.post("/fhir/Patient", headers={**hdr, "Content-Type": FHIR},
                       input_stream=__import__("io").BytesIO(b"{}"),
                       environ_overrides={"CONTENT_LENGTH": str(100 * 1024 * 1024)})
    _outcome(resp, 413)
    resp = client.post("/api/cases", headers={**hdr, "Content-Type": "application/json"},
                       input_stream=__import__("io").BytesIO(b"{}"),
                       environ_overrides={"CONTENT_LENGTH": str(100 * 1024 * 1024)})
    _problem(resp, 413)
    assert _count(app, resources) == 0 and _count(app, cases) == 0


@pytest.mark.integration
def test_live_server_answers_413_without_reading_a_100mb_body(app, auth_headers):
    hdr = auth_headers("system/*.cruds")
    server = LoopbackServer(app).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall((f"POST /fhir/Patient HTTP/1.1\r\nHost: hub.test\r\n"
                          f"Authorization: {hdr['Authorization']}\r\n"
                          f"Content-Type: {FHIR}\r\nContent-Length: {100 * 1024 * 1024}\r\n"
                          f"Connection: close\r\n\r\n").encode() + b'{"resourceType":')
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
    finally:
        server.stop()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert json.loads(body)["resourceType"] == "OperationOutcome"
    assert _count(app, resources) == 0


def test_a_body_over_a_configured_limit_is_refused(make_app, auth_headers, settings):
    small = make_app(max_body_bytes=4096)
    client = small.test_client()
    hdr = auth_headers("system/*.cruds")  # token from the default app: same key
    patient = {"resourceType": "Patient", "name": [{"family": "x" * 5000}]}
    resp = client.post("/fhir/Patient", data=json.dumps(patient),
                       headers={**hdr, "Content-Type": FHIR})
    _outcome(resp, 413)
    assert _count(small, resources) == 0


@pytest.mark.parametrize("path,mimetype", [
    ("/fhir", FHIR), ("/fhir/Patient", FHIR), ("/notifications/pas", FHIR),
    ("/api/cases", "application/json")])
def test_json_nested_thousands_deep_is_a_400(client, auth_headers, path, mimetype):
    hdr = auth_headers("system/*.cruds system/Case.cruds system/ClaimResponse.c",
                       organization=None)
    for depth in (65, 1000, 100_000):
        resp = client.post(path, data=_deep(depth), headers={**hdr, "Content-Type": mimetype})
        assert resp.status_code == 400, (path, depth, resp.get_data(as_text=True)[:200])
        assert "deeper than 64" in resp.get_data(as_text=True)


def test_ordinary_nesting_still_works(client, hdr):
    resp = client.post("/fhir/Patient", data=json.dumps(
        {"resourceType": "Patient", "name": [{"family": "Deep[{", "given": ["]}"]}]}),
        headers={**hdr, "Content-Type": FHIR})
    assert resp.status_code == 201, resp.get_json()


def test_a_batch_of_2000_searches_is_refused_before_any_search(client, hdr):
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Patient?_count=200"}} for _ in range(2000)]}
    body = _outcome(client.post("/fhir", data=json.dumps(bundle),
                                headers={**hdr, "Content-Type": FHIR}), 413)
    assert body["issue"][0]["expression"] == ["Bundle.entry"]
    # 20 searches of 200 each would answer up to 4,000 resources: also too much work
    bundle["entry"] = bundle["entry"][:20]
    _outcome(client.post("/fhir", data=json.dumps(bundle),
                         headers={**hdr, "Content-Type": FHIR}), 413)
    bundle["entry"] = [{"request": {"method": "GET", "url": "Patient?_count=10"}}] * 5
    resp = client.post("/fhir", data=json.dumps(bundle), headers={**hdr, "Content-Type": FHIR})
    assert resp.status_code == 200, resp.get_json()


def test_bundle_entries_are_limited(make_app, auth_headers, app):
    small = make_app(max_bundle_entries=10)
    hdr = auth_headers("system/*.cruds")
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "POST", "url": "Patient"},
         "resource": {"resourceType": "Patient"}} for _ in range(11)]}
    _outcome(small.test_client().post("/fhir", data=json.dumps(bundle),
                                      headers={**hdr, "Content-Type": FHIR}), 413)
    assert _count(app, resources) == 0


def test_a_20mb_case_summary_and_a_long_field_are_refused(client, hdr, app):
    body = minimal(assessment={"summary": "s" * (20 * 1024 * 1024)})
    _problem(client.post("/api/cases", json=body, headers=hdr), 413)
    body = minimal(assessment={"summary": "s" * 10_001})
    problem = _problem(client.post("/api/cases", json=body, headers=hdr), 413)
    assert "assessment.summary" in problem["errors"]
    assert _count(app, cases) == 0


def test_the_worklist_page_is_bounded(make_app, auth_headers):
    small = make_app(max_response_bytes=2000)
    hdr = auth_headers("system/*.cruds system/Case.cruds")
    client = small.test_client()
    for _ in range(5):
        assert client.post("/api/cases", json=minimal(
            assessment={"summary": "s" * 900}), headers=hdr).status_code == 201
    _problem(client.get("/api/cases?limit=5", headers=hdr), 400)
    assert client.get("/api/cases?limit=1", headers=hdr).status_code == 200


BIG = "9223372036854775808"


@pytest.mark.parametrize("url", [
    f"/fhir/Patient?_offset={BIG}", f"/fhir/Patient/_history?_offset={BIG}",
    f"/fhir/_history?_offset={BIG}", "/fhir/Patient?_offset=2147483648",
    f"/fhir/Patient/p1/_history?_offset={BIG}"])
def test_huge_offsets_are_a_400(client, hdr, url):
    body = _outcome(client.get(url, headers=hdr), 400)
    assert body["issue"][0]["expression"] == ["_offset"]


def test_huge_case_offset_is_a_400(client, hdr):
    body = _problem(client.get(f"/api/cases?offset={BIG}", headers=hdr), 400)
    assert "offset" in body["errors"]


@pytest.mark.parametrize("vid", ["99999999999999999999999", "2147483648", BIG])
def test_huge_version_ids_are_not_found(client, hdr, vid):
    resp = client.post("/fhir/Patient", data=json.dumps({"resourceType": "Patient"}),
                       headers={**hdr, "Content-Type": FHIR})
    rid = resp.get_json()["id"]
    _outcome(client.get(f"/fhir/Patient/{rid}/_history/{vid}", headers=hdr), 404)


@pytest.mark.parametrize("url", [
    "/fhir/Patient?family=%00", "/fhir/Patient?name=a%00b", "/fhir/Patient/a%00b",
    "/fhir/Patient?identifier=x%7C%00", "/api/cases?identifier=%00",
    "/api/cases/a%00b", "/fhir/Patient/a%00b/_history"])
def test_nul_in_urls_is_a_400(client, hdr, url):
    resp = client.get(url, headers=hdr)
    assert resp.status_code == 400, resp.get_data(as_text=True)[:300]


def test_nul_in_fhir_strings_and_conditional_headers_is_a_400(client, hdr, app):
    for patient in ({"resourceType": "Patient", "name": [{"family": "Ri\u0000ver"}]},
                    {"resourceType": "Patient", "identifier": [{"system": "urn:x",
                                                                "value": "\u0000"}]},
                    {"resourceType": "Patient", "id": "a\u0000b"}):
        body = _outcome(client.post("/fhir/Patient", data=json.dumps(patient),
                                    headers={**hdr, "Content-Type": FHIR}), 400)
        assert body["issue"][0]["expression"][0].startswith("Patient.")
    _outcome(client.post("/fhir/Patient", data=json.dumps({"resourceType": "Patient"}),
                         headers={**hdr, "Content-Type": FHIR,
                                  "If-None-Exist": "identifier=%00"}), 400)
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "POST", "url": "Patient", "ifNoneExist": "family=%00"},
         "resource": {"resourceType": "Patient"}}]}
    body = _outcome(client.post("/fhir", data=json.dumps(bundle),
                                headers={**hdr, "Content-Type": FHIR}), 400)
    assert body["issue"][0]["expression"] == ["Bundle.entry[0].request.ifNoneExist"]
    assert _count(app, resources) == 0


def test_identifier_system_over_255_characters_is_a_400(client, hdr, app):
    patient = {"resourceType": "Patient",
               "identifier": [{"system": "urn:" + "s" * 300, "value": "1"}]}
    body = _outcome(client.post("/fhir/Patient", data=json.dumps(patient),
                                headers={**hdr, "Content-Type": FHIR}), 400)
    assert body["issue"][0]["expression"] == ["Patient.identifier[0].system"]
    case = minimal()
    case["patient"]["identifiers"] = [{"system": "urn:" + "s" * 300, "value": "1"}]
    problem = _problem(client.post("/api/cases", json=case, headers=hdr), 400)
    assert "patient.identifiers.0.system" in problem["errors"]
    case["patient"]["identifiers"] = [{"system": "urn:x", "value": "v" * 300}]
    problem = _problem(client.post("/api/cases", json=case, headers=hdr), 400)
    assert "patient.identifiers.0.value" in problem["errors"]
    assert _count(app, resources) == 0 and _count(app, cases) == 0


def test_lone_surrogates_are_a_400(client, hdr, app):
    raw = json.dumps(minimal()).replace('"Test"', '"Te\\ud800st"')
    problem = _problem(client.post("/api/cases", data=raw, headers={
        **hdr, "Content-Type": "application/json"}), 400)
    assert "patient.name.family" in problem["errors"]
    raw = '{"resourceType":"Patient","name":[{"family":"\\udc00"}]}'
    _outcome(client.post("/fhir/Patient", data=raw, headers={**hdr, "Content-Type": FHIR}),
             400)
    # a correctly paired surrogate (an emoji) is fine
    raw = '{"resourceType":"Patient","name":[{"family":"\\ud83d\\ude00"}]}'
    assert client.post("/fhir/Patient", data=raw,
                       headers={**hdr, "Content-Type": FHIR}).status_code == 201
    assert _count(app, cases) == 0


def test_no_probe_is_a_server_error(client, hdr):
    """The whole list of the issue in one sweep: 0 answers of 500 or more."""
    probes = [
        ("GET", f"/fhir/Patient?_offset={BIG}", None),
        ("GET", f"/fhir/Patient/_history?_offset={BIG}", None),
        ("GET", f"/api/cases?offset={BIG}", None),
        ("GET", "/fhir/Patient/x/_history/99999999999999999999999", None),
        ("GET", "/fhir/Patient/x/_history/2147483648", None),
        ("GET", "/fhir/Patient?family=%00", None),
        ("GET", "/fhir/Patient/%00", None),
        ("GET", "/fhir/Patient?_count=99999999999999999999999", None),
        ("GET", "/api/cases?limit=99999999999999999999999", None),
        ("POST", "/fhir/Patient", _deep(5000)),
        ("POST", "/fhir", _deep(5000)),
        ("POST", "/api/cases", _deep(5000)),
        ("POST", "/notifications/pas", _deep(5000)),
        ("POST", "/fhir/Patient", '{"resourceType":"Patient","id":"\\u0000"}'),
        ("POST", "/fhir/Patient", '{"resourceType":"Patient","name":[{"family":"\\ud800"}]}'),
        ("POST", "/api/cases", json.dumps(minimal()).replace('"Pat"', '"\\udfff"')),
        ("POST", "/api/cases", json.dumps(minimal()).replace('"Pat"', '"\\u0000"')),
    ]
    statuses = []
    for method, url, body in probes:
        mimetype = "application/json" if url.startswith("/api") else FHIR
        resp = client.open(url, method=method, data=body,
                           headers={**hdr, "Content-Type": mimetype})
        statuses.append((url, resp.status_code))
    assert [p for p in statuses if p[1] >= 500] == []
