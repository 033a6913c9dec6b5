"""The CapabilityStatement of ``GET /fhir/metadata``: exactly what the API supports."""

from __future__ import annotations

from hub.clock import utcnow
from hub.fhir import FHIR_VERSION
from hub.fhirapi.everything import EPISODE_EVERYTHING, PATIENT_EVERYTHING
from hub.fhirstore.dates import instant
from hub.fhirstore.query import MAX_CHAIN
from hub.fhirstore.searchparams import SPECIAL, SUPPORTED_TYPES, params_for
from hub.subscriptions.spec import EXT_TOPIC_CANONICAL, OP_STATUS, SERVER_CAPABILITY
from hub.subscriptions.topics import TOPICS

INTERACTIONS = ("read", "vread", "update", "delete", "history-instance", "history-type",
                "create", "search-type")
_SPECIAL_DOCS = {"_id": "token", "_lastUpdated": "date"}
#: Written by the server only: no create, update or delete through the API.
SERVER_WRITTEN = frozenset({"Provenance"})
#: The audit log (``hub.fhirapi.auditlog``): read and search by auditors.
AUDIT_EVENT = {
    "type": "AuditEvent", "profile": "http://hl7.org/fhir/StructureDefinition/AuditEvent",
    "interaction": [{"code": "read"}, {"code": "search-type"}],
    "readHistory": False, "updateCreate": False, "conditionalCreate": False,
    "conditionalRead": "not-supported", "conditionalUpdate": False,
    "conditionalDelete": "not-supported",
    "searchParam": [{"name": "date", "type": "date"}, {"name": "agent", "type": "reference"},
                    {"name": "entity", "type": "reference"},
                    {"name": "patient", "type": "reference"},
                    {"name": "_id", "type": "token"}],
}


def _reference_doc(sp) -> str:
    targets = ", ".join(sp.targets) if sp.targets else "any type"
    return (f"Reference to {targets}; local references only (an absolute URL of another "
            f"server matches only that URL). Chaining supported, up to {MAX_CHAIN} levels: "
            f"{sp.name}:Type.param or {sp.name}.param, with the parameters of the served "
            "types (e.g. subject:Patient.name); an unknown type modifier or chained "
            "parameter is 400.")


#: ``$everything`` of the types that have it: the OperationDefinition canonical of each.
EVERYTHING = {"Patient": PATIENT_EVERYTHING, "EpisodeOfCare": EPISODE_EVERYTHING}


def _resource(rtype: str) -> dict:
    params = [{"name": name, "type": kind,
               "definition": f"http://hl7.org/fhir/SearchParameter/Resource-{name[1:]}"
               if name != "_lastUpdated" else
               "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated"}
              for name, kind in _SPECIAL_DOCS.items() if name in SPECIAL]
    for sp in params_for(rtype).values():
        param = {"name": sp.name, "type": sp.type}
        if sp.type == "reference":
            param["documentation"] = _reference_doc(sp)
        params.append(param)
    ref_params = [sp.name for sp in params_for(rtype).values() if sp.type == "reference"]
    rev = sorted({f"{src}:{sp.name}" for src in SUPPORTED_TYPES
                  for sp in params_for(src).values() if sp.type == "reference"
                  and (not sp.targets or rtype in sp.targets)})
    out = {
        "type": rtype,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{rtype}",
        "interaction": [{"code": code} for code in INTERACTIONS
                        if rtype not in SERVER_WRITTEN
                        or code not in ("create", "update", "delete")],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": rtype not in SERVER_WRITTEN,
        "conditionalCreate": rtype not in SERVER_WRITTEN,
        "conditionalRead": "not-supported",
        "conditionalUpdate": rtype not in SERVER_WRITTEN,
        "conditionalDelete": "single" if rtype not in SERVER_WRITTEN else "not-supported",
        "referencePolicy": ["literal", "local"],
        "searchInclude": ["*", *[f"{rtype}:{n}" for n in ref_params]],
        "searchRevInclude": ["*", *rev],
        "searchParam": params,
    }
    if rtype == "Subscription":
        out["extension"] = [{"url": EXT_TOPIC_CANONICAL, "valueCanonical": url}
                            for url in TOPICS]
        out["operation"] = [{"name": "status", "definition": OP_STATUS,
                             "documentation": "instance level only: "
                                              "GET Subscription/{id}/$status"}]
    if rtype in EVERYTHING:
        out["operation"] = [{"name": "everything", "definition": EVERYTHING[rtype],
                             "documentation": "GET only; _since, _type, _count, _offset; "
                                              "only what the caller may read"}]
    return out


def capability_statement(base: str, token_url: str) -> dict:
    """The hub's CapabilityStatement (FHIR 4.0.1, JSON, SMART-on-FHIR security)."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": instant(utcnow())[:10],
        "publisher": "fhir-case-hub",
        "kind": "instance",
        "software": {"name": "fhir-case-hub"},
        "implementation": {"description": "fhir-case-hub FHIR R4 API", "url": base},
        "instantiates": [SERVER_CAPABILITY],
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "security": {
                "cors": False,
                "service": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "SMART-on-FHIR"}], "text": "OAuth2 using SMART-on-FHIR profile"}],
                "extension": [{
                    "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/"
                           "oauth-uris",
                    "extension": [{"url": "token", "valueUri": token_url}],
                }],
            },
            "resource": sorted([_resource(t) for t in SUPPORTED_TYPES] + [AUDIT_EVENT],
                               key=lambda r: r["type"]),
            "interaction": [{"code": "transaction"}, {"code": "batch"},
                            {"code": "history-system",
                             "documentation": "_since, _count, _offset"},
                            {"code": "search-system",
                             "documentation": "_type, _id, _lastUpdated, _count, _offset "
                                              "only; any other parameter is 400"}],
            "searchParam": [
                {"name": "_type", "type": "token",
                 "documentation": "system search: comma-separated resource types"},
                {"name": "_id", "type": "token",
                 "definition": "http://hl7.org/fhir/SearchParameter/Resource-id"},
                {"name": "_lastUpdated", "type": "date",
                 "definition": "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated"}],
        }],
    }
