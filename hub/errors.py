"""The HubError family, and how each becomes an OperationOutcome or a JSON problem."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Issue:
    """One problem: a FHIR issue code, a message and where (field path / FHIRPath)."""

    message: str
    code: str = "invalid"
    path: str | None = None
    severity: str = "error"


class HubError(Exception):
    """Base of every error the hub answers to a client. ``status`` is the HTTP status."""

    status = 500
    code = "exception"

    def __init__(self, message: str, *, issues: list[Issue] | None = None,
                 path: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.issues = issues or [Issue(message=message, code=self.code, path=path)]
        self.headers = headers or {}

    def to_problem(self) -> dict:
        """The JSON body of /api errors: a message and each failing field by its path."""
        body: dict = {"status": self.status, "message": self.message}
        errors: dict[str, list[str]] = {}
        for issue in self.issues:
            if issue.path:
                errors.setdefault(issue.path, []).append(issue.message)
        if errors:
            body["errors"] = errors
        return body

    def to_operation_outcome(self) -> dict:
        """The FHIR body: an OperationOutcome with one issue per problem."""
        issues = []
        for issue in self.issues:
            entry: dict[str, Any] = {"severity": issue.severity, "code": issue.code,
                     "diagnostics": issue.message}
            if issue.path:
                entry["expression"] = [issue.path]
            issues.append(entry)
        return {"resourceType": "OperationOutcome", "issue": issues}


class BadRequest(HubError):
    status, code = 400, "structure"


class Unauthorized(HubError):
    status, code = 401, "login"


class Forbidden(HubError):
    status, code = 403, "forbidden"


class NotFound(HubError):
    status, code = 404, "not-found"


class MethodNotAllowed(HubError):
    status, code = 405, "not-supported"


class Conflict(HubError):
    status, code = 409, "conflict"


class Gone(HubError):
    status, code = 410, "deleted"


class PreconditionFailed(HubError):
    status, code = 412, "conflict"


class PayloadTooLarge(HubError):
    """A request over a configured limit (body size, Bundle entries, batch work)."""

    status, code = 413, "too-costly"


class TooCostly(HubError):
    """A request whose answer would exceed a configured limit (response size)."""

    status, code = 400, "too-costly"


class UnsupportedMediaType(HubError):
    status, code = 415, "not-supported"


class ValidationFailed(HubError):
    """Input that parsed but is not acceptable; every failing field is an Issue."""

    status, code = 422, "invalid"


class BusinessRuleFailed(HubError):
    status, code = 422, "business-rule"


class PreconditionRequired(HubError):
    status, code = 428, "required"


def validation_failed(messages: dict[str, Any] | list[Any], prefix: str = "") -> ValidationFailed:
    """A ValidationFailed from marshmallow-style nested messages, one Issue per leaf path."""
    issues: list[Issue] = []

    def walk(node, path: str) -> None:
        if isinstance(node, dict):
            for key, sub in node.items():
                walk(sub, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list) and node and all(isinstance(m, str) for m in node):
            for msg in node:
                issues.append(Issue(message=msg, path=path or None))
        elif isinstance(node, list):
            for sub in node:
                walk(sub, path)
        else:
            issues.append(Issue(message=str(node), path=path or None))

    walk(messages, prefix)
    count = len(issues)
    return ValidationFailed(f"{count} invalid field{'s' if count != 1 else ''}", issues=issues)
