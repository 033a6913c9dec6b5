"""Validation of incoming FHIR resources: JSON, resource type, the strict R4 pass.

Everything fails as a ``HubError`` whose OperationOutcome issues carry ``expression``
paths (``Task.status``, ``Task.input[1]``). The body is parsed with ``hub.fhirjson.codec``
(duplicate keys refused, decimals kept as written), then checked by the strict pass of
``hub.fhirjson.strict`` (JSON types, primitive formats, unknown/empty/null elements,
cardinality, required bindings, invariants, reference target types, from the generated R4
table). A resource that cannot be read as R4 answers 400; one that can but breaks a
binding, an invariant or a reference rule, 422.

The R4B models (``fhir.resources``) no longer validate a second time what the strict pass
accepted: they refused nothing it accepts (the test suites, and tens of thousands of
mutated bodies; ``tests/fhirjson/test_strict_covers_model.py`` keeps the models as the
oracle), at ~10% of a create's CPU (bench/README.md, 2026-12-01: FHIR create).
"""

from __future__ import annotations

import re

from hub.errors import BadRequest, Issue, NotFound, ValidationFailed
from hub.fhir import model_class
from hub.fhirjson import codec
from hub.fhirjson.strict import check_resource, has_structural
from hub.fhirstore.searchparams import SUPPORTED_TYPES

_ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def valid_id(rid: str) -> bool:
    return bool(_ID_RE.match(rid or ""))


def load_json(raw: bytes | str) -> dict:
    """The JSON object of a request body; BadRequest if it isn't one."""
    try:
        data = codec.loads(raw, strict=True)
    except codec.DuplicateKeys as exc:
        raise BadRequest("the body repeats JSON keys", issues=[Issue(
            "a JSON key appears twice in this object", code="structure", path=path)
            for path in exc.paths]) from None
    except (ValueError, RecursionError):
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
    if supported and resource_type not in SUPPORTED_TYPES and resource_type != "AuditEvent":
        raise NotFound(f"resource type {resource_type} is not supported here",
                       issues=[Issue(f"resource type {resource_type} is not supported",
                                     code="not-supported")])


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
    raise_issues(check_resource(data), rtype)
    return data


def raise_issues(issues: list[Issue], what: str) -> None:
    """Raise the strict pass's issues: 400 if any is structural, else 422."""
    if not issues:
        return
    if has_structural(issues):
        raise BadRequest(f"{len(issues)} invalid element(s) in {what}", issues=issues)
    raise ValidationFailed(f"{what} breaks {len(issues)} R4 rule(s) (bindings, invariants, "
                           "reference types)", issues=issues)


def check_strict(data: dict, what: str) -> None:
    """The strict pass over a whole resource (nested resources included); 400/422 if bad."""
    raise_issues(check_resource(data), what)


def validate_bundle(bundle: dict) -> None:
    """The strict pass over a transaction/batch Bundle itself; its entries' resources are
    checked one by one as they are written (so a bad batch entry fails alone)."""
    raise_issues(check_resource(bundle, nested=False), "the Bundle")
