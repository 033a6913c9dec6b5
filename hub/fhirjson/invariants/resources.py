"""Invariants of the hub's resource types and their backbone elements."""

from __future__ import annotations

from hub.fhirjson.invariants.common import REF_TYPE, Found, before, codings, has, has_choice


def pat_1(obj: dict) -> Found:
    # name.exists() or telecom.exists() or address.exists() or organization.exists()
    if not has(obj, "name", "telecom", "address", "organization"):
        yield ("a contact needs a name, telecom, address or organization", "", "pat-1")


def obs_6(obj: dict) -> Found:
    # dataAbsentReason.empty() or value.empty()
    if "dataAbsentReason" in obj and has_choice(obj, "value"):
        yield ("dataAbsentReason only when there is no value[x]", ".dataAbsentReason", "obs-6")


def obs_7(obj: dict) -> Found:
    # value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists())
    # .empty()
    if not has_choice(obj, "value"):
        return
    own = {(c.get("system"), c.get("code")) for c in codings(obj.get("code"))}
    for i, comp in enumerate(obj.get("component") or []):
        if isinstance(comp, dict) and own & {(c.get("system"), c.get("code"))
                                             for c in codings(comp.get("code"))}:
            yield ("an Observation whose code is also a component code has no value[x]",
                   f".component[{i}].code", "obs-7")


def obs_3(obj: dict) -> Found:
    # low.exists() or high.exists() or text.exists()
    if not has(obj, "low", "high", "text"):
        yield ("a reference range needs low, high or text", "", "obs-3")


def org_1(obj: dict) -> Found:
    # (identifier.count() + name.count()) > 0; org-2/org-3: no home address or telecom
    if not has(obj, "identifier", "name"):
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
    clinical = {(c.get("system"), c.get("code")) for c in codings(obj.get("clinicalStatus"))}
    system = "http://terminology.hl7.org/CodeSystem/condition-clinical"
    # abatement.empty() or clinicalStatus.coding.where(system=... and (code='resolved' or
    # code='remission' or code='inactive')).exists()
    if has_choice(obj, "abatement") and not clinical & {
            (system, "resolved"), (system, "remission"), (system, "inactive")}:
        yield ("an abated condition needs clinicalStatus resolved, remission or inactive",
               ".clinicalStatus", "con-4")
    # verificationStatus entered-in-error implies clinicalStatus.empty()
    ver = {(c.get("system"), c.get("code")) for c in codings(obj.get("verificationStatus"))}
    if ("http://terminology.hl7.org/CodeSystem/condition-ver-status", "entered-in-error") \
            in ver and "clinicalStatus" in obj:
        yield ("a condition entered in error has no clinicalStatus", ".clinicalStatus", "con-5")


def con_1(obj: dict) -> Found:
    if not has(obj, "summary", "assessment"):
        yield ("a stage needs a summary or an assessment", "", "con-1")


def con_2(obj: dict) -> Found:
    if not has(obj, "code", "detail"):
        yield ("evidence needs a code or a detail", "", "con-2")


def ces_1(obj: dict) -> Found:
    # category.exists() xor productOrService.exists()
    if has(obj, "category") == has(obj, "productOrService"):
        yield ("an item has either a category or a productOrService", "", "ces-1")


def gol_1(obj: dict) -> Found:
    # (detail.exists() and measure.exists()) or detail.exists().not()
    if has_choice(obj, "detail") and "measure" not in obj:
        yield ("a target with a detail needs a measure", ".measure", "gol-1")


def prr_1(obj: dict) -> Found:
    # orderDetail.empty() or code.exists()
    if "orderDetail" in obj and "code" not in obj:
        yield ("orderDetail only with a code", ".orderDetail", "prr-1")


def inv_1(obj: dict) -> Found:
    # lastModified.exists().not() or authoredOn.exists().not() or lastModified >= authoredOn
    if before(obj.get("authoredOn"), obj.get("lastModified")):
        yield ("lastModified is earlier than authoredOn", ".lastModified", "inv-1")


def ctm_1(obj: dict, contained: dict[str, str | None]) -> Found:
    # onBehalfOf.exists() implies (member.resolve().iif(empty(), true,
    # ofType(Practitioner).exists())): the member's type is read from its reference (a
    # contained resource by its resourceType); a reference that names no type resolves to
    # nothing, which passes
    if "onBehalfOf" not in obj or not isinstance(obj.get("member"), dict):
        return
    ref = obj["member"].get("reference")
    if not isinstance(ref, str):
        return
    if ref.startswith("#"):
        target = contained.get(ref[1:])
    else:
        match = REF_TYPE.match(ref)
        target = match.group(1) if match else None
    if target is not None and target != "Practitioner":
        yield ("onBehalfOf only when the member is a Practitioner", ".onBehalfOf", "ctm-1")
