"""Core R4 invariants (constraints of severity error) of the supported types and datatypes.

Each check takes the JSON object of one structure and yields ``(message, subpath, key)``;
the strict walk calls them per structure name (a type, or a backbone path such as
``Patient.contact``). FHIRPath is not evaluated: each invariant is written out here from its
R4 expression (quoted above each function). Not checked: those needing ``resolve()``
(ctm-1) and the narrative rules (txt-1/txt-2 are in ``hub.fhirjson.xhtml``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

Found = Iterable[tuple[str, str, str]]
UCUM = "http://unitsofmeasure.org"


def _has(obj: dict, *names: str) -> bool:
    return any(n in obj or "_" + n in obj for n in names)


def _has_choice(obj: dict, base: str) -> bool:
    n = len(base)
    return any(k[:n] == base and len(k) > n and k[n].isupper() for k in obj) or \
        any(k[1:n + 1] == base and len(k) > n + 1 and k[n + 1].isupper()
            for k in obj if k[0] == "_")


def _when(text: Any) -> datetime | None:
    """A dateTime/instant with a time, as an aware datetime (None for partial dates)."""
    if not isinstance(text, str) or "T" not in text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _before(start: Any, end: Any) -> bool:
    """Whether ``start <= end`` is not true in FHIRPath: ``end`` earlier, or the comparison
    is uncertain (equal up to the coarser precision of the two: FHIRPath answers empty, and
    an invariant that is not true fails, as in the reference validator)."""
    if not isinstance(start, str) or not isinstance(end, str):
        return False
    a, b = _when(start), _when(end)
    if a is not None and b is not None:
        return b < a
    sd, ed = start[:10], end[:10]
    n = min(len(sd), len(ed))
    if sd[:n] != ed[:n]:
        return ed[:n] < sd[:n]
    return len(start) != len(end)


# --- resources ------------------------------------------------------------------------------


def pat_1(obj: dict) -> Found:
    # name.exists() or telecom.exists() or address.exists() or organization.exists()
    if not _has(obj, "name", "telecom", "address", "organization"):
        yield ("a contact needs a name, telecom, address or organization", "", "pat-1")


def obs_6(obj: dict) -> Found:
    # dataAbsentReason.empty() or value.empty()
    if "dataAbsentReason" in obj and _has_choice(obj, "value"):
        yield ("dataAbsentReason only when there is no value[x]", ".dataAbsentReason", "obs-6")


def obs_7(obj: dict) -> Found:
    # value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists())
    # .empty()
    if not _has_choice(obj, "value"):
        return
    own = {(c.get("system"), c.get("code")) for c in _codings(obj.get("code"))}
    for i, comp in enumerate(obj.get("component") or []):
        if isinstance(comp, dict) and own & {(c.get("system"), c.get("code"))
                                             for c in _codings(comp.get("code"))}:
            yield ("an Observation whose code is also a component code has no value[x]",
                   f".component[{i}].code", "obs-7")


def obs_3(obj: dict) -> Found:
    # low.exists() or high.exists() or text.exists()
    if not _has(obj, "low", "high", "text"):
        yield ("a reference range needs low, high or text", "", "obs-3")


def org_1(obj: dict) -> Found:
    # (identifier.count() + name.count()) > 0; org-2/org-3: no home address or telecom
    if not _has(obj, "identifier", "name"):
        yield ("an Organization needs an identifier or a name", "", "org-1")
    for field, key in (("address", "org-2"), ("telecom", "org-3")):
        for i, item in enumerate(obj.get(field) or []):
            if isinstance(item, dict) and item.get("use") == "home":
                yield (f"an organization's {field} cannot be of use 'home'",
                       f".{field}[{i}].use", key)


def cpl_3(obj: dict) -> Found:
    # detail.empty() or reference.empty()
    if "detail" in obj and "reference" in obj:
        yield ("an activity has a detail or a reference, not both", ".detail", "cpl-3")


def con_4_5(obj: dict) -> Found:
    clinical = {(c.get("system"), c.get("code")) for c in _codings(obj.get("clinicalStatus"))}
    system = "http://terminology.hl7.org/CodeSystem/condition-clinical"
    # abatement.empty() or clinicalStatus.coding.where(system=... and (code='resolved' or
    # code='remission' or code='inactive')).exists()
    if _has_choice(obj, "abatement") and not clinical & {
            (system, "resolved"), (system, "remission"), (system, "inactive")}:
        yield ("an abated condition needs clinicalStatus resolved, remission or inactive",
               ".clinicalStatus", "con-4")
    # verificationStatus entered-in-error implies clinicalStatus.empty()
    ver = {(c.get("system"), c.get("code")) for c in _codings(obj.get("verificationStatus"))}
    if ("http://terminology.hl7.org/CodeSystem/condition-ver-status", "entered-in-error") \
            in ver and "clinicalStatus" in obj:
        yield ("a condition entered in error has no clinicalStatus", ".clinicalStatus", "con-5")


def con_1(obj: dict) -> Found:
    if not _has(obj, "summary", "assessment"):
        yield ("a stage needs a summary or an assessment", "", "con-1")


def con_2(obj: dict) -> Found:
    if not _has(obj, "code", "detail"):
        yield ("evidence needs a code or a detail", "", "con-2")


def ces_1(obj: dict) -> Found:
    # category.exists() xor productOrService.exists()
    if _has(obj, "category") == _has(obj, "productOrService"):
        yield ("an item has either a category or a productOrService", "", "ces-1")


def gol_1(obj: dict) -> Found:
    # (detail.exists() and measure.exists()) or detail.exists().not()
    if _has_choice(obj, "detail") and "measure" not in obj:
        yield ("a target with a detail needs a measure", ".measure", "gol-1")


def prr_1(obj: dict) -> Found:
    # orderDetail.empty() or code.exists()
    if "orderDetail" in obj and "code" not in obj:
        yield ("orderDetail only with a code", ".orderDetail", "prr-1")


def inv_1(obj: dict) -> Found:
    # lastModified.exists().not() or authoredOn.exists().not() or lastModified >= authoredOn
    if _before(obj.get("authoredOn"), obj.get("lastModified")):
        yield ("lastModified is earlier than authoredOn", ".lastModified", "inv-1")


# --- datatypes ------------------------------------------------------------------------------


def per_1(obj: dict) -> Found:
    # start.hasValue().not() or end.hasValue().not() or (start <= end)
    if _before(obj.get("start"), obj.get("end")):
        yield ("the period ends before it starts", ".end", "per-1")


def rng_2(obj: dict) -> Found:
    # low.empty() or high.empty() or (low <= high)
    low, high = obj.get("low"), obj.get("high")
    if isinstance(low, dict) and isinstance(high, dict):
        lv, hv = low.get("value"), high.get("value")
        same_unit = low.get("code") == high.get("code") and low.get("system") == \
            high.get("system")
        if isinstance(lv, (int, float)) and isinstance(hv, (int, float)) and \
                not isinstance(lv, bool) and not isinstance(hv, bool) and same_unit and lv > hv:
            yield ("low is greater than high", ".low", "rng-2")


def rat_1(obj: dict) -> Found:
    # (numerator.empty() xor denominator.exists()) and (numerator.exists() or
    # extension.exists())
    if ("numerator" in obj) != ("denominator" in obj) or \
            not _has(obj, "numerator", "extension"):
        yield ("a ratio has both a numerator and a denominator", "", "rat-1")


def ext_1(obj: dict) -> Found:
    # extension.exists() != value.exists()
    if ("extension" in obj) == _has_choice(obj, "value"):
        yield ("an extension has either extensions or a value[x], not both or neither", "",
               "ext-1")


def qty_3(obj: dict) -> Found:
    # code.empty() or system.exists()
    if _has(obj, "code") and not _has(obj, "system"):
        yield ("a quantity with a unit code needs its system", ".system", "qty-3")


def _ucum_quantity(key: str, positive: bool) -> Callable[[dict], Found]:
    def check(obj: dict) -> Found:
        yield from qty_3(obj)
        # (code.exists() or value.empty()) and (system.empty() or system = %ucum)
        if "value" in obj and "code" not in obj:
            yield ("a value needs a unit code", ".code", key)
        if "system" in obj and obj["system"] != UCUM:
            yield ("the unit system must be UCUM", ".system", key)
        if positive and _number(obj.get("value")) and obj["value"] <= 0:
            yield ("the value must be greater than 0", ".value", key)
    return check


def drt_1(obj: dict) -> Found:
    # code.exists() implies ((system = %ucum) and value.exists())
    yield from qty_3(obj)
    if "code" in obj and (obj.get("system") != UCUM or "value" not in obj):
        yield ("a duration with a code needs the UCUM system and a value", "", "drt-1")


def att_1(obj: dict) -> Found:
    if _has(obj, "data") and not _has(obj, "contentType"):
        yield ("an attachment with data needs a contentType", ".contentType", "att-1")


def cpt_2(obj: dict) -> Found:
    if _has(obj, "value") and not _has(obj, "system"):
        yield ("a contact point with a value needs a system", ".system", "cpt-2")


def exp_1(obj: dict) -> Found:
    if not _has(obj, "expression", "reference"):
        yield ("an expression needs an expression or a reference", "", "exp-1")


def timing_repeat(obj: dict) -> Found:
    pairs = (("duration", "durationUnit", "tim-1"), ("period", "periodUnit", "tim-2"),
             ("periodMax", "period", "tim-6"), ("durationMax", "duration", "tim-7"),
             ("countMax", "count", "tim-8"))
    for has, needs, key in pairs:
        if _has(obj, has) and not _has(obj, needs):
            yield (f"{has} needs {needs}", f".{needs}", key)
    for name, key in (("duration", "tim-4"), ("period", "tim-5")):
        if _number(obj.get(name)) and obj[name] < 0:
            yield (f"{name} cannot be negative", f".{name}", key)
    when = obj.get("when") if isinstance(obj.get("when"), list) else []
    if _has(obj, "offset") and (not when or any(w in ("C", "CM", "CD", "CV") for w in when)):
        yield ("an offset needs when, and not C, CM, CD or CV", ".offset", "tim-9")
    if _has(obj, "timeOfDay") and _has(obj, "when"):
        yield ("timeOfDay and when exclude each other", ".timeOfDay", "tim-10")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _codings(concept: Any) -> list[dict]:
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, dict)]


INVARIANTS: dict[str, tuple[Callable[[dict], Found], ...]] = {
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
    "Age": (_ucum_quantity("age-1", positive=True),),
    "Count": (qty_3,),
    "Distance": (_ucum_quantity("dis-1", positive=False),),
    "Duration": (drt_1,),
    "Attachment": (att_1,),
    "ContactPoint": (cpt_2,),
    "Expression": (exp_1,),
    "Timing.repeat": (timing_repeat,),
}

__all__ = ["INVARIANTS"]
