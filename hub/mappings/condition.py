"""Condition <-> an assessed condition of the case (``Case.assessment.conditions``)."""

from __future__ import annotations

from typing import Any

from hub import cases
from hub.mappings.codes import (
    CONDITION_CATEGORY_CODES,
    CONDITION_CATEGORY_FROM,
    CONDITION_CLINICAL_STATUS,
    CONDITION_CLINICAL_STATUS_FROM,
)
from hub.mappings.datatypes import (
    code_from_concept,
    code_to_concept,
    concept,
    concept_lookup,
    fhir_date,
    narrative,
    parse_date,
)
from hub.mappings.errors import MappingError, Report
from hub.mappings.identity import find_hub_identifier, hub_identifier, reference, resource_id
from hub.mappings.patient import patient_reference

KIND = "condition"


def condition_id(case_id: str, condition_id_: str) -> str:
    return resource_id(case_id, KIND, condition_id_)


def condition_reference(case_id: str, cond_id: str, display: str | None = None) -> dict[str, Any]:
    return reference("Condition", case_id, KIND, cond_id, display)


def condition_to_fhir(case: cases.Case, cond: cases.Condition) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Condition",
        "id": condition_id(case.id, cond.id),
        "text": narrative("Condition", [("code", cond.code.display or cond.code.code),
                                        ("status", cond.clinical_status.value)]),
        "identifier": [hub_identifier(case.id, KIND, cond.id)],
        "clinicalStatus": concept(*CONDITION_CLINICAL_STATUS[cond.clinical_status]),
        "category": [concept(*CONDITION_CATEGORY_CODES[cond.category])],
        "code": code_to_concept(cond.code),
        "subject": patient_reference(case),
    }
    if cond.onset is not None:
        out["onsetDateTime"] = fhir_date(cond.onset)
    if cond.note is not None:
        out["note"] = [{"text": cond.note}]
    return out


def condition_from_fhir(data: dict[str, Any], case_id: str | None = None,
                        report: Report | None = None) -> cases.Condition:
    """An R4 Condition as a case condition. Its id is the hub part id when it carries the hub
    identifier, else the FHIR id (stable across re-sends)."""
    report = report if report is not None else Report()
    if data.get("resourceType") != "Condition":
        raise MappingError("resourceType", "expected a Condition")
    code = code_from_concept(data.get("code"), "Condition.code")
    category = cases.ConditionCategory.PROBLEM_LIST_ITEM
    for i, cat in enumerate(data.get("category") or []):
        found_category = concept_lookup(cat, CONDITION_CATEGORY_FROM, f"Condition.category[{i}]",
                                        report)
        if found_category is not None:
            category = found_category
            break
    status = cases.ConditionStatus.ACTIVE
    if data.get("clinicalStatus"):
        found_status = concept_lookup(data["clinicalStatus"], CONDITION_CLINICAL_STATUS_FROM,
                                      "Condition.clinicalStatus", report)
        if found_status is not None:
            status = found_status
    onset = None
    if "onsetDateTime" in data:
        onset = parse_date(data["onsetDateTime"], "Condition.onsetDateTime")
    elif any(k.startswith("onset") for k in data):
        report.unsupported("Condition.onset[x]", "only onsetDateTime is kept on the case")
    notes = [n.get("text") for n in data.get("note") or [] if n.get("text")]
    part = find_hub_identifier(data, KIND, case_id) or data.get("id")
    kwargs = {"id": part} if part else {}
    return cases.Condition(code=code, category=category, clinical_status=status, onset=onset,
                           note="\n\n".join(notes) if notes else None, **kwargs)
