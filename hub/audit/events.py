"""AuditEvents in IHE Basic Audit Log Patterns shapes (DOMAIN-2.md 11.1, 11.2). Pure.

One request gives one AuditEvent: ``type`` rest, ``subtype`` the RESTful interaction,
``action`` C/R/U/D/E, ``outcome`` 0 (success), 4 (refused: 4xx) or 8 (server error),
``recorded`` server time, ``source`` the hub. Agents: the client (a logical Device by
client id, with the caller's network address), the hub as server, and the Organization
the client is bound to. Entities: each resource version touched (``data``), the patient(s)
it concerns (``patient``, taken from the resource already in hand: the Patient itself, or
its ``subject``/``patient``/``for``/``beneficiary``), the search query of a search
(``query``, base64 of the URL query string) and the request id (``transaction``).
Identifiers only: never request or response bodies, never search results.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import datetime

EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
INTERACTION = "http://hl7.org/fhir/restful-interaction"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
PROVENANCE_PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
NETWORK_TYPE = "http://hl7.org/fhir/network-type"
BALP_ENTITY_TYPE = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
CLIENT_SYSTEM = "https://fhir-case-hub.org/fhir/NamingSystem/oauth-client"
USER_SYSTEM = "https://fhir-case-hub.org/fhir/NamingSystem/console-user"

#: interaction -> action (C, R, U, D, E)
ACTIONS = {"create": "C", "read": "R", "vread": "R", "history-instance": "R",
           "update": "U", "patch": "U", "delete": "D", "search-type": "E",
           "search-system": "E", "history-type": "E", "transaction": "E", "batch": "E"}
#: action -> (client agent type, server agent type) as in the BALP profiles
_AGENT_TYPES = {"C": (("110153", "Source Role ID"), ("110152", "Destination Role ID")),
                "R": (("110152", "Destination Role ID"), ("110153", "Source Role ID")),
                "U": (("110153", "Source Role ID"), ("110152", "Destination Role ID")),
                "D": (("110150", "Application"), None),
                "E": (("110153", "Source Role ID"), ("110152", "Destination Role ID"))}
_PATIENT_PATHS = ("subject", "patient", "for", "beneficiary")


@dataclass(frozen=True)
class RequestInfo:
    """What the HTTP side knows of a request: never its body."""

    address: str | None = None
    request_id: str | None = None
    method: str = "GET"
    path: str = ""  # below the FHIR base: Patient/1, Task, ""
    query: str = ""  # the URL query string
    server: str = "fhir-case-hub"  # the base URL of the hub

    def interaction(self) -> str:
        """The RESTful interaction the request asked for (for refused requests)."""
        parts = [p for p in self.path.split("/") if p]
        if self.method == "POST":
            return "transaction" if not parts else "search-type" if parts[-1] == "_search" \
                else "create"
        if self.method == "PUT":
            return "update"
        if self.method == "DELETE":
            return "delete"
        if "_history" in parts:
            return "vread" if parts[-1] != "_history" else (
                "history-instance" if len(parts) == 3 else "history-type")
        return "read" if len(parts) == 2 else "search-type"

    def target(self) -> str | None:
        parts = [p for p in self.path.split("/") if p]
        return f"{parts[0]}/{parts[1]}" if len(parts) >= 2 and parts[1][:1] != "_" else None


@dataclass
class Access:
    """What an interaction touched: (interaction, Type/id[/_history/v], content or None)."""

    touched: list = field(default_factory=list)
    queries: list = field(default_factory=list)  # (interaction, Type, patient references)

    def saw(self, interaction: str, reference: str, content: dict | None) -> None:
        self.touched.append((interaction, reference, content))

    def searched(self, interaction: str, rtype: str, patients: list[str]) -> None:
        self.queries.append((interaction, rtype, patients))


def outcome_of(status: int) -> tuple[str, str | None]:
    """(``outcome``, ``outcomeDesc``) of an answer's HTTP status: 0 (success), 4 (refused:
    4xx) or 8 (server error). The description is the hub's own words, the status and its
    class, never an error message: those may quote the request (ids, values, search
    parameters)."""
    if status >= 500:
        return "8", f"{status} server error"
    if status >= 400:
        return "4", f"{status} refused"
    return "0", None


def patient_of(reference: str, content: dict | None) -> list[str]:
    """The Patient references a resource concerns, from its content in hand."""
    if reference.startswith("Patient/"):
        return ["/".join(reference.split("/")[:2])]
    out = []
    for key in _PATIENT_PATHS:
        value = (content or {}).get(key)
        ref = value.get("reference") if isinstance(value, dict) else None
        if isinstance(ref, str) and ref.startswith("Patient/"):
            out.append("/".join(ref.split("/")[:2]))
    return out


def _coding(system: str, code: str, display: str | None = None) -> dict:
    return {"system": system, "code": code, **({"display": display} if display else {})}


def client_reference(client_id: str) -> dict:
    return {"type": "Device", "identifier": {"system": CLIENT_SYSTEM, "value": client_id},
            "display": f"client {client_id}"}


@dataclass(frozen=True)
class User:
    """A person signed in to the console: the agent of what the console does for them."""

    name: str  # the user name (``hub users``)
    display: str | None = None


def _agents(action: str, client_id: str, organization: str | None,
            request: RequestInfo, user: User | None = None) -> list[dict]:
    client_type, server_type = _AGENT_TYPES[action]
    client = {"type": {"coding": [_coding(DCM, *client_type)]},
              "who": client_reference(client_id),
              "requestor": organization is None and user is None}
    if request.address:
        client["network"] = {"address": request.address, "type": "2"}
    server = {"type": {"coding": [_coding(DCM, *server_type) if server_type else
                                  _coding(PROVENANCE_PARTICIPANT, "custodian", "Custodian")]},
              "who": {"display": request.server}, "requestor": False}
    agents = [client, server]
    role = "AUT" if action in ("C", "U", "D") else "IRCP"
    if organization:
        agents.append({"type": {"coding": [_coding(PARTICIPATION, role)]},
                       "who": {"reference": organization}, "requestor": True})
    if user is not None:
        agents.append({"type": {"coding": [_coding(PARTICIPATION, role)]},
                       "who": {"identifier": {"system": USER_SYSTEM, "value": user.name},
                               "display": user.display or user.name},
                       "requestor": True})
    return agents


def _entity(what: dict | None, type_code: str, role_code: str, **extra) -> dict:
    entity = {"type": _coding(ENTITY_TYPE, type_code), "role": _coding(OBJECT_ROLE, role_code)}
    if what is not None:
        entity["what"] = what
    entity.update(extra)
    return entity


def build(access: Access, *, client_id: str, organization: str | None,
          request: RequestInfo, recorded: datetime, outcome: str = "0",
          outcome_desc: str | None = None, interaction: str | None = None,
          user: User | None = None, identifiers: dict[str, dict] | None = None
          ) -> tuple[dict, list[str], list[str]]:
    """(AuditEvent, entity references, patient references) of one request.

    ``interaction`` names the interaction when the request is not a FHIR one (the case
    API, ``/admin``, the console); ``user`` is the console user the request acted for;
    ``identifiers`` adds a business identifier to the entity of a reference (a case's
    EpisodeOfCare carries the case id)."""
    interactions = [i for i, _, _ in access.touched] + [i for i, _, _ in access.queries]
    if interaction is None and (len(set(interactions)) > 1 or not interactions):
        interaction = request.interaction() if not interactions or \
            request.method != "POST" or request.path else "transaction"
    elif interaction is None:
        interaction = interactions[0]
    action = ACTIONS.get(interaction, "E")
    entities: list[str] = []
    patients: list[str] = []
    for _, reference, content in access.touched:
        entities.append(reference)
        patients.extend(patient_of(reference, content))
    for _, _rtype, refs in access.queries:
        patients.extend(refs)
    target = request.target()
    if not access.touched and target:
        entities.append(target)
    entities = list(dict.fromkeys(entities))
    patients = list(dict.fromkeys(patients))
    event = {
        "resourceType": "AuditEvent", "id": str(uuid.uuid4()),
        "type": _coding(EVENT_TYPE, "rest", "Restful Operation"),
        "subtype": [_coding(INTERACTION, interaction)],
        "action": action,
        "recorded": recorded.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "outcome": outcome,
        **({"outcomeDesc": outcome_desc} if outcome_desc else {}),
        "agent": _agents(action, client_id, organization, request, user),
        "source": {"site": request.server, "observer": {"display": request.server},
                   "type": [_coding(SOURCE_TYPE, "4", "Application Server")]},
    }
    listed = [_entity({"reference": r, **({"identifier": (identifiers or {})[r]}
                                          if r in (identifiers or {}) else {})}, "2", "4")
              for r in entities]
    listed += [_entity({"reference": p}, "1", "1") for p in patients]
    if access.queries or (not access.touched and action == "E" and request.query):
        listed.append(_entity(None, "2", "24", query=base64.b64encode(
            request.query.encode()).decode()))
    if request.request_id:
        listed.append({"what": {"identifier": {"value": request.request_id}},
                       "type": _coding(BALP_ENTITY_TYPE, "XrequestId")})
    if listed:
        event["entity"] = listed
    return event, entities, patients
