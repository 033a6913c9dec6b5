"""Liveness: ``GET /healthz`` (no auth) answers whether the database answers."""

from flask import Blueprint, current_app
from sqlalchemy import text

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Whether the hub and its database are up."""
    try:
        with current_app.extensions["hub.db"].engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        return {"status": "unavailable", "database": "down"}, 503
    return {"status": "ok", "database": "up"}
