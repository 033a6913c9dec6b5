"""Resources a later FHIR write adds to an existing case.

A ServiceRequest or Encounter created naming the case's EpisodeOfCare (the
``workflow-episodeOfCare`` extension, ``Encounter.episodeOfCare``), a Task carrying out one
of the case's ServiceRequests, a Goal the case's CarePlan is written to name, a Condition
the case's EpisodeOfCare is written to name as a diagnosis: each joins the case as its part
(``gather.Part``, its own id the part id), as at opening.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.fhircase.gather import EPISODE_EXT, OWNED_KINDS, Lookup, Part
from hub.mappings.codes import hub_naming_system
from hub.mappings.datatypes import local_ref
from hub.mappings.identity import find_hub_identifier
from hub.store import case_resource_repo

_OWNED_SYSTEMS = {hub_naming_system(kind) for kind in OWNED_KINDS.values()}


def case_of(uow, rtype: str, rid: str, content: dict[str, Any] | None = None) -> str | None:
    """The case ``rtype/rid`` belongs to: recorded (a client's resource the case took), else
    the hub identifier of a resource the hub produced for a case (in ``content``, default
    the stored version)."""
    if rtype not in OWNED_KINDS:
        return None
    found = case_resource_repo.owner(uow.session, rtype, rid)
    if found is not None:
        return found
    if content is None:
        stored = uow.resources.read(rtype, rid)
        content = stored.content if stored is not None else None
    for ident in (content or {}).get("identifier") or []:
        if ident.get("system") in _OWNED_SYSTEMS and isinstance(ident.get("value"), str):
            return str(ident["value"]).split("/", 1)[0]
    return None


def _target(element: Any) -> tuple[str, str] | None:
    ref = local_ref((element or {}).get("reference")) if isinstance(element, dict) else None
    if not ref or ref.count("/") != 1:
        return None
    rtype, rid = ref.split("/")
    return rtype, rid


def linked_case(uow, resource: dict[str, Any]) -> str | None:
    """The existing case a newly written resource names as its own (see module doc)."""
    rtype = resource.get("resourceType")
    links: list[Any] = []
    if rtype in ("ServiceRequest", "CarePlan"):
        links = [e.get("valueReference") for e in resource.get("extension") or []
                 if e.get("url") == EPISODE_EXT]
    elif rtype == "Encounter":
        links = list(resource.get("episodeOfCare") or [])
    elif rtype == "Task":
        links = [resource.get("focus"), *(resource.get("basedOn") or [])]
    for link in links:
        target = _target(link)
        if target and target[0] in ("EpisodeOfCare", "ServiceRequest"):
            found = case_of(uow, *target)
            if found is not None:
                return found
    return None


def new_parts(case_id: str, view: Mapping[str, dict[str, Any]],
              written: Mapping[str, dict[str, Any]], lookup: Lookup) -> list[Part]:
    """The resources ``written`` adds to the case whose FHIR view is ``view``."""
    parts: dict[str, Part] = {}

    def join(resource: dict[str, Any] | None, kind: str, part_id: str | None) -> None:
        if resource is None or part_id is None:
            return
        key = f"{resource['resourceType']}/{resource['id']}"
        if key not in view and key not in parts:
            parts[key] = Part(resource, kind, part_id)

    for key, resource in written.items():
        rtype = resource.get("resourceType")
        if key in view:
            if rtype == "CarePlan":
                for g in resource.get("goal") or []:
                    target = _target(g)
                    if target and target[0] == "Goal":
                        join(lookup("/".join(target)), "goal", target[1])
            elif rtype == "EpisodeOfCare":
                for d in resource.get("diagnosis") or []:
                    target = _target(d.get("condition"))
                    if target and target[0] == "Condition":
                        join(lookup("/".join(target)), "condition", target[1])
        elif rtype in ("ServiceRequest", "Encounter"):
            join(resource, "referral" if rtype == "ServiceRequest" else "encounter",
                 resource["id"])
    for key, resource in written.items():
        if key in view or resource.get("resourceType") != "Task":
            continue
        target = _target(resource.get("focus"))
        focus = "/".join(target) if target else ""
        if focus in parts:
            join(resource, "task", parts[focus].part_id)
        elif focus in view:
            join(resource, "task", find_hub_identifier(view[focus], "referral", case_id))
    return list(parts.values())
