"""Which partners a case (or one of its resources) concerns: by reference and by identifier.

A partner's Organization is named in the partners file by reference (``organization:
Organization/st-marys``), by business identifier (``organization_identifier:
http://hl7.org/fhir/sid/us-npi|1487659211``), or both. A case concerns a partner when it
names that Organization anywhere: the managing organization, the case manager, a care-team
member or the organization a member acts for, an encounter's facility (serviceProvider), a
payer, a referral's agency (performer/owner). It names it

* by reference to ``Organization/<id>`` of the partners file, or
* by reference to an Organization of the FHIR store that carries the partner's identifier
  (an Organization a FHIR client created gets a server id), or
* logically, by ``Reference.identifier`` (``Party.identifier`` on the case).

A referral resource naming its agency only by identifier gets that partner's Organization
reference written beside it (``agency_references``), for the partner compartments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hub import cases as c
from hub.mappings.datatypes import local_ref


def token(system: str | None, value: str | None) -> str | None:
    """``system|value`` of an identifier, None unless it has both."""
    return f"{system}|{value}" if system and value else None


def _parties(case: c.Case) -> list[c.Party | None]:
    parties: list[c.Party | None] = [case.case_manager, case.managing_organization]
    parties += [m.on_behalf_of for m in case.care_team]
    parties += [f.payer for f in case.funding]
    parties += [e.facility for e in case.encounters]
    parties += [r.agency for r in case.referrals]
    return parties


def organizations_of(case: c.Case) -> set[str]:
    """The Organization references the case names (``Organization/<id>``)."""
    refs = {p.reference for p in _parties(case) if p is not None and p.reference}
    refs |= {f"Organization/{m.id}" for m in case.care_team
             if m.kind == c.MemberKind.ORGANIZATION}
    locals_ = {local_ref(r) or "" for r in refs}
    return {r for r in locals_ if r.startswith("Organization/")}


def stored_identifiers(resources, refs: Iterable[str]) -> set[str]:
    """The identifiers (``system|value``) of the stored, live Organizations ``refs`` name
    (none without a FHIR store, ``resources`` None)."""
    out: set[str] = set()
    if resources is None:
        return out
    for ref in refs:
        rtype, _, rid = (local_ref(ref) or "").partition("/")
        if rtype != "Organization" or not rid:
            continue
        stored = resources.read("Organization", rid)
        if stored is None or stored.deleted or not stored.content:
            continue
        for ident in stored.content.get("identifier") or []:
            t = token(ident.get("system"), ident.get("value"))
            if t:
                out.add(t)
    return out


def organization_identifiers_of(case: c.Case, resources) -> set[str]:
    """The Organization identifiers the case names: logically (a party's identifier, an
    organization member's) or through the Organizations it references."""
    out = {token(p.identifier.system, p.identifier.value) for p in _parties(case)
           if p is not None and p.identifier is not None}
    out |= {token(m.identifier.system, m.identifier.value) for m in case.care_team
            if m.kind == c.MemberKind.ORGANIZATION and m.identifier is not None}
    out.discard(None)
    return {t for t in out if t} | stored_identifiers(resources, organizations_of(case))


def names_partner(partner, refs: set[str], identifiers: set[str]) -> bool:
    """Whether these Organization references / identifiers name ``partner``'s."""
    if partner.organization and partner.organization in refs:
        return True
    ident = getattr(partner, "organization_identifier", None)
    return bool(ident) and ident in identifiers


def concerned_partners(case: c.Case, partners: Mapping, resources) -> list:
    """The partners the case names (see the module docstring), in file order."""
    if not partners:
        return []
    refs = organizations_of(case)
    # the stored Organizations' identifiers are read only when a partner is known by one
    identifiers = organization_identifiers_of(case, resources) if any(
        getattr(p, "organization_identifier", None) for p in partners.values()) else set()
    return [p for p in partners.values() if names_partner(p, refs, identifiers)]


def references_name_partner(partner, references: Iterable[dict[str, Any] | None],
                            resources) -> bool:
    """Whether one of these FHIR References names ``partner``'s Organization (literally,
    through the stored Organization's identifiers, or by ``Reference.identifier``)."""
    refs: set[str] = set()
    identifiers: set[str] = set()
    for ref in references:
        if not ref:
            continue
        if ref.get("reference"):
            refs.add(str(local_ref(ref["reference"])))
        ident = ref.get("identifier") or {}
        t = token(ident.get("system"), ident.get("value"))
        if t:
            identifiers.add(t)
    if names_partner(partner, refs, set()):
        return True
    return names_partner(partner, set(), identifiers | stored_identifiers(resources, refs))


def party_names_partner(partner, party: c.Party | None, resources) -> bool:
    """Whether a case party (a referral's agency, ...) names ``partner``'s Organization."""
    if party is None:
        return False
    ref: dict[str, Any] = {}
    if party.reference:
        ref["reference"] = party.reference
    if party.identifier is not None:
        ref["identifier"] = {"system": party.identifier.system,
                             "value": party.identifier.value}
    return references_name_partner(partner, [ref], resources)


def partner_party(partner, name: str | None = None) -> c.Party:
    """A case party naming ``partner``'s Organization the way the partners file does (its
    reference and/or its identifier), e.g. the agency of a referral sent to it."""
    system, _, value = (getattr(partner, "organization_identifier", None) or "").partition("|")
    identifier = c.Identifier(system, value) if system and value else None
    return c.Party(name or partner.id, identifier, partner.organization or None)


#: The References of a referral that name its agency: ServiceRequest.performer, Task.owner
#: and the candidates of an open Task (``restriction.recipient``).
_AGENCY_PATHS = {"ServiceRequest": ("performer",), "Task": ("owner", "restriction.recipient")}


def _with_partner_reference(ref: Any, partners: Iterable) -> Any:
    if not isinstance(ref, dict) or ref.get("reference"):
        return ref
    ident = ref.get("identifier") or {}
    named = token(ident.get("system"), ident.get("value"))
    matches = [p.organization for p in partners if named and p.organization
               and getattr(p, "organization_identifier", None) == named]
    return {"reference": matches[0], **ref} if len(matches) == 1 else ref


def agency_references(resource: dict[str, Any], partners: Mapping) -> dict[str, Any]:
    """A referral resource whose agency References name a partner only by its identifier
    (an NPI) with that partner's Organization reference added (the partners file says
    which Organization carries the identifier), so that the agency's compartment, which
    is made of the references the hub writes, holds the referral. Identifiers no partner,
    or several, carry are left as they are."""
    paths = _AGENCY_PATHS.get(str(resource.get("resourceType")), ())
    if not paths or not partners:
        return resource
    out = dict(resource)
    for path in paths:
        head, _, rest = path.partition(".")
        value = out.get(head)
        if rest and isinstance(value, dict):
            inner = value.get(rest)
            if isinstance(inner, list):
                out[head] = {**value, rest: [_with_partner_reference(r, partners.values())
                                             for r in inner]}
        elif isinstance(value, list):
            out[head] = [_with_partner_reference(r, partners.values()) for r in value]
        elif isinstance(value, dict):
            out[head] = _with_partner_reference(value, partners.values())
    return out


def partner_of_organization(partners: Mapping, organization: str | None):
    """The partner of the partners file bound to ``organization`` (a client's
    Organization), or None."""
    if not organization:
        return None
    mine = local_ref(organization)
    found = [p for p in partners.values()
             if p.organization and local_ref(p.organization) == mine]
    return found[0] if len(found) == 1 else None

