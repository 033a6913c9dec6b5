"""A small agency-json partner (a home-health agency) on loopback, with injectable faults.

It implements fixtures/partners/agency-json.md as an agency would, in memory:

- ``POST {base}/referrals``: API key (401), Idempotency-Key required and equal to the body
  id (400), body validated by the JSON Schema (422 with field paths), 201 created / 200 the
  same content again / 409 the same id with other content;
- ``GET {base}/referrals/{id}`` (404 when unknown);
- ``GET {base}/referrals?updated_since=&limit=`` and ``?cursor=`` (keyset paging on
  (updated_at, id), ``updated_since`` inclusive, ``until`` watermark per page);
- ``POST {base}/referrals/{id}/cancel`` (idempotent, 409 when already final).

The test drives the agency's side (``receive``, ``accept``, ``reject``, ``start``, ``hold``,
``resume``, ``fail``, ``complete``, ``record_visit``) and injects faults consumed by the next
matching requests: a status (500 burst, 429/503 + Retry-After), or ``slow`` (processed, then
the answer is held past the client's timeout). ``AgencyServer.stop()`` closes the port;
``start()`` reopens it on the same port with the same data.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from loopback import LoopbackServer
from werkzeug.wrappers import Request, Response

from .schemas import validator

PROBLEM_JSON = "application/problem+json"
FINAL = {"rejected", "completed", "failed", "cancelled"}
#: The agency's own moves (the Task owner's), as in hub.cases.REFERRAL_TRANSITIONS.
AGENCY_MOVES = {
    "requested": {"received", "accepted", "rejected"},
    "received": {"accepted", "rejected"},
    "accepted": {"in-progress", "on-hold", "failed", "completed"},
    "in-progress": {"on-hold", "failed", "completed"},
    "on-hold": {"in-progress", "failed"},
}
NEEDS_REASON = {"rejected", "on-hold", "failed", "cancelled"}


def stamp(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace(
        "+00:00", "Z")


def parse_stamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


@dataclass
class Fault:
    """``status`` answers that status (with ``headers``) without touching the data; ``slow``
    seconds processes the request, then holds the answer. ``method`` and ``path`` (a
    prefix below the base) restrict which requests it hits."""

    status: int | None = None
    headers: dict = field(default_factory=dict)
    slow: float = 0.0
    method: str | None = None
    path: str | None = None


@dataclass
class Record:
    document: dict
    canonical: str
    status: str = "requested"
    status_reason: str | None = None
    updated_at: datetime | None = None
    history: list[dict] = field(default_factory=list)
    visits: dict[str, dict] = field(default_factory=dict)
    agency_reference: str | None = None

    def state(self) -> dict:
        out = {"id": self.document["id"]}
        if self.agency_reference:
            out["agency_reference"] = self.agency_reference
        out["status"] = self.status
        if self.status_reason:
            out["status_reason"] = self.status_reason
        out["updated_at"] = stamp(self.updated_at)
        out["history"] = [dict(h) for h in self.history]
        out["visits"] = [dict(v) for v in self.visits.values()]
        return out


class AgencyJsonPartner:
    """The WSGI app and its data. ``requests`` logs (method, path, status) of every call."""

    def __init__(self, *, api_key: str = "test-agency-key", key_header: str = "X-Api-Key",
                 base: str = "/api/v1", max_limit: int = 500, clock=None) -> None:
        self.api_key = api_key
        self.key_header = key_header
        self.base = base
        self.max_limit = max_limit
        self.clock = clock or (lambda: datetime.now(UTC))
        self.referrals: dict[str, Record] = {}
        self.faults: deque[Fault] = deque()
        self.requests: list[tuple[str, str, int]] = []
        self.headers_seen: list[dict] = []
        self._lock = threading.RLock()
        self._last = datetime.min.replace(tzinfo=UTC)
        self._seq = 0

    # -- test API: faults and inspection --------------------------------------------------

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def fail_next(self, count: int, status: int = 500, **kwargs) -> None:
        self.inject(*(Fault(status=status, **kwargs) for _ in range(count)))

    def throttle_next(self, retry_after: str = "1", status: int = 429, **kwargs) -> None:
        self.inject(Fault(status=status, headers={"Retry-After": retry_after}, **kwargs))

    def slow_next(self, seconds: float, **kwargs) -> None:
        self.inject(Fault(slow=seconds, **kwargs))

    def count(self, method: str, path: str | None = None, status: int | None = None) -> int:
        with self._lock:
            return sum(1 for m, p, s in self.requests if m == method
                       and (path is None or p == self.base + path)
                       and (status is None or s == status))

    def state(self, referral_id: str) -> dict:
        with self._lock:
            return self.referrals[referral_id].state()

    # -- test API: the agency's side of the work --------------------------------------------

    def receive(self, referral_id: str) -> dict:
        return self._move(referral_id, "received")

    def accept(self, referral_id: str, agency_reference: str | None = None) -> dict:
        with self._lock:
            if agency_reference:
                self.referrals[referral_id].agency_reference = agency_reference
            return self._move(referral_id, "accepted")

    def reject(self, referral_id: str, reason: str) -> dict:
        return self._move(referral_id, "rejected", reason)

    def start(self, referral_id: str) -> dict:
        return self._move(referral_id, "in-progress")

    def hold(self, referral_id: str, reason: str) -> dict:
        return self._move(referral_id, "on-hold", reason)

    def resume(self, referral_id: str) -> dict:
        return self._move(referral_id, "in-progress")

    def fail(self, referral_id: str, reason: str) -> dict:
        return self._move(referral_id, "failed", reason)

    def complete(self, referral_id: str) -> dict:
        return self._move(referral_id, "completed")

    def record_visit(self, referral_id: str, visit_id: str, start: datetime,
                     end: datetime | None = None, *, clinician: str | None = None,
                     role: str | None = None, summary: str | None = None,
                     status: str | None = None) -> dict:
        """Record (or correct) a visit; allowed while the agency works the referral."""
        with self._lock:
            record = self.referrals[referral_id]
            if record.status not in ("accepted", "in-progress", "on-hold"):
                raise ValueError(f"no visits on a {record.status} referral")
            visit: dict = {"id": visit_id}
            if status:
                visit["status"] = status
            visit["start"] = stamp(start)
            if end is not None:
                visit["end"] = stamp(end)
            if clinician or role:
                visit["clinician"] = {k: v for k, v in (("name", clinician), ("role", role))
                                      if v}
            if summary:
                visit["summary"] = summary
            record.visits[visit_id] = visit
            record.updated_at = self._now()
            return record.state()

    def _move(self, referral_id: str, to: str, reason: str | None = None,
              by: str = "agency") -> dict:
        with self._lock:
            record = self.referrals[referral_id]
            allowed = AGENCY_MOVES.get(record.status, set()) if by == "agency" else (
                set() if record.status in FINAL else {"cancelled"})
            if to not in allowed:
                raise ValueError(f"the agency cannot move a referral {record.status} -> {to}")
            if to in NEEDS_REASON and not reason:
                raise ValueError(f"{to} needs a reason")
            now = self._now()
            entry = {"status": to, "at": stamp(now), "by": by}
            if reason:
                entry["reason"] = reason
            record.history.append(entry)
            record.status = to
            record.status_reason = reason if to in NEEDS_REASON else None
            record.updated_at = now
            return record.state()

    def _now(self) -> datetime:
        """Server time to the second, never going back (updated_at ordering)."""
        now = self.clock().astimezone(UTC).replace(microsecond=0)
        self._last = max(self._last, now)
        return self._last

    # -- WSGI -----------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        fault = self._take_fault(request)
        if fault is not None and fault.status:
            response = _problem(fault.status, "unavailable" if fault.status >= 500 else
                                "rate_limited" if fault.status == 429 else "invalid_request",
                                f"injected {fault.status}", headers=fault.headers)
        else:
            response = self._handle(request)
        with self._lock:
            self.requests.append((request.method, request.path, response.status_code))
            self.headers_seen.append(dict(request.headers))
        if fault is not None and fault.slow:
            time.sleep(fault.slow)
        return response(environ, start_response)

    def _take_fault(self, request: Request) -> Fault | None:
        path = request.path.removeprefix(self.base)
        with self._lock:
            for fault in list(self.faults):
                if fault.method in (None, request.method) and (
                        fault.path is None or path.startswith(fault.path)):
                    self.faults.remove(fault)
                    return fault
        return None

    def _handle(self, request: Request) -> Response:
        if not request.path.startswith(self.base + "/"):
            return _problem(404, "not_found", "no such endpoint")
        if request.headers.get(self.key_header) != self.api_key:
            return _problem(401, "unauthorized", "missing or wrong API key",
                            headers={"WWW-Authenticate": f'ApiKey header="{self.key_header}"'})
        parts = request.path.removeprefix(self.base).strip("/").split("/")
        method = request.method
        with self._lock:
            if parts == ["referrals"] and method == "POST":
                return self._create(request)
            if parts == ["referrals"] and method == "GET":
                return self._changes(request)
            if len(parts) == 2 and parts[0] == "referrals" and method == "GET":
                record = self.referrals.get(parts[1])
                if record is None:
                    return _problem(404, "not_found", "no such referral")
                return _json(record.state())
            if len(parts) == 3 and parts[0] == "referrals" and parts[2] == "cancel" \
                    and method == "POST":
                return self._cancel(request, parts[1])
        return _problem(405 if parts and parts[0] == "referrals" else 404,
                        "invalid_request", "no such operation")

    def _body(self, request: Request, schema: str):
        try:
            body = json.loads(request.get_data(as_text=True) or "null")
        except ValueError:
            return None, _problem(400, "invalid_request", "the body is not JSON")
        found = sorted(validator(schema).iter_errors(body), key=lambda e: list(e.path))
        if found:
            # the value itself is never echoed (it may be patient data): field and rule only
            errs = [{"field": "".join(f"[{p}]" if isinstance(p, int) else f".{p}"
                                      for p in e.path).lstrip(".") or "$",
                     "message": f"fails {e.validator}"} for e in found]
            return None, _problem(422, "invalid_request", "the body fails the schema",
                                  errors=errs)
        return body, None

    def _create(self, request: Request) -> Response:
        key = request.headers.get("Idempotency-Key")
        if not key:
            return _problem(400, "invalid_request", "Idempotency-Key header required")
        body, error = self._body(request, "referral")
        if error is not None:
            return error
        if key != body["id"]:
            return _problem(400, "idempotency_key_mismatch",
                            "Idempotency-Key must equal the referral id")
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        record = self.referrals.get(body["id"])
        if record is not None:
            if record.canonical != canonical:
                return _problem(409, "referral_conflict",
                                "a referral with this id was received with other content")
            return _json(record.state(), 200)
        now = self._now()
        record = Record(document=body, canonical=canonical, updated_at=now,
                        history=[{"status": "requested", "at": stamp(now), "by": "hub"}])
        self.referrals[body["id"]] = record
        return _json(record.state(), 201,
                     {"Location": f"{request.host_url.rstrip('/')}{self.base}/referrals/"
                                  f"{body['id']}"})

    def _cancel(self, request: Request, referral_id: str) -> Response:
        record = self.referrals.get(referral_id)
        if record is None:
            return _problem(404, "not_found", "no such referral")
        body, error = self._body(request, "cancel")
        if error is not None:
            return error
        if record.status == "cancelled":
            return _json(record.state())
        if record.status in FINAL:
            return _problem(409, "referral_final", f"the referral is already {record.status}")
        return _json(self._move(referral_id, "cancelled", body["reason"], by="hub"))

    def _changes(self, request: Request) -> Response:
        args = request.args
        try:
            limit = int(args.get("limit", "100"))
        except ValueError:
            return _problem(400, "invalid_request", "limit must be an integer",
                            errors=[{"field": "limit", "message": "not an integer"}])
        limit = max(1, min(limit, self.max_limit))
        since = after = None
        if args.get("cursor"):
            try:
                decoded = json.loads(base64.urlsafe_b64decode(args["cursor"].encode() + b"=="))
                since = parse_stamp(decoded["s"]) if decoded.get("s") else None
                after = (parse_stamp(decoded["t"]), decoded["id"])
            except (ValueError, KeyError, TypeError, binascii.Error):
                return _problem(400, "invalid_request", "bad cursor",
                                errors=[{"field": "cursor", "message": "not a cursor"}])
        elif args.get("updated_since"):
            try:
                since = parse_stamp(args["updated_since"])
            except ValueError:
                return _problem(400, "invalid_request", "updated_since is not RFC 3339",
                                errors=[{"field": "updated_since", "message": "not RFC 3339"}])
        rows = sorted(self.referrals.values(), key=lambda r: (r.updated_at, r.document["id"]))
        if since is not None:
            rows = [r for r in rows if r.updated_at >= since]
        if after is not None:
            rows = [r for r in rows if (r.updated_at, r.document["id"]) > after]
        page, more = rows[:limit], len(rows) > limit
        last = page[-1] if page else None
        next_cursor = None
        if more:
            raw = json.dumps({"s": stamp(since) if since else None, "t": stamp(last.updated_at),
                              "id": last.document["id"]}).encode()
            next_cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        until = stamp(last.updated_at) if last else (stamp(since) if since else None)
        return _json({"referrals": [r.state() for r in page], "next": next_cursor,
                      "until": until})


def _json(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {},
                    content_type="application/json")


def _problem(status: int, code: str, title: str, *, errors: list | None = None,
             headers: dict | None = None) -> Response:
    body = {"type": f"https://fhir-case-hub.org/agency-json/v1/problems/{code}",
            "title": title, "status": status, "code": code}
    if errors:
        body["errors"] = errors
    return Response(json.dumps(body), status=status, headers=headers or {},
                    content_type=PROBLEM_JSON)


class AgencyServer(LoopbackServer):
    """Runs an AgencyJsonPartner on 127.0.0.1 in a thread; stop() and start() keep the
    port (and the app keeps its data)."""

    def __init__(self, app: AgencyJsonPartner, port: int = 0) -> None:
        super().__init__(app, port)
