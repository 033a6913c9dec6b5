"""Terminology in one place: every code the mappings emit or read, with its system URL.

Each table maps an internal enum of ``hub.cases`` to FHIR codes; reverse lookups are built
from the same tables so the two directions cannot drift apart. Sources: ../shared/DOMAIN.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

#: Canonical base of the hub's own CodeSystems, NamingSystems and StructureDefinitions.
HUB_CANONICAL = "https://fhir-case-hub.org/fhir"
#: The name the hub gives a case's CareTeam (``Care team of <patient>``); a team a client
#: named keeps its name (``hub.mappings.merge``).
TEAM_NAME_PREFIX = "Care team of "

# --- common systems ---------------------------------------------------------------------
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

# ======================================================================================
# SECTION A: case, patient, episode, conditions, plan, goals, care team.
# (edited only by the mappings helper A; keep additions inside this section)
# ======================================================================================

# Tables are ``{internal enum value: (system, code, display)}`` or ``{value: code}`` when
# the FHIR element is a plain ``code``; ``reverse()`` builds the inbound direction from the
# forward table (first entry wins where several internal values share one FHIR code).

from hub import cases  # noqa: E402  (the enums: cases.CaseStatus, ...)

_E = TypeVar("_E")


def reverse(table: Mapping[_E, str | tuple[str, str, str]]) -> dict[Any, _E]:
    """Inbound lookup built from a forward table: FHIR code (or (system, code)) -> enum.

    Where several internal values map to one FHIR code the first one listed wins; the
    mappings carry the exact internal value in a hub extension when it matters.
    """
    out: dict[Any, _E] = {}
    for internal, fhir in table.items():
        key = (fhir[0], fhir[1]) if isinstance(fhir, tuple) else fhir
        out.setdefault(key, internal)
    return out


# --- hub-owned canonicals ---------------------------------------------------------------
def hub_naming_system(kind: str) -> str:
    """The identifier system of the hub's business identifiers for one kind of resource."""
    return f"{HUB_CANONICAL}/NamingSystem/{kind}"


def hub_extension(name: str) -> str:
    return f"{HUB_CANONICAL}/StructureDefinition/{name}"


CM_MODEL_SYSTEM = f"{HUB_CANONICAL}/CodeSystem/cm-model"
PROGRAM_SYSTEM = f"{HUB_CANONICAL}/CodeSystem/program"
CASE_STATUS_SYSTEM = f"{HUB_CANONICAL}/CodeSystem/case-status"
CASE_SETTING_SYSTEM = f"{HUB_CANONICAL}/CodeSystem/case-setting"
REVIEW_MODE_SYSTEM = f"{HUB_CANONICAL}/CodeSystem/review-mode"
REVIEW_OUTCOME_SYSTEM = f"{HUB_CANONICAL}/CodeSystem/review-outcome"

EXT_CASE_STATUS = hub_extension("case-status")
EXT_CASE_SETTING = hub_extension("case-setting")
EXT_CASE_VERSION = hub_extension("case-version")
EXT_REVIEW_INTERVAL = hub_extension("review-interval")
EXT_ASSESSMENT = hub_extension("case-assessment")
EXT_REVIEW = hub_extension("case-review")
EXT_STATUS_REASON = hub_extension("status-reason")
EXT_STATUS_BY = hub_extension("status-changed-by")
EXT_PLAN_APPROVAL = hub_extension("plan-approval")
EXT_PLAN_REVISED = hub_extension("plan-revised")
EXT_PLANNED_ACTIVITY = hub_extension("planned-activity")

# --- systems used by section A ----------------------------------------------------------
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
US_CORE_CONDITION_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
GOAL_ACHIEVEMENT = "http://terminology.hl7.org/CodeSystem/goal-achievement"
US_CORE_CAREPLAN_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/careplan-category"
ASSESS_PLAN = (US_CORE_CAREPLAN_CATEGORY, "assess-plan", "Assessment and Plan of Treatment")
CARETEAM_CATEGORY_LONGITUDINAL = (LOINC, "LA28865-6",
                                  "Longitudinal care-coordination focused care team")
UCUM = "http://unitsofmeasure.org"

# --- tables -----------------------------------------------------------------------------
#: Case status -> EpisodeOfCare.status (episode-of-care-status). Not one-to-one: the exact
#: hub status travels in the EXT_CASE_STATUS extension.
CASE_STATUS_TO_EPISODE: dict[cases.CaseStatus, str] = {
    cases.CaseStatus.INTAKE: "planned",
    cases.CaseStatus.ASSESSMENT: "planned",
    cases.CaseStatus.PLANNING: "planned",
    cases.CaseStatus.ACTIVE: "active",
    cases.CaseStatus.TRANSITION: "active",
    cases.CaseStatus.ON_HOLD: "onhold",
    cases.CaseStatus.CLOSED: "finished",
    cases.CaseStatus.CANCELLED: "cancelled",
}
EPISODE_TO_CASE_STATUS = reverse(CASE_STATUS_TO_EPISODE)
#: waitlist has no hub counterpart; a waitlisted episode is still at intake.
EPISODE_TO_CASE_STATUS.setdefault("waitlist", cases.CaseStatus.INTAKE)

#: Case-management model -> the hub cm-model CodeSystem (EpisodeOfCare.type, CarePlan.category).
CASE_MODEL: dict[cases.CaseModel, tuple[str, str, str]] = {
    cases.CaseModel.STRENGTHS_BASED: (CM_MODEL_SYSTEM, "strengths-based", "Strengths-based case management"),
    cases.CaseModel.CLINICAL: (CM_MODEL_SYSTEM, "clinical", "Clinical case management"),
    cases.CaseModel.BROKERAGE: (CM_MODEL_SYSTEM, "brokerage", "Brokerage case management"),
    cases.CaseModel.INTENSIVE: (CM_MODEL_SYSTEM, "intensive", "Intensive case management"),
}
CASE_MODEL_FROM = reverse(CASE_MODEL)

CASE_SETTING: dict[cases.Setting, tuple[str, str, str]] = {
    cases.Setting.HOSPITAL: (CASE_SETTING_SYSTEM, "hospital", "Hospital"),
    cases.Setting.HOME_HEALTH: (CASE_SETTING_SYSTEM, "home-health", "Home health"),
    cases.Setting.INSURER: (CASE_SETTING_SYSTEM, "insurer", "Insurer"),
    cases.Setting.REHABILITATION: (CASE_SETTING_SYSTEM, "rehabilitation", "Rehabilitation"),
    cases.Setting.WORKERS_COMPENSATION: (CASE_SETTING_SYSTEM, "workers-compensation",
                                   "Workers' compensation"),
}
CASE_SETTING_FROM = reverse(CASE_SETTING)

#: Patient.gender (administrative-gender): one to one.
GENDER: dict[cases.Gender, str] = {g: g.value for g in cases.Gender}
GENDER_FROM = reverse(GENDER)

#: Identifier.type (v2-0203). OTHER carries no type.
IDENTIFIER_KIND: dict[cases.IdentifierKind, tuple[str, str, str]] = {
    cases.IdentifierKind.MRN: (V2_0203, "MR", "Medical record number"),
    cases.IdentifierKind.MEMBER_ID: (V2_0203, "MB", "Member Number"),
    cases.IdentifierKind.NATIONAL: (V2_0203, "NI", "National unique individual identifier"),
}
IDENTIFIER_KIND_FROM = reverse(IDENTIFIER_KIND)

CONDITION_CATEGORY_CODES: dict[cases.ConditionCategory, tuple[str, str, str]] = {
    cases.ConditionCategory.PROBLEM_LIST_ITEM: (CONDITION_CATEGORY, "problem-list-item",
                                          "Problem List Item"),
    cases.ConditionCategory.HEALTH_CONCERN: (US_CORE_CONDITION_CATEGORY, "health-concern",
                                       "Health Concern"),
}
CONDITION_CATEGORY_FROM = reverse(CONDITION_CATEGORY_CODES)
# Health concern is also published in the terminology.hl7.org system (US Core 6+).
CONDITION_CATEGORY_FROM.setdefault((CONDITION_CATEGORY, "health-concern"),
                                   cases.ConditionCategory.HEALTH_CONCERN)

CONDITION_CLINICAL_STATUS: dict[cases.ConditionStatus, tuple[str, str, str]] = {
    s: (CONDITION_CLINICAL, s.value, s.value.capitalize()) for s in cases.ConditionStatus
}
CONDITION_CLINICAL_STATUS_FROM = reverse(CONDITION_CLINICAL_STATUS)

#: CarePlan.status (request-status): one to one.
PLAN_STATUS: dict[cases.PlanStatus, str] = {s: s.value for s in cases.PlanStatus}
PLAN_STATUS_FROM = reverse(PLAN_STATUS)

#: CarePlan.activity.detail.status (care-plan-activity-status): one to one.
ACTIVITY_STATUS: dict[cases.ActivityStatus, str] = {s: s.value for s in cases.ActivityStatus}
ACTIVITY_STATUS_FROM = reverse(ACTIVITY_STATUS)

#: CarePlan.activity.detail.kind (care-plan-activity-kind = resource type names).
ACTIVITY_KIND: dict[cases.ActivityKind, str] = {k: k.value for k in cases.ActivityKind}
ACTIVITY_KIND_FROM = reverse(ACTIVITY_KIND)

#: Timing.repeat.periodUnit (units-of-time).
PERIOD_UNIT: dict[cases.PeriodUnit, str] = {u: u.value for u in cases.PeriodUnit}
PERIOD_UNIT_FROM = reverse(PERIOD_UNIT)

#: Goal.lifecycleStatus (goal-status): one to one.
GOAL_LIFECYCLE: dict[cases.GoalLifecycle, str] = {s: s.value for s in cases.GoalLifecycle}
GOAL_LIFECYCLE_FROM = reverse(GOAL_LIFECYCLE)

GOAL_ACHIEVEMENT_CODES: dict[cases.GoalAchievement, tuple[str, str, str]] = {
    cases.GoalAchievement.IN_PROGRESS: (GOAL_ACHIEVEMENT, "in-progress", "In Progress"),
    cases.GoalAchievement.IMPROVING: (GOAL_ACHIEVEMENT, "improving", "Improving"),
    cases.GoalAchievement.WORSENING: (GOAL_ACHIEVEMENT, "worsening", "Worsening"),
    cases.GoalAchievement.NO_CHANGE: (GOAL_ACHIEVEMENT, "no-change", "No Change"),
    cases.GoalAchievement.ACHIEVED: (GOAL_ACHIEVEMENT, "achieved", "Achieved"),
    cases.GoalAchievement.SUSTAINING: (GOAL_ACHIEVEMENT, "sustaining", "Sustaining"),
    cases.GoalAchievement.NOT_ACHIEVED: (GOAL_ACHIEVEMENT, "not-achieved", "Not Achieved"),
    cases.GoalAchievement.NO_PROGRESS: (GOAL_ACHIEVEMENT, "no-progress", "No Progress"),
    cases.GoalAchievement.NOT_ATTAINABLE: (GOAL_ACHIEVEMENT, "not-attainable", "Not Attainable"),
}
GOAL_ACHIEVEMENT_FROM = reverse(GOAL_ACHIEVEMENT_CODES)

#: Care-team member kind -> the FHIR resource type the member reference points to.
MEMBER_KIND: dict[cases.MemberKind, str] = {
    cases.MemberKind.PRACTITIONER: "Practitioner",
    cases.MemberKind.PRACTITIONER_ROLE: "PractitionerRole",
    cases.MemberKind.ORGANIZATION: "Organization",
    cases.MemberKind.RELATED_PERSON: "RelatedPerson",
    cases.MemberKind.PATIENT: "Patient",
}
MEMBER_KIND_FROM = reverse(MEMBER_KIND)

REVIEW_MODE: dict[cases.ReviewMode, tuple[str, str, str]] = {
    m: (REVIEW_MODE_SYSTEM, m.value, m.value.replace("-", " ").capitalize()) for m in cases.ReviewMode
}
REVIEW_MODE_FROM = reverse(REVIEW_MODE)
REVIEW_OUTCOME: dict[cases.ReviewOutcome, tuple[str, str, str]] = {
    o: (REVIEW_OUTCOME_SYSTEM, o.value, o.value.replace("-", " ").capitalize())
    for o in cases.ReviewOutcome
}
REVIEW_OUTCOME_FROM = reverse(REVIEW_OUTCOME)

#: SNOMED CT care-team roles used by the hub (CareTeam.participant.role); the DOMAIN.md
#: table (checked against the HRex NUCC<->SNOMED ConceptMap) plus a few specialists.
CARE_TEAM_ROLES: dict[str, tuple[str, str, str]] = {
    "case-manager": (SNOMED, "768832004", "Case manager"),
    "home-health-aide": (SNOMED, "768730001", "Home health aide"),
    "hospitalist": (SNOMED, "768837005", "Hospitalist"),
    "nephrologist": (SNOMED, "11911009", "Nephrologist"),
    "physician": (SNOMED, "158965000", "Medical practitioner"),
    "attending-physician": (SNOMED, "405279007", "Attending physician"),
    "primary-care-physician": (SNOMED, "62247001", "Family medicine specialist"),
    "neurologist": (SNOMED, "56397003", "Neurologist"),
    "psychologist": (SNOMED, "59944000", "Psychologist"),
    "orthopedic-surgeon": (SNOMED, "22731001", "Orthopedic surgeon"),
    "infectious-disease-physician": (SNOMED, "76899008", "Infectious diseases specialist"),
    "physiotherapist": (SNOMED, "36682004", "Physiotherapist"),
    "occupational-therapist": (SNOMED, "80546007", "Occupational therapist"),
    "nurse-practitioner": (SNOMED, "224571005", "Nurse practitioner"),
    "registered-nurse": (SNOMED, "224535009", "Registered nurse"),
    "social-worker": (SNOMED, "106328005", "Social worker"),
    "pharmacist": (SNOMED, "46255001", "Pharmacist"),
    "caregiver": (SNOMED, "133932002", "Caregiver"),
    "patient": (SNOMED, "116154003", "Patient"),
    "healthcare-professional": (SNOMED, "223366009", "Healthcare professional"),
}

# (end of section A)

# ======================================================================================
# SECTION B: funding/coverage, insurer (eligibility, PAS), encounters, referrals/tasks.
# (edited only by the mappings helper B; keep additions inside this section)
# ======================================================================================

# --- B.1 funding / Coverage -------------------------------------------------------------
# Sources: DOMAIN.md §2 (Coverage.type, relationship, class); R4 coverage-type VS.
COVERAGE_SELFPAY = "http://terminology.hl7.org/CodeSystem/coverage-selfpay"
COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"
SUBSCRIBER_RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
SOP = "https://nahdo.org/sopt"  # Source of Payment Typology (US IGs)

#: FundingKind value -> the Coverage.type coding the hub emits (system, code, display).
FUNDING_TYPE: dict[str, tuple[str, str, str]] = {
    "insurance": (V3_ACT_CODE, "HIP", "health insurance plan policy"),
    "public": (V3_ACT_CODE, "PUBLICPOL", "public healthcare"),
    "charity": (V3_ACT_CODE, "CHAR", "charity program"),
    "self-pay": (COVERAGE_SELFPAY, "pay", "PAY"),
    "workers-compensation": (V3_ACT_CODE, "WCBPOL", "worker's compensation"),
}
#: Further inbound v3 ActCoverageTypeCode codes and the funding kind each means.
FUNDING_TYPE_INBOUND: dict[tuple[str, str], str] = {
    **{(V3_ACT_CODE, c): "insurance" for c in (
        "HIP", "EHCPOL", "MCPOL", "HMO", "PPO", "POS", "LTC", "DISEASE", "DENTAL", "DRUGPOL",
        "HSAPOL", "AUTOPOL", "COL", "UNINSMOT", "MENTPOL", "SUBPOL", "VISPOL", "CANC",
        "TRAUMA", "LIFE", "ANNU", "TLIFE", "ULIFE", "PNC", "REI", "SURPL", "UMBRL", "FLEXP")},
    **{(V3_ACT_CODE, c): "public" for c in (
        "PUBLICPOL", "MANDPOL", "SUBSIDIZ", "SUBSIDMC", "SUBSUPP", "SAFNET", "SOCIAL", "VET",
        "MILITARY", "GOVEMP", "HIRISK", "IND", "DENTPRG", "DISEASEPRG", "CANPRG", "ENDRENAL",
        "HIVAIDS", "MANDPOL", "MENTPRG", "SUBPRG", "SUBSIDFFS", "WRKPROG")},
    (V3_ACT_CODE, "CHAR"): "charity",
    (V3_ACT_CODE, "WCBPOL"): "workers-compensation",
    (COVERAGE_SELFPAY, "pay"): "self-pay",
}
#: Source of Payment Typology prefixes (the typology is hierarchical: "21" is under "2").
#: Longest prefix wins. 1 Medicare, 2 Medicaid, 3 other government, 4 corrections,
#: 5 private insurance, 6 BCBS, 7 managed care, 81 self-pay, 82 no charge (821 charity),
#: 95 workers' compensation.
SOP_FUNDING_PREFIX: dict[str, str] = {
    "1": "public", "2": "public", "3": "public", "4": "public",
    "5": "insurance", "6": "insurance", "7": "insurance",
    "81": "self-pay", "82": "charity", "95": "workers-compensation",
}
#: Coverage.class types the case record carries (FundingSource attribute -> class code).
COVERAGE_CLASS_FIELDS: dict[str, str] = {"plan": "plan", "group": "group"}

#: Coverage decisions ride on the Coverage as a hub extension (complex, one per decision).
EXT_COVERAGE_DECISION = f"{HUB_CANONICAL}/StructureDefinition/coverage-decision"
DECISION_STATUS_SYSTEM = f"{HUB_CANONICAL}/CodeSystem/coverage-decision-status"

#: Rank (1-based) of an encounter or referral in its case list, on the Encounter and on the
#: referral ServiceRequest (valuePositiveInt): the case lists them in order, and a Bundle
#: need not keep that order (Coverage has ``order``, EpisodeOfCare.diagnosis ``rank``).
EXT_CASE_RANK = f"{HUB_CANONICAL}/StructureDefinition/case-rank"

# --- B.2 encounters ------------------------------------------------------------------------
ENCOUNTER_STATUS_SYSTEM = "http://hl7.org/fhir/encounter-status"
DISCHARGE_DISPOSITION = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
NUBC_DISCHARGE = "https://www.nubc.org/CodeSystem/PatDischargeStatus"

#: EncounterKind value -> Encounter.class (v3 ActCode) the hub emits.
ENCOUNTER_CLASS: dict[str, tuple[str, str, str]] = {
    "inpatient": (V3_ACT_CODE, "IMP", "inpatient encounter"),
    "emergency": (V3_ACT_CODE, "EMER", "emergency"),
    "home-visit": (V3_ACT_CODE, "HH", "home health"),
    "ambulatory": (V3_ACT_CODE, "AMB", "ambulatory"),
    "virtual": (V3_ACT_CODE, "VR", "virtual"),
}
#: Inbound class codes beyond the emitted ones (children / near kin, reported as approximated).
ENCOUNTER_CLASS_INBOUND: dict[str, str] = {
    "IMP": "inpatient", "ACUTE": "inpatient", "NONAC": "inpatient",
    "EMER": "emergency", "HH": "home-visit", "AMB": "ambulatory", "VR": "virtual",
}
ENCOUNTER_CLASS_APPROXIMATE: dict[str, str] = {
    "OBSENC": "inpatient", "SS": "ambulatory", "PRENC": "ambulatory", "FLD": "ambulatory",
}
#: DischargeDisposition value -> the dischargeDisposition coding the hub emits. Home health
#: has no R4 discharge-disposition code: the NUBC code 06 ("home under care of a home
#: health organization") is what US payers and PAS use.
DISCHARGE_CODES: dict[str, tuple[str, str, str]] = {
    "home": (DISCHARGE_DISPOSITION, "home", "Home"),
    "home-health": (NUBC_DISCHARGE, "06",
                    "Discharged/transferred to home under care of organized home health "
                    "service organization"),
    "alt-home": (DISCHARGE_DISPOSITION, "alt-home", "Alternative home"),
    "other-hcf": (DISCHARGE_DISPOSITION, "other-hcf", "Other healthcare facility"),
    "hosp": (DISCHARGE_DISPOSITION, "hosp", "Hospice"),
    "long": (DISCHARGE_DISPOSITION, "long", "Long-term care"),
    "aadvice": (DISCHARGE_DISPOSITION, "aadvice", "Left against advice"),
    "exp": (DISCHARGE_DISPOSITION, "exp", "Expired"),
    "psy": (DISCHARGE_DISPOSITION, "psy", "Psychiatric hospital"),
    "rehab": (DISCHARGE_DISPOSITION, "rehab", "Rehabilitation"),
    "snf": (DISCHARGE_DISPOSITION, "snf", "Skilled nursing facility"),
    "oth": (DISCHARGE_DISPOSITION, "oth", "Other"),
}
#: Further inbound dispositions: NUBC patient discharge status and SNOMED.
DISCHARGE_INBOUND: dict[tuple[str, str], str] = {
    (NUBC_DISCHARGE, "01"): "home", (NUBC_DISCHARGE, "06"): "home-health",
    (NUBC_DISCHARGE, "02"): "other-hcf", (NUBC_DISCHARGE, "03"): "snf",
    (NUBC_DISCHARGE, "04"): "long", (NUBC_DISCHARGE, "05"): "other-hcf",
    (NUBC_DISCHARGE, "07"): "aadvice", (NUBC_DISCHARGE, "20"): "exp",
    (NUBC_DISCHARGE, "50"): "hosp", (NUBC_DISCHARGE, "51"): "hosp",
    (NUBC_DISCHARGE, "62"): "rehab", (NUBC_DISCHARGE, "63"): "long",
    (NUBC_DISCHARGE, "65"): "psy", (NUBC_DISCHARGE, "70"): "other-hcf",
    (SNOMED, "306689006"): "home",  # Discharge to home
}

# --- B.3 referrals: ServiceRequest + Task ---------------------------------------------------
TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"
TASK_STATUS_SYSTEM = "http://hl7.org/fhir/task-status"
SDOHCC_TEMP = "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"
RESULTING_ACTIVITY = (SDOHCC_TEMP, "resulting-activity", "Resulting Activity")
FULFILL = (TASK_CODE, "fulfill", "Fulfill the focal request")
#: ReferralStatus values are the task-status codes one to one.
REFERRAL_TASK_STATUS: dict[str, str] = {s.value: s.value for s in cases.ReferralStatus}
#: ReferralStatus value -> ServiceRequest.status kept in step (DOMAIN.md §3.1).
REFERRAL_SR_STATUS: dict[str, str] = {
    "draft": "draft", "requested": "active", "received": "active", "accepted": "active",
    "in-progress": "active", "on-hold": "active", "completed": "completed",
    "rejected": "revoked", "failed": "revoked", "cancelled": "revoked",
    "entered-in-error": "entered-in-error",
}
#: The referral's status history rides on the Task as a hub extension.
EXT_STATUS_HISTORY = f"{HUB_CANONICAL}/StructureDefinition/status-history"
#: The case-plan activity a referral carries out (activity id), on the ServiceRequest.
EXT_REFERRAL_ACTIVITY = f"{HUB_CANONICAL}/StructureDefinition/referral-activity"

# --- B.4 insurer: eligibility and PAS -----------------------------------------------------
ELIGIBILITY_PURPOSES = ("auth-requirements", "benefits", "discovery", "validation")
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
PROCESS_PRIORITY = "http://terminology.hl7.org/CodeSystem/processpriority"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
CLAIM_TYPES = ("institutional", "oral", "pharmacy", "professional", "vision")
CLAIM_PRIORITIES = ("stat", "normal", "deferred")

PAS = "http://hl7.org/fhir/us/davinci-pas"
PAS_SD = f"{PAS}/StructureDefinition"
PAS_REQUEST_BUNDLE = f"{PAS_SD}/profile-pas-request-bundle"
PAS_RESPONSE_BUNDLE = f"{PAS_SD}/profile-pas-response-bundle"
PAS_CLAIM = f"{PAS_SD}/profile-claim"
PAS_CLAIM_RESPONSE = f"{PAS_SD}/profile-claimresponse"
PAS_COVERAGE = f"{PAS_SD}/profile-coverage"
PAS_BENEFICIARY = f"{PAS_SD}/profile-beneficiary"
PAS_INSURER = f"{PAS_SD}/profile-insurer"
PAS_REQUESTOR = f"{PAS_SD}/profile-requestor"
EXT_REVIEW_ACTION = f"{PAS_SD}/extension-reviewAction"
EXT_REVIEW_ACTION_CODE = f"{PAS_SD}/extension-reviewActionCode"
EXT_REQUEST_TYPE = f"{PAS_SD}/extension-serviceItemRequestType"
EXT_CERTIFICATION_TYPE = f"{PAS_SD}/extension-certificationType"
EXT_ITEM_PREAUTH_PERIOD = f"{PAS_SD}/extension-itemPreAuthPeriod"
EXT_ITEM_AUTHORIZED_DETAIL = f"{PAS_SD}/extension-itemAuthorizedDetail"
EXT_ADMIN_REFERENCE = f"{PAS_SD}/extension-administrationReferenceNumber"
EXT_AUTH_NUMBER = "number"  # reviewAction sub-extension: the authorization number
EXT_REVIEW_REASON = "reasonCode"
#: The case decision a PAS Claim item asks for (decision id), a hub extension on the item.
EXT_PAS_ITEM_DECISION = f"{HUB_CANONICAL}/StructureDefinition/pas-item-decision"

X12_306 = "https://codesystem.x12.org/005010/306"  # review action (decision)
X12_1365 = "https://codesystem.x12.org/005010/1365"  # service type (category)
X12_1525 = "https://codesystem.x12.org/005010/1525"  # request category
X12_1322 = "https://codesystem.x12.org/005010/1322"  # certification type
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
PLACE_OF_SERVICE = ("https://www.cms.gov/Medicare/Coding/place-of-service-codes/"
                    "Place_of_Service_Code_Set")
HOME_HEALTH_CATEGORY = (X12_1365, "42", "Home Health Care")
HOME_PLACE_OF_SERVICE = (PLACE_OF_SERVICE, "12", "Home")
REQUEST_TYPE_HS = (X12_1525, "HS", "Health Services Review")
CERTIFICATION_INITIAL = (X12_1322, "I", "Initial")
CERTIFICATION_CANCEL = (X12_1322, "3", "Cancel")

#: X12 306 review action code -> DecisionStatus value of the item (DOMAIN.md §3.2).
#: X12 code lists are licensed: verify them against the payer's companion guide.
REVIEW_ACTION: dict[str, str] = {
    "A1": "authorization-approved",
    "A2": "authorization-partial",
    "A3": "authorization-denied",
    "A4": "authorization-pended",
    "A6": "authorization-modified",
    "C": "authorization-cancelled",
    "CT": "authorization-pended",  # contact payer: no decision yet
}
#: DecisionStatus value -> the X12 306 code the hub writes (simulators, echoes).
REVIEW_ACTION_OUT: dict[str, tuple[str, str]] = {
    "authorization-approved": ("A1", "Certified in total"),
    "authorization-partial": ("A2", "Certified - partial"),
    "authorization-denied": ("A3", "Not Certified"),
    "authorization-pended": ("A4", "Pending"),
    "authorization-modified": ("A6", "Modified"),
    "authorization-cancelled": ("C", "Cancelled"),
}

# (end of section B)
