"""Server-set parts of a case sent back by a client (GET -> PUT, merge patches).

A client may send a case back as it read it: the parts only the server sets
(``hub.schemas.SERVER_OWNED`` and the computed ``next_review_due``) are accepted when they
equal the stored values and ignored; a part that differs is refused (422) with a message
naming the field, e.g. ``status`` ("read-only: set by the server; change it with POST
/api/cases/{id}/transitions"). A part left out keeps its stored value. Pure: no Flask,
no database.
"""

from __future__ import annotations

from typing import Any

from hub import cases as c

DIFFERS = "read-only: set by the server; differs from the stored value"

#: Where each server-set part is changed instead (added to the message).
_HOW = {
    "status": "use POST /api/cases/{id}/transitions",
    "status_history": "use POST /api/cases/{id}/transitions",
    "closed_at": "use POST /api/cases/{id}/transitions",
    "plan.approved_by": "use POST /api/cases/{id}/plan/approval",
    "plan.approved_at": "use POST /api/cases/{id}/plan/approval",
    "plan.status": "it follows the case's status",
    "reviews": "use POST /api/cases/{id}/reviews",
    "notes": "use POST /api/cases/{id}/notes",
    "next_review_due": "it follows the reviews and the review interval",
    "referrals.history": "change the referral's status instead",
    "referrals.requested_at": "set when the referral is requested",
}


def _message(path: str) -> str:
    how = _HOW.get(path)
    return f"{DIFFERS}; {how}" if how else DIFFERS


def differences(sent: dict[str, Any], new: c.Case, stored: c.Case | None,
                next_review_due: Any = None) -> dict[str, Any]:
    """Marshmallow-style errors for each server-set part present in ``sent`` (the raw JSON
    body) whose loaded value in ``new`` differs from ``stored`` (None: a new case, which
    has no server-set values yet). Empty when all agree."""
    errors: dict[str, Any] = {}
    plain = ("id", "version", "status", "status_history", "opened_at", "closed_at",
             "reviews", "notes")
    for name in plain:
        if name in sent:
            ours = getattr(stored, name) if stored is not None else None
            if stored is None or getattr(new, name) != ours:
                errors[name] = [_message(name)]
    if "next_review_due" in sent:
        ours = stored.next_review_due if stored is not None else None
        if stored is None or next_review_due != ours:
            errors["next_review_due"] = [_message("next_review_due")]
    plan = sent.get("plan")
    if isinstance(plan, dict):
        for name in ("status", "approved_by", "approved_at", "revised_at"):
            if name in plan:
                ours = getattr(stored.plan, name) if stored is not None else None
                if stored is None or getattr(new.plan, name) != ours:
                    errors.setdefault("plan", {})[name] = [_message(f"plan.{name}")]
    referrals = sent.get("referrals")
    if isinstance(referrals, list):
        known = {r.id: r for r in stored.referrals} if stored is not None else {}
        for i, (raw, ref) in enumerate(zip(referrals, new.referrals)):
            if not isinstance(raw, dict):
                continue
            prev = known.get(ref.id)
            for name, empty in (("history", []), ("requested_at", None)):
                if name not in raw:
                    continue
                ours = getattr(prev, name) if prev is not None else empty
                if getattr(ref, name) != ours:
                    errors.setdefault("referrals", {}).setdefault(i, {})[name] = [
                        _message(f"referrals.{name}")]
    return errors
