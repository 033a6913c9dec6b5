"""A hospital discharge as one FHIR transaction, the way a non-partner client posts it.

Patient, EpisodeOfCare, CarePlan (with the ``workflow-episodeOfCare`` extension), Goals,
CareTeam, Condition, Coverage, Encounter, ServiceRequest and Task, plus the Organizations
and Practitioners they name. Fictional data only.
"""

from __future__ import annotations

import uuid
from typing import Any

NPI = "http://hl7.org/fhir/sid/us-npi"
HOSPITAL_NPI = "1487659211"
MRN_SYSTEM = "urn:oid:2.16.840.1.113883.19.5.1"
HUB = "https://fhir-case-hub.org/fhir"
EPISODE_EXT = "http://hl7.org/fhir/StructureDefinition/workflow-episodeOfCare"
SCT = "http://snomed.info/sct"


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _concept(system: str, code: str, display: str) -> dict:
    return {"coding": [{"system": system, "code": code, "display": display}]}


class Discharge:
    """The transaction's resources by name, with their fullUrls (``bundle()``)."""

    def __init__(self, mrn: str | None = None, program: str = "trauma-rehabilitation",
                 plan_status: str = "draft") -> None:
        self.mrn = mrn or f"MRN-{uuid.uuid4().hex[:10]}"
        self.urls: dict[str, str] = {}
        self.resources: dict[str, dict[str, Any]] = {}
        u = self._name
        self.add("hospital", {"resourceType": "Organization", "name": "Lakeside General Hospital",
                              "identifier": [{"system": NPI, "value": HOSPITAL_NPI}]})
        self.add("insurer", {"resourceType": "Organization", "name": "Example Health Insurance"})
        self.add("patient", {
            "resourceType": "Patient", "identifier": [{"system": MRN_SYSTEM, "value": self.mrn}],
            "name": [{"family": "River", "given": ["Sam"]}], "gender": "male",
            "birthDate": "1984-05-12", "maritalStatus": {"text": "married"}})
        self.add("manager", {"resourceType": "Practitioner", "name": [{"text": "Alex Morgan"}]})
        self.add("physician", {"resourceType": "Practitioner",
                               "name": [{"text": "Dr Robin Vale"}]})
        self.add("condition", {
            "resourceType": "Condition",
            "clinicalStatus": _concept("http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "active", "Active"),
            "category": [_concept("http://terminology.hl7.org/CodeSystem/condition-category",
                                  "problem-list-item", "Problem List Item")],
            "code": _concept(SCT, "71620000", "Fracture of femur"),
            "subject": {"reference": u("patient")}, "onsetDateTime": "2026-10-28"})
        self.add("goal-walk", {
            "resourceType": "Goal", "lifecycleStatus": "proposed",
            "description": {"text": "Walk 500 m independently"},
            "subject": {"reference": u("patient")}, "target": [{"dueDate": "2027-02-01"}],
            "addresses": [{"reference": u("condition")}]})
        self.add("goal-home", {
            "resourceType": "Goal", "lifecycleStatus": "proposed",
            "description": {"text": "Live at home without help"},
            "subject": {"reference": u("patient")}})
        self.add("team", {
            "resourceType": "CareTeam", "status": "active", "name": "Discharge team",
            "subject": {"reference": u("patient")},
            "participant": [
                {"role": [_concept(SCT, "768832004", "Case manager")],
                 "member": {"reference": u("manager"), "display": "Alex Morgan"}},
                {"role": [_concept(SCT, "56397003", "Neurologist")],
                 "member": {"reference": u("physician"), "display": "Dr Robin Vale"},
                 "onBehalfOf": {"reference": u("hospital"),
                                "display": "Lakeside General Hospital"}}]})
        self.add("coverage", {
            "resourceType": "Coverage", "status": "active",
            "type": _concept("http://terminology.hl7.org/CodeSystem/v3-ActCode", "HIP",
                             "health insurance plan policy"),
            "subscriberId": "HI-5550001", "beneficiary": {"reference": u("patient")},
            "relationship": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship",
                "code": "self"}]},
            "payor": [{"reference": u("insurer"), "display": "Example Health Insurance"}]})
        self.add("episode", {
            "resourceType": "EpisodeOfCare", "status": "planned",
            "extension": [{"url": f"{HUB}/StructureDefinition/case-setting", "valueCoding": {
                "system": f"{HUB}/CodeSystem/case-setting", "code": "hospital"}}],
            "type": [_concept(f"{HUB}/CodeSystem/cm-model", "clinical",
                              "Clinical case management"),
                     {"coding": [{"system": f"{HUB}/CodeSystem/program", "code": program}]}],
            "diagnosis": [{"condition": {"reference": u("condition")}, "rank": 1}],
            "patient": {"reference": u("patient")},
            "managingOrganization": {"reference": u("hospital")},
            "period": {"start": "2026-11-30T08:00:00Z"},
            "careManager": {"reference": u("manager"), "display": "Alex Morgan"},
            "team": [{"reference": u("team")}]})
        self.add("plan", {
            "resourceType": "CarePlan", "status": plan_status, "intent": "plan",
            "extension": [{"url": EPISODE_EXT, "valueReference": {"reference": u("episode")}}],
            "title": "Discharge plan", "description": "Rehabilitation at home",
            "subject": {"reference": u("patient")},
            "goal": [{"reference": u("goal-walk")}, {"reference": u("goal-home")}]})
        self.add("admission", {
            "resourceType": "Encounter", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": "IMP", "display": "inpatient encounter"},
            "subject": {"reference": u("patient")}, "episodeOfCare": [{"reference": u("episode")}],
            "period": {"start": "2026-10-28T17:40:00Z", "end": "2026-11-29T10:00:00Z"},
            "serviceProvider": {"reference": u("hospital"),
                                "display": "Lakeside General Hospital"}})
        self.add("referral", {
            "resourceType": "ServiceRequest", "status": "draft", "intent": "order",
            "extension": [{"url": EPISODE_EXT, "valueReference": {"reference": u("episode")}}],
            "code": _concept(SCT, "91251008", "Physical therapy procedure"),
            "subject": {"reference": u("patient")},
            "reasonCode": [{"text": "physiotherapy at home after discharge"}],
            "insurance": [{"reference": u("coverage")}]})
        self.add("task", {
            "resourceType": "Task", "status": "draft", "intent": "order",
            "code": _concept("http://hl7.org/fhir/CodeSystem/task-code", "fulfill",
                             "Fulfill the focal request"),
            "focus": {"reference": u("referral")}, "for": {"reference": u("patient")}})

    def _name(self, name: str) -> str:
        return self.urls.setdefault(name, _urn())

    def add(self, name: str, resource: dict) -> None:
        self._name(name)
        self.resources[name] = resource

    def bundle(self, *names: str) -> dict:
        """The transaction (every resource, or the named ones), POST entries."""
        entries = []
        for name in names or tuple(self.resources):
            resource = self.resources[name]
            entries.append({"fullUrl": self.urls[name], "resource": resource,
                            "request": {"method": "POST", "url": resource["resourceType"]}})
        return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def ids_by_name(discharge: Discharge, response: dict, *names: str) -> dict[str, str]:
    """name -> the id the server gave it (from the transaction-response locations of the
    bundle of ``names``, default all)."""
    out = {}
    for name, entry in zip(names or discharge.resources, response["entry"]):
        out[name] = entry["response"]["location"].split("/")[1]
    return out
