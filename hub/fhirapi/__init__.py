"""The hub's own FHIR R4 REST API: interactions, bundles, capability, validation, Task rules.

HTTP-agnostic (no Flask): ``hub.routes.fhir`` is the thin Flask blueprint. Storage, search and
compartment membership live below, in ``hub.fhirstore``.

* ``validation``: incoming resources checked with the R4 models and required bindings;
* ``task_rules``: the referral Task state machine applied on writes;
* ``provenance``: the Provenance stored with each write of such a client;
* ``interactions``: create/read/vread/update/delete/history with scopes and write hooks;
* ``search``: search Bundles with paging, _include/_revinclude;
* ``bundles``: transaction and batch processing;
* ``capability``: the CapabilityStatement;
* ``context``: running interactions for a caller in a unit of work.
"""
