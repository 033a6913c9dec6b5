"""Subscriptions: R4 criteria-based and R4 Backport IG topic-based, rest-hook channels.

- ``spec``: a Subscription resource parsed and checked (channel, criteria or topic and
  filters, payload content, heartbeat, the endpoint allowlist); pure but for the search
  parser.
- ``topics``: the hub's SubscriptionTopics (canonical URLs) and what triggers each.
- ``notifications``: the notification Bundles and status Parameters (pure).
- ``registry``: the ``subscriptions`` rows (owner, status, counters, secrets).
- ``resource``: the FHIR write path of Subscription resources (status the server decides,
  headers kept out of the resource, the handshake queued).
- ``matching``: on the commit of every write, the changed resources are matched against
  the live subscriptions and notifications are queued in the outbox, in that transaction.

Delivery is the outbox's (``hub.sync.notify``): retries, dead letters, replay, order per
subscription, and the owner's right to read the resource checked again at send time.
"""
