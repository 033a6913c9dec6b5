"""Provenance of partner writes (DOMAIN.md section 7, audit).

Every create, update and delete through the FHIR API by a client bound to an Organization
stores, in the same transaction, a Provenance naming the written version
(``Type/id/_history/n``), when (``recorded``), what (v3 DataOperation CREATE / UPDATE /
DELETE) and who (``agent.who`` = the organization, type ``author``). Writes of the hub's
own clients get none. The Provenance is an ordinary resource of the store: searchable by
``target`` and ``agent``, and inside the compartment of its agent organization.
"""

from __future__ import annotations

from hub.clock import utcnow
from hub.fhirstore.dates import instant

DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
#: interaction -> (v3-DataOperation code, display)
ACTIVITY = {"create": ("CREATE", "create"), "update": ("UPDATE", "revise"),
            "delete": ("DELETE", "delete")}


def provenance_for(event, organization: str, recorded: str | None = None) -> dict:
    """The Provenance of one write (``event``: a ``hooks.WriteEvent``) by ``organization``."""
    code, display = ACTIVITY[event.interaction]
    return {
        "resourceType": "Provenance",
        "target": [{"reference": f"{event.resource_type}/{event.id}/_history/"
                                 f"{event.version_id}"}],
        "recorded": recorded or instant(utcnow()),
        "activity": {"coding": [{"system": DATA_OPERATION, "code": code,
                                 "display": display}]},
        "agent": [{
            "type": {"coding": [{"system": PARTICIPANT_TYPE, "code": "author",
                                 "display": "Author"}]},
            "who": {"reference": organization},
        }],
    }


def record(uow, event):
    """Store the Provenance of a bound client's write; None for the hub's own clients."""
    organization = getattr(event.principal, "organization", None)
    if not organization or event.interaction not in ACTIVITY:
        return None
    return uow.resources.create("Provenance", provenance_for(event, organization))
