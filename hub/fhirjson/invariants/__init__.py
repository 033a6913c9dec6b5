"""Core R4 invariants (constraints of severity error) of the supported types and datatypes.

Each check takes the JSON object of one structure and yields ``(message, subpath, key)``;
the strict walk calls them per structure name (a type, or a backbone path such as
``Patient.contact``). FHIRPath is not evaluated: each invariant is written out here from its
R4 expression (quoted above each function). ``member.resolve()`` (ctm-1) is read from the
reference itself (its type, or the type of the contained resource it names): the walk passes
the contained resources to the ``ROOTED`` checks. The profiles of Quantity used as element
types (SimpleQuantity sqty-1, MoneyQuantity mqty-1) come from the generated table
(``QUANTITY_PROFILES``). Elsewhere: ele-1 (no empty elements), dom-2..5 and ref-1 in
``hub.fhirjson.strict``, txt-1/txt-2 in ``hub.fhirjson.xhtml``. ``COVERED`` names what is
checked, per structure; ``tests/fhirjson/test_invariants.py`` holds it against the table.
"""

from __future__ import annotations

from collections.abc import Callable

from hub.fhirjson.invariants.bundle import bdl_bundle, bdl_entry, parameters_inv_1
from hub.fhirjson.invariants.common import Found
from hub.fhirjson.invariants.contained import (
    app_appointment,
    cmp_2,
    grp_1,
    mdd_1,
    msq_3,
    msq_reference_seq,
    one_of,
    qrs_1,
    ras_prediction,
    rqg_1,
)
from hub.fhirjson.invariants.datatypes import (
    att_1,
    cnt_3,
    cpt_2,
    drq_filter,
    drt_1,
    exp_1,
    ext_1,
    per_1,
    qty_3,
    quantity_profile,
    rat_1,
    rng_2,
    timing_repeat,
    trd,
    ucum_quantity,
)
from hub.fhirjson.invariants.resources import (
    ces_1,
    con_1,
    con_2,
    con_4_5,
    cpl_3,
    ctm_1,
    gol_1,
    inv_1,
    obs_3,
    obs_6,
    obs_7,
    org_1,
    pat_1,
    prr_1,
)
from hub.fhirjson.tables import QUANTITY_PROFILES

_BASE: dict[str, tuple[Callable[[dict], Found], ...]] = {
    "Patient.contact": (pat_1,),
    "Observation": (obs_6, obs_7),
    "Observation.referenceRange": (obs_3,),
    "Organization": (org_1,),
    "CarePlan.activity": (cpl_3,),
    "Condition": (con_4_5,),
    "Condition.stage": (con_1,),
    "Condition.evidence": (con_2,),
    "CoverageEligibilityResponse.insurance.item": (ces_1,),
    "Goal.target": (gol_1,),
    "ServiceRequest": (prr_1,),
    "Task": (inv_1,),
    "Period": (per_1,),
    "Range": (rng_2,),
    "Ratio": (rat_1,),
    "Extension": (ext_1,),
    "Quantity": (qty_3,),
    "Age": (ucum_quantity("age-1", positive=True),),
    "Count": (cnt_3,),
    "Distance": (ucum_quantity("dis-1", positive=False),),
    "Duration": (drt_1,),
    "Attachment": (att_1,),
    "ContactPoint": (cpt_2,),
    "Expression": (exp_1,),
    "Timing.repeat": (timing_repeat,),
    "Bundle": (bdl_bundle,),
    "Bundle.entry": (bdl_entry,),
    "Parameters.parameter": (parameters_inv_1,),
    "DataRequirement.codeFilter": (drq_filter,),
    "DataRequirement.dateFilter": (drq_filter,),
    "TriggerDefinition": (trd,),
    "Appointment": (app_appointment,),
    "Appointment.participant": (one_of("app-1", "a participant needs a type or an actor",
                                        "type", "actor"),),
    "Composition.section": (one_of("cmp-1", "a section needs a text, entries or sections",
                                    "text", "entry", "section"), cmp_2),
    "Group": (grp_1,),
    "Immunization.education": (one_of("imm-1", "education needs a documentType or a "
                                       "reference", "documentType", "reference"),),
    "ImmunizationRecommendation.recommendation": (one_of(
        "imr-1", "a recommendation needs a vaccineCode or a targetDisease", "vaccineCode",
        "targetDisease"),),
    "MedicationAdministration.dosage": (one_of("mad-1", "a dosage needs a dose or a rate",
                                                "dose", "rate"),),
    "MedicationDispense": (mdd_1,),
    "MolecularSequence": (msq_3,),
    "MolecularSequence.referenceSeq": (msq_reference_seq,),
    "QuestionnaireResponse.item": (qrs_1,),
    "RequestGroup.action": (rqg_1,),
    "RiskAssessment.prediction": (ras_prediction,),
}

#: checks that need the contained resources of the resource (name -> type)
ROOTED: dict[str, tuple[Callable[[dict, dict[str, str | None]], Found], ...]] = {
    "CareTeam.participant": (ctm_1,),
}

_PROFILE_KEYS = {"SimpleQuantity": "sqty-1", "MoneyQuantity": "mqty-1"}


def _with_profiles() -> dict[str, tuple[Callable[[dict], Found], ...]]:
    out = dict(_BASE)
    for structure, elements in QUANTITY_PROFILES.items():
        extra = tuple(quantity_profile(profile, _PROFILE_KEYS[profile])(name)
                      for name, profile in sorted(elements.items()))
        out[structure] = out.get(structure, ()) + extra
    return out


INVARIANTS: dict[str, tuple[Callable[[dict], Found], ...]] = _with_profiles()

#: the invariant keys checked per structure (here, and by the strict walk or xhtml)
COVERED: dict[str, frozenset[str]] = {name: frozenset(keys.split()) for name, keys in {
    "Patient.contact": "pat-1", "Observation": "obs-6 obs-7", "Observation.referenceRange":
    "obs-3", "Organization": "org-1 org-2 org-3", "CarePlan.activity": "cpl-3",
    "Condition": "con-4 con-5", "Condition.stage": "con-1", "Condition.evidence": "con-2",
    "CoverageEligibilityResponse.insurance.item": "ces-1", "Goal.target": "gol-1",
    "ServiceRequest": "prr-1", "Task": "inv-1", "CareTeam.participant": "ctm-1",
    "Period": "per-1", "Range": "rng-2", "Ratio": "rat-1", "Extension": "ext-1",
    "Quantity": "qty-3", "Age": "age-1", "Count": "cnt-3", "Distance": "dis-1",
    "Duration": "drt-1", "Attachment": "att-1", "ContactPoint": "cpt-2", "Expression": "exp-1",
    "Timing.repeat": "tim-1 tim-2 tim-4 tim-5 tim-6 tim-7 tim-8 tim-9 tim-10",
    "Bundle": "bdl-1 bdl-2 bdl-3 bdl-4 bdl-7 bdl-9 bdl-10 bdl-11 bdl-12",
    "Bundle.entry": "bdl-5 bdl-8", "Parameters.parameter": "inv-1",
    "DataRequirement.codeFilter": "drq-1", "DataRequirement.dateFilter": "drq-2",
    "TriggerDefinition": "trd-1 trd-2 trd-3", "Appointment": "app-2 app-3 app-4",
    "Appointment.participant": "app-1", "Composition.section": "cmp-1 cmp-2",
    "Group": "grp-1", "Immunization.education": "imm-1",
    "ImmunizationRecommendation.recommendation": "imr-1",
    "MedicationAdministration.dosage": "mad-1", "MedicationDispense": "mdd-1",
    "MolecularSequence": "msq-3", "MolecularSequence.referenceSeq": "msq-5 msq-6",
    "QuestionnaireResponse.item": "qrs-1", "RequestGroup.action": "rqg-1",
    "RiskAssessment.prediction": "ras-1 ras-2",
    # in hub.fhirjson.strict (ref-1) and hub.fhirjson.xhtml (txt-1, txt-2)
    "Reference": "ref-1", "Narrative": "txt-1 txt-2",
}.items()}

__all__ = ["COVERED", "INVARIANTS", "ROOTED"]
