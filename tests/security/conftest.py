"""Fixtures of the security tests: the FHIR clients and the partner world of ``tests/fhir``.

The attacker is a client with valid credentials, bound to a partner Organization
(``fhir_as(scope, organization=...)``); ``fhir`` is the hub's own client.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path

import pytest
from audit_search import AUDITOR

_FHIR_TESTS = Path(__file__).resolve().parent.parent / "fhir"
if str(_FHIR_TESTS) not in sys.path:
    sys.path.insert(0, str(_FHIR_TESTS))

_spec = importlib.util.spec_from_file_location("fhir_tests_conftest",
                                               _FHIR_TESTS / "conftest.py")
_fhir_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fhir_conftest)

FhirClient = _fhir_conftest.FhirClient
fhir = _fhir_conftest.fhir
fhir_as = _fhir_conftest.fhir_as
world = _fhir_conftest.world
returned_resources = _fhir_conftest.returned_resources


class LogRecords(list):
    """The log records of every logger while a test runs; ``text()`` formats them as a log
    file would (exception tracebacks included)."""

    def text(self) -> str:
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        return "\n".join(formatter.format(r) for r in self)


@pytest.fixture
def records():
    """Every log record of every logger, at DEBUG and above, while the test runs."""
    collected = LogRecords()

    class Keep(logging.Handler):
        def emit(self, record):
            collected.append(record)

    handler, root = Keep(level=logging.DEBUG), logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield collected
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.fixture
def auditor(fhir_as):
    """A client with the auditor's scope (``audit_search.AUDITOR``)."""
    return fhir_as(AUDITOR)
