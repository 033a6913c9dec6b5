"""Fixtures of the attacker-style tests: an app with small limits so probes stay cheap."""

from __future__ import annotations

import dataclasses

import pytest

from hub import create_app


@pytest.fixture
def make_app(settings):
    """Factory: an app on the test database with ``settings`` changed by ``overrides``."""
    made = []

    def make(**overrides):
        app = create_app(dataclasses.replace(settings, **overrides), migrate=False)
        app.config["TESTING"] = True
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["hub.db"].dispose()
