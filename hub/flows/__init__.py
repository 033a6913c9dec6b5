"""Partner flows: the use cases of each partner kind (hospital, insurer, agency), applying
pulled changes to cases (``pulled``), and the post-delivery handlers the runtime registers
explicitly (``hub.flows.handlers.register_handlers``, called by ``hub.bootstrap``)."""
