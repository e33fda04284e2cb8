"""Routing state of one test's own: no per-process snapshot or remembered credentials carried
in from another test, and Redis keys under a prefix of its own, removed afterwards."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.test import override_settings

from monolith.cohorts.propagation import routing_redis, routing_redis_forget
from monolith.cohorts.snapshot import routing_snapshot_forget
from monolith.cohorts.traffic import traffic_flush
from monolith.platform.edge.credentials import edge_credentials


@contextmanager
def private_routing_keys() -> Iterator[str]:
    """For the block: fresh routing state and Redis keys of its own; yields their prefix."""
    prefix = f"fleet-test:{uuid.uuid4().hex}:"
    traffic_flush()  # what earlier requests counted goes to the keys it was counted for
    with override_settings(COHORT_ROUTING_KEY_PREFIX=prefix):
        routing_redis_forget()
        routing_snapshot_forget()
        edge_credentials.forget()
        yield prefix
        traffic_flush()
        edge_credentials.forget()
        routing_snapshot_forget()
        client = routing_redis()
        if client is not None:
            keys = list(client.scan_iter(f"{prefix}*"))
            if keys:
                client.delete(*keys)
    routing_redis_forget()
