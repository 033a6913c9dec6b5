"""Data for the console tests: users, cases in the states the pages act on, a dead
delivery (made through the outbox's own claim/fail path)."""

from __future__ import annotations

from hub import cases as c
from hub.store.db import Database
from hub.store.uow import UnitOfWork
from hub.store.user_repo import UserRepository
from hub.sync import outbox
from tests import scenarios

PASSWORD = "correct horse battery"


def add_user(db: Database, name: str, role: str, password: str = PASSWORD) -> None:
    with db.sessions() as session:
        UserRepository(session).create(name, role, password)
        session.commit()


def store_case(db: Database, case: c.Case) -> c.Case:
    with UnitOfWork(db) as uow:
        uow.add_case(case)
        uow.commit()
    return case


def active_case(db: Database) -> c.Case:
    """Sam River: active, approved plan, reviews overdue (due in 2024)."""
    return store_case(db, scenarios.river())


def planning_case(db: Database) -> c.Case:
    """Alex Stone: in planning, with goals and a plan waiting for approval."""
    case = scenarios.river()
    case.id = "case-stone"
    case.patient.name = c.HumanName("Stone", ["Alex"])
    case.patient.identifiers = [c.Identifier("urn:oid:2.16.840.1.113883.19.5", "MRN-550001",
                                             c.IdentifierKind.MRN)]
    case.opened_at = c.utcnow()  # opened today: its first review is not due yet
    case.status = c.CaseStatus.PLANNING
    case.status_history = case.status_history[:2]
    case.plan.status = c.PlanStatus.DRAFT
    case.plan.approved_by = case.plan.approved_at = None
    case.reviews, case.notes, case.referrals = [], [], []
    case.case_manager = c.Party(name="Pat Doe")
    return store_case(db, case)


def dead_delivery(db: Database, partner_id: str = "st-marys",
                  error: str = "HTTP 422: Unprocessable Entity (CarePlan.subject)") -> int:
    """A delivery that the partner refused for good (dead), as a worker leaves it."""
    with db.sessions() as session:
        row_id = outbox.enqueue(session, partner_id=partner_id, resource_type="CarePlan",
                                resource_id="careplan-case-river", operation="update",
                                case_id="case-river")
        session.commit()
    claimed = outbox.claim(db, "console-test")
    assert [d.id for d in claimed] == [row_id]
    assert outbox.mark_failed(db, claimed[0], "console-test", error=error, http_status=422)
    return row_id
