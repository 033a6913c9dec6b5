"""What the hub tells its operators about itself: Prometheus metrics (``metrics``)."""
