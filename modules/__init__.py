"""The fleet's business modules; each one's ``api.py`` and ``events.py`` are its public parts."""
