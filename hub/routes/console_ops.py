"""Console pages of operators: partners with their health and last sync, pending and dead
deliveries with their errors and a replay button, and the audit trail.

The partners' health is read from the sync ledger (``hub.sync.status``): routes never call
partners. Payloads and responses of deliveries hold patient data and are not shown. The
audit trail shows the Provenance the hub records with every write (who, what, when).
"""

from __future__ import annotations

import logging

from flask import current_app, flash, g, redirect, render_template, url_for

from hub.fhirstore.recent import recent_resources
from hub.routes.console import console_blueprint, needs
from hub.sync import outbox
from hub.sync.status import partner_statuses

bp = console_blueprint("console_ops", __name__)
log = logging.getLogger("hub.console")


def _session():
    return current_app.extensions["hub.db"].sessions()


def _provenance_row(resource: dict) -> dict:
    agents = [a.get("who", {}).get("reference") or a.get("who", {}).get("display") or "-"
              for a in resource.get("agent", [])]
    activity = resource.get("activity", {})
    coding = (activity.get("coding") or [{}])[0]
    return {"recorded": resource.get("recorded", ""),
            "targets": [t.get("reference", "") for t in resource.get("target", [])],
            "agents": agents,
            "activity": activity.get("text") or coding.get("display") or coding.get("code")
            or "-"}


@bp.get("/operations")
@needs("operations.read")
def operations():
    partners = current_app.extensions["hub.runtime"].partners
    with _session() as session:
        statuses = partner_statuses(session, list(partners))
        pending = outbox.list_deliveries(session, status="pending", limit=100)
        dead = outbox.list_deliveries(session, status="dead", limit=100)
        trail = [_provenance_row(r) for r in recent_resources(session, "Provenance", 50)]
    return render_template("console/operations.html", partners=partners, statuses=statuses,
                           pending=pending, dead=dead, trail=trail)


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
