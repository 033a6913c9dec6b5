"""Partner flows: the use cases and the post-delivery / pull handlers
(``hub.sync.handlers``) of each partner kind. Importing this package registers the
handlers (``hub.sync.handlers`` imports it before running one)."""

from hub.flows import agency, hospital, insurer, insurer_answers  # noqa: F401  (registers their handlers)
