"""The audit log: every access to patient data through the FHIR API, as R4 AuditEvents.

* ``events``: the AuditEvent of one request in IHE Basic Audit Log Patterns (BALP) shapes,
  built from what the interaction touched (pure, no I/O);
* ``log``: the append-only ``audit_events`` table: one insert per request (in the write's
  own transaction), search for auditors, retention purge and NDJSON export.
"""
