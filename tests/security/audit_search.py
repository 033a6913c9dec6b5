"""The auditor of the security tests: the scope that searches AuditEvents, and the search."""

from __future__ import annotations

AUDITOR = "system/AuditEvent.rs"


def audit_events(auditor, query: str = "") -> list[dict]:
    """Every AuditEvent the auditor finds (``query`` is appended to the search)."""
    resp = auditor.get(f"/fhir/AuditEvent?_count=200{query}")
    assert resp.status_code == 200, resp.get_json()
    return [e["resource"] for e in resp.get_json().get("entry", [])]
