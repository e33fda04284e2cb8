"""Settings: ``base`` reads the environment; ``local``, ``test``, ``production`` adjust it."""
