"""Coverage <-> one funding source of the case (``Case.funding``), with its decisions.

One Coverage per funding source. ``Coverage.type`` says what kind of funding it is (v3
ActCode ``HIP``, ``PUBLICPOL``, ``CHAR``, ``WCBPOL``; self-pay ``coverage-selfpay#pay`` with
the patient as payor), ``order`` is the source's rank in ``Case.funding`` (1 = primary),
``class`` carries plan and group as plain strings (R4: ``class.value`` is a string).

The per-service coverage decisions have no home in R4 Coverage; they ride on it as the hub
extension ``coverage-decision`` (one complex extension per decision) so they round-trip.
"""

from __future__ import annotations

from typing import Any, cast

from hub import cases
from hub.mappings.codes import (
    COVERAGE_CLASS,
    COVERAGE_CLASS_FIELDS,
    DECISION_STATUS_SYSTEM,
    EXT_COVERAGE_DECISION,
    FUNDING_TYPE,
    FUNDING_TYPE_INBOUND,
    SOP,
    SOP_FUNDING_PREFIX,
    SUBSCRIBER_RELATIONSHIP,
)
from hub.mappings.datatypes import (
    code_from_coding,
    code_to_coding,
    coding,
    concept,
    fhir_datetime,
    find_exts,
    local_ref,
    narrative,
    parse_datetime,
    party_from_reference,
    party_to_reference,
    period_from_fhir,
    period_to_fhir,
    position,
)
from hub.mappings.errors import MappingError, Report
from hub.mappings.identity import find_hub_identifier, hub_identifier, reference, resource_id
from hub.mappings.patient import case_patient_id, patient_id, patient_reference

KIND = "coverage"
PAYER_KIND = "payer"

_FM_STATUS = {s.value for s in cases.FundingStatus}
_SELF_PAY_PAYOR_TYPES = ("Patient", "RelatedPerson")


def coverage_id(case_id: str, funding_id: str) -> str:
    return resource_id(case_id, KIND, funding_id)


def coverage_reference(case_id: str, funding_id: str, display: str | None = None) -> dict[str, Any]:
    """A Reference to the Coverage of one funding source (hub identifier included)."""
    return reference("Coverage", case_id, KIND, funding_id, display=display)


def payer_reference(case: cases.Case, funding: cases.FundingSource) -> dict[str, Any]:
    """The payor Reference: the payer's own reference, the patient for self-pay, else the
    hub's payer Organization (see ``payer_organization_to_fhir``)."""
    payer = funding.payer
    if payer.reference is None:
        if funding.kind == cases.FundingKind.SELF_PAY:
            ref = {"reference": f"Patient/{case_patient_id(case)}"}
        else:
            ref = {"reference": f"Organization/{resource_id(case.id, PAYER_KIND, funding.id)}"}
        ref.update({k: v for k, v in party_to_reference(payer).items() if k != "reference"})
        return ref
    return party_to_reference(payer)


def payer_organization_to_fhir(case: cases.Case, funding: cases.FundingSource) -> dict[str, Any] | None:
    """The payer Organization the hub serves when the payer has no reference of its own."""
    if funding.payer.reference is not None or funding.kind == cases.FundingKind.SELF_PAY:
        return None
    out: dict[str, Any] = {"resourceType": "Organization",
                 "id": resource_id(case.id, PAYER_KIND, funding.id),
                 "identifier": [hub_identifier(case.id, PAYER_KIND, funding.id)],
                 "active": True, "name": funding.payer.name}
    if funding.payer.identifier is not None:
        out["identifier"].append(party_to_reference(funding.payer)["identifier"])
    return out


def funding_order(case: cases.Case, funding: cases.FundingSource) -> int | None:
    """1-based rank of a funding source in the case (the case lists them in priority)."""
    return position(case.funding, funding)


# --- decisions (hub extension) ------------------------------------------------------------

def decision_to_extension(decision: cases.CoverageDecision) -> dict[str, Any]:
    subs = [{"url": "id", "valueString": decision.id},
            {"url": "service", "valueCoding": code_to_coding(decision.service)},
            {"url": "status", "valueCoding": coding(DECISION_STATUS_SYSTEM,
                                                    decision.status.value)}]
    if decision.authorization_number is not None:
        subs.append({"url": "authorizationNumber", "valueString": decision.authorization_number})
    period = period_to_fhir(decision.period)
    if period is not None:
        subs.append({"url": "period", "valuePeriod": period})
    if decision.decided_at is not None:
        subs.append({"url": "decidedAt", "valueDateTime": fhir_datetime(decision.decided_at)})
    if decision.quantity is not None:
        if not -2**31 <= decision.quantity < 2**31:
            raise MappingError("Coverage.extension[coverage-decision].quantity",
                               "quantity does not fit a FHIR integer")
        subs.append({"url": "quantity", "valueInteger": decision.quantity})
    if decision.note is not None:
        subs.append({"url": "note", "valueString": decision.note})
    return {"url": EXT_COVERAGE_DECISION, "extension": subs}


def decision_from_extension(ext: dict[str, Any], path: str, report: Report) -> cases.CoverageDecision:
    subs = {e.get("url"): e for e in ext.get("extension") or []}
    service = code_from_coding((subs.get("service") or {}).get("valueCoding") or {})
    if service is None:
        raise MappingError(f"{path}.service", "a decision needs a service coding")
    status_code = ((subs.get("status") or {}).get("valueCoding") or {}).get("code")
    try:
        status = cases.DecisionStatus(cast(str, status_code))
    except ValueError:
        raise MappingError(f"{path}.status", f"unknown decision status {status_code!r}") from None
    kwargs = {}
    if "id" in subs:
        kwargs["id"] = subs["id"].get("valueString")
    return cases.CoverageDecision(
        service=service, status=status,
        authorization_number=(subs.get("authorizationNumber") or {}).get("valueString"),
        period=period_from_fhir((subs.get("period") or {}).get("valuePeriod"), f"{path}.period"),
        decided_at=parse_datetime((subs.get("decidedAt") or {}).get("valueDateTime"),
                                  f"{path}.decidedAt"),
        quantity=(subs.get("quantity") or {}).get("valueInteger"),
        note=(subs.get("note") or {}).get("valueString"), **kwargs)


# --- Coverage -----------------------------------------------------------------------------

def coverage_to_fhir(case: cases.Case, funding: cases.FundingSource) -> dict[str, Any]:
    """One funding source as an R4 Coverage (deterministic id, hub identifier)."""
    system, code, display = FUNDING_TYPE[funding.kind]
    out: dict[str, Any] = {
        "resourceType": "Coverage",
        "id": coverage_id(case.id, funding.id),
        "text": narrative("Coverage", [("kind", funding.kind.value),
                                       ("payer", funding.payer.name),
                                       ("plan", funding.plan or ""),
                                       ("member id", funding.member_id or "")]),
    }
    if funding.decisions:
        out["extension"] = [decision_to_extension(d) for d in funding.decisions]
    out["identifier"] = [hub_identifier(case.id, KIND, funding.id)]
    out["status"] = funding.status.value
    out["type"] = concept(system, code, display)
    if funding.relationship == cases.SubscriberRelationship.SELF:
        out["subscriber"] = patient_reference(case)
    if funding.member_id is not None:
        out["subscriberId"] = funding.member_id
    out["beneficiary"] = patient_reference(case)
    out["relationship"] = concept(SUBSCRIBER_RELATIONSHIP, funding.relationship.value)
    period = period_to_fhir(funding.period)
    if period is not None:
        out["period"] = period
    out["payor"] = [payer_reference(case, funding)]
    classes = []
    for attr, class_code in COVERAGE_CLASS_FIELDS.items():
        value = getattr(funding, attr)
        if value is not None:
            classes.append({"type": concept(COVERAGE_CLASS, class_code), "value": value})
    if classes:
        out["class"] = classes
    order = funding_order(case, funding)
    if order is not None:
        out["order"] = order
    return out


def _funding_kind(data: dict[str, Any], report: Report) -> cases.FundingKind:
    codings = (data.get("type") or {}).get("coding") or []
    for c in codings:
        found = FUNDING_TYPE_INBOUND.get((c.get("system"), c.get("code")))
        if found is not None:
            return cases.FundingKind(found)
    for c in codings:  # Source of Payment Typology: hierarchical, longest prefix wins
        if c.get("system") == SOP and c.get("code"):
            for n in range(len(c["code"]), 0, -1):
                found = SOP_FUNDING_PREFIX.get(c["code"][:n])
                if found is not None:
                    return cases.FundingKind(found)
    payor_types = [(local_ref(p.get("reference")) or "").split("/")[0]
                   for p in data.get("payor") or []]
    guess = (cases.FundingKind.SELF_PAY if payor_types and payor_types[0] in
             _SELF_PAY_PAYOR_TYPES else cases.FundingKind.INSURANCE)
    if codings:
        for c in codings:
            report.unknown_code("Coverage.type", c.get("system"), c.get("code"),
                                c.get("display"))
    report.unsupported("Coverage.type", f"funding kind taken as {guess.value}", "warning")
    return guess


def _relationship(data: dict[str, Any], report: Report) -> cases.SubscriberRelationship:
    codings = (data.get("relationship") or {}).get("coding") or []
    for c in codings:
        if c.get("system") in (SUBSCRIBER_RELATIONSHIP, None):
            try:
                return cases.SubscriberRelationship(c.get("code"))
            except ValueError:
                pass
    for c in codings:
        report.unknown_code("Coverage.relationship", c.get("system"), c.get("code"),
                            c.get("display"))
    if codings:
        report.unsupported("Coverage.relationship", "relationship taken as self", "warning")
    return cases.SubscriberRelationship.SELF


def _split_part(value: str | None, case_id: str | None) -> str | None:
    if value is None or case_id is not None:
        return value
    return value.split("/", 1)[1] if "/" in value else value


def hub_case_id(data: dict[str, Any], kind: str) -> str | None:
    """The case id in a hub identifier of ``kind`` (``<case id>/<part id>``), if any."""
    value = find_hub_identifier(data, kind)
    return value.split("/", 1)[0] if value and "/" in value else None


def coverage_from_fhir(data: dict[str, Any], case_id: str | None = None,
                       report: Report | None = None) -> cases.FundingSource:
    """An R4 Coverage as a funding source. Unknown type/relationship codes are reported."""
    report = report if report is not None else Report()
    if data.get("resourceType") != "Coverage":
        raise MappingError("resourceType", "expected a Coverage")
    if data.get("status") not in _FM_STATUS:
        raise MappingError("Coverage.status", f"unknown status {data.get('status')!r}")
    payors = data.get("payor") or []
    if not payors:
        raise MappingError("Coverage.payor", "a Coverage needs a payor")
    if len(payors) > 1:
        report.unsupported("Coverage.payor", "only payor[0] is kept on the case")
    kind = _funding_kind(data, report)
    payer = cast(cases.Party, party_from_reference(payors[0], "Coverage.payor[0]", report))
    part = _split_part(find_hub_identifier(data, KIND, case_id), case_id)
    owner = case_id or hub_case_id(data, KIND)
    if part is not None and owner is not None and payer.reference is not None:
        ours = {f"Organization/{resource_id(owner, PAYER_KIND, part)}"}
        if kind == cases.FundingKind.SELF_PAY:
            ours.add(f"Patient/{patient_id(owner)}")
            beneficiary = (data.get("beneficiary") or {}).get("reference")
            if beneficiary:  # the case's Patient (one patient per identity: maybe shared)
                ours.add(str(local_ref(beneficiary)))
        if str(local_ref(payer.reference)) in ours:
            payer.reference = None
    plan = group = None
    for i, cls in enumerate(data.get("class") or []):
        codes = {(c.get("system"), c.get("code")) for c in (cls.get("type") or {}).get("coding") or []}
        if (COVERAGE_CLASS, "plan") in codes and plan is None:
            plan = cls.get("value")
        elif (COVERAGE_CLASS, "group") in codes and group is None:
            group = cls.get("value")
        else:
            report.unsupported(f"Coverage.class[{i}]", "only the plan and group are kept")
    decisions = [decision_from_extension(e, f"Coverage.extension[{i}]", report)
                 for i, e in enumerate(find_exts(data, EXT_COVERAGE_DECISION))]
    kwargs = {"id": part or data["id"]} if (part or data.get("id")) else {}
    return cases.FundingSource(
        kind=kind, payer=payer, status=cases.FundingStatus(data["status"]), plan=plan,
        member_id=data.get("subscriberId"), group=group,
        relationship=_relationship(data, report),
        period=period_from_fhir(data.get("period"), "Coverage.period"),
        decisions=decisions, **kwargs)


def coverage_order(data: dict[str, Any]) -> int | None:
    """``Coverage.order`` (1 = primary): how the aggregator sorts ``Case.funding``."""
    return data.get("order")


def find_funding(case: cases.Case, ref: dict[str, Any] | None) -> cases.FundingSource | None:
    """The funding source a Coverage Reference points to (hub identifier, then id)."""
    if not ref:
        return None
    ident = ref.get("identifier") or {}
    for f in case.funding:
        if ident == hub_identifier(case.id, KIND, f.id) or ident.get("value") == f"{case.id}/{f.id}":
            return f
    target = local_ref(ref.get("reference"))
    for f in case.funding:
        if target in (f"Coverage/{coverage_id(case.id, f.id)}", f"Coverage/{f.id}"):
            return f
    return None


def upsert_decision(funding: cases.FundingSource, decision: cases.CoverageDecision,
                    keep: frozenset[cases.DecisionStatus] = frozenset()) -> cases.CoverageDecision:
    """Replace the decision for the same service (system, code), or append it.

    A decision whose current status is in ``keep`` is left as it is (e.g. an eligibility
    answer does not overwrite an authorization decision). Returns the decision in force.
    """
    for i, d in enumerate(funding.decisions):
        if (d.service.system, d.service.code) == (decision.service.system, decision.service.code):
            if d.status in keep:
                return d
            decision.id = d.id
            funding.decisions[i] = decision
            return decision
    funding.decisions.append(decision)
    return decision


__all__ = ["coverage_from_fhir", "coverage_id", "coverage_order", "coverage_reference",
           "coverage_to_fhir", "decision_from_extension", "decision_to_extension",
           "find_funding", "funding_order", "hub_case_id", "payer_organization_to_fhir",
           "payer_reference", "upsert_decision"]
