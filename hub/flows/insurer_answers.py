"""Insurer answers applied to the case: the synchronous ``$submit`` answers (delivery
handlers), pended decisions posted as Backport notifications, and polling of pended PAS
requests at the insurer (the ``poll`` rows of ``hub.flows.insurer_polling``). See
``hub.flows.insurer`` for the requests and the rules of
applying (idempotent, ordered, never losing a concurrent case change).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hub.clock import utcnow
from hub.errors import BusinessRuleFailed, HubError
from hub.fhirstore.query import parse_search
from hub.flows.insurer import (
    ELIGIBILITY_RESPONSE_KIND,
    PAS_STATE,
    UnknownRequest,
    insurer_partner,
)
from hub.flows.insurer_polling import PENDED_POLL_SECONDS, queue_poll, settle_polls
from hub.mappings import eligibility as elig
from hub.mappings import pas
from hub.mappings.codes import hub_naming_system
from hub.mappings.datatypes import local_ref, parse_datetime
from hub.mappings.errors import MappingError, Report
from hub.mappings.identity import find_hub_identifier, hub_identifier, resource_id
from hub.mappings.meta import strip_meta
from hub.store.concurrency import retrying
from hub.store.uow import UnitOfWork
from hub.sync.outbox import record_summary

log = logging.getLogger(__name__)


@dataclass
class Applied:
    """What became of one answer: ``applied``, ``duplicate`` (already applied) or
    ``stale`` (older than the applied answer; ignored)."""

    result: str
    case_id: str
    request_id: str
    state: str
    case_version: int
    report: Report = field(default_factory=Report)


def first_of(data: dict, resource_type: str, path: str = "Bundle") -> dict:
    """The resource itself, or the first entry of a Bundle that must be of that type."""
    if not isinstance(data, dict):
        raise MappingError(path, "not a JSON object")
    if data.get("resourceType") == resource_type:
        return data
    if data.get("resourceType") != "Bundle":
        raise MappingError(f"{path}.resourceType", f"expected a {resource_type} or a Bundle")
    entries = data.get("entry") or []
    first = (entries[0].get("resource") or {}) if entries else {}
    if first.get("resourceType") != resource_type:
        raise MappingError(f"{path}.entry[0]", f"the first entry must be the {resource_type}")
    return first


def _request_of(uow: UnitOfWork, resp: dict, rtype: str, kind: str, known_id: str | None,
                path: str) -> dict:
    """The stored request (``rtype``) an answer is about: ``known_id`` (the delivery's), else
    ``resp.request`` by reference or by the hub identifier."""
    ref = resp.get("request") or {}
    candidates = []
    target = local_ref(ref.get("reference"))
    if target and target.startswith(f"{rtype}/") and target.count("/") == 1:
        candidates.append(target.split("/", 1)[1])
    ident = ref.get("identifier") or {}
    if ident.get("system") == hub_naming_system(kind) and "/" in (ident.get("value") or ""):
        case_id, part = ident["value"].split("/", 1)
        candidates.append(resource_id(case_id, kind, part))
    if known_id is not None:
        if candidates and known_id not in candidates:
            raise MappingError(f"{path}.request", f"answers another {rtype}")
        candidates = [known_id]
    for rid in candidates:
        stored = uow.resources.read(rtype, rid)
        if stored is not None and not stored.deleted \
                and find_hub_identifier(stored.content, kind):
            return stored.content
    raise UnknownRequest(f"the {rtype} this answer is about is not a request of the hub",
                         path=f"{path}.request")


def request_owner(request: dict, kind: str) -> tuple[str, str]:
    value = find_hub_identifier(request, kind) or ""
    case_id, _, part = value.partition("/")
    return case_id, part


def _response_copy(resp: dict, rid: str, request: dict, kind: str, response_kind: str,
                   case_id: str, part: str) -> dict:
    """The answer as the hub keeps it: under the hub's id for the request, linked to it."""
    copy = {k: v for k, v in resp.items() if k not in ("id", "meta")}
    profile = (resp.get("meta") or {}).get("profile")
    out: dict = {"resourceType": resp["resourceType"], "id": rid}
    if profile:
        out["meta"] = {"profile": list(profile)}
    ours = hub_identifier(case_id, response_kind, part)
    idents = [i for i in copy.pop("identifier", None) or [] if i != ours]
    out["identifier"] = [*idents, ours]
    out.update(copy)
    out["request"] = {"reference": f"{request['resourceType']}/{request['id']}",
                      "identifier": hub_identifier(case_id, kind, part)}
    return out


def _same(stored: dict, new: dict) -> bool:
    return strip_meta(stored) == strip_meta(new)


def _older(new: dict, stored: dict, path: str) -> bool:
    a = parse_datetime(new.get("created"), f"{path}.created")
    b = parse_datetime(stored.get("created"), f"{path}.created")
    return a is not None and b is not None and a < b


def _created_at(resp: dict) -> datetime:
    """When an answer was created (unparseable or missing: the oldest possible)."""
    try:
        return parse_datetime(resp.get("created"), "ClaimResponse.created") or _EPOCH
    except MappingError:
        return _EPOCH


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def pas_state(response: dict) -> str:
    """The request state of a PAS answer (``submitted`` when it decides nothing)."""
    statuses = [r.status for r in pas.claim_response_results(response)]
    if not statuses and first_of(response, "ClaimResponse").get("outcome") == "error":
        return "error"
    return PAS_STATE.get(pas.rollup(statuses), "partially-approved")


def apply_pas_response(db, data: dict, *, partners: Mapping, claim_id: str | None = None,
                       insurer: str | None = None,
                       poll_seconds: float = PENDED_POLL_SECONDS) -> Applied:
    """Apply a PAS answer (response Bundle or ClaimResponse) to the case of its Claim.

    ``claim_id``: the Claim the answer must be about (a delivery's); else it is found from
    ``ClaimResponse.request``. ``insurer``: the Organization the answer comes from; the
    Claim must have been sent to it (else UnknownRequest). Idempotent, see the module doc.
    ``partners``: the runtime's partners (projection; the insurer a pended request is
    polled at, every ``poll_seconds``).
    """
    resp = first_of(data, "ClaimResponse")

    def work(uow: UnitOfWork) -> Applied:
        applied = apply_pas_response_in(uow, resp, claim_id=claim_id, insurer=insurer,
                                        partners=partners, poll_seconds=poll_seconds)
        if applied.result == "applied":
            uow.commit()
        return applied

    return retrying(db, work, partners=partners, what="insurer answer")


def apply_pas_response_in(uow: UnitOfWork, resp: dict, *, claim_id: str | None = None,
                          insurer: str | None = None, partners: Mapping | None = None,
                          poll_seconds: float = PENDED_POLL_SECONDS) -> Applied:
    """``apply_pas_response`` inside the caller's transaction (it does not commit): the
    FHIR write hook applies a ClaimResponse an insurer POSTs to the hub this way.
    ``partners`` default to the unit of work's. A pended answer queues the poll of its
    Claim at the insurer (``hub.flows.insurer_polling``) in the same transaction.
    StaleCase propagates (the caller retries or refuses the write)."""
    partners = uow.partners if partners is None else partners
    if resp.get("use") != "preauthorization":
        raise MappingError("ClaimResponse.use", "not a prior-authorization response")
    claim = _request_of(uow, resp, "Claim", pas.KIND, claim_id, "ClaimResponse")
    _check_sender(claim, resp, insurer, "ClaimResponse")
    case_id, part = request_owner(claim, pas.KIND)
    case = uow.cases.get(case_id)
    if case is None:
        raise UnknownRequest("the case of this request is gone", path="ClaimResponse.request")
    request = pas.pas_request_from_fhir(claim, case=case)
    rid = resource_id(case.id, pas.RESPONSE_KIND, part)
    copy = _response_copy(resp, rid, claim, pas.KIND, pas.RESPONSE_KIND, case.id, part)
    state = pas_state(copy)
    prev = uow.resources.read("ClaimResponse", rid)
    if prev is not None and not prev.deleted:
        if _same(prev.content, copy):
            return Applied("duplicate", case.id, part, state, case.version)
        if _older(copy, prev.content, "ClaimResponse"):
            return Applied("stale", case.id, part, pas_state(prev.content), case.version)
    report = pas.apply_claim_response(case, copy, request)
    uow.save_case(case, partners=partners)
    uow.resources.update("ClaimResponse", rid, copy)
    if state == "pended":
        _queue_poll(uow, claim, partners, poll_seconds)
    else:
        settle_polls(uow.session, claim["id"])
    log.info("prior authorization %s of case %s: %s (case version %s)", part, case.id,
             state, case.version)
    return Applied("applied", case.id, part, state, case.version, report)


def _queue_poll(uow: UnitOfWork, claim: dict, partners: Mapping, poll_seconds: float) -> None:
    insurer = (claim.get("insurer") or {}).get("reference")
    try:
        partner = insurer_partner(partners, claim.get("insurer"), uow.resources,
                                  path="Claim.insurer")
    except BusinessRuleFailed:
        log.warning("Claim/%s is pended but no insurer partner is configured to poll",
                    claim["id"])
        return
    queue_poll(uow.session, partner.id, claim["id"], insurer, after_seconds=poll_seconds)


def _check_sender(request: dict, resp: dict, insurer: str | None, path: str) -> None:
    """An answer sent by ``insurer`` must name it and be about a request sent to it."""
    if insurer is None:
        return
    if local_ref((request.get("insurer") or {}).get("reference")) != local_ref(insurer):
        raise UnknownRequest(f"the {request['resourceType']} this answer is about is not a "
                             "request of the hub", path=f"{path}.request")
    if local_ref((resp.get("insurer") or {}).get("reference")) != local_ref(insurer):
        raise BusinessRuleFailed("the answer must name the notifying insurer",
                                 path=f"{path}.insurer")


def eligibility_state(response: dict) -> str:
    return {"complete": "complete", "partial": "partial", "error": "error",
            "queued": "queued"}.get(str(response.get("outcome")), "submitted")


def apply_eligibility_response_to_case(db, data: dict, *, partners: Mapping,
                                       request_id: str | None = None,
                                       insurer: str | None = None) -> Applied:
    """Apply a CoverageEligibilityResponse to the case of its request (idempotent)."""
    resp = first_of(data, "CoverageEligibilityResponse")

    def work(uow: UnitOfWork) -> Applied:
        request = _request_of(uow, resp, "CoverageEligibilityRequest", elig.KIND, request_id,
                              "CoverageEligibilityResponse")
        _check_sender(request, resp, insurer, "CoverageEligibilityResponse")
        case_id, part = request_owner(request, elig.KIND)
        case = uow.cases.get(case_id)
        if case is None:
            raise UnknownRequest("the case of this request is gone",
                                 path="CoverageEligibilityResponse.request")
        req = elig.eligibility_request_from_fhir(request, case=case)
        rid = resource_id(case.id, ELIGIBILITY_RESPONSE_KIND, part)
        copy = _response_copy(resp, rid, request, elig.KIND, ELIGIBILITY_RESPONSE_KIND,
                              case.id, part)
        state = eligibility_state(copy)
        prev = uow.resources.read("CoverageEligibilityResponse", rid)
        if prev is not None and not prev.deleted:
            if _same(prev.content, copy):
                return Applied("duplicate", case.id, part, state, case.version)
            if _older(copy, prev.content, "CoverageEligibilityResponse"):
                return Applied("stale", case.id, part, eligibility_state(prev.content),
                               case.version)
        report = elig.apply_eligibility_response(case, copy, request=req)
        uow.save_case(case)
        uow.resources.update("CoverageEligibilityResponse", rid, copy)
        uow.commit()
        log.info("eligibility request %s of case %s: %s (case version %s)", part, case.id,
                 state, case.version)
        return Applied("applied", case.id, part, state, case.version, report)

    return retrying(db, work, partners=partners, what="insurer answer")


def _answer_body(delivery, outcome) -> dict | None:
    body = getattr(outcome, "response", None) or getattr(delivery, "response", None)
    return body if isinstance(body, dict) else None


def on_pas_submitted(db, delivery, outcome, *, partners: Mapping,
                     poll_seconds: float = PENDED_POLL_SECONDS) -> None:
    """The synchronous PAS answer of a delivered ``Claim/$submit``."""
    body = _answer_body(delivery, outcome)
    if body is None or body.get("resourceType") == "OperationOutcome":
        log.warning("delivery #%s: the insurer answered $submit without a ClaimResponse; "
                    "the request stays submitted", delivery.id)
        return
    applied = apply_pas_response(db, body, claim_id=delivery.resource_id, partners=partners,
                                 poll_seconds=poll_seconds)
    log.info("delivery #%s: PAS answer %s (%s)", delivery.id, applied.result, applied.state)


def on_eligibility_submitted(db, delivery, outcome, *, partners: Mapping) -> None:
    """The synchronous answer of a delivered ``CoverageEligibilityRequest/$submit``."""
    body = _answer_body(delivery, outcome)
    if body is None or body.get("resourceType") == "OperationOutcome":
        log.warning("delivery #%s: the insurer answered $submit without a "
                    "CoverageEligibilityResponse", delivery.id)
        return
    applied = apply_eligibility_response_to_case(db, body, request_id=delivery.resource_id,
                                                 partners=partners)
    log.info("delivery #%s: eligibility answer %s (%s)", delivery.id, applied.result,
             applied.state)


# --- notifications (Backport, R4) -----------------------------------------------------------

PAS_TOPIC = "http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic"
NOTIFICATION_TYPES = ("handshake", "heartbeat", "event-notification", "query-status",
                      "query-event")


@dataclass
class Notification:
    """A parsed subscription notification: its type and the PAS answers it carries."""

    type: str
    topic: str | None
    answers: list[tuple[str, dict]]  # (path, response Bundle or ClaimResponse)


def parse_notification(bundle) -> Notification:
    """Read a Backport R4 notification Bundle (``history``, Parameters first); MappingError
    names the failing path."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise MappingError("Bundle", "a notification is a Bundle")
    if bundle.get("type") != "history":
        raise MappingError("Bundle.type", "a notification Bundle has type history")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise MappingError("Bundle.entry", "a notification starts with its status Parameters")
    status = (entries[0] or {}).get("resource") or {}
    if status.get("resourceType") != "Parameters":
        raise MappingError("Bundle.entry[0].resource",
                           "the first entry must be the subscription status Parameters")
    params = {p.get("name"): p for p in status.get("parameter") or [] if isinstance(p, dict)}
    kind = (params.get("type") or {}).get("valueCode")
    if kind not in NOTIFICATION_TYPES:
        raise MappingError("Bundle.entry[0].resource.parameter[type]",
                           f"unknown notification type {kind!r}")
    topic = (params.get("topic") or {}).get("valueCanonical") or \
        (params.get("topic") or {}).get("valueUri")
    if topic is not None and topic.split("|")[0] != PAS_TOPIC:
        raise MappingError("Bundle.entry[0].resource.parameter[topic]",
                           "not the PAS subscription topic")
    answers = []
    for i, entry in enumerate(entries[1:], start=1):
        res = (entry or {}).get("resource") if isinstance(entry, dict) else None
        if not isinstance(res, dict):
            continue  # id-only payloads carry no resource
        path = f"Bundle.entry[{i}].resource"
        if res.get("resourceType") == "ClaimResponse":
            answers.append((path, res))
        elif res.get("resourceType") == "Bundle":
            try:
                first_of(res, "ClaimResponse", path)
            except MappingError:
                continue  # some other Bundle the insurer included
            answers.append((path, res))
    if kind in ("event-notification", "query-event") and not answers:
        raise MappingError("Bundle.entry", "the notification carries no ClaimResponse "
                           "(full-resource payload expected)")
    return Notification(kind, topic, answers)


def check_notification(db, note: Notification, insurer: str) -> None:
    """Refuse (before applying anything) answers not about a request sent to ``insurer``."""
    with UnitOfWork(db) as uow:
        for path, data in note.answers:
            resp = first_of(data, "ClaimResponse", path)
            try:
                claim = _request_of(uow, resp, "Claim", pas.KIND, None, "ClaimResponse")
                _check_sender(claim, resp, insurer, "ClaimResponse")
            except HubError as err:
                for issue in err.issues:
                    if issue.path and issue.path.startswith("ClaimResponse"):
                        issue.path = path + issue.path[len("ClaimResponse"):]
                raise


# --- polling (hub.flows.insurer_polling) ---------------------------------------------------


def pended_requests(db, limit: int = 100, older_than: timedelta = timedelta(0),
                    now: datetime | None = None) -> list[tuple[str, str, str | None]]:
    """(case id, Claim id, insurer reference) of PAS requests whose applied answer is
    pended and was applied at least ``older_than`` ago."""
    now = now or utcnow()
    system = hub_naming_system(pas.RESPONSE_KIND)
    q = parse_search("ClaimResponse", [("identifier", f"{system}|"), ("_count", "1000")],
                     max_count=1000)
    out = []
    with UnitOfWork(db) as uow:
        for stored in uow.resources.search(q):
            try:
                if pas_state(stored.content) != "pended":
                    continue
            except MappingError:
                continue
            applied = stored.last_updated
            if applied.tzinfo is None:
                applied = applied.replace(tzinfo=UTC)
            if now - applied < older_than:
                continue
            claim = local_ref((stored.content.get("request") or {}).get("reference")) or ""
            insurer = (stored.content.get("insurer") or {}).get("reference")
            case_id, _ = request_owner(stored.content, pas.RESPONSE_KIND)
            out.append((case_id, claim.split("/", 1)[-1], insurer))
            if len(out) >= limit:
                break
    return out


def _still_pended(db, claim_id: str) -> bool:
    with UnitOfWork(db) as uow:
        claim = uow.resources.read("Claim", claim_id)
        if claim is None or claim.deleted:
            return False
        case_id, part = request_owner(claim.content, pas.KIND)
        answer = uow.resources.read("ClaimResponse",
                                    resource_id(case_id, pas.RESPONSE_KIND, part))
    if answer is None or answer.deleted:
        return False
    try:
        return pas_state(answer.content) == "pended"
    except MappingError:
        return False


def on_polled(db, delivery, outcome, *, partners: Mapping,
              poll_seconds: float = PENDED_POLL_SECONDS) -> Applied | None:
    """The ``poll`` handler: apply the newest of the insurer's answers about the Claim
    (a server may match a search loosely: answers about other Claims are ignored), then
    queue the next poll while the request stays pended. The row's response becomes a
    summary (``answers`` found, what became of the newest)."""
    claim_id = delivery.resource_id
    insurer = (delivery.options or {}).get("insurer")
    found = (outcome.response or {}).get("resources") or []
    answers = [r for r in found if isinstance(r, dict)
               and r.get("resourceType") == "ClaimResponse"
               and local_ref((r.get("request") or {}).get("reference")) == f"Claim/{claim_id}"]
    applied = None
    if answers:
        newest = max(answers, key=_created_at)
        try:
            applied = apply_pas_response(db, newest, claim_id=claim_id, insurer=insurer,
                                         partners=partners, poll_seconds=poll_seconds)
        except (HubError, MappingError) as exc:
            log.warning("polled answer for Claim/%s not applied: %s", claim_id,
                        type(exc).__name__)
    summary = {"answers": len(answers), "applied": None if applied is None else {
        "result": applied.result, "state": applied.state, "request_id": applied.request_id}}
    with UnitOfWork(db) as uow:
        record_summary(uow.session, delivery.id, summary)
        if _still_pended(db, claim_id):
            queue_poll(uow.session, delivery.partner_id, claim_id, insurer,
                       after_seconds=poll_seconds)
        uow.commit()
    return applied
