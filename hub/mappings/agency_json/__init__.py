"""Case referral <-> the ``agency-json`` protocol (fixtures/partners/agency-json.md).

``agency-json`` is the small plain-JSON referral API that home-health agencies without a
FHIR server implement. This package is pure (no requests, no Flask):

- outbound, ``referral_to_agency_json(case, referral)`` builds the referral document the
  hub POSTs to ``{base}/referrals``: patient, service, reason, service window, frequency,
  ordering case manager and contact, funding with authorization, notes. The document is a
  deterministic function of the case (no clock, no random), so a retried delivery sends the
  same content and the agency's idempotency check answers 200, not 409.
  ``referral_from_agency_json(body)`` reads such a document back (round trips, tests, tools).
- inbound, ``apply_referral_state(case, state)`` applies a referral state the agency
  answered (``GET /referrals/{id}`` or one item of the change feed): the agency's status
  history is replayed with ``Referral.move(to, Actor.OWNER, reason, at)`` (an illegal move
  raises ``CaseRuleError``), visits become ``Encounter``s of kind home-visit with the
  referral id, visit summaries become case notes. Applying the same state again changes
  nothing; an unknown status is refused with a ``MappingError`` naming the field.

Modules: ``terms`` (the protocol's vocabulary), ``values`` (reading and writing its
values), ``document`` (the referral document, out and back), ``state`` (a referral state,
in).
"""

from __future__ import annotations

from hub.mappings.agency_json.document import (
    AgencyReferral,
    case_manager_contact,
    referral_from_agency_json,
    referral_to_agency_json,
)
from hub.mappings.agency_json.state import (
    ReferralState,
    apply_referral_state,
    parse_referral_state,
    visit_encounter_id,
    visit_to_encounter,
)
from hub.mappings.agency_json.terms import PROTOCOL, STATUSES, VISIT_STATUS

__all__ = [
    "PROTOCOL",
    "STATUSES",
    "VISIT_STATUS",
    "AgencyReferral",
    "ReferralState",
    "apply_referral_state",
    "case_manager_contact",
    "parse_referral_state",
    "referral_from_agency_json",
    "referral_to_agency_json",
    "visit_encounter_id",
    "visit_to_encounter",
]
