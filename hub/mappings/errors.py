"""Errors and reports of the case <-> FHIR mappings.

``MappingError`` refuses a resource and names the FHIR path it could not map (it becomes an
OperationOutcome ``issue.expression`` upstream). ``Report`` collects what was accepted but not
understood: unknown inbound codes (kept here, verbatim) and elements the case cannot carry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class MappingError(ValueError):
    """A FHIR resource (or case part) the mapping cannot represent; ``path`` names it."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class ReportItem:
    """One thing the mapping kept or skipped. ``code`` items are unknown inbound codes."""

    path: str
    message: str
    system: str | None = None
    code: str | None = None
    display: str | None = None
    severity: str = "warning"


@dataclass
class Report:
    """What an inbound mapping accepted without understanding, or ignored."""

    items: list[ReportItem] = field(default_factory=list)

    def unknown_code(self, path: str, system: str | None, code: str | None,
                     display: str | None = None, message: str | None = None) -> None:
        """Record an inbound code the hub has no internal value for (the code is kept here)."""
        self.items.append(ReportItem(path, message or f"unknown code {system}|{code}",
                                     system, code, display))

    def unsupported(self, path: str, message: str, severity: str = "information") -> None:
        """Record an element the case does not model (it stays in the stored resource)."""
        self.items.append(ReportItem(path, message, severity=severity))

    def note(self, path: str, message: str) -> None:
        """Record a change applied to the case (added member, updated status...)."""
        self.items.append(ReportItem(path, message, severity="information"))

    @property
    def unknown_codes(self) -> list[ReportItem]:
        return [i for i in self.items if i.code is not None]

    def paths(self) -> list[str]:
        return [i.path for i in self.items]

    def extend(self, other: Report) -> None:
        self.items.extend(other.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def as_operation_outcome(self) -> dict[str, Any]:
        """The report as an R4 OperationOutcome (informational issues)."""
        issues = [{"severity": i.severity,
                   "code": "code-invalid" if i.code is not None else "informational",
                   "diagnostics": i.message,
                   "expression": [i.path]} for i in self.items]
        if not issues:
            issues = [{"severity": "information", "code": "informational",
                       "diagnostics": "nothing to report"}]
        return {"resourceType": "OperationOutcome", "issue": issues}
