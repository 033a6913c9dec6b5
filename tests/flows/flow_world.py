"""The world of the hospital / agency flow tests: real partner servers on loopback.

- ``peer_fhir.start_peer()`` (tests/peer_fhir.py): the Medplum in-memory FHIR server of
  ../shared/tools/fhir-check
  (one process per test module: a hospital EHR, an agency's FHIR server);
- ``FaultProxy``: a small HTTP proxy in front of it injecting faults between the hub and the
  partner: a status (500 bursts, 429 + Retry-After), ``slow`` (forwarded, then the answer is
  held past the hub's read timeout), and ``down()``/``up()`` (connection refused);
- ``HubHarness``: the hub's worker over the test app's database: ``drain`` runs
  ``run_once`` until nothing is due (bounded), ``pull`` requests a pull and drains.

Fictional data only.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

import requests
from loopback import LoopbackServer
from outbox_query import outbox_rows
from werkzeug.wrappers import Request, Response

from hub.store.uow import UnitOfWork
from hub.sync import pulls
from hub.sync.registry import Adapters
from hub.sync.retry import RetryPolicy

#: Backoff of a few milliseconds (Retry-After is still honoured: keep it at 1 s).
FAST = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.05)
HUB_RESOURCE = "urn:fhir-case-hub:resource"
FHIR_JSON = {"Content-Type": "application/fhir+json"}


@dataclass
class Fault:
    status: int | None = None
    headers: dict = field(default_factory=dict)
    slow: float = 0.0
    method: str | None = None
    path: str | None = None  # a prefix of the path below the FHIR base, e.g. "CarePlan"


class FaultProxy:
    """HTTP proxy on 127.0.0.1 in front of ``upstream`` (a FHIR base URL)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.prefix = "/" + self.upstream.split("/", 3)[3]  # "/fhir"
        self.port = 0
        self.faults: deque[Fault] = deque()
        self.log: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        self._serving = LoopbackServer(self)
        self._session = requests.Session()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def _take(self, request: Request) -> Fault | None:
        path = request.path.removeprefix(self.prefix).lstrip("/")
        with self._lock:
            for fault in list(self.faults):
                if fault.method in (None, request.method) and (
                        fault.path is None or path.startswith(fault.path)):
                    self.faults.remove(fault)
                    return fault
        return None

    def __call__(self, environ, start_response):
        request = Request(environ)
        fault = self._take(request)
        if fault is not None and fault.status:
            response = Response('{"resourceType": "OperationOutcome", "issue": [{"severity": '
                                '"error", "code": "transient"}]}', status=fault.status,
                                headers=fault.headers, content_type="application/fhir+json")
        else:
            url = self.upstream + request.full_path.removeprefix(self.prefix).rstrip("?")
            headers = {k: v for k, v in request.headers.items()
                       if k.lower() not in ("host", "content-length")}
            up = self._session.request(request.method, url, data=request.get_data(),
                                       headers=headers, timeout=10)
            keep = {k: v for k, v in up.headers.items()
                    if k.lower() in ("content-type", "etag", "location", "last-modified")}
            response = Response(up.content, status=up.status_code, headers=keep)
        with self._lock:
            self.log.append((request.method, request.path, response.status_code))
        if fault is not None and fault.slow:
            time.sleep(fault.slow)
        return response(environ, start_response)

    def up(self) -> FaultProxy:
        self._serving.start()
        self.port = self._serving.port
        return self

    def down(self) -> None:
        self._serving.stop()

    def __enter__(self) -> FaultProxy:
        return self.up()

    def __exit__(self, *exc) -> None:
        self.down()

    def count(self, method: str, path_part: str, status: int | None = None) -> int:
        with self._lock:
            return sum(1 for m, p, s in self.log if m == method and path_part in p
                       and (status is None or s == status))


class HubHarness:
    """The hub's sync side over the app's database and the given partners."""

    def __init__(self, app, partners: dict, *, environ: dict | None = None) -> None:
        self.app = app
        self.db = app.extensions["hub.db"]
        self.adapters = Adapters(partners, environ=environ)
        self.runtime = app.extensions["hub.runtime"]
        self.runtime.use_adapters(self.adapters)  # the API queues for these partners
        self.worker = self.runtime.worker("flow-test", policy=FAST, concurrency=2)

    def close(self) -> None:
        self.worker.close()
        self.adapters.close()

    def rows(self, **where) -> list:
        return outbox_rows(self.db, **where)

    def drain(self, timeout: float = 20.0) -> list:
        """Deliver until no row is pending or in flight (dead rows stay); the rows."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.worker.run_once():
                active = [r for r in self.rows() if r.status in ("pending", "in-flight")]
                if not active:
                    return self.rows()
                time.sleep(0.05)  # a backoff or a Retry-After is running
            assert time.monotonic() < deadline, [
                (r.id, r.operation, r.resource_type, r.status, r.last_error)
                for r in self.rows() if r.status != "done"]

    def pull(self, partner_id: str, *types: str, timeout: float = 20.0) -> list:
        with self.db.sessions() as session:
            for rtype in types:
                pulls.request_pull(session, partner_id, rtype)
            session.commit()
        return self.drain(timeout)

    def case(self, case_id: str):
        with UnitOfWork(self.db) as uow:
            return uow.cases.get(case_id)

    def dead(self) -> list:
        return [r for r in self.rows() if r.status == "dead"]


class Peer:
    """Direct access to a partner's FHIR server (acting as the partner)."""

    def __init__(self, base: str) -> None:
        self.base = base

    def create(self, resource: dict) -> dict:
        resp = requests.post(f"{self.base}/{resource['resourceType']}", json=resource,
                             headers=FHIR_JSON, timeout=10)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def read(self, rtype: str, rid: str) -> dict:
        resp = requests.get(f"{self.base}/{rtype}/{rid}", timeout=10)
        assert resp.ok, resp.text
        return resp.json()

    def update(self, resource: dict) -> dict:
        resp = requests.put(f"{self.base}/{resource['resourceType']}/{resource['id']}",
                            json=resource, timeout=10, headers={
                                **FHIR_JSON,
                                "If-Match": f'W/"{resource["meta"]["versionId"]}"'})
        assert resp.ok, resp.text
        return resp.json()

    def search(self, rtype: str, **params) -> list[dict]:
        params.setdefault("_count", "1000")
        resp = requests.get(f"{self.base}/{rtype}", params=params, timeout=10)
        assert resp.ok, resp.text
        return [e["resource"] for e in resp.json().get("entry") or []]

    def ours(self, rtype: str, local_id: str) -> list[dict]:
        """The partner's copies of the hub's resource (by the hub's identifier)."""
        return self.search(rtype, identifier=f"{HUB_RESOURCE}|{rtype}/{local_id}")


def literal_references(node) -> list[str]:
    """Every ``reference`` string in a resource (contained resources included)."""
    if isinstance(node, list):
        return [r for v in node for r in literal_references(v)]
    if isinstance(node, dict):
        own = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return own + [r for k, v in node.items() if k != "reference"
                      for r in literal_references(v)]
    return []


def assert_references_resolve(peer: Peer, resource: dict, *,
                              patient_at_ehr: str | None) -> None:
    """Each literal reference of ``resource`` names a resource ``peer`` holds (relative
    ones only: the partner refuses others); the subject is the partner's own patient when
    ``patient_at_ehr`` is given."""
    refs = literal_references(resource)
    for ref in refs:
        assert "/" in ref and not ref.startswith("http"), ref
        rtype, rid = ref.split("/")[:2]
        resp = requests.get(f"{peer.base}/{rtype}/{rid}", timeout=10)
        assert resp.status_code == 200, (ref, resp.status_code)
    if patient_at_ehr is not None:
        assert f"Patient/{patient_at_ehr}" in refs, refs
