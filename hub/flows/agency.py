"""Home-health agency flows (DOMAIN.md section 5, fixtures/partners/agency-json.md).

(a) **Agencies with a FHIR server** (push variant): the projection sends the referral's
ServiceRequest and Task to the agency partner whose Organization is the referral's agency
once it is requested, and later only the hub's cancellation. The agency works its own Task
copy; the hub pulls Task changes and visit Encounters (``hub.sync.pulls`` fetches,
``hub.flows.pulled`` applies): every Task version since the one matching the referral's
status is replayed with ``apply_task`` (so accept, start and complete between two polls
are applied step by step), and visits go through ``apply_encounter`` (the Encounter
handler of hub.flows.hospital).

(b) **agency-json** agencies: ``send`` / ``cancel`` outbox rows (queued by the projection
when a referral addressed to the agency becomes requested / is cancelled) post the
referral document; the state the agency answers is applied to the case. The change feed
is pulled with ``changes_since`` and each referral state applied with
``apply_referral_state`` (idempotent), the cursor stored after each page.
"""

from __future__ import annotations

from collections.abc import Mapping

from hub import cases as c
from hub.flows.pulled import PullContext, apply_to_case
from hub.mappings.agency_json import apply_referral_state
from hub.mappings.errors import MappingError, Report
from hub.mappings.referral import apply_task, find_referral


def apply_pulled_task(uow, case: c.Case, data: dict, report: Report,
                      ctx: PullContext) -> None:
    """Replay the agency's Task versions the case has not seen, then the current one."""
    referral = find_referral(case, data)
    if referral is None:
        raise MappingError("Task.focus", "the Task is not about a referral of this case")
    versions = ctx.versions(data)
    start = 0
    for i, version in enumerate(versions):
        if version.get("status") == referral.status.value:
            start = i + 1
    for version in versions[start:]:
        if version.get("status") != referral.status.value:
            apply_task(case, dict(version, identifier=data.get("identifier"),
                                  focus=data.get("focus")), report)
    apply_task(case, data, report)


def apply_pulled_state(uow, case: c.Case, state: dict, report: Report) -> None:
    """An agency-json referral state (from the change feed) applied to the case."""
    apply_referral_state(case, state, report=report)


def referral_answer(db, delivery, outcome, *, partners: Mapping) -> None:
    """The state the agency answered to a send or cancel (201/200 + state) is applied: a
    repeat after a lost answer may already show the agency's moves."""
    if not isinstance(outcome.response, dict) or not outcome.response.get("history"):
        return
    apply_to_case(db, partners, delivery.case_id,
                  lambda uow, case: apply_pulled_state(uow, case, outcome.response, Report()))


__all__ = ["apply_pulled_state", "apply_pulled_task", "referral_answer"]
