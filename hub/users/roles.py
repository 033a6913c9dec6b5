"""What each console role may do (pure)."""

from __future__ import annotations

#: permission -> roles that hold it. ``admin`` holds every permission.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    # read the worklist and case pages
    "cases.read": frozenset({"case-manager", "supervisor"}),
    # change a case: transitions, reviews, plan approval, notes, referrals, coverage
    "cases.write": frozenset({"case-manager", "supervisor"}),
    # caseload per case manager, overdue reviews
    "supervision": frozenset({"supervisor"}),
    # partners, deliveries, audit trail
    "operations.read": frozenset({"operator"}),
    "operations.replay": frozenset({"operator"}),
}


def may(role: str | None, permission: str) -> bool:
    """Whether ``role`` holds ``permission`` (unknown permissions are refused)."""
    if role is None:
        return False
    if role == "admin":
        return permission in ROLE_PERMISSIONS
    return role in ROLE_PERMISSIONS.get(permission, frozenset())
