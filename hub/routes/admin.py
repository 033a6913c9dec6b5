"""``/admin``: the operators' API over the outbox (what ``hub deliveries`` does on the CLI).

- ``GET /admin/deliveries?status=&partner=&case=&limit=`` lists deliveries, oldest first,
  without their payloads and responses (they hold patient data) unless ``include=payload``;
- ``GET /admin/deliveries/<id>`` one delivery (same ``include`` rule);
- ``POST /admin/deliveries/<id>/retry`` replays one dead delivery, and
  ``POST /admin/deliveries/retry?all_dead=true`` every dead one (``hub.sync.outbox.replay``;
  ``accept_remote_version=true`` after a human looked at a 412 conflict).

Reconciliation (``hub sync verify``, ``hub.sync.verify``):

- ``GET /admin/sync/verify?partner=ID`` reads back every resource linked at the partner and
  reports each as ok / missing / changed / unknown;
- ``POST /admin/sync/verify?partner=ID&repair=true`` also repairs per the partner's
  ``on_drift`` policy (the repairs are outbox rows).

Scopes: ``system/Delivery.rs`` to read and verify, ``system/Delivery.u`` to replay and
repair, named explicitly: no wildcard (``system/*.read``) covers Delivery. Clients bound
to a partner Organization are refused (403): the outbox spans every partner.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from hub.errors import BadRequest, Conflict, Forbidden, NotFound
from hub.routes.audit_http import audit_api, saw_resource
from hub.routes.guards import current_principal, refuse_bound_clients, require_scope
from hub.store.sync_tables import OUTBOX_STATUSES
from hub.sync import outbox
from hub.sync.verify import VerifyError, summary, verify_partner

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(refuse_bound_clients)
audit_api(bp)  # every request of a known caller leaves an AuditEvent (hub.routes.audit_http)
_PRIVATE = ("payload", "response")
_TRUE = ("1", "true", "yes")


def _operator() -> None:
    if current_principal().organization:
        raise Forbidden("partner clients cannot use the admin API")


def _flag(name: str) -> bool:
    return request.args.get(name, "").lower() in _TRUE


def _out(delivery: outbox.Delivery) -> dict:
    data = delivery.to_dict()
    shown = request.args.get("include") == "payload"
    if not shown:
        for key in _PRIVATE:
            data.pop(key, None)
    saw_resource(delivery.resource_type, delivery.resource_id,
                 delivery.payload if shown else None)
    return data


#: Delivery ids are 64-bit integers: a larger one names no delivery (and overflows SQL).
_MAX_ID = 2**63 - 1


def _find(session, delivery_id: int) -> outbox.Delivery:
    delivery = outbox.get_delivery(session, delivery_id) if delivery_id <= _MAX_ID else None
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id}")
    return delivery


def _session():
    return current_app.extensions["hub.db"].sessions()


@bp.get("/deliveries")
@require_scope("Delivery", "s")
def list_deliveries():
    _operator()
    status = request.args.get("status") or None
    if status is not None and status not in OUTBOX_STATUSES:
        raise BadRequest(f"status must be one of {', '.join(OUTBOX_STATUSES)}", path="status")
    try:
        limit = int(request.args.get("limit", "100"))
    except ValueError:
        raise BadRequest("limit must be an integer", path="limit") from None
    if not 1 <= limit <= 1000:
        raise BadRequest("limit must be between 1 and 1000", path="limit")
    with _session() as session:
        rows = outbox.list_deliveries(session, status=status,
                                      partner_id=request.args.get("partner") or None,
                                      case_id=request.args.get("case") or None, limit=limit)
    return jsonify([_out(d) for d in rows])


@bp.get("/deliveries/<int:delivery_id>")
@require_scope("Delivery", "r")
def get_delivery(delivery_id: int):
    _operator()
    with _session() as session:
        delivery = _find(session, delivery_id)
    return jsonify(_out(delivery))


@bp.post("/deliveries/<int:delivery_id>/retry")
@require_scope("Delivery", "u")
def retry_delivery(delivery_id: int):
    _operator()
    with _session() as session:
        delivery = _find(session, delivery_id)
        saw_resource(delivery.resource_type, delivery.resource_id, None)
        if delivery.status != "dead":
            raise Conflict(f"delivery {delivery_id} is {delivery.status}; only dead "
                           f"deliveries are replayed", path="status")
        replayed = outbox.replay(session, [delivery_id],
                                 accept_remote_version=_flag("accept_remote_version"))
        session.commit()
    return jsonify({"replayed": replayed})


@bp.post("/deliveries/retry")
@require_scope("Delivery", "u")
def retry_all_dead():
    _operator()
    if not _flag("all_dead"):
        raise BadRequest("say all_dead=true to replay every dead delivery", path="all_dead")
    with _session() as session:
        replayed = outbox.replay(session, all_dead=True,
                                 accept_remote_version=_flag("accept_remote_version"))
        session.commit()
    return jsonify({"replayed": replayed})


def _verify(repair: bool):
    partner_id = request.args.get("partner") or ""
    if not partner_id:
        raise BadRequest("say which partner to verify", path="partner")
    runtime = current_app.extensions["hub.runtime"]
    try:
        findings = verify_partner(runtime.db, runtime.adapters, partner_id, repair=repair)
    except VerifyError as exc:
        raise NotFound(str(exc)) from None
    for finding in findings:
        saw_resource(finding.resource_type, finding.resource_id, None)
    return jsonify({"partner": partner_id, "summary": summary(findings),
                    "resources": [f.to_dict() for f in findings]})


@bp.get("/sync/verify")
@require_scope("Delivery", "s")
def verify_sync():
    _operator()
    return _verify(repair=False)


@bp.post("/sync/verify")
@require_scope("Delivery", "u")
def repair_sync():
    _operator()
    if not _flag("repair"):
        raise BadRequest("say repair=true to repair (GET only reports)", path="repair")
    return _verify(repair=True)
