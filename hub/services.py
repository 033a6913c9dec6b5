"""Use cases of the case API, each one transaction on a ``UnitOfWork``; no Flask here.

Errors are ``hub.errors`` HubErrors. A ``hub.cases.CaseRuleError`` becomes:

* **409 Conflict** when the case's (or a referral's) current *state* forbids the move:
  the rule's field is ``status`` or ends in ``.status`` (illegal transition, editing a
  closed case, a review on a case that is not running);
* **422 BusinessRuleFailed** when a prerequisite is missing, naming the field to fix
  (``case_manager``, ``assessment``, ``plan.approved_by``, ``plan.goals``, ``reason``...).

Writes load the case, check the caller's expected version (412 if stale), change it and
save it through the unit of work (``UnitOfWork.save_case``: compare-and-set on the version
it was read at, projected into the FHIR store and the outbox on commit); nothing is
committed on error. A concurrent change raises ``StaleCase``: callers run writes under
``hub.store.concurrency.retrying``, which re-runs them (the If-Match is then checked
against the new version: 412).
"""

from __future__ import annotations

from datetime import date, datetime

from hub import case_documents, case_server_fields, clock
from hub import cases as c
from hub.errors import (
    BusinessRuleFailed,
    Conflict,
    NotFound,
    PreconditionFailed,
    validation_failed,
)
from hub.mappings.patient import patient_id
from hub.store.case_repo import CaseFilter, CasePage
from hub.store.uow import UnitOfWork


def rule_error(err: c.CaseRuleError):
    """The HubError answering a refused lifecycle rule (see the module docstring)."""
    if err.field == "status" or err.field.endswith(".status"):
        return Conflict(err.message, path=err.field)
    return BusinessRuleFailed(err.message, path=err.field)


def open_case(uow: UnitOfWork, case: c.Case, by: str | None = None) -> c.Case:
    """Store a new case in intake; the server owns its id, version and timestamps.

    One patient per identity: a patient whose MRN (an identifier of the configured MRN
    systems) a Patient already carries is that Patient (``Case.patient_id``); one open case
    per patient and program (``OpenCaseExists``, 409 naming the open case)."""
    start_case(uow, case, by)
    uow.commit()
    return case


def start_case(uow: UnitOfWork, case: c.Case, by: str | None = None,
               case_id: str | None = None, patient: str | None = None,
               partners=None) -> c.Case:
    """``open_case`` without the commit, for a caller whose transaction holds more (a FHIR
    write that opens a case): ``case_id`` the id chosen for it, ``patient`` the id of the
    Patient the caller already has for it, ``partners`` who to queue it for (default:
    the unit of work's)."""
    now = c.utcnow()
    case.id, case.version, case.status = case_id or c.new_id(), 1, c.CaseStatus.INTAKE
    known = patient or uow.resources.patient_by_identity(
        [(i.system, i.value) for i in case.patient.identifiers])
    case.patient_id = known or patient_id(case.id)
    case.opened_at, case.closed_at = now, None
    case.status_history = [c.StatusChange(status=case.status.value, at=now, by=by)]
    for ref in case.referrals:  # sent as requested: requested now, as on update
        if ref.status == c.ReferralStatus.REQUESTED and not ref.history:
            ref.requested_at = now
            ref.history = [c.StatusChange(status=ref.status.value, at=now,
                                          by=c.Actor.REQUESTER.value)]
    case.follow_referrals()
    uow.add_case(case, partners=partners)
    return case


def get_case(uow: UnitOfWork, case_id: str) -> c.Case:
    """The case, or NotFound."""
    case = uow.cases.get(case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


def list_cases(uow: UnitOfWork, criteria: CaseFilter, limit: int, offset: int,
               sort: str = "opened_at") -> CasePage:
    """One page of the cases matching ``criteria`` in ``sort`` order, and their total."""
    return uow.cases.list(criteria, limit=limit, offset=offset, sort=sort)


def update_case(uow: UnitOfWork, case_id: str, expected_version: int | None,
                new: c.Case, sent: dict | None = None,
                next_review_due: date | None = None) -> c.Case:
    """Replace the editable parts of a case with those of ``new``.

    ``sent`` is the raw body ``new`` was loaded from: server-set parts in it must equal
    the stored ones (``hub.case_server_fields``: 422 naming each that differs) and are
    otherwise ignored. A changed plan is a revision (``Case.revise_plan``: approval needed
    again); referral status changes are moves of the requester (``Referral.move``);
    reviews, notes and status history stay as stored.
    """
    case = _load(uow, case_id, expected_version)
    if sent is not None:
        differing = case_server_fields.differences(sent, new, case, next_review_due)
        if differing:
            raise validation_failed(differing)
    try:
        replace_parts(case, new)
    except c.CaseRuleError as err:
        raise rule_error(err) from None
    return _save(uow, case)


def replace_parts(case: c.Case, new: c.Case) -> None:
    """The rules of ``update_case`` on the case in hand (CaseRuleError, nothing saved)."""
    if not case.is_open:
        raise c.CaseRuleError(f"a {case.status} case cannot be changed")
    _check_prerequisites(case.status, new)
    referrals = _merge_referrals(case.referrals, new.referrals)
    case.patient, case.model, case.setting = new.patient, new.model, new.setting
    case.program, case.case_manager = new.program, new.case_manager
    case.managing_organization = new.managing_organization
    case.review_interval_days, case.assessment = new.review_interval_days, new.assessment
    case.care_team, case.funding, case.encounters = new.care_team, new.funding, new.encounters
    case.referrals = referrals
    if _plan_content(new.plan) != _plan_content(case.plan):
        case.revise_plan(new.plan)
    case.follow_referrals()


def patch_case(uow: UnitOfWork, case_id: str, expected_version: int | None,
               patch: dict) -> c.Case:
    """Apply a JSON Merge Patch (RFC 7396) to the case's representation at
    ``expected_version`` and store the result as ``update_case`` does a replacement
    (validated alike: 422 naming each invalid field, server-set parts only unchanged)."""
    case = _load(uow, case_id, expected_version)
    patched = case_documents.merge_patch(case_documents.representation(case), patch)
    new, due = case_documents.load_replacement(patched)
    return update_case(uow, case_id, case.version, new, sent=patched, next_review_due=due)


def transition_case(uow: UnitOfWork, case_id: str, expected_version: int | None,
                    to: c.CaseStatus, reason: str | None = None,
                    by: str | None = None) -> c.Case:
    """Move the case along its lifecycle (``Case.transition``)."""
    case = _load(uow, case_id, expected_version)
    try:
        case.transition(to, reason=reason, by=by)
    except c.CaseRuleError as err:
        raise rule_error(err) from None
    return _save(uow, case)


def approve_plan(uow: UnitOfWork, case_id: str, expected_version: int | None,
                 physician: c.Party, at: datetime | None = None) -> c.Case:
    """Record the physician's approval of the plan as it is at ``expected_version``."""
    case = _load(uow, case_id, expected_version)
    try:
        case.approve_plan(physician, at=at)
    except c.CaseRuleError as err:
        raise rule_error(err) from None
    return _save(uow, case)


def revise_plan(uow: UnitOfWork, case_id: str, expected_version: int | None,
                plan: c.Plan) -> c.Case:
    """Replace the plan; it needs approval again."""
    case = _load(uow, case_id, expected_version)
    try:
        case.revise_plan(plan)
    except c.CaseRuleError as err:
        raise rule_error(err) from None
    return _save(uow, case)


def record_review(uow: UnitOfWork, case_id: str, expected_version: int | None,
                  review: dict) -> c.Case:
    """Record a monitoring review; ``due`` defaults to when the review was due."""
    case = _load(uow, case_id, expected_version)
    fields = dict(review)
    if fields.get("due") is None:
        fields["due"] = case.next_review_due or clock.today()
    try:
        case.record_review(c.Review(**fields))
    except c.CaseRuleError as err:
        raise rule_error(err) from None
    return _save(uow, case)


def add_note(uow: UnitOfWork, case_id: str, expected_version: int | None,
             note: c.Note) -> c.Case:
    """Append a note, stamped now, to an open or closed case."""
    case = _load(uow, case_id, expected_version)
    note.id, note.at = c.new_id(), c.utcnow()
    case.notes.append(note)
    return _save(uow, case)


# --- helpers ------------------------------------------------------------------------------


def _load(uow: UnitOfWork, case_id: str, expected_version: int | None) -> c.Case:
    case = get_case(uow, case_id)
    if expected_version is not None and case.version != expected_version:
        raise _stale(case_id, expected_version)
    return case


def _save(uow: UnitOfWork, case: c.Case) -> c.Case:
    uow.save_case(case)
    uow.commit()
    return case


def _stale(case_id: str, expected: int) -> PreconditionFailed:
    return PreconditionFailed(f"case {case_id} has changed since version {expected}",
                              path="If-Match")


def _plan_content(plan: c.Plan) -> tuple:
    return plan.period, plan.goals, plan.activities


_PAST_ASSESSMENT = frozenset(c.CaseStatus) - {c.CaseStatus.INTAKE, c.CaseStatus.ASSESSMENT}


def _check_prerequisites(status: c.CaseStatus, new: c.Case) -> None:
    """An update may not undo what the case's transitions required."""
    if status != c.CaseStatus.INTAKE and new.case_manager is None:
        raise c.CaseRuleError("a case past intake keeps its case manager", "case_manager")
    if status in _PAST_ASSESSMENT and new.assessment is None:
        raise c.CaseRuleError("a case past assessment keeps its assessment", "assessment")


def _merge_referrals(old: list[c.Referral], new: list[c.Referral]) -> list[c.Referral]:
    """New referrals start as draft or requested; changed statuses are requester moves."""
    stored = {r.id: r for r in old}
    kept = {r.id for r in new}
    for r in old:
        if r.id not in kept and r.status != c.ReferralStatus.DRAFT:
            raise c.CaseRuleError(
                f"a {r.status} referral cannot be removed, cancel it instead",
                f"referrals.{r.id}.status")
    for i, ref in enumerate(new):
        target, reason = ref.status, ref.status_reason
        prev = stored.get(ref.id)
        if prev is None:
            if target not in (c.ReferralStatus.DRAFT, c.ReferralStatus.REQUESTED):
                raise c.CaseRuleError("a new referral starts as draft or requested",
                                      f"referrals.{i}.status")
            ref.status, ref.history, ref.requested_at = c.ReferralStatus.DRAFT, [], None
        else:
            ref.status, ref.history = prev.status, prev.history
            ref.requested_at, ref.status_reason = prev.requested_at, prev.status_reason
        try:
            ref.move(target, c.Actor.REQUESTER, reason=reason)
        except c.CaseRuleError as err:
            raise c.CaseRuleError(err.message, f"referrals.{i}.{err.field}") from None
    return new
