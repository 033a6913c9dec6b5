"""Pure case <-> FHIR R4 mappings. Imports the case record and hub.fhir models only."""
