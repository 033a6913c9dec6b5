"""Patient <-> the case's patient (``Case.patient``)."""

from __future__ import annotations

from typing import Any

from hub import cases
from hub.mappings.codes import GENDER, GENDER_FROM
from hub.mappings.datatypes import (
    contact_from_fhir,
    contact_to_fhir,
    fhir_date,
    identifier_from_fhir,
    identifier_to_fhir,
    narrative,
    parse_date,
)
from hub.mappings.errors import MappingError, Report
from hub.mappings.identity import hub_identifier, is_hub_system, resource_id

KIND = "patient"


def patient_id(case_id: str) -> str:
    return resource_id(case_id, KIND)


def case_patient_id(case: cases.Case) -> str:
    """The id of the case's Patient: the one it was matched to when opened (one patient per
    identity), else the case's own."""
    return case.patient_id or patient_id(case.id)


def patient_reference(case: cases.Case) -> dict[str, Any]:
    return {"reference": f"Patient/{case_patient_id(case)}", "display": display_name(case.patient)}


def display_name(patient: cases.Patient) -> str:
    return " ".join([*patient.name.given, patient.name.family])


def patient_to_fhir(case: cases.Case) -> dict[str, Any]:
    """The case's patient as an R4 Patient (hub identifier first, then the patient's own)."""
    p = case.patient
    name: dict[str, Any] = {"use": "official", "family": p.name.family}
    if p.name.given:
        name["given"] = list(p.name.given)
    out: dict[str, Any] = {
        "resourceType": "Patient",
        "id": case_patient_id(case),
        "text": narrative("Patient", [("name", display_name(p)),
                                      ("birth date", fhir_date(p.birth_date) or ""),
                                      ("gender", p.gender.value)]),
        "identifier": [hub_identifier(case.id, KIND)] + [identifier_to_fhir(i)
                                                         for i in p.identifiers],
        "name": [name],
        "gender": GENDER[p.gender],
    }
    out.update(contact_to_fhir(p.contact))
    if p.birth_date is not None:
        out["birthDate"] = fhir_date(p.birth_date)
    return out


def _pick_name(names: list[dict[str, Any]]) -> tuple[int, dict[str, Any]] | None:
    with_family = [(i, n) for i, n in enumerate(names) if n.get("family")]
    for i, n in with_family:
        if n.get("use") == "official":
            return i, n
    for i, n in with_family:
        if n.get("use") in (None, "usual"):
            return i, n
    return with_family[0] if with_family else None


def patient_from_fhir(data: dict[str, Any], report: Report | None = None) -> cases.Patient:
    """An R4 Patient as the case's patient; MappingError if it has no family name."""
    report = report if report is not None else Report()
    if data.get("resourceType") != "Patient":
        raise MappingError("resourceType", "expected a Patient")
    picked = _pick_name(data.get("name") or [])
    if picked is None:
        raise MappingError("Patient.name", "the case needs a patient name with a family name")
    index, name = picked
    if len(data.get("name") or []) > 1:
        report.unsupported("Patient.name", f"only name[{index}] is kept on the case")
    gender = cases.Gender.UNKNOWN
    if data.get("gender") is not None:
        known = GENDER_FROM.get(data["gender"])
        if known is None:
            report.unknown_code("Patient.gender", "http://hl7.org/fhir/administrative-gender",
                                data["gender"])
        else:
            gender = known
    identifiers = []
    for i, ident in enumerate(data.get("identifier") or []):
        if is_hub_system(ident.get("system")):
            continue
        mapped = identifier_from_fhir(ident, f"Patient.identifier[{i}]", report)
        if mapped is not None:
            identifiers.append(mapped)
    return cases.Patient(
        name=cases.HumanName(family=name["family"], given=list(name.get("given") or [])),
        birth_date=parse_date(data.get("birthDate"), "Patient.birthDate"),
        gender=gender,
        identifiers=identifiers,
        contact=contact_from_fhir(data),
    )
