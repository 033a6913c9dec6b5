"""The pure mapping tests run without the id key a hub process installs (public UUIDv5
ids, as in the golden fixtures); the key's own behaviour is tested in tests/security."""

import pytest

from hub.mappings import identity


@pytest.fixture(autouse=True)
def no_id_key():
    saved = identity._id_key
    identity.use_key(None)
    yield
    identity.use_key(saved)
