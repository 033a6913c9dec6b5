"""Command groups of the ``hub`` CLI, one module each (registered in hub/cli.py)."""
