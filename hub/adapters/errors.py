"""The PartnerError family: what a partner call can fail with, the response attached."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any


class PartnerError(Exception):
    """A partner call failed; ``response`` is the ``requests.Response`` when there was one.

    ``retryable`` tells the retry policy whether trying again later can succeed.
    ``outcome`` is the partner's OperationOutcome (a dict) when its body carried one;
    ``problem`` its problem+json body (the agency JSON API), when it sent one.
    """

    retryable = False
    problem: dict[str, Any] | None = None

    def __init__(self, message: str, *, partner: str | None = None, response=None,
                 outcome: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.partner = partner
        self.response = response
        self.outcome = outcome

    @property
    def status(self) -> int | None:
        """The HTTP status of the partner's answer, None when there was no answer."""
        return self.response.status_code if self.response is not None else None

    def describe(self) -> str:
        """One text for the ledger: the message and the OperationOutcome's issues, if any."""
        text = self.message
        issues = outcome_text(self.outcome)
        return f"{text}: {issues}" if issues else text


class PartnerUnavailable(PartnerError):
    """5xx, 408, connection refused or reset, timeout: try again later.

    ``retry_after`` is the partner's Retry-After in seconds (503 may carry one), or None.
    """

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class PartnerThrottled(PartnerUnavailable):
    """429 Too Many Requests; ``retry_after`` is the partner's wish in seconds (or None)."""


class PartnerRejected(PartnerError):
    """4xx (other than 408/409/412/429): the partner refuses the request; do not retry."""


class PartnerConflict(PartnerError):
    """409 Conflict (retryable: usually a concurrent write) or 412 Precondition Failed
    (not retryable: our If-Match version is stale, a human must look)."""

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        return self.status == 409

    @property
    def precondition_failed(self) -> bool:
        return self.status == 412


class PartnerConfigError(PartnerError):
    """The partner is not usable as configured (unknown id, missing secret, bad key file).

    Retryable: an operator can fix the configuration; the attempt limit bounds it.
    """

    retryable = True


def outcome_text(outcome: dict[str, Any] | None) -> str:
    """The issues of an OperationOutcome as one line: ``error/invalid: text @ path; ...``."""
    if not isinstance(outcome, dict) or outcome.get("resourceType") != "OperationOutcome":
        return ""
    parts = []
    for issue in outcome.get("issue") or []:
        text = issue.get("diagnostics") or (issue.get("details") or {}).get("text") or ""
        where = ", ".join(issue.get("expression") or issue.get("location") or [])
        part = f"{issue.get('severity', '?')}/{issue.get('code', '?')}: {text}".rstrip(": ")
        parts.append(f"{part} @ {where}" if where else part)
    return "; ".join(parts)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP-date), or None.

    A date in the past gives 0; an unparseable value gives None (the caller backs off).
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def error_for_response(response, *, partner: str | None = None) -> PartnerError:
    """The PartnerError matching a non-2xx ``requests.Response``."""
    status = response.status_code
    outcome = None
    try:
        body = response.json()
        if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
            outcome = body
    except ValueError:
        pass
    what = f"{response.request.method} {response.url}" if response.request is not None else ""
    message = f"{partner or 'partner'} answered {status} {response.reason or ''}".rstrip()
    if what:
        message += f" to {what}"
    kwargs = {"partner": partner, "response": response, "outcome": outcome}
    if status == 429:
        return PartnerThrottled(message, retry_after=parse_retry_after(
            response.headers.get("Retry-After")), **kwargs)
    if status in (409, 412):
        return PartnerConflict(message, **kwargs)
    if status == 408 or status >= 500:
        return PartnerUnavailable(message, retry_after=parse_retry_after(
            response.headers.get("Retry-After")), **kwargs)
    return PartnerRejected(message, **kwargs)
