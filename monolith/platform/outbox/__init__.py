"""The transactional outbox and inbox, one pair per module (decision 0006).

Import the abstract models from ``monolith.platform.outbox.models`` and the machinery from
``monolith.platform.outbox.machinery``; this package module imports neither, so a module's
``models.py`` can subclass the abstract models while the app registry is still loading.
"""
