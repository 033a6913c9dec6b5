"""Terminology in one place: every code the mappings emit or read, with its system URL.

Each table maps an internal enum of ``hub.cases`` to FHIR codes; reverse lookups are built
from the same tables so the two directions cannot drift apart. Sources: ../shared/DOMAIN.md.
"""

from __future__ import annotations

#: Canonical base of the hub's own CodeSystems, NamingSystems and StructureDefinitions.
HUB_CANONICAL = "https://fhir-case-hub.org/fhir"

# --- common systems ---------------------------------------------------------------------
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

# ======================================================================================
# SECTION A: case, patient, episode, conditions, plan, goals, care team.
# (edited only by the mappings helper A; keep additions inside this section)
# ======================================================================================

# (end of section A)

# ======================================================================================
# SECTION B: funding/coverage, insurer (eligibility, PAS), encounters, referrals/tasks.
# (edited only by the mappings helper B; keep additions inside this section)
# ======================================================================================

# (end of section B)
