"""The base of the store's optimistic-concurrency errors (a module of its own, so the
repositories that raise it and the retry policy that catches it import no unit of work)."""


class ConcurrentWrite(Exception):
    """Someone else wrote first (a case version, a resource version, a conditional key):
    the base of the store's optimistic-concurrency errors; re-running the work helps."""
