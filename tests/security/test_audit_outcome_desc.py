"""Issue 9.6: an AuditEvent's ``outcomeDesc`` is written by the hub, never quoted from the
request. A refused request's error message may repeat what the client sent (an id, a value,
a search parameter); the audit log keeps the status and its class only, so a client cannot
plant text in the log an auditor and a SIEM read. Tried with a marker string in every place
a client controls, through ``/fhir`` and ``/api/cases``.
"""

from __future__ import annotations

import json

from audit_search import audit_events

MARKER = "zq-planted-7431"
#: every outcomeDesc the hub writes: the status and its class
HUB_WORDS = {f"{s} refused" for s in range(400, 500)} | {f"{s} server error"
                                                          for s in range(500, 600)}


def _refusals(auditor) -> list[dict]:
    return [e for e in audit_events(auditor) if e["outcome"] != "0"]


def test_refusals_quoting_the_request_leave_only_hub_words_in_outcome_desc(
        client, fhir, auth_headers, auditor):
    hdr = auth_headers("system/Case.cruds")
    fhir_probes = [
        fhir.get(f"/fhir/Patient/{MARKER}"),  # 404 naming the id
        fhir.get(f"/fhir/Patient?{MARKER}=1", headers={"Prefer": "handling=strict"}),
        fhir.get(f"/fhir/Patient?birthdate=not-{MARKER}"),  # 400 quoting the value
        fhir.post("/fhir/Patient", {"resourceType": "Patient", "gender": MARKER}),  # 400/422
        fhir.put(f"/fhir/Patient/{MARKER}", {"resourceType": "Patient", "id": "other"}),
        fhir.get(f"/fhir/Patient/{MARKER}/_history/1"),
    ]
    api_probes = [
        client.get(f"/api/cases/{MARKER}", headers=hdr),
        client.get(f"/api/cases?sort={MARKER}", headers=hdr),
        client.post("/api/cases", json={"patient": {"name": MARKER}}, headers=hdr),
    ]
    statuses = [r.status_code for r in fhir_probes + api_probes]
    assert all(400 <= s < 500 for s in statuses), statuses
    # the answers do quote the marker: the probes are real
    assert any(MARKER in r.get_data(as_text=True) for r in fhir_probes + api_probes)
    refused = _refusals(auditor)
    assert len(refused) >= len(statuses)
    assert {e["outcomeDesc"] for e in refused} <= HUB_WORDS
    for event in refused:
        assert MARKER not in event["outcomeDesc"]
    # nothing but identifiers anywhere else: the marker appears only as the id asked for
    # or inside the base64 query entity, never as free text
    for event in refused:
        text = json.dumps({k: v for k, v in event.items() if k != "entity"})
        assert MARKER not in text
