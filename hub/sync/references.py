"""References that resolve at the partner: a hub resource rewritten for one partner at
delivery time (DOMAIN-2.md section 12, "Pushing a CarePlan").

Everything sent to a partner refers only to what that partner holds or receives:

- the patient: the partner's own Patient, found by the case's identifiers (MRN), its id
  reused; created there conditionally (``If-None-Exist``) only where the partner's policy
  says ``patient: create``; otherwise a logical reference (``Reference.identifier``);
- a resource the hub sent the partner: the partner's id from the sync ledger (the outbox
  sends what a resource points at before it, per (partner, case));
- anything else (a Practitioner, the EpisodeOfCare for a hospital, the hub's Organizations):
  a logical reference, ``Reference.identifier`` the target's hub identifier, no literal
  ``reference`` the partner could not resolve.

``targets`` / ``rewrite`` are pure; ``PartnerReferences`` asks the partner (search, create)
for its patient only.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from typing import Any

#: A relative literal reference to a hub resource (absolute URLs and ``#contained`` are
#: left as they are).
_RELATIVE = re.compile(r"^(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})$")


class UnresolvedReference(Exception):
    """A target the partner receives has not reached it (its delivery is dead or missing)."""


def _walk(node: Any) -> list[dict[str, Any]]:
    """Every Reference-shaped dict (with a string ``reference``) in ``node``, in document
    order (a list filled by one recursive pass: a generator per level cost twice as much,
    once per claimed row, bench/README.md)."""
    found: list[dict[str, Any]] = []
    _collect(node, found)
    return found


def _collect(node: Any, found: list[dict[str, Any]]) -> None:
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            found.append(node)
        for key, value in node.items():
            if key != "reference" and isinstance(value, (dict, list)):
                _collect(value, found)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, (dict, list)):
                _collect(item, found)


def split(reference: str) -> tuple[str, str] | None:
    """``("Type", "id")`` of a relative literal reference, else None."""
    match = _RELATIVE.match(reference)
    return (match.group("type"), match.group("id")) if match else None


def targets(resource: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The hub resources a resource points at (type, id), in order of first mention,
    itself excluded."""
    own = (resource.get("resourceType"), resource.get("id"))
    out: dict[tuple[str, str], None] = {}
    for ref in _walk(dict(resource)):
        target = split(ref["reference"])
        if target is not None and target != own:
            out[target] = None
    return list(out)


def logical(ref: Mapping[str, Any], rtype: str, identifier: Mapping[str, Any]) -> dict[str, Any]:
    """A logical reference: type, identifier, display; no literal reference."""
    out: dict[str, Any] = {k: v for k, v in ref.items()
                           if k not in ("reference", "identifier", "type")}
    out["type"] = rtype
    out["identifier"] = dict(ref.get("identifier") or identifier)
    return out


def rewrite(resource: Mapping[str, Any],
            resolve: Callable[[str, str, dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """A copy of ``resource`` whose relative references to other resources are replaced by
    ``resolve(type, id, reference)`` (which returns the new Reference dict)."""
    out = copy.deepcopy(dict(resource))
    own = (out.get("resourceType"), out.get("id"))
    for ref in list(_walk(out)):
        target = split(ref["reference"])
        if target is None or target == own:
            continue
        new = resolve(target[0], target[1], dict(ref))
        ref.clear()
        ref.update(new)
    return out


class PartnerReferences:
    """Resolves one delivery's references for its partner.

    :param links: ``"Type/id"`` -> the partner's id of that hub resource (the ledger).
    :param receives: the resource types the partner receives from the hub.
    :param patient: the case's patient: ``{"reference", "identifier": [...], "resource"}``
        (``resource`` only when the partner's policy creates patients).
    :param policy: ``match`` or ``create`` (the partner's ``patient`` setting).
    :param adapter: the partner's FHIR client (``search``, ``create``).
    :param identifier_system: the hub's resource identifier system (``Type/id`` values).
    :param strict: a target the partner receives but does not hold is an error (else a
        logical reference: what is created again after a loss may point at what the
        ledger has not linked).
    """

    def __init__(self, *, links: Mapping[str, str], receives: tuple[str, ...],
                 patient: Mapping[str, Any] | None, policy: str, adapter: Any,
                 identifier_system: str, strict: bool = True) -> None:
        self.strict = strict
        self.links = dict(links)
        self.receives = set(receives)
        self.patient = patient or {}
        self.policy = policy
        self.adapter = adapter
        self.system = identifier_system
        self._patient_id: str | None = None
        self._looked_up = False

    def hub_identifier(self, rtype: str, rid: str) -> dict[str, str]:
        return {"system": self.system, "value": f"{rtype}/{rid}"}

    def __call__(self, rtype: str, rid: str, ref: dict[str, Any]) -> dict[str, Any]:
        key = f"{rtype}/{rid}"
        if key in self.links:
            return {**{k: v for k, v in ref.items() if k != "reference"},
                    "reference": f"{rtype}/{self.links[key]}"}
        if rtype == "Patient" and key == self.patient.get("reference") \
                and "Patient" not in self.receives:
            found = self._partner_patient()
            if found:
                return {"reference": f"Patient/{found}",
                        **({"display": ref["display"]} if "display" in ref else {})}
            idents = self.patient.get("identifier") or []
            return logical(ref, rtype, idents[0] if idents else self.hub_identifier(rtype, rid))
        if rtype in self.receives and self.strict:
            raise UnresolvedReference(f"{key} has not reached the partner: deliver it first "
                                      f"(hub deliveries list --status dead)")
        return logical(ref, rtype, self.hub_identifier(rtype, rid))

    def _partner_patient(self) -> str | None:
        """The partner's Patient with one of the case's identifiers (searched once per
        delivery, not kept in the ledger: the partner may merge or replace its patients),
        created conditionally when the policy says so."""
        if self._looked_up:
            return self._patient_id
        found: str | None = None
        idents = [i for i in self.patient.get("identifier") or []
                  if i.get("system") and i.get("value")]
        for ident in idents:
            matches = list(self.adapter.search(
                "Patient", {"identifier": f"{ident['system']}|{ident['value']}"}))
            if len(matches) == 1:
                found = matches[0].get("id")
                break
        if found is None and self.policy == "create" and idents and self.patient.get("resource"):
            body = copy.deepcopy(self.patient["resource"])
            body.pop("id", None)
            body.pop("meta", None)
            first = idents[0]
            resp = self.adapter.create(
                rewrite(body, lambda t, i, r: logical(r, t, self.hub_identifier(t, i))),
                if_none_exist=f"identifier={first['system']}|{first['value']}")
            found = resp.resource_id
        self._patient_id, self._looked_up = found, True
        return found
