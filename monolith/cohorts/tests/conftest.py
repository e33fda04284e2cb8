"""Fixtures for routing tests: a fresh routing state per test, a migration member, a router."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import override_settings

from monolith.cohorts.services import CohortChange, cohort_change
from monolith.cohorts.tests.routing_keys import private_routing_keys
from monolith.platform.access import Role


@pytest.fixture(autouse=True)
def routing_keys() -> Iterator[str]:
    """Each test starts with no routing snapshot and its own Redis keys (removed after); yields
    their prefix."""
    with private_routing_keys() as prefix:
        yield prefix


@pytest.fixture
def routed() -> Iterator[None]:
    """This deployable routes trips (it has a trips service to send cohorts to)."""
    with override_settings(COHORT_ROUTED_MODULES=["trips"]):
        yield


@pytest.fixture
def mover(make_user: Callable[..., Any]) -> Any:
    """A member of the migration team who may change routing (and open the admin)."""
    return make_user("mover-mia", Role.MIGRATION_TEAM, is_staff=True)


@pytest.fixture
def route(mover: Any, django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """Change a module's routing through the service, committed (its announcement runs)."""

    def change(module: str = "trips", reason: str = "test", **fields: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return cohort_change(
                module=module, change=CohortChange(**fields), by=mover, reason=reason
            )

    return change
