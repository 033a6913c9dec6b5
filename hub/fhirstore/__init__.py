"""The FHIR storage engine: versioned resources, the search index and its SQL, compartments.

Below ``hub.fhirapi`` and above ``hub.store.db``; it imports nothing of Flask or ``hub.fhirapi``:

* ``tables``: the resource, search-index and conditional-key tables;
* ``repository``: create/read/vread/update/delete/history/search over those tables;
* ``searchparams``: the supported search parameters per type and index extraction (pure);
* ``dates``: FHIR date/dateTime/instant parsing into UTC ranges;
* ``query``: a search request parsed into a ``SearchQuery``;
* ``searchsql``: a ``SearchQuery`` translated into SQL over ``search_index``;
* ``compartments``: compartment membership of partner Organizations, in SQL.
"""
