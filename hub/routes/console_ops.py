"""Console pages of operators: partners with their health and last sync, pending and dead
deliveries with their errors and a replay button, and the audit trail.

The partners' health is read from the sync ledger (``hub.sync.status``): routes never call
partners. The delivery numbers (waiting, oldest, dead, delivered, retries, pulls and their
lag, the connection pool) are those of ``/metrics``, read from the same collectors
(``hub.observability.metrics.snapshot``). Payloads and responses of deliveries hold patient
data and are not shown. The audit trail is the hub's AuditEvent log (``hub.audit``), newest
first.
"""

from __future__ import annotations

import logging

from flask import current_app, flash, g, redirect, render_template, url_for

from hub.audit import log as audit_log
from hub.observability.metrics import snapshot
from hub.routes.audit_http import audit_console
from hub.routes.console import console_blueprint, needs
from hub.sync import outbox
from hub.sync.status import partner_statuses

bp = console_blueprint("console_ops", __name__)
audit_console(bp)  # the operations page shows deliveries and the audit trail
log = logging.getLogger("hub.console")


def _session():
    return current_app.extensions["hub.db"].sessions()


_ACTIONS = {"C": "create", "R": "read", "U": "update", "D": "delete", "E": "execute"}


def audit_row(event: dict) -> dict:
    """What the trail shows of one AuditEvent: when, what, who, outcome, which resources
    (references only: the trail shows no patient data)."""
    subtype = (event.get("subtype") or [{}])[0].get("code")
    who = [a["who"].get("display") or a["who"].get("reference") or "-"
           for a in event.get("agent", []) if a.get("requestor") and a.get("who")]
    targets = [e["what"]["reference"] for e in event.get("entity", [])
               if (e.get("what") or {}).get("reference")]
    return {"recorded": event.get("recorded", ""),
            "activity": subtype or _ACTIONS.get(event.get("action", ""), "-"),
            "outcome": "ok" if event.get("outcome") == "0" else f"failed ({event.get('outcome')})",
            "agents": who, "targets": targets}


@bp.get("/operations")
@needs("operations.read")
def operations():
    partners = current_app.extensions["hub.runtime"].partners
    numbers = snapshot(current_app.extensions["hub.db"], list(partners))
    with _session() as session:
        statuses = partner_statuses(session, list(partners))
        pending = outbox.list_deliveries(session, status="pending", limit=100)
        dead = outbox.list_deliveries(session, status="dead", limit=100)
        events, total = audit_log.search(session, count=50)
    trail = [audit_row(e) for e in events]
    return render_template("console/operations.html", partners=partners, statuses=statuses,
                           pending=pending, dead=dead, trail=trail, audit_total=total,
                           numbers=numbers)


@bp.post("/operations/deliveries/<int:delivery_id>/replay")
@needs("operations.replay")
def replay(delivery_id: int):
    with _session() as session:
        replayed = outbox.replay(session, [delivery_id])
        session.commit()
    if replayed:
        log.info("console: %s replayed delivery %s", g.user.name, delivery_id)
        flash(f"Delivery {delivery_id} is pending again.")
    else:
        flash(f"Delivery {delivery_id} is not dead; nothing replayed.", "error")
    return redirect(url_for("console_ops.operations"))
