"""Pure case <-> FHIR R4 mappings. Imports the case record and hub.fhir models only.

Entry points: ``case_to_fhir`` / ``case_from_fhir`` / ``case_to_bundle`` (case_bundle),
``merge_onto_previous`` (merge), ``apply_careplan`` / ``apply_careteam`` / ``apply_goal``
(inbound partner updates), ``MappingError`` and ``Report`` (errors).
"""
