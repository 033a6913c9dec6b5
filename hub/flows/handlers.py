"""The flows' post-delivery handlers, registered explicitly by the runtime (``hub.bootstrap``).

Each handler gets the partners from the runtime (``partners()``, the partner registry,
re-read when the partners file changes) when it runs; no flow keeps partners of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from hub.flows import agency, hospital, insurer_answers
from hub.flows.insurer_polling import PENDED_POLL_SECONDS, POLL, POLLED_TYPE
from hub.flows.pulled import Applier, apply_fhir_pull, apply_referral_feed
from hub.sync.handlers import Handlers
from hub.sync.pulls import REFERRAL_FEED

#: What the FHIR pulls of each resource type apply to the case.
PULL_APPLIERS: dict[str, Applier] = {
    "Encounter": hospital.apply_pulled_encounter,  # admissions, discharges, agency visits
    "CarePlan": hospital.apply_pulled_careplan,
    "CareTeam": hospital.apply_pulled_careteam,
    "Task": agency.apply_pulled_task,
}


def register_handlers(handlers: Handlers, partners: Callable[[], Mapping], *,
                      pended_poll_seconds: float = PENDED_POLL_SECONDS) -> None:
    """Register every flow's handlers in ``handlers``."""

    def pull(apply: Applier):
        def handler(db, delivery, outcome) -> None:
            apply_fhir_pull(db, delivery, outcome, apply, partners())
        return handler

    for rtype, apply in PULL_APPLIERS.items():
        handlers.register("pull", rtype, pull(apply))

    def referral_feed(db, delivery, outcome) -> None:
        apply_referral_feed(db, delivery, outcome, agency.apply_pulled_state, partners())

    handlers.register("pull", REFERRAL_FEED, referral_feed)

    def referral_answer(db, delivery, outcome) -> None:
        agency.referral_answer(db, delivery, outcome, partners=partners())

    handlers.register("send", REFERRAL_FEED, referral_answer)
    handlers.register("cancel", REFERRAL_FEED, referral_answer)
    handlers.register("submit", "Claim", lambda db, delivery, outcome: (
        insurer_answers.on_pas_submitted(db, delivery, outcome, partners=partners(),
                                         poll_seconds=pended_poll_seconds)))
    handlers.register("submit", "CoverageEligibilityRequest", lambda db, delivery, outcome: (
        insurer_answers.on_eligibility_submitted(db, delivery, outcome, partners=partners())))
    handlers.register(POLL, POLLED_TYPE, lambda db, delivery, outcome: (
        insurer_answers.on_polled(db, delivery, outcome, partners=partners(),
                                  poll_seconds=pended_poll_seconds)))
