"""Console pages of case managers and supervisors: the worklist, the case page and its
actions, the supervisors' caseload. Every read and write goes through ``hub.services``
and the flows, exactly as the case API does (``write_case``: retried unit of work);
form input is loaded with the case API's own marshmallow schemas.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import replace
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from marshmallow import ValidationError

from hub import cases as c
from hub import clock, services
from hub.coverage_schemas import EligibilityRequestInputSchema, PriorAuthRequestInputSchema
from hub.errors import BusinessRuleFailed, HubError
from hub.flows import insurer, insurer_status
from hub.partner_match import partner_party
from hub.routes.audit_http import audit_console, failed, saw_case
from hub.routes.case_input import write_case
from hub.routes.console import console_blueprint, needs, signed_in_name
from hub.schemas import (
    ApprovalRequestSchema,
    NoteRequestSchema,
    ReviewRequestSchema,
    TransitionRequestSchema,
)
from hub.store.case_repo import CaseFilter, CasePage
from hub.store.uow import UnitOfWork

bp = console_blueprint("console_cases", __name__)
audit_console(bp)  # what a signed-in user saw or did: an AuditEvent (hub.routes.audit_http)
#: Cases per worklist page.
PAGE_SIZE = 50
#: The caseload page counts at most this many open cases.
CASELOAD_MAX = 1000
SERVICE_SYSTEMS = {
    "hcpcs": "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
    "cpt": "http://www.ama-assn.org/go/cpt",
    "snomed": "http://snomed.info/sct",
}


def _uow() -> UnitOfWork:
    return UnitOfWork(current_app.extensions["hub.db"],
                      partners=current_app.extensions["hub.runtime"].partners)


def patient_name(case: c.Case) -> str:
    name = case.patient.name
    return " ".join([*name.given, name.family]).strip()


def mrn(case: c.Case) -> str | None:
    for ident in case.patient.identifiers:
        if ident.kind == c.IdentifierKind.MRN:
            return ident.value
    return case.patient.identifiers[0].value if case.patient.identifiers else None


def worklist_page(statuses: list[str], program: str, text: str, manager: str,
                  offset: int) -> CasePage:
    """Matching cases, reviews due and overdue first (filtered, sorted and paged in SQL by
    ``services.list_cases``). ``text`` is an MRN (any identifier value) or, when no
    identifier matches, words of the patient's name."""
    criteria = CaseFilter(status=[c.CaseStatus(s) for s in statuses], program=program or None,
                          case_manager=manager or None)
    with _uow() as uow:
        if text:
            page = services.list_cases(uow, replace(criteria, identifier=text), PAGE_SIZE,
                                       offset, sort="next_review_due")
            if page.total:
                return page
            criteria = replace(criteria, name=text)
        return services.list_cases(uow, criteria, PAGE_SIZE, offset, sort="next_review_due")


@bp.get("/cases")
@needs("cases.read")
def worklist():
    statuses = [s for s in request.args.getlist("status") if s in c.CaseStatus._value2member_map_]
    program = request.args.get("program", "").strip()
    text = request.args.get("q", "").strip()
    manager = request.args.get("case_manager", "").strip()
    try:
        offset = max(int(request.args.get("offset", "0")), 0)
    except ValueError:
        offset = 0
    page = worklist_page(statuses, program, text, manager, offset)
    for case in page.items:
        saw_case(case)
    args: dict[str, Any] = {"q": text, "status": statuses, "program": program,
                            "case_manager": manager}
    following = url_for("console_cases.worklist", **args, offset=offset + PAGE_SIZE) \
        if offset + len(page.items) < page.total else None
    previous = url_for("console_cases.worklist", **args, offset=max(offset - PAGE_SIZE, 0)) \
        if offset else None
    return render_template("console/worklist.html", cases=page.items, total=page.total,
                           offset=offset, following=following, previous=previous,
                           statuses=statuses,
                           program=program, q=text, case_manager=manager,
                           all_statuses=[s.value for s in c.CaseStatus], today=clock.today(),
                           patient_name=patient_name, mrn=mrn)


@bp.get("/cases/<case_id>")
@needs("cases.read")
def case_page(case_id: str):
    with _uow() as uow:
        case = services.get_case(uow, case_id)
        requests = insurer_status.list_coverage_requests(uow, case_id)
    saw_case(case)
    partners = current_app.extensions["hub.runtime"].partners
    agencies = [p for p in partners.values() if p.kind == "agency"]
    return render_template(
        "console/case.html", case=case, today=clock.today(), patient_name=patient_name,
        mrn=mrn, coverage_requests=requests, agencies=agencies,
        next_statuses=sorted(s.value for s in c.CASE_TRANSITIONS[case.status]),
        review_modes=[m.value for m in c.ReviewMode],
        review_outcomes=[o.value for o in c.ReviewOutcome],
        achievements=[a.value for a in c.GoalAchievement],
        service_systems=SERVICE_SYSTEMS, goal_names={g.id: g.description
                                                     for g in case.plan.goals})


# --- actions ------------------------------------------------------------------------------


def _version() -> int:
    try:
        return int(request.form.get("version", ""))
    except ValueError:
        raise BusinessRuleFailed("the form names no case version", path="version") from None


def _load(schema, data: dict):
    try:
        return schema.load(data)
    except ValidationError as err:
        fields = ", ".join(sorted(_paths(err.messages)))
        raise BusinessRuleFailed(f"check these fields: {fields}") from None


def _paths(messages, prefix: str = "") -> list[str]:
    if isinstance(messages, dict):
        return [p for k, v in messages.items() for p in _paths(v, f"{prefix}{k}.")]
    return [prefix.rstrip(".")]


def _act(case_id: str, done: str, service, *args, **kwargs):
    """Run the write, flash its outcome and go back to the case page."""
    try:
        result = write_case(service, *args, **kwargs)
        if isinstance(result, c.Case):
            saw_case(result)
        flash(done)
    except HubError as err:
        failed(err.status)
        flash(f"Not saved: {err.message}", "error")
    return redirect(url_for("console_cases.case_page", case_id=case_id))


def _blank(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


@bp.post("/cases/<case_id>/transition")
@needs("cases.write")
def transition(case_id: str):
    req = _load(TransitionRequestSchema(), {
        k: v for k, v in {"to": request.form.get("to"),
                          "reason": _blank(request.form.get("reason"))}.items() if v})
    return _act(case_id, f"Case moved to {req['to']}.", services.transition_case, case_id,
                _version(), req["to"], reason=req.get("reason"), by=signed_in_name())


@bp.post("/cases/<case_id>/reviews")
@needs("cases.write")
def record_review(case_id: str):
    data: dict = {"mode": request.form.get("mode"), "reviewer": signed_in_name()}
    for key in ("outcome", "notes"):
        if _blank(request.form.get(key)):
            data[key] = request.form[key].strip()
    updates = {key.removeprefix("goal-"): value for key, value in request.form.items()
               if key.startswith("goal-") and value}
    if updates:
        data["goal_updates"] = updates
    review = _load(ReviewRequestSchema(), data)
    return _act(case_id, "Review recorded.", services.record_review, case_id, _version(),
                review)


@bp.post("/cases/<case_id>/plan/approval")
@needs("cases.write")
def approve_plan(case_id: str):
    req = _load(ApprovalRequestSchema(),
                {"approved_by": {"name": request.form.get("physician", "").strip()}})
    return _act(case_id, "Plan approved.", services.approve_plan, case_id, _version(),
                req["approved_by"])


@bp.post("/cases/<case_id>/notes")
@needs("cases.write")
def add_note(case_id: str):
    note = _load(NoteRequestSchema(), {"text": request.form.get("text", ""),
                                       "author": signed_in_name()})
    return _act(case_id, "Note added.", services.add_note, case_id, _version(), note)


def _with_referral(uow: UnitOfWork, case_id: str, version: int, referral_id: str | None,
                   new: c.Referral | None) -> c.Case:
    """The case with one referral sent (``referral_id``, a draft) or added (``new``),
    saved through ``services.update_case`` as a PUT of the case API would."""
    case = copy.deepcopy(services.get_case(uow, case_id))
    if new is not None:
        case.referrals.append(new)
    else:
        try:
            case.referral(referral_id or "").status = c.ReferralStatus.REQUESTED
        except KeyError:
            raise BusinessRuleFailed("no such referral", path="referral") from None
    return services.update_case(uow, case_id, version, case)


@bp.post("/cases/<case_id>/referrals")
@needs("cases.write")
def send_referral(case_id: str):
    referral_id = _blank(request.form.get("referral"))
    new = None
    if referral_id is None:
        partners = current_app.extensions["hub.runtime"].partners
        agency = partners.get(request.form.get("agency", ""))
        code = _blank(request.form.get("service_code"))
        system = SERVICE_SYSTEMS.get(request.form.get("service_system", ""))
        if agency is None or code is None or system is None:
            flash("Not sent: choose an agency and a service code.", "error")
            return redirect(url_for("console_cases.case_page", case_id=case_id))
        new = c.Referral(service=c.Code(system=system, code=code,
                                        display=_blank(request.form.get("service_display"))),
                         agency=partner_party(agency),
                         status=c.ReferralStatus.REQUESTED,
                         reason=_blank(request.form.get("reason")))
    return _act(case_id, "Referral sent.", _with_referral, case_id, _version(), referral_id,
                new)


def _service(prefix: str = "") -> dict:
    return {"system": SERVICE_SYSTEMS.get(request.form.get(prefix + "service_system", ""), ""),
            "code": request.form.get(prefix + "service_code", "").strip()}


@bp.post("/cases/<case_id>/eligibility")
@needs("cases.write")
def request_eligibility(case_id: str):
    req = _load(EligibilityRequestInputSchema(), {
        "funding_id": request.form.get("funding_id", ""),
        "purposes": request.form.getlist("purpose") or ["validation"],
        "services": [_service()] if request.form.get("service_code") else []})
    return _act(case_id, "Eligibility request queued for the insurer.",
                insurer.request_eligibility, case_id, req["funding_id"], req["purposes"],
                req["services"], expected_version=_version(), by=signed_in_name())


@bp.post("/cases/<case_id>/prior-authorization")
@needs("cases.write")
def request_prior_authorization(case_id: str):
    item: dict = {"service": _service()}
    if _blank(request.form.get("quantity")):
        try:
            item["quantity"] = int(request.form["quantity"])
        except ValueError:
            raise BusinessRuleFailed("the quantity must be a whole number") from None
    req = _load(PriorAuthRequestInputSchema(), {
        "funding_id": request.form.get("funding_id", ""), "items": [item]})
    items = [insurer.ItemInput(**i) for i in req["items"]]
    return _act(case_id, "Prior authorization request queued for the insurer.",
                insurer.request_prior_authorization, case_id, req["funding_id"], items,
                expected_version=_version(), claim_type=req["claim_type"],
                priority=req["priority"], by=signed_in_name())


# --- supervisors --------------------------------------------------------------------------


@bp.get("/caseload")
@needs("supervision")
def caseload():
    open_statuses = [s for s in c.CaseStatus if s not in c.FINAL_CASE_STATUSES]
    with _uow() as uow:
        page = services.list_cases(uow, CaseFilter(status=open_statuses), CASELOAD_MAX, 0,
                                   sort="next_review_due")
    today = clock.today()
    load = Counter(case.case_manager.name if case.case_manager else "(unassigned)"
                   for case in page.items)
    overdue_by = Counter(case.case_manager.name if case.case_manager else "(unassigned)"
                         for case in page.items if case.is_review_overdue(today))
    overdue = [case for case in page.items if case.is_review_overdue(today)]
    for case in overdue:  # the page names these patients (the others are only counted)
        saw_case(case)
    return render_template("console/caseload.html", load=sorted(load.items()),
                           overdue_by=overdue_by, overdue=overdue, today=today,
                           total=page.total, patient_name=patient_name, mrn=mrn)
