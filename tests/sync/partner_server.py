"""A small FHIR partner on loopback for sync integration tests, with injectable faults.

It keeps resources in memory and honours what the hub relies on: conditional create
(``If-None-Exist: identifier=system|value``), ``If-Match`` on PUT (412 on mismatch),
PUT-create with the client's id, ``Type/$submit``. Faults are queued and consumed by the
next matching requests: an HTTP status (500, 429 + Retry-After), or "slow" (the request
is processed, then the answer is held past the client's timeout: the classic way to get
a duplicate from a naive client). ``stop()`` closes the port (connection refused);
``start()`` opens it again on the same port with the same data.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from loopback import LoopbackServer
from werkzeug.wrappers import Request, Response

FHIR_JSON = "application/fhir+json"


@dataclass
class Fault:
    """``status`` answers that status (with ``headers``); ``slow`` seconds holds the answer
    after processing. ``method`` restricts it to requests of that method."""

    status: int | None = None
    headers: dict = field(default_factory=dict)
    slow: float = 0.0
    method: str | None = None


class FhirPartner:
    """The WSGI app and its data. ``requests`` logs (method, path, status) of each call."""

    def __init__(self, base: str = "/fhir", delay: float = 0.0) -> None:
        self.base = base
        self.delay = delay
        self.resources: dict[str, dict[str, dict]] = {}
        self.faults: deque[Fault] = deque()
        self.requests: list[tuple[str, str, int]] = []
        #: the raw bytes of every request body, as they came over the wire
        self.bodies: list[bytes] = []
        #: If-None-Exist of every create that reached the data (status, condition)
        self.creates: list[tuple[int, str | None]] = []
        self.in_progress = 0
        self._lock = threading.Lock()
        self._next_id = 0

    # -- test API -----------------------------------------------------------------------

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def all(self, resource_type: str) -> list[dict]:
        with self._lock:
            return list(self.resources.get(resource_type, {}).values())

    def count(self, method: str, status: int | None = None) -> int:
        return sum(1 for m, _p, s in self.requests if m == method and
                   (status is None or s == status))

    def put_resource(self, resource: dict) -> dict:
        """Change a resource behind the hub's back (a new version, as a partner user would)."""
        with self._lock:
            return self._store(resource)

    # -- WSGI ---------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        with self._lock:
            self.in_progress += 1
            if request.get_data():
                self.bodies.append(request.get_data())
        try:
            response, slow = self._handle(request)
        finally:
            with self._lock:
                self.in_progress -= 1
        with self._lock:
            self.requests.append((request.method, request.path, response.status_code))
        if slow:
            time.sleep(slow)
        return response(environ, start_response)

    def _take_fault(self, method: str) -> Fault | None:
        with self._lock:
            for fault in list(self.faults):
                if fault.method in (None, method):
                    self.faults.remove(fault)
                    return fault
        return None

    def _handle(self, request: Request) -> tuple[Response, float]:
        if self.delay:
            time.sleep(self.delay)
        fault = self._take_fault(request.method)
        if fault and fault.status:
            outcome = _outcome("transient", f"injected {fault.status}")
            return _json(outcome, fault.status, fault.headers), 0.0
        path = request.path.removeprefix(self.base).strip("/")
        parts = path.split("/") if path else []
        body = request.get_json(force=True, silent=True) if request.data else None
        with self._lock:
            response = self._route(request, parts, body)
        return response, fault.slow if fault else 0.0

    def _route(self, request: Request, parts: list[str], body) -> Response:
        method = request.method
        if parts == ["metadata"] and method == "GET":
            return _json({"resourceType": "CapabilityStatement", "status": "active",
                          "fhirVersion": "4.0.1", "kind": "instance", "format": ["json"],
                          "software": {"name": "test partner"}})
        if len(parts) == 1 and method == "POST":
            return self._create(parts[0], body, request.headers.get("If-None-Exist"))
        if len(parts) == 1 and method == "GET":
            return self._search(parts[0], request.args)
        if len(parts) == 2 and parts[1].startswith("$") and method == "POST":
            return _json({"resourceType": "ClaimResponse", "id": f"resp-{len(self.requests)}",
                          "status": "active", "outcome": "complete",
                          "request": {"identifier": (body or {}).get("identifier",
                                                                    [{}])[0]}})
        if len(parts) == 2 and method == "GET":
            found = self.resources.get(parts[0], {}).get(parts[1])
            if found is None:
                return _json(_outcome("not-found", "no such resource"), 404)
            return _json(found, 200, {"ETag": f'W/"{found["meta"]["versionId"]}"'})
        if len(parts) == 2 and method == "PUT":
            return self._update(parts[0], parts[1], body, request.headers.get("If-Match"))
        return _json(_outcome("not-supported", f"{method} {request.path}"), 405)

    def _find(self, resource_type: str, query: str) -> list[dict]:
        key, _, value = query.partition("=")
        if key != "identifier":
            return []
        system, _, val = value.partition("|")
        return [r for r in self.resources.get(resource_type, {}).values()
                if any(i.get("system") == system and i.get("value") == val
                       for i in r.get("identifier", []))]

    def _store(self, resource: dict) -> dict:
        stored = dict(resource)
        table = self.resources.setdefault(stored["resourceType"], {})
        old = table.get(stored["id"])
        version = int(old["meta"]["versionId"]) + 1 if old else 1
        stored["meta"] = {"versionId": str(version), "lastUpdated": "2026-11-23T12:00:00Z"}
        table[stored["id"]] = stored
        return stored

    def _create(self, resource_type: str, body, if_none_exist: str | None) -> Response:
        response = self._create_inner(resource_type, body, if_none_exist)
        self.creates.append((response.status_code, if_none_exist))
        return response

    def _create_inner(self, resource_type: str, body, if_none_exist: str | None) -> Response:
        if not body or body.get("resourceType") != resource_type:
            return _json(_outcome("invalid", "resourceType does not match"), 400)
        if if_none_exist:
            matches = self._find(resource_type, if_none_exist)
            if len(matches) > 1:
                return _json(_outcome("duplicate", "several matches"), 412)
            if matches:
                return _json(matches[0], 200,
                             {"ETag": f'W/"{matches[0]["meta"]["versionId"]}"'})
        self._next_id += 1
        stored = self._store(dict(body, id=f"p{self._next_id}"))
        return _json(stored, 201, {
            "ETag": f'W/"{stored["meta"]["versionId"]}"',
            "Location": f"{self.base}/{resource_type}/{stored['id']}/_history/1"})

    def _search(self, resource_type: str, args) -> Response:
        matches = self._find(resource_type, f"identifier={args['identifier']}") \
            if "identifier" in args else list(self.resources.get(resource_type, {}).values())
        return _json({"resourceType": "Bundle", "type": "searchset", "total": len(matches),
                      "entry": [{"resource": r, "search": {"mode": "match"}}
                                for r in matches]})

    def _update(self, resource_type: str, rid: str, body, if_match: str | None) -> Response:
        if not body or body.get("id") != rid:
            return _json(_outcome("invalid", "id does not match"), 400)
        current = self.resources.get(resource_type, {}).get(rid)
        if if_match:
            wanted = if_match.removeprefix("W/").strip('"')
            if current is None or current["meta"]["versionId"] != wanted:
                return _json(_outcome("conflict", "version mismatch"), 412)
        stored = self._store(body)
        return _json(stored, 200 if current else 201,
                     {"ETag": f'W/"{stored["meta"]["versionId"]}"'})


def _outcome(code: str, text: str) -> dict:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": text}]}


def _json(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {},
                    content_type=FHIR_JSON)


class PartnerServer(LoopbackServer):
    """Runs a FhirPartner on 127.0.0.1 in a thread; stop() and start() keep the port."""

    def __init__(self, app: FhirPartner, port: int = 0) -> None:
        super().__init__(app, port)
