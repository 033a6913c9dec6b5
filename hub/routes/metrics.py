"""``GET /metrics``: the hub's Prometheus metrics (``hub.observability.metrics``).

Guarded like the admin API: 401 without a token, 403 for a client bound to a partner
Organization, and the scope ``system/Metrics.read`` (or ``.r``) named explicitly (no
wildcard covers Metrics). ``init_app`` times every request of the app by its Flask url
rule (``/fhir/<rtype>/<rid>``), never its raw path.
"""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, current_app

from hub.observability.metrics import CONTENT_TYPE, exposition, request_timer
from hub.routes.current import this_g, this_request
from hub.routes.guards import refuse_bound_clients, require_scope

bp = Blueprint("metrics", __name__)
bp.before_request(refuse_bound_clients)
UNMATCHED = "<unmatched>"


@bp.get("/metrics")
@require_scope("Metrics", "r")
def metrics():
    return Response(exposition(current_app.extensions["hub.db"]), content_type=CONTENT_TYPE)


def _start() -> None:
    this_g().metrics_started = time.perf_counter()


def _observe(response):
    started = this_g().pop("metrics_started", None)
    if started is not None:
        req = this_request()
        rule = req.url_rule.rule if req.url_rule is not None else UNMATCHED
        request_timer(req.method, rule, str(response.status_code)).observe(
            time.perf_counter() - started)
    return response


def init_app(app: Flask) -> None:
    """Time every request (registered first, so that it sees the requests the other
    guards refuse)."""
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_observe)
