"""EpisodeOfCare <-> the case itself.

careManager, type (cm-model + program), period (opened/closed), status (+ statusHistory),
patient, team, diagnosis (the assessed conditions, ranked). What the EpisodeOfCare cannot
carry natively goes into hub extensions: the exact case status, setting, record version,
review interval, the assessment (needs, strengths, summary, assessor) and the monitoring
reviews (due date, done, mode, outcome, reviewer, notes, goal achievement updates).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from hub import cases
from hub.mappings.careteam import careteam_reference
from hub.mappings.codes import (
    CASE_MODEL,
    CASE_MODEL_FROM,
    CASE_SETTING,
    CASE_SETTING_FROM,
    CASE_STATUS_SYSTEM,
    CASE_STATUS_TO_EPISODE,
    EPISODE_TO_CASE_STATUS,
    EXT_ASSESSMENT,
    EXT_CASE_SETTING,
    EXT_CASE_STATUS,
    EXT_CASE_VERSION,
    EXT_REVIEW,
    EXT_REVIEW_INTERVAL,
    EXT_STATUS_BY,
    EXT_STATUS_REASON,
    GOAL_ACHIEVEMENT_FROM,
    PROGRAM_SYSTEM,
    REVIEW_MODE,
    REVIEW_MODE_FROM,
    REVIEW_OUTCOME,
    REVIEW_OUTCOME_FROM,
    UCUM,
)
from hub.mappings.condition import condition_reference
from hub.mappings.datatypes import (
    achievement_concept,
    coding,
    concept,
    ext,
    fhir_date,
    fhir_datetime,
    find_ext,
    find_exts,
    narrative,
    parse_date,
    parse_datetime,
    party_from_reference,
    party_to_reference,
    table_code,
)
from hub.mappings.errors import MappingError, Report
from hub.mappings.goal import goal_reference, ref_part_id
from hub.mappings.identity import find_hub_identifier, hub_identifier, resource_id
from hub.mappings.patient import display_name, patient_reference

KIND = "case"


def episode_id(case_id: str) -> str:
    return resource_id(case_id, KIND)


def episode_reference(case: cases.Case) -> dict[str, Any]:
    return {"reference": f"EpisodeOfCare/{episode_id(case.id)}"}


def _status_coding(status: str) -> dict[str, Any]:
    return coding(CASE_STATUS_SYSTEM, status)


def _assessment_ext(a: cases.Assessment) -> dict[str, Any]:
    subs = [ext("recorded", valueBoolean=True)]
    if a.assessed_on is not None:
        subs.append(ext("assessedOn", valueDate=fhir_date(a.assessed_on)))
    if a.assessor is not None:
        subs.append(ext("assessor", valueReference=party_to_reference(a.assessor)))
    subs += [ext("need", valueString=n) for n in a.needs]
    subs += [ext("strength", valueString=s) for s in a.strengths]
    if a.summary is not None:
        subs.append(ext("summary", valueString=a.summary))
    return {"url": EXT_ASSESSMENT, "extension": subs}


def _review_ext(case: cases.Case, r: cases.Review) -> dict[str, Any]:
    subs = [ext("reviewId", valueString=r.id), ext("due", valueDate=fhir_date(r.due)),
            ext("mode", valueCoding=coding(*REVIEW_MODE[r.mode]))]
    if r.done_at is not None:
        subs.append(ext("done", valueDateTime=fhir_datetime(r.done_at)))
    if r.outcome is not None:
        subs.append(ext("outcome", valueCoding=coding(*REVIEW_OUTCOME[r.outcome])))
    if r.reviewer is not None:
        subs.append(ext("reviewer", valueString=r.reviewer))
    if r.notes is not None:
        subs.append(ext("notes", valueString=r.notes))
    for gid, achievement in r.goal_updates.items():
        subs.append({"url": "goalUpdate", "extension": [
            ext("goal", valueReference=goal_reference(case.id, gid)),
            ext("achievement", valueCodeableConcept=achievement_concept(
                cases.GoalAchievement(achievement)))]})
    return {"url": EXT_REVIEW, "extension": subs}


def _organization_reference(party: cases.Party) -> dict[str, Any]:
    """``managingOrganization``: the party's reference and/or identifier, its name as the
    display unless the name is only the reference (a client gave no display)."""
    ref = party_to_reference(party)
    if ref.get("display") in (party.reference, party.identifier.value
                              if party.identifier is not None else None):
        ref.pop("display")
    return ref


def episode_to_fhir(case: cases.Case) -> dict[str, Any]:
    extensions = [ext(EXT_CASE_STATUS, valueCoding=_status_coding(case.status.value)),
                  ext(EXT_CASE_SETTING, valueCoding=coding(*CASE_SETTING[case.setting])),
                  ext(EXT_CASE_VERSION, valueInteger=case.version)]
    if case.review_interval_days is not None:
        extensions.append(ext(EXT_REVIEW_INTERVAL, valueDuration={
            "value": case.review_interval_days, "unit": "d", "system": UCUM, "code": "d"}))
    if case.assessment is not None:
        extensions.append(_assessment_ext(case.assessment))
    extensions += [_review_ext(case, r) for r in case.reviews]
    types = [concept(*CASE_MODEL[case.model])]
    if case.program is not None:
        types.append(concept(PROGRAM_SYSTEM, case.program))
    history = []
    for i, change in enumerate(case.status_history):
        status = cases.CaseStatus(change.status)
        period = {"start": fhir_datetime(change.at)}
        nxt = case.status_history[i + 1] if i + 1 < len(case.status_history) else None
        if nxt is not None and nxt.at >= change.at:
            period["end"] = fhir_datetime(nxt.at)
        h_ext = [ext(EXT_CASE_STATUS, valueCoding=_status_coding(status.value))]
        if change.reason is not None:
            h_ext.append(ext(EXT_STATUS_REASON, valueString=change.reason))
        if change.by is not None:
            h_ext.append(ext(EXT_STATUS_BY, valueString=change.by))
        history.append({"extension": h_ext, "status": CASE_STATUS_TO_EPISODE[status],
                        "period": period})
    out: dict[str, Any] = {
        "resourceType": "EpisodeOfCare",
        "id": episode_id(case.id),
        "text": narrative(f"Case management of {display_name(case.patient)}", [
            ("status", case.status.value), ("model", case.model.value),
            ("setting", case.setting.value), ("program", case.program or ""),
            ("case manager", case.case_manager.name if case.case_manager else "")]),
        "extension": extensions,
        "identifier": [hub_identifier(case.id, KIND)],
        "status": CASE_STATUS_TO_EPISODE[case.status],
    }
    if history:
        out["statusHistory"] = history
    out["type"] = types
    conditions = case.assessment.conditions if case.assessment else []
    if conditions:
        out["diagnosis"] = [{"condition": condition_reference(case.id, c.id, c.code.display),
                             "rank": i + 1} for i, c in enumerate(conditions)]
    out["patient"] = patient_reference(case)
    period = {"start": fhir_datetime(case.opened_at)}
    if case.closed_at is not None:
        period["end"] = fhir_datetime(case.closed_at)
    out["period"] = period
    if case.managing_organization is not None:
        out["managingOrganization"] = _organization_reference(case.managing_organization)
    if case.case_manager is not None:
        out["careManager"] = party_to_reference(case.case_manager)
    out["team"] = [careteam_reference(case)]
    return out


# --- inbound ----------------------------------------------------------------------------

def _case_status_from(element: dict[str, Any], episode_status: str | None, path: str,
                      report: Report) -> cases.CaseStatus:
    exact = find_ext(element, EXT_CASE_STATUS)
    if exact is not None:
        code = (exact.get("valueCoding") or {}).get("code")
        try:
            return cases.CaseStatus(cast(str, code))
        except ValueError:
            report.unknown_code(f"{path}.extension[case-status]", CASE_STATUS_SYSTEM, code)
    status = EPISODE_TO_CASE_STATUS.get(episode_status)
    if status is None:
        raise MappingError(f"{path}.status", f"unknown episode status {episode_status!r}")
    return status


def _assessment_from(extension: dict[str, Any], report: Report) -> cases.Assessment:
    a = cases.Assessment()
    for sub in extension.get("extension") or []:
        url = sub.get("url")
        if url == "assessedOn":
            a.assessed_on = parse_date(sub["valueDate"], "EpisodeOfCare.extension[assessment]")
        elif url == "assessor":
            a.assessor = party_from_reference(sub["valueReference"],
                                              "EpisodeOfCare.extension[assessment]", report)
        elif url == "need":
            a.needs.append(sub["valueString"])
        elif url == "strength":
            a.strengths.append(sub["valueString"])
        elif url == "summary":
            a.summary = sub["valueString"]
    return a


def _review_from(extension: dict[str, Any], path: str, case_id: str, index: dict[str, str],
                 report: Report) -> cases.Review | None:
    fields: dict[str, Any] = {"goal_updates": {}}
    for sub in extension.get("extension") or []:
        url = sub.get("url")
        if url == "reviewId":
            fields["id"] = sub["valueString"]
        elif url == "due":
            fields["due"] = parse_date(sub["valueDate"], f"{path}.due")
        elif url == "done":
            fields["done_at"] = parse_datetime(sub["valueDateTime"], f"{path}.done")
        elif url == "mode":
            c = sub.get("valueCoding") or {}
            mode = table_code(REVIEW_MODE_FROM, c.get("system"), c.get("code"))
            if mode is None:
                report.unknown_code(f"{path}.mode", c.get("system"), c.get("code"))
            else:
                fields["mode"] = mode
        elif url == "outcome":
            c = sub.get("valueCoding") or {}
            outcome = table_code(REVIEW_OUTCOME_FROM, c.get("system"), c.get("code"))
            if outcome is None:
                report.unknown_code(f"{path}.outcome", c.get("system"), c.get("code"))
            fields["outcome"] = outcome
        elif url == "reviewer":
            fields["reviewer"] = sub["valueString"]
        elif url == "notes":
            fields["notes"] = sub["valueString"]
        elif url == "goalUpdate":
            parts = {s.get("url"): s for s in sub.get("extension") or []}
            gid = ref_part_id(parts.get("goal", {}).get("valueReference") or {}, "goal",
                              case_id, index)
            codings = (parts.get("achievement", {}).get("valueCodeableConcept") or {}).get(
                "coding") or []
            achievement = next((table_code(GOAL_ACHIEVEMENT_FROM, c.get("system"),
                                           c.get("code")) for c in codings), None)
            if gid is None or achievement is None:
                report.unsupported(f"{path}.goalUpdate", "goal update not understood",
                                   severity="warning")
                continue
            fields["goal_updates"][gid] = achievement
    if "due" not in fields:
        report.unsupported(path, "a review without a due date is not kept", severity="warning")
        return None
    return cases.Review(**fields)


def episode_from_fhir(data: dict[str, Any], report: Report | None = None,
                      index: dict[str, str] | None = None) -> dict[str, Any]:
    """The case-level fields of an EpisodeOfCare, as keyword arguments of ``cases.Case``
    (without patient, plan, team, conditions, notes and funding), plus ``assessment``
    (conditions still empty) and ``condition_refs`` (the ranked diagnosis references)."""
    report = report if report is not None else Report()
    index = index or {}
    if data.get("resourceType") != "EpisodeOfCare":
        raise MappingError("resourceType", "expected an EpisodeOfCare")
    case_id = cast(str, find_hub_identifier(data, KIND) or data.get("id"))
    model = None
    program = None
    for i, t in enumerate(data.get("type") or []):
        for c in t.get("coding") or []:
            found = table_code(CASE_MODEL_FROM, c.get("system"), c.get("code"))
            if found is not None and model is None:
                model = found
            elif c.get("system") == PROGRAM_SYSTEM and program is None:
                program = c.get("code")
            elif found is None:
                report.unknown_code(f"EpisodeOfCare.type[{i}]", c.get("system"), c.get("code"),
                                    c.get("display"), "episode type kept in the store only")
    setting_ext = find_ext(data, EXT_CASE_SETTING)
    setting = None
    if setting_ext is not None:
        c = setting_ext.get("valueCoding") or {}
        setting = table_code(CASE_SETTING_FROM, c.get("system"), c.get("code"))
        if setting is None:
            report.unknown_code("EpisodeOfCare.extension[case-setting]", c.get("system"),
                                c.get("code"))
    period = data.get("period") or {}
    if not period.get("start"):
        raise MappingError("EpisodeOfCare.period.start", "the case needs an opening time")
    fields: dict[str, Any] = {
        "id": case_id,
        "model": model,
        "setting": setting,
        "status": _case_status_from(data, data.get("status"), "EpisodeOfCare", report),
        "program": program,
        "case_manager": party_from_reference(data.get("careManager"),
                                             "EpisodeOfCare.careManager", report),
        "managing_organization": party_from_reference(
            data.get("managingOrganization"), "EpisodeOfCare.managingOrganization", report),
        "opened_at": parse_datetime(period["start"], "EpisodeOfCare.period.start"),
        "closed_at": parse_datetime(period.get("end"), "EpisodeOfCare.period.end"),
    }
    version = find_ext(data, EXT_CASE_VERSION)
    if version is not None:
        fields["version"] = version["valueInteger"]
    interval = find_ext(data, EXT_REVIEW_INTERVAL)
    if interval is not None:
        fields["review_interval_days"] = int(interval["valueDuration"]["value"])
    assessment = find_ext(data, EXT_ASSESSMENT)
    fields["assessment"] = _assessment_from(assessment, report) if assessment else None
    fields["reviews"] = [r for r in (
        _review_from(e, f"EpisodeOfCare.extension[review][{i}]", case_id, index, report)
        for i, e in enumerate(find_exts(data, EXT_REVIEW))) if r is not None]
    history = []
    for i, h in enumerate(data.get("statusHistory") or []):
        path = f"EpisodeOfCare.statusHistory[{i}]"
        status = _case_status_from(h, h.get("status"), path, report)
        reason = find_ext(h, EXT_STATUS_REASON)
        by = find_ext(h, EXT_STATUS_BY)
        history.append(cases.StatusChange(
            status=status.value,
            at=cast(datetime, parse_datetime((h.get("period") or {}).get("start"),
                                             f"{path}.period.start")),
            reason=reason["valueString"] if reason else None,
            by=by["valueString"] if by else None))
    fields["status_history"] = history
    diagnosis = sorted(enumerate(data.get("diagnosis") or []),
                       key=lambda p: (p[1].get("rank", 10**9), p[0]))
    fields["condition_refs"] = [d.get("condition") or {} for _, d in diagnosis]
    return fields
