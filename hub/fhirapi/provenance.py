"""Provenance of every write through the FHIR API (DOMAIN-2.md 11.3).

Every create, update and delete through the FHIR API stores, in the same transaction, a
Provenance naming the written version (``Type/id/_history/n``), when (``recorded``, server
time), what (v3 DataOperation CREATE / UPDATE / DELETE) and who: for a client bound to an
Organization ``agent.who`` is that organization (type ``author``); for the hub's own
clients it is the client itself, a logical Device reference by client id. Nothing of it
comes from the request. Provenance is written by the server only (no client creates,
updates or deletes one); it is an ordinary resource of the store, searchable by ``target``
and ``agent``, and inside the compartment of its agent organization.
"""

from __future__ import annotations

from hub.clock import utcnow
from hub.fhirstore.dates import instant

DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
#: The identifier system of the hub's OAuth clients (``client_id``).
CLIENT_SYSTEM = "https://fhir-case-hub.org/fhir/NamingSystem/oauth-client"
#: interaction -> (v3-DataOperation code, display)
ACTIVITY = {"create": ("CREATE", "create"), "update": ("UPDATE", "revise"),
            "delete": ("DELETE", "delete")}


def client_reference(client_id: str) -> dict:
    """The logical reference to one of the hub's OAuth clients (a Device)."""
    return {"type": "Device", "identifier": {"system": CLIENT_SYSTEM, "value": client_id},
            "display": f"client {client_id}"}


def provenance_for(event, organization: str | None, recorded: str | None = None) -> dict:
    """The Provenance of one write (``event``: a ``hooks.WriteEvent``) by ``organization``
    (None: by the hub's own client ``event.principal.client_id``)."""
    code, display = ACTIVITY[event.interaction]
    who = {"reference": organization} if organization else \
        client_reference(getattr(event.principal, "client_id", "unknown"))
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
            "who": who,
        }],
    }


def new_version(uow, event):
    """The rows of the Provenance of a write through the FHIR API (``NewVersion``, not
    written yet: a create writes them with its resource's), or None if it gets none."""
    if event.interaction not in ACTIVITY or event.resource_type == "Provenance":
        return None
    organization = getattr(event.principal, "organization", None)
    return uow.resources.new_created("Provenance", provenance_for(event, organization))


def record(uow, event):
    """Store the Provenance of a write through the FHIR API."""
    version = new_version(uow, event)
    return uow.resources.store_versions([version])[0] if version is not None else None
