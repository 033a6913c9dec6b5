"""Benchmarks of fhir-case-hub; each prints ratios against a baseline measured in the same run.

Run them from the repository root: ``python -m bench.fhir_api``, ``python -m bench.outbox``
(``python bench/fhir_api.py`` works too). See ``bench/README.md``.
"""
