"""The FHIR R4 models the hub uses.

``fhir.resources`` exposes R5 at its top level; everything the hub reads or emits is R4
(4.0.1), and R4B's models are structurally the R4 ones for the resources the hub maps.
Import FHIR models from here, never from ``fhir.resources`` directly.
"""

from __future__ import annotations

from fhir.resources.R4B import get_fhir_model_class

FHIR_VERSION = "4.0.1"
FHIR_JSON = "application/fhir+json"


def model_class(resource_type: str):
    """The R4B model class for a resource type name; ValueError if there is none."""
    return get_fhir_model_class(resource_type)


def parse_resource(data: dict):
    """Validate a FHIR JSON dict as an R4 resource model (pydantic ValidationError if bad)."""
    return model_class(data["resourceType"]).model_validate(data)


__all__ = ["FHIR_JSON", "FHIR_VERSION", "get_fhir_model_class", "model_class",
           "parse_resource"]
