"""Flask blueprints. Routes stay thin: parse, call a service, answer."""
