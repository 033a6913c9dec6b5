"""Limits on hostile input (pure checks; the Flask guard is hub.routes.limits)."""
