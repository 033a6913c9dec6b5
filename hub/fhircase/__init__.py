"""FHIR is a first-class way to manage cases (issue 11 item 1).

A client with case rights (``system/Case.c`` to open, ``system/Case.u`` to change; a
client bound to a partner Organization never holds them: its writes go through
``hub.inbound``) manages cases with FHIR writes alone:

* ``opening``: an EpisodeOfCare it creates (POST, PUT, conditional create, transaction
  entry) opens a case under the rules of ``POST /api/cases``, with the resources that
  belong to it (``gather``), which become the case's own resources;
* ``changes``: a later write of one of the case's resources is mapped onto the case
  under its rules (or refused), a DELETE is a case move or refused (409).

Both run as a finish hook (``hub.fhirapi.hooks``): once all writes of the request are
done, in its transaction.
"""

from __future__ import annotations

from hub.fhirapi.hooks import register_finish_hook
from hub.fhircase.hook import on_finish


def init_app(app) -> None:
    register_finish_hook(app, on_finish)
