"""Example resources of the FHIR API tests (valid R4)."""

from __future__ import annotations


def patient(mrn: str = "123", family: str = "Müller", given: str = "Anna") -> dict:
    return {"resourceType": "Patient",
            "identifier": [{"system": "http://hospital.example/mrn", "value": mrn}],
            "name": [{"family": family, "given": [given]}], "gender": "female",
            "birthDate": "1950-04-02"}


def organization(name: str = "Sunrise Home Health") -> dict:
    return {"resourceType": "Organization", "name": name, "active": True}


def service_request(patient_ref: str, performer: str | None = None) -> dict:
    sr = {"resourceType": "ServiceRequest", "status": "active", "intent": "order",
          "code": {"coding": [{"system": "http://snomed.info/sct", "code": "385763009",
                               "display": "Hospice care"}]},
          "subject": {"reference": patient_ref}, "authoredOn": "2024-03-01"}
    if performer:
        sr["performer"] = [{"reference": performer}]
    return sr


def task(patient_ref: str, focus: str | None = None, owner: str | None = None,
         status: str = "requested", ident: str | None = None) -> dict:
    t = {"resourceType": "Task", "status": status, "intent": "order",
         "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code",
                              "code": "fulfill"}]},
         "for": {"reference": patient_ref}, "authoredOn": "2024-03-01T10:00:00Z",
         "requester": {"reference": "Organization/hub"}}
    if focus:
        t["focus"] = {"reference": focus}
    if owner:
        t["owner"] = {"reference": owner}
    if ident:
        t["identifier"] = [{"system": "http://hub.example/referral", "value": ident}]
    return t
