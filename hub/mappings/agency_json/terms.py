"""The agency-json protocol's vocabulary (fixtures/partners/agency-json.md) and how it maps
onto the case record's."""

from __future__ import annotations

import uuid

from hub import cases

#: The protocol version this module speaks (the documented format).
PROTOCOL = "agency-json/1"

#: Status values of the agency-json referral state, one-to-one with ReferralStatus.
STATUSES: tuple[str, ...] = ("requested", "received", "accepted", "rejected", "in-progress",
                             "on-hold", "completed", "failed", "cancelled")
#: Who made a history entry: the agency (applied by the hub as the Task owner) or the hub.
HISTORY_BY = ("agency", "hub")
#: Visit status -> Encounter status.
VISIT_STATUS: dict[str, cases.EncounterStatus] = {
    "scheduled": cases.EncounterStatus.PLANNED,
    "in-progress": cases.EncounterStatus.IN_PROGRESS,
    "completed": cases.EncounterStatus.FINISHED,
    "cancelled": cases.EncounterStatus.CANCELLED,
}
#: Frequency period units: agency-json word <-> case PeriodUnit (UCUM).
PERIOD_UNITS: dict[cases.PeriodUnit, str] = {
    cases.PeriodUnit.HOUR: "hour", cases.PeriodUnit.DAY: "day",
    cases.PeriodUnit.WEEK: "week", cases.PeriodUnit.MONTH: "month",
    cases.PeriodUnit.YEAR: "year",
}
UNIT_FROM = {v: k for k, v in PERIOD_UNITS.items()}
#: Coverage decisions that carry an authorization the agency bills against.
AUTHORIZED = {cases.DecisionStatus.AUTH_APPROVED: "approved",
              cases.DecisionStatus.AUTH_PARTIAL: "partial",
              cases.DecisionStatus.AUTH_MODIFIED: "modified"}
AUTH_FROM = {v: k for k, v in AUTHORIZED.items()}
#: Namespace of the deterministic ids of visits (encounters, notes) received from agencies.
VISIT_NAMESPACE = uuid.UUID("6f1b7d0e-2b6a-5c4e-9a0e-5a2f7c1d9e31")
