"""The optional parts of the hub and the pip extra that brings each one's clients.

``pip install .`` is the embedded hub (SQLite, in-process worker); PostgreSQL, Celery and
gunicorn come with extras (pyproject.toml). Code that needs one imports its client where
it is used and turns a missing module into ``MissingExtra``, which says what to install.
"""

from __future__ import annotations

DISTRIBUTION = "fhir-case-hub"


class MissingExtra(ImportError):
    """A part of the hub was asked for whose extra is not installed."""

    def __init__(self, feature: str, extra: str, missing: str | None) -> None:
        self.feature, self.extra = feature, extra
        super().__init__(f"{feature} needs the '{extra}' extra ({missing or 'a module'} is "
                         f"not installed): pip install '{DISTRIBUTION}[{extra}]'",
                         name=missing)
