"""Cohort routing's fixtures, for the tests of routing per call: each test starts with no
routing snapshot and its own Redis keys, and changes routing as the migration team does."""

from monolith.cohorts.tests.conftest import mover, route, routing_keys  # noqa: F401
