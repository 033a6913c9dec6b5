"""The OpenAPI 3.1 description of the hub's JSON APIs (case API, coverage requests, admin,
tokens, PAS notifications), generated with apispec from the marshmallow schemas the
routes load and dump. Served at ``/openapi.json`` (``hub.routes.docs``). The FHIR API
(``/fhir``) is described by its own CapabilityStatement (``GET /fhir/metadata``).
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from hub import openapi_examples as ex
from hub.case_list_schemas import CasePageSchema, CaseQuerySchema
from hub.case_server_fields import DIFFERS
from hub.coverage_schemas import EligibilityRequestInputSchema, PriorAuthRequestInputSchema
from hub.schemas import (
    ApprovalRequestSchema,
    CaseInputSchema,
    CaseSchema,
    NoteRequestSchema,
    ReviewRequestSchema,
    TransitionRequestSchema,
)

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
FHIR_JSON = "application/fhir+json"


class ProblemSchema(Schema):
    """Every error of these APIs: the status, a message, and each failing field's
    messages by its dotted path."""

    status = fields.Integer(required=True)
    message = fields.String(required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class CaseOutSchema(CaseSchema):
    """The case as read: the record plus its computed next review."""

    next_review_due = fields.Date(allow_none=True, metadata={
        "description": "when the next monitoring review is due (computed; null once "
                       "closed)"})


class CaseReplaceSchema(CaseInputSchema):
    """A PUT body: the case as read, its editable parts changed."""

    next_review_due = fields.Date(allow_none=True)


def _resolver(schema: Any) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__
    return name[:-6] if name.endswith("Schema") and name != "Schema" else name


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem(description: str, example: dict | None = None) -> dict:
    content: dict[str, Any] = {"schema": _ref("Problem")}
    if example is not None:
        content["example"] = example
    return {"description": description, "content": {JSON: content}}


def _json(schema: Any, example: Any, description: str = "OK") -> dict:
    return {"description": description, "content": {JSON: {"schema": schema,
                                                           "example": example}}}


def _body(schema: Any, example: Any, media: str = JSON) -> dict:
    return {"required": True, "content": {media: {"schema": schema, "example": example}}}


_ETAG = {"ETag": {"description": "the case's version, `W/\"<version>\"`",
                  "schema": {"type": "string"}}}
_IF_MATCH = {"name": "If-Match", "in": "header", "required": True,
             "description": "the case's ETag as last read (428 without it, 412 when stale)",
             "schema": {"type": "string"}, "example": 'W/"3"'}
_IF_MATCH_OPTIONAL = {**_IF_MATCH, "required": False,
                      "description": "the case's ETag; optional here (412 when stale)"}
_CASE_ID = {"name": "case_id", "in": "path", "required": True,
            "schema": {"type": "string"}, "example": ex.CASE["id"]}
_ERRORS = {
    "401": _problem("no valid bearer token"),
    "403": _problem("the token's scopes do not allow this"),
}
_NOT_FOUND = {"404": _problem("no such case")}
_WRITE_ERRORS = {
    "400": _problem("the body is not a JSON object"),
    "409": _problem("the case's state forbids this (e.g. a closed case)"),
    "412": _problem("If-Match names an older version"),
    "415": _problem("the body is not sent as JSON"),
    "422": _problem("invalid fields, each named by its path", ex.PROBLEM),
    "428": _problem("If-Match is missing"),
}

ROUND_TRIP = (
    "The body may be the case exactly as `GET` returned it. Parts only the server sets "
    "(`id`, `version`, `status`, `status_history`, `opened_at`, `closed_at`, `reviews`, "
    "`notes`, `next_review_due`, `plan.status`, `plan.approved_by`, `plan.approved_at`, "
    "`plan.revised_at`, `referrals[].history`, `referrals[].requested_at`) are accepted "
    "and ignored when they equal the stored values, and may be left out. When one differs "
    f"the answer is **422** naming that field (\"{DIFFERS}; ...\" and where it is changed "
    "instead, e.g. `POST /api/cases/{id}/transitions` for `status`); nothing is stored."
)


def _case_paths() -> dict[str, dict]:
    case_answer = {"200": {**_json(_ref("CaseOut"), ex.CASE), "headers": _ETAG}}
    return {
        "/api/cases": {
            "get": {
                "operationId": "listCases", "tags": ["cases"],
                "summary": "The worklist: case summaries, filtered, sorted and paged",
                "parameters": [{"in": "query", "schema": CaseQuerySchema}],
                "responses": {"200": _json(CasePageSchema, ex.CASE_PAGE),
                              "422": _problem("an unknown or invalid parameter"), **_ERRORS},
            },
            "post": {
                "operationId": "openCase", "tags": ["cases"],
                "summary": "Open a case (status intake); server-set parts are refused",
                "description": "Referrals sent as `requested` are requested now "
                               "(`requested_at` and a history entry).",
                "requestBody": _body(_ref("CaseInput"), ex.CASE_INPUT),
                "responses": {"201": {**_json(_ref("CaseOut"), ex.CASE, "Created"),
                                      "headers": {**_ETAG, "Location": {
                                          "description": "the new case",
                                          "schema": {"type": "string"}}}},
                              **{k: v for k, v in _WRITE_ERRORS.items()
                                 if k in ("400", "409", "415", "422")}, **_ERRORS},
            },
        },
        "/api/cases/{case_id}": {
            "parameters": [_CASE_ID],
            "get": {"operationId": "readCase", "tags": ["cases"], "summary": "One case",
                    "responses": {**case_answer, **_NOT_FOUND, **_ERRORS}},
            "put": {"operationId": "replaceCase", "tags": ["cases"],
                    "summary": "Replace the case's editable parts (GET -> PUT round trip)",
                    "description": ROUND_TRIP,
                    "parameters": [_IF_MATCH],
                    "requestBody": _body(_ref("CaseReplace"), ex.CASE),
                    "responses": {**case_answer, **_WRITE_ERRORS, **_NOT_FOUND, **_ERRORS}},
            "patch": {"operationId": "patchCase", "tags": ["cases"],
                      "summary": "JSON Merge Patch (RFC 7396) of the case as read",
                      "description": "Objects merge member by member, `null` removes a "
                                     "member, arrays are replaced whole. The patched case "
                                     "is validated like a PUT body:\n\n" + ROUND_TRIP,
                      "parameters": [_IF_MATCH],
                      "requestBody": _body({"type": "object"}, ex.CASE_PATCH, MERGE_PATCH),
                      "responses": {**case_answer, **_WRITE_ERRORS, **_NOT_FOUND,
                                    **_ERRORS}},
        },
        "/api/cases/{case_id}/transitions": {
            "parameters": [_CASE_ID],
            "post": {"operationId": "transitionCase", "tags": ["cases"],
                     "summary": "Move the case along its lifecycle",
                     "parameters": [_IF_MATCH],
                     "requestBody": _body(TransitionRequestSchema, ex.TRANSITION),
                     "responses": {**case_answer, **_WRITE_ERRORS, **_NOT_FOUND, **_ERRORS}},
        },
        "/api/cases/{case_id}/plan/approval": {
            "parameters": [_CASE_ID],
            "post": {"operationId": "approvePlan", "tags": ["cases"],
                     "summary": "Record the physician's approval of the plan",
                     "parameters": [_IF_MATCH],
                     "requestBody": _body(ApprovalRequestSchema, ex.APPROVAL),
                     "responses": {**case_answer, **_WRITE_ERRORS, **_NOT_FOUND, **_ERRORS}},
        },
        "/api/cases/{case_id}/reviews": {
            "parameters": [_CASE_ID],
            "post": {"operationId": "recordReview", "tags": ["cases"],
                     "summary": "Record a monitoring review (goal progress with it)",
                     "parameters": [_IF_MATCH_OPTIONAL],
                     "requestBody": _body(ReviewRequestSchema, ex.REVIEW),
                     "responses": {"201": {**_json(_ref("CaseOut"), ex.CASE, "Recorded"),
                                           "headers": _ETAG},
                                   **_WRITE_ERRORS, **_NOT_FOUND, **_ERRORS}},
        },
        "/api/cases/{case_id}/notes": {
            "parameters": [_CASE_ID],
            "post": {"operationId": "addNote", "tags": ["cases"], "summary": "Append a note",
                     "parameters": [_IF_MATCH_OPTIONAL],
                     "requestBody": _body(NoteRequestSchema, ex.NOTE),
                     "responses": {"201": {**_json(_ref("CaseOut"), ex.CASE, "Added"),
                                           "headers": _ETAG},
                                   **_WRITE_ERRORS, **_NOT_FOUND, **_ERRORS}},
        },
    }


def _coverage_paths() -> dict[str, dict]:
    accepted = {"202": {**_json({"type": "object"}, ex.COVERAGE_ACCEPTED,
                                "Accepted: the insurer is called by the sync worker"),
                        "headers": {**_ETAG, "Location": {"description": "the status link",
                                                          "schema": {"type": "string"}}}}}
    return {
        "/api/cases/{case_id}/eligibility-requests": {
            "parameters": [_CASE_ID],
            "post": {"operationId": "requestEligibility", "tags": ["coverage"],
                     "summary": "Ask a funding source's payer about coverage "
                                "(CoverageEligibilityRequest)",
                     "parameters": [_IF_MATCH],
                     "requestBody": _body(EligibilityRequestInputSchema, ex.ELIGIBILITY),
                     "responses": {**accepted, **_WRITE_ERRORS, **_NOT_FOUND, **_ERRORS}},
        },
        "/api/cases/{case_id}/prior-authorizations": {
            "parameters": [_CASE_ID],
            "post": {"operationId": "requestPriorAuthorization", "tags": ["coverage"],
                     "summary": "Ask a payer to authorize services (Da Vinci PAS)",
                     "parameters": [_IF_MATCH],
                     "requestBody": _body(PriorAuthRequestInputSchema, ex.PRIOR_AUTH),
                     "responses": {**accepted, **_WRITE_ERRORS, **_NOT_FOUND, **_ERRORS}},
        },
        "/api/cases/{case_id}/coverage-requests": {
            "parameters": [_CASE_ID],
            "get": {"operationId": "listCoverageRequests", "tags": ["coverage"],
                    "summary": "The case's coverage requests and their states",
                    "responses": {"200": _json({"type": "object"}, {
                        "items": [ex.COVERAGE_REQUEST], "total": 1}),
                        **_NOT_FOUND, **_ERRORS}},
        },
        "/api/cases/{case_id}/coverage-requests/{request_id}": {
            "parameters": [_CASE_ID, {"name": "request_id", "in": "path", "required": True,
                                      "schema": {"type": "string"},
                                      "example": ex.COVERAGE_REQUEST["id"]}],
            "get": {"operationId": "readCoverageRequest", "tags": ["coverage"],
                    "summary": "One coverage request and its state",
                    "responses": {"200": _json({"type": "object"}, ex.COVERAGE_REQUEST),
                                  **_NOT_FOUND, **_ERRORS}},
        },
    }


def _admin_paths() -> dict[str, dict]:
    query = {"in": "query", "required": False}
    include = {**query, "name": "include", "schema": {"type": "string", "enum": ["payload"]},
               "description": "`payload` to include payloads and responses (patient data)"}
    flag = {"type": "string", "enum": ["true", "false"]}
    delivery_id = {"name": "delivery_id", "in": "path", "required": True,
                   "schema": {"type": "integer", "minimum": 1}, "example": 17}
    partner = {"name": "partner", "in": "query", "required": True,
               "schema": {"type": "string"}, "example": "st-marys"}
    tags = ["admin"]
    return {
        "/admin/deliveries": {"get": {
            "operationId": "listDeliveries", "tags": tags,
            "summary": "Outbox deliveries, oldest first (scope system/Delivery.rs)",
            "parameters": [
                {**query, "name": "status", "schema": {
                    "type": "string", "enum": ["pending", "in-flight", "done", "dead"]}},
                {**query, "name": "partner", "schema": {"type": "string"}},
                {**query, "name": "case", "schema": {"type": "string"}},
                {**query, "name": "limit", "schema": {"type": "integer", "minimum": 1,
                                                      "maximum": 1000}}, include],
            "responses": {"200": _json({"type": "array", "items": {"type": "object"}},
                                       [ex.DELIVERY]),
                          "400": _problem("an invalid parameter"), **_ERRORS}}},
        "/admin/deliveries/{delivery_id}": {"get": {
            "operationId": "readDelivery", "tags": tags, "summary": "One delivery",
            "parameters": [delivery_id, include],
            "responses": {"200": _json({"type": "object"}, ex.DELIVERY),
                          "404": _problem("no such delivery"), **_ERRORS}}},
        "/admin/deliveries/{delivery_id}/retry": {"post": {
            "operationId": "retryDelivery", "tags": tags,
            "summary": "Replay one dead delivery (scope system/Delivery.u)",
            "parameters": [delivery_id, {**query, "name": "accept_remote_version",
                                         "schema": flag}],
            "responses": {"200": _json({"type": "object"}, {"replayed": [17]}),
                          "404": _problem("no such delivery"),
                          "409": _problem("the delivery is not dead"), **_ERRORS}}},
        "/admin/deliveries/retry": {"post": {
            "operationId": "retryAllDead", "tags": tags,
            "summary": "Replay every dead delivery (`all_dead=true` required)",
            "parameters": [{**query, "name": "all_dead", "schema": flag, "example": "true"},
                           {**query, "name": "accept_remote_version", "schema": flag}],
            "responses": {"200": _json({"type": "object"}, ex.REPLAYED),
                          "400": _problem("all_dead=true missing"), **_ERRORS}}},
        "/admin/sync/verify": {
            "get": {"operationId": "verifySync", "tags": tags,
                    "summary": "Read back what a partner holds of the hub's resources",
                    "parameters": [partner],
                    "responses": {"200": _json({"type": "object"}, ex.VERIFY),
                                  "400": _problem("no partner named"),
                                  "404": _problem("unknown partner"), **_ERRORS}},
            "post": {"operationId": "repairSync", "tags": tags,
                     "summary": "Verify and repair per the partner's on_drift policy",
                     "parameters": [partner, {**query, "name": "repair", "schema": flag,
                                              "example": "true"}],
                     "responses": {"200": _json({"type": "object"}, ex.VERIFY),
                                   "400": _problem("repair=true or partner missing"),
                                   "404": _problem("unknown partner"), **_ERRORS}}},
    }


def _other_paths() -> dict[str, dict]:
    token_form = {"type": "object", "required": ["grant_type"], "properties": {
        "grant_type": {"type": "string", "enum": ["client_credentials"]},
        "scope": {"type": "string"},
        "client_assertion_type": {"type": "string"},
        "client_assertion": {"type": "string"}}}
    return {
        "/auth/token": {"post": {
            "operationId": "token", "tags": ["auth"], "security": [],
            "summary": "An access token (OAuth 2 client credentials: client_secret_basic or "
                       "a private_key_jwt assertion, SMART Backend Services)",
            "requestBody": {"required": True, "content": {
                "application/x-www-form-urlencoded": {
                    "schema": token_form,
                    "example": {"grant_type": "client_credentials",
                                "scope": "system/Case.cruds"}}}},
            "responses": {"200": _json({"type": "object"}, ex.TOKEN),
                          "400": {"description": "OAuth error (invalid_request, "
                                                 "invalid_scope...)"},
                          "401": {"description": "invalid_client"},
                          "429": {"description": "too many failed attempts"}}}},
        "/fhir/.well-known/smart-configuration": {"get": {
            "operationId": "smartConfiguration", "tags": ["auth"], "security": [],
            "summary": "SMART configuration (token endpoint, auth methods, scopes)",
            "responses": {"200": _json({"type": "object"}, {
                "token_endpoint": "https://hub.example.org/auth/token",
                "grant_types_supported": ["client_credentials"]})}}},
        "/.well-known/jwks.json": {"get": {
            "operationId": "jwks", "tags": ["auth"], "security": [],
            "summary": "The public keys that verify the hub's tokens",
            "responses": {"200": _json({"type": "object"}, {"keys": []})}}},
        "/healthz": {"get": {
            "operationId": "health", "tags": ["operations"], "security": [],
            "summary": "Liveness and database check",
            "responses": {"200": _json({"type": "object"}, {"status": "ok"}),
                          "503": {"description": "the database is unreachable"}}}},
        "/notifications/pas": {"post": {
            "operationId": "pasNotification", "tags": ["coverage"],
            "summary": "An insurer's PAS notification (a Bundle of ClaimResponses), from a "
                       "client bound to the insurer's Organization (scope "
                       "system/ClaimResponse.c)",
            "requestBody": {"required": True, "content": {FHIR_JSON: {
                "schema": {"type": "object"},
                "example": {"resourceType": "Bundle", "type": "history", "entry": []}}}},
            "responses": {"200": {"description": "applied (an OperationOutcome)",
                                  "content": {FHIR_JSON: {"schema": {"type": "object"}}}},
                          "400": {"description": "not a notification Bundle "
                                                 "(OperationOutcome)"},
                          "403": {"description": "not the insurer's client"},
                          "415": {"description": "not FHIR JSON"},
                          "422": {"description": "invalid (OperationOutcome with "
                                                 "expressions)"}}}},
    }


def build_spec(server_url: str = "/") -> dict[str, Any]:
    """The OpenAPI 3.1 document."""
    spec = APISpec(
        title="fhir-case-hub", version="1", openapi_version="3.1.0",
        plugins=[MarshmallowPlugin(schema_name_resolver=_resolver)],
        info={"description": "JSON APIs of the hub: the case manager's case API, coverage "
                             "requests to insurers, the operators' admin API and tokens. "
                             "The FHIR R4 API under `/fhir` is described by its "
                             "CapabilityStatement (`GET /fhir/metadata`)."},
        servers=[{"url": server_url}],
        security=[{"bearerAuth": []}],
    )
    spec.components.security_scheme("bearerAuth", {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "a token from POST /auth/token (SMART scopes, e.g. "
                       "system/Case.cruds; system/Delivery.* for /admin)"})
    spec.components.schema("Problem", schema=ProblemSchema)
    spec.components.schema("CaseOut", schema=CaseOutSchema)
    spec.components.schema("CaseInput", schema=CaseInputSchema(
        exclude=("id", "version", "status", "status_history", "opened_at", "closed_at",
                 "reviews", "notes")))
    spec.components.schema("CaseReplace", schema=CaseReplaceSchema)
    for group in (_case_paths(), _coverage_paths(), _admin_paths(), _other_paths()):
        for path, operations in group.items():
            shared = operations.pop("parameters", None)
            spec.path(path=path, operations=operations, parameters=shared)
    return spec.to_dict()
