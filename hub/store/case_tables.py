"""Tables of the case record: one row per case (the record as JSON) and its identifiers.

The ``document`` column holds ``hub.store.case_codec.encode(case)`` (with its
``schema_version``); the other columns copy what lists filter and sort on. ``version`` is
the optimistic-concurrency counter (ETag).
"""

from __future__ import annotations

import sqlalchemy as sa

from hub.store.db import metadata

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("status", sa.String(32), nullable=False, index=True),
    sa.Column("model", sa.String(32), nullable=False, index=True),
    sa.Column("program", sa.String(128), nullable=True, index=True),
    sa.Column("setting", sa.String(32), nullable=False),
    sa.Column("next_review_due", sa.Date, nullable=True, index=True),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("document", sa.JSON, nullable=False),
    # lowercased "given family" of the patient and name of the case manager (worklist)
    sa.Column("patient_name", sa.String(255), nullable=True, index=True),
    sa.Column("case_manager", sa.String(255), nullable=True, index=True),
)

#: Patient identifiers of each case, for ``identifier=system|value`` searches.
case_identifiers = sa.Table(
    "case_identifiers",
    metadata,
    sa.Column("case_id", sa.String(64), sa.ForeignKey("cases.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("system", sa.String(255), primary_key=True),
    sa.Column("value", sa.String(255), primary_key=True),
    sa.Index("ix_case_identifiers_system_value", "system", "value"),
    sa.Index("ix_case_identifiers_value", "value"),
)

#: One open case per patient and program: a row per open case, keyed by its patient (the
#: FHIR Patient id, ``Case.patient_id``) and program ("" for none). The primary key makes
#: two concurrent openings of the same pair collide; a closed case gives its row up.
open_cases = sa.Table(
    "open_cases",
    metadata,
    sa.Column("patient_id", sa.String(64), primary_key=True),
    sa.Column("program", sa.String(128), primary_key=True),
    sa.Column("case_id", sa.String(64), sa.ForeignKey("cases.id", ondelete="CASCADE"),
              nullable=False, index=True),
)

#: The FHIR resources a FHIR client posted that became a case's own (``hub.fhircase``): the
#: case's part ``hub_id`` (the deterministic id ``hub.mappings.identity`` gives it) is
#: projected as ``resource_type/resource_id``, the client's resource, instead of a second
#: resource beside it. ``owned``: a part of the case only (EpisodeOfCare, CarePlan, Goal,
#: ...), changed through the case's rules; shared resources (a care-team member's
#: Practitioner) are projected onto but belong to no case alone.
case_resources = sa.Table(
    "case_resources",
    metadata,
    sa.Column("case_id", sa.String(64), sa.ForeignKey("cases.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("resource_type", sa.String(64), primary_key=True),
    sa.Column("hub_id", sa.String(64), primary_key=True),
    sa.Column("resource_id", sa.String(64), nullable=False),
    sa.Column("owned", sa.Boolean, nullable=False),
    sa.Index("ix_case_resources_resource", "resource_type", "resource_id"),
)
