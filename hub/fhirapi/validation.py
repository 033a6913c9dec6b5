"""Validation of incoming FHIR resources: JSON, resource type, R4 model, required bindings.

Everything fails as a ``HubError`` whose OperationOutcome issues carry ``expression``
paths (``Task.status``, ``Task.input[1]``). The R4B models are lenient on some status
codes, so the required bindings of the status elements of the supported types are
checked here against the R4 code lists (DOMAIN.md section 2).
"""

from __future__ import annotations

import json
import re

from pydantic import ValidationError

from hub.errors import BadRequest, Issue, NotFound, ValidationFailed
from hub.fhir import model_class, parse_resource
from hub.fhirstore.searchparams import SUPPORTED_TYPES, values_at

_REQUEST_STATUS = ("draft", "active", "on-hold", "revoked", "completed", "entered-in-error",
                   "unknown")
_REQUEST_INTENT = ("proposal", "plan", "directive", "order", "original-order", "reflex-order",
                   "filler-order", "instance-order", "option")
_FM_STATUS = ("active", "cancelled", "draft", "entered-in-error")
_ELIGIBILITY_PURPOSE = ("auth-requirements", "benefits", "discovery", "validation")
_REMITTANCE_OUTCOME = ("queued", "complete", "error", "partial")
_CLAIM_USE = ("claim", "preauthorization", "predetermination")

#: Required bindings checked explicitly: type -> element path -> allowed codes.
REQUIRED_BINDINGS: dict[str, dict[str, tuple[str, ...]]] = {
    "Task": {
        "status": ("draft", "requested", "received", "accepted", "rejected", "ready",
                   "cancelled", "in-progress", "on-hold", "failed", "completed",
                   "entered-in-error"),
        "intent": ("unknown", *_REQUEST_INTENT),
        "priority": ("routine", "urgent", "asap", "stat"),
    },
    "CarePlan": {
        "status": _REQUEST_STATUS,
        "intent": ("proposal", "plan", "order", "option"),
        "activity.detail.status": ("not-started", "scheduled", "in-progress", "on-hold",
                                   "completed", "cancelled", "stopped", "unknown",
                                   "entered-in-error"),
    },
    "ServiceRequest": {"status": _REQUEST_STATUS, "intent": _REQUEST_INTENT,
                       "priority": ("routine", "urgent", "asap", "stat")},
    "Encounter": {"status": ("planned", "arrived", "triaged", "in-progress", "onleave",
                             "finished", "cancelled", "entered-in-error", "unknown")},
    "Coverage": {"status": _FM_STATUS},
    "Goal": {"lifecycleStatus": ("proposed", "planned", "accepted", "active", "on-hold",
                                 "completed", "cancelled", "entered-in-error", "rejected")},
    "CareTeam": {"status": ("proposed", "active", "suspended", "inactive",
                            "entered-in-error")},
    "EpisodeOfCare": {"status": ("planned", "waitlist", "active", "onhold", "finished",
                                 "cancelled", "entered-in-error")},
    "CoverageEligibilityRequest": {"status": _FM_STATUS, "purpose": _ELIGIBILITY_PURPOSE},
    "CoverageEligibilityResponse": {"status": _FM_STATUS, "purpose": _ELIGIBILITY_PURPOSE,
                                    "outcome": _REMITTANCE_OUTCOME},
    "Claim": {"status": _FM_STATUS, "use": _CLAIM_USE},
    "ClaimResponse": {"status": _FM_STATUS, "use": _CLAIM_USE,
                      "outcome": _REMITTANCE_OUTCOME},
    "Patient": {"gender": ("male", "female", "other", "unknown")},
}

_ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def valid_id(rid: str) -> bool:
    return bool(_ID_RE.match(rid or ""))


def load_json(raw: bytes | str) -> dict:
    """The JSON object of a request body; BadRequest if it isn't one."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body is not valid JSON", issues=[Issue(
            "the body is not valid JSON", code="structure")]) from None
    if not isinstance(data, dict):
        raise BadRequest("the body is not a JSON object")
    return data


def check_type(resource_type: str, *, supported: bool = True) -> None:
    """404 unless ``resource_type`` is an R4 resource type the hub serves (R4 http.html:
    an unknown or unsupported type in the URL is 404 Not Found)."""
    try:
        model_class(resource_type)
    except (ValueError, KeyError, AttributeError):
        raise NotFound(f"unknown resource type {resource_type!r}", issues=[Issue(
            f"unknown resource type {resource_type!r}", code="not-supported")]) from None
    if supported and resource_type not in SUPPORTED_TYPES:
        raise NotFound(f"resource type {resource_type} is not supported here",
                       issues=[Issue(f"resource type {resource_type} is not supported",
                                     code="not-supported")])


def _expression(resource_type: str, loc: tuple) -> str:
    path = resource_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("root", "__root__") or "[" in str(part):
            continue
        else:
            path += f".{part}"
    return path


def validate_resource(data: dict, *, expected_type: str | None = None,
                      expected_id: str | None = None) -> dict:
    """Validate an incoming resource; the dict itself if good, else BadRequest/422."""
    rtype = data.get("resourceType")
    if not isinstance(rtype, str):
        raise BadRequest("the body has no resourceType", path="resourceType")
    try:
        check_type(rtype, supported=expected_type is None)
    except NotFound as exc:  # a bad type in the body is a bad request, not a missing URL
        raise BadRequest(exc.message, issues=exc.issues) from None
    if expected_type and rtype != expected_type:
        raise BadRequest(f"resourceType {rtype} does not match the URL ({expected_type})",
                         path=f"{rtype}.resourceType")
    if expected_id is not None and data.get("id") != expected_id:
        raise BadRequest(f"the resource id {data.get('id')!r} does not match the URL id "
                         f"{expected_id!r}", path=f"{rtype}.id")
    try:
        parse_resource(data)
    except ValidationError as exc:
        issues = [Issue(err["msg"][:300], code="structure",
                        path=_expression(rtype, tuple(err["loc"])))
                  for err in exc.errors(include_input=False, include_url=False)]
        raise BadRequest(f"{len(issues)} invalid element(s) in {rtype}", issues=issues) \
            from None
    issues = binding_issues(data)
    if issues:
        raise ValidationFailed(f"{len(issues)} code(s) outside a required value set",
                               issues=issues)
    return data


def binding_issues(data: dict) -> list[Issue]:
    """Codes outside the required value sets of the status elements."""
    rtype = data["resourceType"]
    issues = []
    for path, codes in REQUIRED_BINDINGS.get(rtype, {}).items():
        for value in values_at(data, path):
            if isinstance(value, str) and value not in codes:
                issues.append(Issue(f"{value!r} is not in the required value set of "
                                    f"{rtype}.{path}", code="code-invalid",
                                    path=f"{rtype}.{path}"))
    return issues
