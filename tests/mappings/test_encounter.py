"""Encounter <-> case encounters: round trips, examples, hospital and agency updates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fhircheck import assert_valid
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_coverage import aware, load, new_case, parties, words

from hub import cases as c
from hub.fhir import parse_resource
from hub.mappings.encounter import (
    apply_encounter,
    encounter_from_fhir,
    encounter_to_fhir,
    needs_home_health_referral,
)
from hub.mappings.errors import MappingError, Report

UTC = UTC
encounters = st.builds(c.Encounter, kind=st.sampled_from(c.EncounterKind),
                       status=st.sampled_from(c.EncounterStatus), start=st.none() | aware,
                       end=st.none() | aware, facility=st.none() | parties,
                       reason=st.none() | words,
                       discharge_disposition=st.none() | st.sampled_from(c.DischargeDisposition),
                       referral=st.none() | st.uuids().map(str))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(encounters)
def test_encounter_round_trips_exactly(enc):
    case = new_case(encounters=[enc])
    out = encounter_to_fhir(case, enc)
    parse_resource(out)
    assert isinstance(out["class"], dict)  # R4: one Coding
    assert encounter_from_fhir(out, case.id) == enc
    assert encounter_from_fhir(out) == enc


def test_classes_and_home_health_disposition():
    case = new_case()
    e = c.Encounter(kind=c.EncounterKind.INPATIENT, status=c.EncounterStatus.FINISHED,
                    discharge_disposition=c.DischargeDisposition.HOME_HEALTH)
    out = encounter_to_fhir(case, e)
    assert out["class"] == {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                            "code": "IMP", "display": "inpatient encounter"}
    assert out["hospitalization"]["dischargeDisposition"]["coding"][0]["system"] == \
        "https://www.nubc.org/CodeSystem/PatDischargeStatus"
    assert out["hospitalization"]["dischargeDisposition"]["coding"][0]["code"] == "06"
    codes = {k: encounter_to_fhir(case, c.Encounter(kind=k))["class"]["code"]
             for k in c.EncounterKind}
    assert codes == {c.EncounterKind.INPATIENT: "IMP", c.EncounterKind.EMERGENCY: "EMER",
                     c.EncounterKind.HOME_VISIT: "HH", c.EncounterKind.AMBULATORY: "AMB",
                     c.EncounterKind.VIRTUAL: "VR"}


def test_acute_class_and_r5_shapes():
    data = {"resourceType": "Encounter", "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": "ACUTE"}}
    assert encounter_from_fhir(data).kind == c.EncounterKind.INPATIENT
    with pytest.raises(MappingError) as err:
        encounter_from_fhir({**data, "class": [{"coding": []}]})
    assert err.value.path == "Encounter.class"
    with pytest.raises(MappingError) as err:
        encounter_from_fhir({**data, "status": "completed"})
    assert err.value.path == "Encounter.status"
    report = Report()
    e = encounter_from_fhir({**data, "class": {"system": "http://x", "code": "Q"}}, report=report)
    assert e.kind == c.EncounterKind.AMBULATORY and report.unknown_codes[0].code == "Q"


def _hospital(status, disposition=None, end=None):
    data = {"resourceType": "Encounter", "id": "adm-1",
            "identifier": [{"system": "http://hospital.example.org/visits", "value": "V1"}],
            "status": status,
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": {"reference": "Patient/p"},
            "period": {"start": "2024-03-01T10:00:00Z", **({"end": end} if end else {})},
            "serviceProvider": {"reference": "Organization/st-marys", "display": "St Mary's"}}
    if disposition:
        data["hospitalization"] = {"dischargeDisposition": {"coding": [disposition]}}
    return data


def test_hospital_admission_then_discharge_to_home_health_is_flagged():
    case = new_case()
    r1 = apply_encounter(case, _hospital("in-progress"))
    assert len(case.encounters) == 1 and not needs_home_health_referral(r1)
    r2 = apply_encounter(case, _hospital(
        "finished", {"system": "https://www.nubc.org/CodeSystem/PatDischargeStatus", "code": "06"},
        end="2024-03-09T12:00:00Z"))
    assert len(case.encounters) == 1
    e = case.encounters[0]
    assert e.status == c.EncounterStatus.FINISHED
    assert e.discharge_disposition == c.DischargeDisposition.HOME_HEALTH
    assert e.end == datetime(2024, 3, 9, 12, tzinfo=UTC)
    assert needs_home_health_referral(r2)
    # the same discharge again is not a new event
    assert not needs_home_health_referral(apply_encounter(case, _hospital(
        "finished", {"system": "https://www.nubc.org/CodeSystem/PatDischargeStatus", "code": "06"},
        end="2024-03-09T12:00:00Z")))


def test_discharge_home_r4_code_is_not_home_health():
    case = new_case()
    r = apply_encounter(case, _hospital("finished", {
        "system": "http://terminology.hl7.org/CodeSystem/discharge-disposition", "code": "home"}))
    assert case.encounters[0].discharge_disposition == c.DischargeDisposition.HOME
    assert not needs_home_health_referral(r)


def test_agency_visit_links_referral_and_starts_it():
    case = new_case()
    ref = c.Referral(service=c.Code("http://snomed.info/sct", "385763009"),
                     agency=c.Party("Agency", reference="Organization/agency"),
                     status=c.ReferralStatus.ACCEPTED)
    case.referrals.append(ref)
    visit = c.Encounter(kind=c.EncounterKind.HOME_VISIT, status=c.EncounterStatus.FINISHED,
                        start=datetime(2024, 3, 10, 9, tzinfo=UTC), referral=ref.id,
                        facility=c.Party("Agency", reference="Organization/agency"))
    data = encounter_to_fhir(case, visit)
    del data["basedOn"][0]["identifier"]  # the agency only sends the reference
    data["identifier"] = [{"system": "http://agency.example.org/visits", "value": "77"}]
    apply_encounter(case, data)
    assert case.encounters[0].referral == ref.id
    assert ref.status == c.ReferralStatus.IN_PROGRESS and ref.history[-1].by == "owner"


EXAMPLE_FILES = load("Encounter")


def _norm(value):
    if value is None:
        return None
    if len(value) == 10:
        value += "T00:00:00+00:00"
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _covered(data):
    period = data.get("period") or {}
    disp = (data.get("hospitalization") or {}).get("dischargeDisposition")
    sp = data.get("serviceProvider") or {}
    return {"status": data["status"], "class": data["class"]["code"],
            "start": _norm(period.get("start")), "end": _norm(period.get("end")),
            "reason": next((r["text"] for r in data.get("reasonCode") or [] if r.get("text")), None),
            "provider": sp.get("reference"), "disposition": bool(disp)}


@pytest.mark.parametrize("name,data", EXAMPLE_FILES, ids=[n for n, _ in EXAMPLE_FILES])
def test_examples_read_and_write_back(name, data):
    report = Report()
    enc = encounter_from_fhir(data, report=report)
    out = encounter_to_fhir(new_case(encounters=[enc]), enc)
    parse_resource(out)
    expected, got = _covered(data), _covered(out)
    if expected["class"] == "ACUTE":
        expected["class"] = "IMP"
    if report.unknown_codes:
        expected["disposition"] = False
    assert got == expected


def test_emitted_encounters_validate(tmp_path):
    resources = []
    for _, data in EXAMPLE_FILES:
        enc = encounter_from_fhir(data)
        resources.append(encounter_to_fhir(new_case(encounters=[enc]), enc))
    case = new_case()
    for kind in c.EncounterKind:
        for d in c.DischargeDisposition:
            e = c.Encounter(kind=kind, status=c.EncounterStatus.FINISHED,
                            start=datetime(2024, 1, 1, 8, tzinfo=UTC),
                            end=datetime(2024, 1, 2, 8, tzinfo=UTC), reason="why",
                            discharge_disposition=d, referral="r1",
                            facility=c.Party("H", reference="Organization/h"))
            resources.append(encounter_to_fhir(case, e))
    assert_valid(resources, tmp_path)


NUBC_HOME_HEALTH = {"system": "https://www.nubc.org/CodeSystem/PatDischargeStatus", "code": "06"}


def test_discharge_sent_as_its_own_resource_finishes_the_admission():
    # the same visit number, listed after the discharge's own identifier, on another resource
    case = new_case()
    apply_encounter(case, _hospital("in-progress"))
    discharge = _hospital("finished", NUBC_HOME_HEALTH, end="2024-03-09T12:00:00Z")
    discharge["id"] = "dis-1"
    discharge["identifier"].insert(0, {"system": "http://hospital.example.org/discharges",
                                       "value": "D1"})
    report = apply_encounter(case, discharge)
    [enc] = case.encounters
    assert (enc.status, enc.discharge_disposition) == (c.EncounterStatus.FINISHED,
                                                      c.DischargeDisposition.HOME_HEALTH)
    assert needs_home_health_referral(report)


def test_discharge_without_the_visit_number_ends_the_open_stay_it_began_with():
    case = new_case()
    admission = _hospital("in-progress")
    del admission["identifier"]
    apply_encounter(case, admission)
    discharge = _hospital("finished", end="2024-03-09T12:00:00Z")
    discharge["id"] = "dis-2"
    discharge["identifier"] = [{"system": "http://hospital.example.org/discharges",
                                "value": "D2"}]
    apply_encounter(case, discharge)
    [enc] = case.encounters
    assert enc.status == c.EncounterStatus.FINISHED and enc.end is not None
    # a later stay at the same hospital is a new encounter
    again = _hospital("in-progress")
    again.update(id="adm-2", identifier=[{"system": "http://hospital.example.org/visits",
                                          "value": "V2"}],
                 period={"start": "2024-04-01T10:00:00Z"})
    apply_encounter(case, again)
    assert [e.status for e in case.encounters] == [c.EncounterStatus.FINISHED,
                                                   c.EncounterStatus.IN_PROGRESS]
