"""A fixture project for the ORM boundary checks: one planted violation per rule.

``fixture_lender`` is a well-behaved module; ``fixture_borrower`` reaches into it through every
ORM route the checks know (each such line carries a ``planted: <rule>`` comment, which the tests
read); ``fixture_clean`` does the same things the allowed way and must pass.
Run: ``python -m django check --settings=boundary_fixtures.orm.settings``.
"""
