"""An insurer simulator on loopback: R4 eligibility ``$submit`` and Da Vinci PAS ``$submit``.

Written from the specs, independently of the hub's mappings (literal URLs and codes):

* ``POST /fhir/CoverageEligibilityRequest/$submit``: a CoverageEligibilityResponse
  (``inforce``; per item ``authorizationRequired`` when the service is in
  ``auth_required``).
* ``POST /fhir/Claim/$submit``: a PAS request Bundle (Claim first); answers a PAS response
  Bundle, ClaimResponse first, with one X12 306 decision per item from ``decisions``
  (service code -> ``Decision``, default A1). A Claim already received (same identifier)
  gets the same answer again: the payer de-duplicates.
* ``GET /fhir/ClaimResponse?request=Claim/{id}``: the insurer's current ClaimResponse of a
  claim (the hub's polling).
* Faults queued with ``inject`` answer before any processing: a status (500 burst, 429 with
  Retry-After).
* ``finalize(claim_id)`` decides the pended (A4) items (``Decision.final``) in a new
  ClaimResponse; ``notification(...)`` wraps it as a Backport R4 notification Bundle and
  ``notify(hub_url, token)`` posts it to the hub.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

FHIR_JSON = "application/fhir+json"
PAS_SD = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition"
X12_306 = "https://codesystem.x12.org/005010/306"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
PAS_TOPIC = "http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic"
BACKPORT_SD = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
OWN_IDS = "https://insurer.example/fhir/NamingSystem/claim-response"


@dataclass
class Decision:
    """The insurer's decision on one service: X12 306 ``code`` (A1 approved, A2 partial, A3
    denied, A4 pended, A6 modified), the authorization number, the authorized period and
    quantity; ``final`` is the Decision a pended item gets when finalized."""

    code: str = "A1"
    number: str | None = None
    period: tuple[str, str] | None = None
    quantity: int | None = None
    reason: str | None = None
    final: Decision | None = None


@dataclass
class Fault:
    status: int
    headers: dict = field(default_factory=dict)


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace(
        "+00:00", "Z")


def _later(base: str, seconds: int) -> str:
    when = datetime.fromisoformat(base.replace("Z", "+00:00")) + timedelta(seconds=seconds)
    return when.isoformat().replace("+00:00", "Z")


def _item_answer(item: dict, d: Decision) -> dict:
    subs = [{"url": f"{PAS_SD}/extension-reviewActionCode",
             "valueCodeableConcept": {"coding": [{"system": X12_306, "code": d.code}]}}]
    if d.number:
        subs.append({"url": "number", "valueString": d.number})
    if d.reason:
        subs.append({"url": "reasonCode", "valueCodeableConcept": {"text": d.reason}})
    out: dict = {}
    exts = []
    if d.period:
        exts.append({"url": f"{PAS_SD}/extension-itemPreAuthPeriod",
                     "valuePeriod": {"start": d.period[0], "end": d.period[1]}})
    if d.quantity is not None:
        exts.append({"url": f"{PAS_SD}/extension-itemAuthorizedDetail", "extension": [
            {"url": "quantity", "valueQuantity": {"value": d.quantity}}]})
    if exts:
        out["extension"] = exts
    out["itemSequence"] = item["sequence"]
    out["adjudication"] = [{
        "extension": [{"url": f"{PAS_SD}/extension-reviewAction", "extension": subs}],
        "category": {"coding": [{"system": ADJUDICATION, "code": "submitted"}]}}]
    return out


def claim_response(claim: dict, decisions: dict[str, Decision], *, rid: str,
                   created: str | None = None) -> dict:
    """A PAS ClaimResponse (the insurer's own id) deciding each item of ``claim``."""
    items = []
    for item in claim.get("item") or []:
        code = item["productOrService"]["coding"][0]["code"]
        items.append(_item_answer(item, decisions.get(code) or Decision("A1", f"AUTH-{code}")))
    return {
        "resourceType": "ClaimResponse", "id": rid,
        "meta": {"profile": [f"{PAS_SD}/profile-claimresponse"]},
        "identifier": [{"system": OWN_IDS, "value": rid}],
        "status": "active", "type": claim["type"], "use": "preauthorization",
        "patient": {"reference": claim["patient"]["reference"]},
        "created": created or _now(),
        "insurer": {"reference": claim["insurer"]["reference"]},
        "requestor": {"reference": claim["provider"]["reference"]},
        "request": {"reference": f"Claim/{claim['id']}",
                    "identifier": {k: v for k, v in claim["identifier"][0].items()
                                   if k in ("system", "value")}},
        "outcome": "complete",
        "item": items,
    }


def response_bundle(response: dict, base: str) -> dict:
    """A PAS response Bundle: the ClaimResponse first."""
    return {"resourceType": "Bundle", "id": f"{response['id']}-bundle",
            "meta": {"profile": [f"{PAS_SD}/profile-pas-response-bundle"]},
            "type": "collection", "timestamp": response["created"],
            "entry": [{"fullUrl": f"{base}/ClaimResponse/{response['id']}",
                       "resource": response}]}


def notification(bundle: dict, event_number: int, *, subscription: str, kind: str =
                 "event-notification", base: str = "https://insurer.example/fhir") -> dict:
    """A Backport R4 notification Bundle (history; Parameters first) carrying ``bundle``."""
    params: dict = {
        "resourceType": "Parameters", "id": f"status-{event_number}",
        "meta": {"profile": [f"{BACKPORT_SD}/backport-subscription-status-r4"]},
        "parameter": [
            {"name": "subscription", "valueReference": {"reference": subscription}},
            {"name": "topic", "valueCanonical": PAS_TOPIC},
            {"name": "status", "valueCode": "active"},
            {"name": "type", "valueCode": kind},
            {"name": "events-since-subscription-start", "valueString": str(event_number)},
        ]}
    entries = [{"fullUrl": f"urn:uuid:status-{event_number}", "resource": params,
                "request": {"method": "GET", "url": f"{subscription}/$status"},
                "response": {"status": "200"}}]
    if kind == "event-notification":
        resp = bundle["entry"][0]["resource"]
        params["parameter"].append({"name": "notification-event", "part": [
            {"name": "event-number", "valueString": str(event_number)},
            {"name": "timestamp", "valueInstant": resp["created"]},
            {"name": "focus", "valueReference": {
                "reference": f"{base}/ClaimResponse/{resp['id']}"}}]})
        entries.append({"fullUrl": f"{base}/Bundle/{bundle['id']}", "resource": bundle,
                        "request": {"method": "POST", "url": "Bundle"},
                        "response": {"status": "201"}})
    return {"resourceType": "Bundle", "id": f"notification-{event_number}",
            "meta": {"profile": [f"{BACKPORT_SD}/backport-subscription-notification-r4"]},
            "type": "history", "timestamp": _now(), "entry": entries}


class InsurerSimulator:
    """The WSGI app and its records (all guarded by one lock)."""

    def __init__(self, base_path: str = "/fhir") -> None:
        self.base_path = base_path
        self.base_url = "http://insurer.invalid/fhir"  # set by InsurerServer.start
        self.decisions: dict[str, Decision] = {}
        self.auth_required: set[str] = set()
        self.faults: deque[Fault] = deque()
        #: every request: (method, path, status)
        self.requests: list[tuple[str, str, int]] = []
        #: processed $submit bodies, in order: (operation, body)
        self.received: list[tuple[str, dict]] = []
        self.claims: dict[str, dict] = {}  # claim id -> Claim
        self.answers: dict[str, dict] = {}  # claim id -> current ClaimResponse
        self.eligibility: dict[str, dict] = {}  # request identifier -> response
        self._lock = threading.Lock()
        self._seq = 0
        self._events = 0

    # -- test API -----------------------------------------------------------------------

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def submits(self, kind: str) -> list[dict]:
        with self._lock:
            return [body for op, body in self.received if op == kind]

    def pended_claims(self) -> list[str]:
        with self._lock:
            return [cid for cid, resp in self.answers.items() if any(
                self._code(item) == "A4" for item in resp.get("item") or [])]

    @staticmethod
    def _code(item: dict) -> str | None:
        for adj in item.get("adjudication") or []:
            for ext in adj.get("extension") or []:
                for sub in ext.get("extension") or []:
                    if sub.get("url", "").endswith("reviewActionCode"):
                        return sub["valueCodeableConcept"]["coding"][0]["code"]
        return None

    def finalize(self, claim_id: str) -> dict:
        """Decide the pended items of a claim; the new response Bundle (later ``created``)."""
        with self._lock:
            claim, previous = self.claims[claim_id], self.answers[claim_id]
            decisions = {}
            for item in claim["item"]:
                code = item["productOrService"]["coding"][0]["code"]
                d = self.decisions.get(code) or Decision("A1", f"AUTH-{code}")
                decisions[code] = d.final if d.code == "A4" and d.final else d
            resp = claim_response(claim, decisions, rid=previous["id"],
                                  created=_later(previous["created"], 60))
            self.answers[claim_id] = resp
            return response_bundle(resp, self.base_url)

    def notification_for(self, bundle: dict, kind: str = "event-notification") -> dict:
        with self._lock:
            self._events += 1
            number = self._events
        return notification(bundle, number, subscription=f"{self.base_url}/Subscription/hub-pas",
                            kind=kind, base=self.base_url)

    # -- WSGI ---------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        status, body, headers = self._handle(request)
        with self._lock:
            self.requests.append((request.method, request.path, status))
        resp = Response(json.dumps(body) if body is not None else b"", status=status,
                        headers=headers, mimetype=FHIR_JSON)
        return resp(environ, start_response)

    def _handle(self, request: Request):
        with self._lock:
            fault = self.faults.popleft() if self.faults else None
        if fault is not None:
            return fault.status, _outcome("error", "transient", "simulated fault"), \
                fault.headers
        path = request.path[len(self.base_path):] if request.path.startswith(
            self.base_path) else request.path
        try:
            if request.method == "POST" and path == "/Claim/$submit":
                return self._pas_submit(json.loads(request.get_data(as_text=True)))
            if request.method == "POST" and path == "/CoverageEligibilityRequest/$submit":
                return self._eligibility(json.loads(request.get_data(as_text=True)))
            if request.method == "GET" and path == "/ClaimResponse":
                return self._search(request.args.get("request", ""))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return 400, _outcome("error", "invalid", f"unreadable request: {exc}"), {}
        return 404, _outcome("error", "not-found", f"no route {path}"), {}

    def _pas_submit(self, bundle: dict):
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "collection":
            return 400, _outcome("error", "invalid", "expected a PAS request Bundle"), {}
        claim = bundle["entry"][0]["resource"]
        if claim.get("resourceType") != "Claim" or claim.get("use") != "preauthorization":
            return 400, _outcome("error", "invalid", "entry 0 must be the Claim"), {}
        present = {e["fullUrl"].split("/fhir/")[-1] for e in bundle["entry"]}
        for ref in ("patient", "insurer", "provider"):
            if claim[ref]["reference"] not in present:
                return 400, _outcome("error", "invalid", f"Claim.{ref} not in the Bundle"), {}
        with self._lock:
            self.received.append(("Claim", bundle))
            if claim["id"] not in self.answers:  # a re-sent Claim gets the same answer
                self._seq += 1
                self.claims[claim["id"]] = claim
                self.answers[claim["id"]] = claim_response(
                    claim, self.decisions, rid=f"cr-{self._seq}")
            resp = self.answers[claim["id"]]
        return 200, response_bundle(resp, self.base_url), {}

    def _eligibility(self, req: dict):
        if req.get("resourceType") != "CoverageEligibilityRequest":
            return 400, _outcome("error", "invalid", "expected a CoverageEligibilityRequest"), {}
        key = req["identifier"][0]["value"]
        with self._lock:
            self.received.append(("CoverageEligibilityRequest", req))
            if key not in self.eligibility:
                self._seq += 1
                items = [{"productOrService": it["productOrService"],
                          "authorizationRequired":
                              it["productOrService"]["coding"][0]["code"] in self.auth_required}
                         for it in req.get("item") or [] if it.get("productOrService")]
                insurance = {"coverage": {"reference": req["insurance"][0]["coverage"]["reference"]},
                             "inforce": True}
                if items:
                    insurance["item"] = items
                self.eligibility[key] = {
                    "resourceType": "CoverageEligibilityResponse", "id": f"er-{self._seq}",
                    "status": "active", "purpose": req["purpose"],
                    "patient": {"reference": req["patient"]["reference"]},
                    "created": _now(),
                    "request": {"reference": f"CoverageEligibilityRequest/{req['id']}"},
                    "outcome": "complete",
                    "insurer": {"reference": req["insurer"]["reference"]},
                    "insurance": [insurance]}
            return 200, self.eligibility[key], {}

    def _search(self, request_ref: str):
        claim_id = request_ref.split("/")[-1]
        with self._lock:
            found = [self.answers[claim_id]] if claim_id in self.answers else []
        return 200, {"resourceType": "Bundle", "type": "searchset", "total": len(found),
                     "entry": [{"fullUrl": f"{self.base_url}/ClaimResponse/{r['id']}",
                                "resource": r, "search": {"mode": "match"}} for r in found]}, {}


def _outcome(severity: str, code: str, text: str) -> dict:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": severity, "code": code, "diagnostics": text}]}


class InsurerServer:
    """Serves an InsurerSimulator with werkzeug on 127.0.0.1, an ephemeral port."""

    def __init__(self, app: InsurerSimulator) -> None:
        self.app = app
        self._server = None
        self._thread = None

    def start(self) -> InsurerServer:
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.app.base_url = f"http://127.0.0.1:{self._server.server_port}{self.app.base_path}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def base_url(self) -> str:
        return self.app.base_url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def notify(hub_base: str, token: str, body: dict) -> requests.Response:
    """POST a notification to the hub's ``/notifications/pas``."""
    return requests.post(f"{hub_base}/notifications/pas", data=json.dumps(body), timeout=10,
                         headers={"Authorization": f"Bearer {token}",
                                  "Content-Type": FHIR_JSON})
