"""The hub's own FHIR R4 REST API: search parameters, validation, interactions, bundles.

``hub.routes.fhir`` is the thin Flask blueprint; the modules here do the work:

* ``searchparams``: the supported search parameters per resource type and the index
  extraction of a resource (pure: no Flask, no SQL);
* ``dates``: FHIR date/dateTime/instant parsing into UTC ranges;
* ``query``: parsing a search request into a ``SearchQuery``;
* ``searchsql``: translating a ``SearchQuery`` into SQL over ``search_index``;
* ``validation``: incoming resources checked with the R4 models and required bindings;
* ``task_rules``: the referral Task state machine applied on writes;
* ``compartments``: what a client bound to a partner Organization may read and write;
* ``provenance``: the Provenance stored with each write of such a client;
* ``interactions``: create/read/vread/update/delete/history with scopes and write hooks;
* ``search``: search Bundles with paging, _include/_revinclude;
* ``bundles``: transaction and batch processing;
* ``capability``: the CapabilityStatement;
* ``http``: content negotiation, ETag / Prefer / If-* headers.
"""
