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

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from hub.fhirjson.tables import QUANTITY_PROFILES

Found = Iterable[tuple[str, str, str]]
UCUM = "http://unitsofmeasure.org"
ISO_4217 = "urn:iso:std:iso:4217"
_REF_TYPE = re.compile(r"^(?:https?://\S*?/)?([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}"
                       r"(?:/_history/[A-Za-z0-9\-.]{1,64})?$")


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
        match = _REF_TYPE.match(ref)
        target = match.group(1) if match else None
    if target is not None and target != "Practitioner":
        yield ("onBehalfOf only when the member is a Practitioner", ".onBehalfOf", "ctm-1")


_BUNDLE_REQUEST = ("batch", "transaction", "history")
_BUNDLE_RESPONSE = ("batch-response", "transaction-response", "history")


def bdl_bundle(obj: dict) -> Found:
    kind = obj.get("type")
    entries = [(i, e) for i, e in enumerate(obj.get("entry") or []) if isinstance(e, dict)]
    # bdl-1: total.empty() or (type = 'searchset') or (type = 'history')
    if _has(obj, "total") and kind not in ("searchset", "history"):
        yield ("total only in a searchset or history Bundle", ".total", "bdl-1")
    for i, entry in entries:
        # bdl-2: entry.search.empty() or (type = 'searchset')
        if "search" in entry and kind != "searchset":
            yield ("entry.search only in a searchset Bundle", f".entry[{i}].search", "bdl-2")
        # bdl-3: entry.all(request.exists() = (%resource.type = 'batch' or 'transaction' or
        # 'history'))
        if ("request" in entry) != (kind in _BUNDLE_REQUEST):
            yield (("every entry of a batch, transaction or history Bundle needs a request"
                    if kind in _BUNDLE_REQUEST else
                    "entry.request only in a batch, transaction or history Bundle"),
                   f".entry[{i}].request", "bdl-3")
        # bdl-4: entry.all(response.exists() = (%resource.type = 'batch-response' or
        # 'transaction-response' or 'history'))
        if ("response" in entry) != (kind in _BUNDLE_RESPONSE):
            yield (("every entry of a batch-response, transaction-response or history Bundle "
                    "needs a response" if kind in _BUNDLE_RESPONSE else
                    "entry.response only in a batch-response, transaction-response or "
                    "history Bundle"), f".entry[{i}].response", "bdl-4")
    # bdl-7: (type = 'history') or entry.where(fullUrl.exists()).select(fullUrl &
    # resource.meta.versionId).isDistinct()
    if kind != "history":
        seen: set[tuple[Any, Any]] = set()
        for i, entry in entries:
            if "fullUrl" not in entry:
                continue
            resource = entry.get("resource")
            meta = resource.get("meta") if isinstance(resource, dict) else None
            key = (entry["fullUrl"], meta.get("versionId") if isinstance(meta, dict) else None)
            if key in seen:
                yield ("fullUrl (with meta.versionId) must be unique in a Bundle other than "
                       "history", f".entry[{i}].fullUrl", "bdl-7")
            seen.add(key)
    if kind == "document":
        # bdl-9: identifier.system.exists() and identifier.value.exists()
        ident = obj.get("identifier")
        if not (isinstance(ident, dict) and _has(ident, "system") and _has(ident, "value")):
            yield ("a document Bundle needs an identifier with a system and a value",
                   ".identifier", "bdl-9")
        # bdl-10: timestamp.hasValue()
        if "timestamp" not in obj:
            yield ("a document Bundle needs a timestamp", ".timestamp", "bdl-10")
        # bdl-11: entry.first().resource.is(Composition)
        if _first_resource_type(obj) != "Composition":
            yield ("the first entry of a document Bundle is a Composition", ".entry[0]",
                   "bdl-11")
    # bdl-12: type = 'message' implies entry.first().resource.is(MessageHeader)
    if kind == "message" and _first_resource_type(obj) != "MessageHeader":
        yield ("the first entry of a message Bundle is a MessageHeader", ".entry[0]", "bdl-12")


def _first_resource_type(bundle: dict) -> Any:
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
        return None
    resource = entries[0].get("resource")
    return resource.get("resourceType") if isinstance(resource, dict) else None


def bdl_entry(obj: dict) -> Found:
    # bdl-5: resource.exists() or request.exists() or response.exists()
    if not _has(obj, "resource", "request", "response"):
        yield ("an entry needs a resource, a request or a response", "", "bdl-5")
    # bdl-8: fullUrl.exists() implies fullUrl.contains('/_history/').not()
    if isinstance(obj.get("fullUrl"), str) and "/_history/" in obj["fullUrl"]:
        yield ("fullUrl cannot be a version-specific reference", ".fullUrl", "bdl-8")


def parameters_inv_1(obj: dict) -> Found:
    # (part.exists() and value.empty() and resource.empty()) or (part.empty() and
    # (value.exists() xor resource.exists()))
    value, resource = _has_choice(obj, "value"), "resource" in obj
    if "part" in obj:
        if value or resource:
            yield ("a parameter has parts, or a value or a resource", "", "inv-1")
    elif value == resource:
        yield ("a parameter has either a value[x] or a resource", "", "inv-1")


# --- resources that appear here only as contained resources -----------------------------------


def app_appointment(obj: dict) -> Found:
    # app-2: start.exists() = end.exists()
    if _has(obj, "start") != _has(obj, "end"):
        yield ("start and end go together", ".end" if _has(obj, "start") else ".start",
               "app-2")
    # app-3: (start.exists() and end.exists()) or (status in ('proposed' | 'cancelled' |
    # 'waitlist'))
    if not (_has(obj, "start") and _has(obj, "end")) and \
            obj.get("status") not in ("proposed", "cancelled", "waitlist"):
        yield ("only a proposed, cancelled or waitlisted appointment has no start and end",
               ".start", "app-3")
    # app-4: cancelationReason.exists() implies (status='noshow' or status='cancelled')
    if "cancelationReason" in obj and obj.get("status") not in ("noshow", "cancelled"):
        yield ("a cancelation reason only when cancelled or noshow", ".cancelationReason",
               "app-4")


def _one_of(key: str, message: str, *names: str) -> Callable[[dict], Found]:
    """An ``a.exists() or b.exists() ...`` invariant."""
    def check(obj: dict) -> Found:
        if not any(_has(obj, n) or _has_choice(obj, n) for n in names):
            yield (message, "", key)
    return check


def _xor(key: str, a: str, b: str) -> Callable[[dict], Found]:
    def check(obj: dict) -> Found:
        if _has(obj, a) == _has(obj, b):
            yield (f"either {a} or {b}, not both or neither", "", key)
    return check


def cmp_2(obj: dict) -> Found:
    # emptyReason.empty() or entry.empty()
    if "emptyReason" in obj and "entry" in obj:
        yield ("an emptyReason only for a section without entries", ".emptyReason", "cmp-2")


def grp_1(obj: dict) -> Found:
    # member.empty() or (actual = true)
    if "member" in obj and obj.get("actual") is not True:
        yield ("only an actual group has members", ".member", "grp-1")


def mdd_1(obj: dict) -> Found:
    # whenHandedOver.empty() or whenPrepared.empty() or whenHandedOver >= whenPrepared
    if _before(obj.get("whenPrepared"), obj.get("whenHandedOver")):
        yield ("whenHandedOver is earlier than whenPrepared", ".whenHandedOver", "mdd-1")


def msq_3(obj: dict) -> Found:
    # coordinateSystem = 1 or coordinateSystem = 0
    if obj.get("coordinateSystem") not in (0, 1) or isinstance(obj.get("coordinateSystem"),
                                                               bool):
        yield ("coordinateSystem is 0 or 1", ".coordinateSystem", "msq-3")


def msq_reference_seq(obj: dict) -> Found:
    # msq-5: (chromosome.empty() and genomeBuild.empty()) or (chromosome.exists() and
    # genomeBuild.exists())
    if _has(obj, "chromosome") != _has(obj, "genomeBuild"):
        yield ("chromosome and genomeBuild go together", ".genomeBuild", "msq-5")
    # msq-6: exactly one of genomeBuild, referenceSeqId, referenceSeqPointer,
    # referenceSeqString
    if sum(_has(obj, n) for n in ("genomeBuild", "referenceSeqId", "referenceSeqPointer",
                                  "referenceSeqString")) != 1:
        yield ("exactly one of genomeBuild, referenceSeqId, referenceSeqPointer and "
               "referenceSeqString", "", "msq-6")


def qrs_1(obj: dict) -> Found:
    # (answer.exists() and item.exists()).not()
    if "answer" in obj and "item" in obj:
        yield ("an item has answers or nested items, not both", ".item", "qrs-1")


def rqg_1(obj: dict) -> Found:
    # resource.exists() != action.exists()
    if ("resource" in obj) == ("action" in obj):
        yield ("an action has either a resource or nested actions", "", "rqg-1")


def ras_prediction(obj: dict) -> Found:
    # ras-2: probability is decimal implies (probability as decimal) <= 100
    if _number(obj.get("probabilityDecimal")) and obj["probabilityDecimal"] > 100:
        yield ("a probability is at most 100", ".probabilityDecimal", "ras-2")
    # ras-1: (low.empty() or ((low.code = '%') and (low.system = %ucum))) and (high...)
    rng = obj.get("probabilityRange")
    if isinstance(rng, dict):
        for end in ("low", "high"):
            q = rng.get(end)
            if isinstance(q, dict) and (q.get("code") != "%" or q.get("system") != UCUM):
                yield ("a probability range is in UCUM %", f".probabilityRange.{end}",
                       "ras-1")


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


def cnt_3(obj: dict) -> Found:
    # (code.exists() or value.empty()) and (system.empty() or system = %ucum) and
    # (code.empty() or code = '1') and (value.empty() or value.hasValue().not() or
    # value.toString().contains('.').not())
    yield from qty_3(obj)
    if "value" in obj and "code" not in obj:
        yield ("a count with a value needs the code 1", ".code", "cnt-3")
    if "system" in obj and obj["system"] != UCUM:
        yield ("the unit system of a count is UCUM", ".system", "cnt-3")
    if "code" in obj and obj["code"] != "1":
        yield ("the unit code of a count is 1", ".code", "cnt-3")
    value = obj.get("value")
    if _number(value) and not isinstance(value, int) and "." in str(value):
        yield ("a count is a whole number", ".value", "cnt-3")


def _quantity_profile(profile: str, key: str) -> Callable[[str], Callable[[dict], Found]]:
    """sqty-1 (``comparator.empty()``) or mqty-1 (``(code.exists() or value.empty()) and
    (system.empty() or system = 'urn:iso:std:iso:4217')``) on the elements of a structure that
    the table types by that profile."""
    def check(name: str) -> Callable[[dict], Found]:
        def inner(obj: dict) -> Found:
            q = obj.get(name)
            if not isinstance(q, dict):
                return
            if profile == "SimpleQuantity" and _has(q, "comparator"):
                yield ("a SimpleQuantity has no comparator", f".{name}.comparator", key)
            if profile == "MoneyQuantity":
                if "value" in q and "code" not in q:
                    yield ("a money quantity with a value needs a currency code",
                           f".{name}.code", key)
                if "system" in q and q["system"] != ISO_4217:
                    yield ("the system of a money quantity is ISO 4217", f".{name}.system",
                           key)
        return inner
    return check


def drq_filter(obj: dict) -> Found:
    # drq-1 / drq-2: path.exists() xor searchParam.exists()
    if _has(obj, "path") == _has(obj, "searchParam"):
        yield ("a filter has either a path or a searchParam", "", "drq-1/drq-2")


def trd(obj: dict) -> Found:
    has_data, timing = "data" in obj, _has_choice(obj, "timing")
    # trd-1: data.empty() or timing.empty()
    if has_data and timing:
        yield ("a trigger has data or a timing, not both", ".data", "trd-1")
    # trd-2: condition.exists() implies data.exists()
    if "condition" in obj and not has_data:
        yield ("a trigger with a condition needs data", ".data", "trd-2")
    # trd-3: (type = 'named-event' implies name.exists()) and (type = 'periodic' implies
    # timing.exists()) and (type.startsWith('data-') implies data.exists())
    kind = obj.get("type")
    if (kind == "named-event" and not _has(obj, "name")) or \
            (kind == "periodic" and not timing) or \
            (isinstance(kind, str) and kind.startswith("data-") and not has_data):
        yield (f"a {kind} trigger needs its name, timing or data", "", "trd-3")


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
    "Age": (_ucum_quantity("age-1", positive=True),),
    "Count": (cnt_3,),
    "Distance": (_ucum_quantity("dis-1", positive=False),),
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
    "Appointment.participant": (_one_of("app-1", "a participant needs a type or an actor",
                                        "type", "actor"),),
    "Composition.section": (_one_of("cmp-1", "a section needs a text, entries or sections",
                                    "text", "entry", "section"), cmp_2),
    "Group": (grp_1,),
    "Immunization.education": (_one_of("imm-1", "education needs a documentType or a "
                                       "reference", "documentType", "reference"),),
    "ImmunizationRecommendation.recommendation": (_one_of(
        "imr-1", "a recommendation needs a vaccineCode or a targetDisease", "vaccineCode",
        "targetDisease"),),
    "MedicationAdministration.dosage": (_one_of("mad-1", "a dosage needs a dose or a rate",
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
        extra = tuple(_quantity_profile(profile, _PROFILE_KEYS[profile])(name)
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
